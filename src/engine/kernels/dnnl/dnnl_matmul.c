/* MatMul (N-D with batch broadcast, 1-D operands) and Gemm (transA/B, alpha, beta, C) on the oneDNN
 * matmul primitive. A 2-D B that is an initializer is packed once into the
 * primitive's preferred layout through the weights cache; activations stay row-major. MatMul with
 * a 2-D B folds A's batch dims into M so one large GEMM runs instead of many small ones. */
#include "engine/kernels/dnnl/dnnl_matmul.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/dnnl/dnnl_common.h"

typedef struct mm_state {
    ig__dnnl_prim mm, r_wei;
    dnnl_memory_desc_t a_m, b_u, b_m, bias_m, dst_m;
    ig__dnnl_postops po;
    dnnl_memory_desc_t bin_md[IG_MAX_POST_OPS];
    bool bin[IG_MAX_POST_OPS];
    int sum_input[IG_MAX_POST_OPS];
    ig__dnnl_wentry *w;
    size_t off_wei, off_scr, off_rscr;
    int bias_input; /* -1 when none */
    /* Gemm's C when it is not a plain bias: dst is prefilled with beta * broadcast(C) */
    int c_input;
    float beta;
    int64_t m, n, c_sm, c_sn;
    /* small products run on the calling thread: waking a team costs more than it saves */
    bool single;
} mm_state;

enum { single_thread_flops = 1 << 16 };

void ig__dnnl_mm_destroy(void *state)
{
    mm_state *st = state;
    if (!st) return;
    ig__dnnl_prim_destroy(&st->mm);
    ig__dnnl_prim_destroy(&st->r_wei);
    ig__dnnl_weights_release(st->w);
    free(st);
}

/* Residual sums: one same-shape residual accumulates through dnnl's sum post-op; broadcast ones
 * (and any further ones) become binary adds described in the compute shape cod. */
static int setup_sums(ig_kstep *s, ig_error *err, mm_state *st, int first_in, int on, const int64_t *oshape,
                      int nd, const int64_t *od, const dnnl_memory_desc_t **bin_ptr)
{
    int next_in = first_in, j = 0;
    for (int i = 0; i < st->po.n; i++) {
        if (st->po.kind[i] != IG_PO_SUM) continue;
        const ig_tensor *r = next_in < s->n_in ? s->in[next_in] : NULL;
        if (!r || r->dtype != IG_DT_FLOAT)
            return ig_kstep_fail(s, err, IG_EINVAL, "fused residual input missing or not float");
        st->sum_input[i] = next_in++;
        bool same = r->ndim == on;
        for (int k = 0; k < on && same; k++) same = r->dims[k] == oshape[k];
        if (!same || j > 0 || st->c_input >= 0) {
            if (r->ndim > nd) return ig_kstep_fail(s, err, IG_ESHAPE, "residual does not broadcast");
            int64_t d[DNNL_MAX_NDIMS];
            for (int k = 0; k < nd; k++) {
                int jj = k - (nd - r->ndim);
                d[k] = jj < 0 ? 1 : r->dims[jj];
                if (d[k] != 1 && d[k] != od[k])
                    return ig_kstep_fail(s, err, IG_ESHAPE, "residual does not broadcast");
            }
            ig__dnnl_md_plain(&st->bin_md[i], nd, d);
            st->bin[i] = true;
            bin_ptr[j] = &st->bin_md[i];
        }
        j++;
    }
    return 0;
}

/* Creates the primitive from st's descriptors (a_m, b_u, bias_m, dst_m set by the caller). */
static int build(ig_kstep *s, ig_error *err, mm_state *st, int nd_b, const int64_t *bdims, bool w_const,
                 float alpha, const dnnl_memory_desc_t **bin_ptr)
{
    dnnl_memory_desc_t b_a;
    if (w_const)
        ig__dnnl_md_any(&b_a, nd_b, bdims);
    else
        b_a = st->b_u;
    dnnl_primitive_attr_t attr = ig__dnnl_attr(&st->po, bin_ptr);
    if (!attr) return IG_EUNSUPPORTED;
    if (alpha != 1.f && dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return IG_EUNSUPPORTED;
    }
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    int64_t flops = 2 * (int64_t)(dnnl_memory_desc_get_size(&st->dst_m) / 4) * bdims[nd_b - 2];
    st->single = flops < single_thread_flops;
    int saved = omp_get_max_threads();
    if (st->single) omp_set_num_threads(1);
    dnnl_status_t cst =
        dnnl_matmul_desc_init(&md, &st->a_m, &b_a, st->bias_input >= 0 ? &st->bias_m : NULL, &st->dst_m);
    if (cst == dnnl_success) cst = dnnl_primitive_desc_create(&pd, &md, attr, ig__dnnl_engine(), NULL);
    if (st->single) omp_set_num_threads(saved);
    if (cst != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return IG_EUNSUPPORTED;
    }
    dnnl_primitive_attr_destroy(attr);
    st->b_m = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    int rc = ig__dnnl_prim_from_pd(&st->mm, pd);
    if (rc) return rc;
    size_t total = 0;
    st->off_scr = ig__dnnl_scratch_take(&total, st->mm.scratch_bytes);
    if (w_const) {
        st->w = ig__dnnl_weights_acquire(s->in[1]->data, &st->b_u, &st->b_m);
        if (!st->w) return IG_EUNSUPPORTED;
    } else if (!dnnl_memory_desc_equal(&st->b_u, &st->b_m)) {
        if ((rc = ig__dnnl_reorder_make(&st->r_wei, &st->b_u, &st->b_m))) return rc;
        st->off_wei = ig__dnnl_scratch_take(&total, dnnl_memory_desc_get_size(&st->b_m));
        st->off_rscr = ig__dnnl_scratch_take(&total, st->r_wei.scratch_bytes);
    }
    s->scratch_bytes = total;
    (void)err;
    return 0;
}

static int finish(ig_kstep *s, ig_error *err, mm_state *st, int rc)
{
    if (!rc) {
        s->state = st;
        return 0;
    }
    ig__dnnl_mm_destroy(st);
    return rc == IG_EUNSUPPORTED ? rc : ig_kstep_fail(s, err, rc, "oneDNN matmul setup failed");
}

static bool has_empty(const ig_tensor *t)
{
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] <= 0) return true;
    return false;
}

int ig__dnnl_matmul_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[0] || !s->in[1]) return IG_EUNSUPPORTED;
    const ig_tensor *a = s->in[0], *b = s->in[1];
    if (a->dtype != IG_DT_FLOAT || b->dtype != IG_DT_FLOAT) return IG_EUNSUPPORTED;
    if (a->ndim < 1 || b->ndim < 1 || has_empty(a) || has_empty(b) || !ig__dnnl_engine())
        return IG_EUNSUPPORTED;
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    if (nd < 2) nd = 2;
    if (nd > DNNL_MAX_NDIMS) return IG_EUNSUPPORTED;
    int64_t ad[DNNL_MAX_NDIMS], bd[DNNL_MAX_NDIMS], od[DNNL_MAX_NDIMS];
    /* 1-D operands become a row (A) or a column (B), removed again from the output shape */
    for (int i = 0; i < nd; i++) ad[i] = bd[i] = 1;
    if (a->ndim == 1)
        ad[nd - 1] = a->dims[0];
    else
        for (int i = 0; i < a->ndim; i++) ad[nd - a->ndim + i] = a->dims[i];
    if (b->ndim == 1)
        bd[nd - 2] = b->dims[0];
    else
        for (int i = 0; i < b->ndim; i++) bd[nd - b->ndim + i] = b->dims[i];
    if (ad[nd - 1] != bd[nd - 2]) return ig_kstep_fail(s, err, IG_ESHAPE, "MatMul inner dimensions differ");
    bool b2d = true;
    for (int i = 0; i < nd - 2; i++) {
        if (ad[i] != bd[i] && ad[i] != 1 && bd[i] != 1)
            return ig_kstep_fail(s, err, IG_ESHAPE, "MatMul batch dimensions do not broadcast");
        od[i] = ad[i] > bd[i] ? ad[i] : bd[i];
        if (bd[i] != 1) b2d = false;
    }
    int64_t M = ad[nd - 2], K = ad[nd - 1], N = bd[nd - 1];
    od[nd - 2] = M;
    od[nd - 1] = N;
    /* ONNX output shape */
    int64_t oshape[DNNL_MAX_NDIMS];
    int on = 0;
    for (int i = 0; i < nd - 2; i++) oshape[on++] = od[i];
    if (a->ndim != 1) oshape[on++] = M;
    if (b->ndim != 1) oshape[on++] = N;

    mm_state *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->c_input = -1;
    st->bias_input = -1;
    if (ig__dnnl_postops_parse(s->node, &st->po)) {
        free(st);
        return ig_kstep_fail(s, err, IG_EINVAL, "bad post_ops attributes");
    }
    const ig_tensor *bias = s->n_in > 2 ? s->in[2] : NULL;
    if (bias) {
        if (bias->dtype != IG_DT_FLOAT || ig_tensor_numel(bias) != N || b->ndim == 1) {
            free(st);
            return IG_EUNSUPPORTED;
        }
        st->bias_input = 2;
    }
    /* the compute shape: batch folded into M when B has no batch */
    int cnd = nd;
    int64_t cad[DNNL_MAX_NDIMS], cbd[DNNL_MAX_NDIMS], cod[DNNL_MAX_NDIMS];
    bool a_batched_full = true;
    for (int i = 0; i < nd - 2; i++)
        if (ad[i] != od[i]) a_batched_full = false;
    if (b2d && a_batched_full) {
        int64_t rows = M;
        for (int i = 0; i < nd - 2; i++) rows *= od[i];
        cnd = 2;
        cad[0] = rows, cad[1] = K;
        cbd[0] = K, cbd[1] = N;
        cod[0] = rows, cod[1] = N;
    } else {
        memcpy(cad, ad, sizeof(int64_t) * nd);
        memcpy(cbd, bd, sizeof(int64_t) * nd);
        memcpy(cod, od, sizeof(int64_t) * nd);
    }
    ig__dnnl_md_plain(&st->a_m, cnd, cad);
    ig__dnnl_md_plain(&st->b_u, cnd, cbd);
    ig__dnnl_md_plain(&st->dst_m, cnd, cod);
    if (bias) {
        int64_t bdm[DNNL_MAX_NDIMS];
        for (int i = 0; i < cnd; i++) bdm[i] = 1;
        bdm[cnd - 1] = N;
        ig__dnnl_md_plain(&st->bias_m, cnd, bdm);
    }
    const dnnl_memory_desc_t *bin_ptr[IG_MAX_POST_OPS] = {0};
    int rc = setup_sums(s, err, st, 3, on, oshape, cnd, cod, bin_ptr);
    if (rc) {
        free(st);
        return rc;
    }
    bool w_const = ig__dnnl_is_initializer(s, 1) && b->data && cnd == 2;
    rc = build(s, err, st, cnd, cbd, w_const, 1.f, bin_ptr);
    if (!rc) ig_kstep_set_output(s, 0, IG_DT_FLOAT, on, oshape);
    return finish(s, err, st, rc);
}

int ig__dnnl_gemm_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[0] || !s->in[1]) return IG_EUNSUPPORTED;
    const ig_tensor *a = s->in[0], *b = s->in[1], *c = s->n_in > 2 ? s->in[2] : NULL;
    if (a->dtype != IG_DT_FLOAT || b->dtype != IG_DT_FLOAT || (c && c->dtype != IG_DT_FLOAT))
        return IG_EUNSUPPORTED;
    if (a->ndim != 2 || b->ndim != 2) return ig_kstep_fail(s, err, IG_ESHAPE, "Gemm needs 2-D A and B");
    if (has_empty(a) || has_empty(b) || !ig__dnnl_engine()) return IG_EUNSUPPORTED;
    int ta = (int)ig_node_attr_int(s->node, "transA", 0), tb = (int)ig_node_attr_int(s->node, "transB", 0);
    float alpha = ig_node_attr_float(s->node, "alpha", 1.f), beta = ig_node_attr_float(s->node, "beta", 1.f);
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t Kb = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K != Kb) return ig_kstep_fail(s, err, IG_ESHAPE, "Gemm inner dimensions differ");
    mm_state *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->c_input = st->bias_input = -1;
    st->m = M, st->n = N, st->beta = beta;
    ig__dnnl_postops po;
    if (ig__dnnl_postops_parse(s->node, &po) || po.n_sum || po.n >= IG_MAX_POST_OPS) {
        free(st);
        return ig_kstep_fail(s, err, IG_EINVAL, "bad post_ops attributes for Gemm");
    }
    if (c && beta != 0.f) {
        int64_t cm = c->ndim == 2 ? c->dims[0] : 1, cn = c->ndim >= 1 ? c->dims[c->ndim - 1] : 1;
        if (c->ndim > 2 || (cm != 1 && cm != M) || (cn != 1 && cn != N)) {
            free(st);
            return ig_kstep_fail(s, err, IG_ESHAPE, "Gemm C does not broadcast to [M, N]");
        }
        if (alpha == 1.f && beta == 1.f && cm == 1 && cn == N) {
            st->bias_input = 2;
            int64_t bd[2] = {1, N};
            ig__dnnl_md_plain(&st->bias_m, 2, bd);
        } else {
            /* dst is prefilled with beta*C; a sum post-op (first in the chain) accumulates onto it */
            st->c_input = 2;
            st->c_sm = cm == 1 ? 0 : cn;
            st->c_sn = cn == 1 ? 0 : 1;
            st->po.n = 1;
            st->po.kind[0] = IG_PO_SUM;
        }
    }
    for (int i = 0; i < po.n; i++) {
        st->po.kind[st->po.n] = po.kind[i];
        st->po.alpha[st->po.n] = po.alpha[i];
        st->po.beta[st->po.n++] = po.beta[i];
    }
    int64_t amk[2] = {M, K}, bkn[2] = {K, N}, omn[2] = {M, N};
    int64_t as[2] = {ta ? 1 : K, ta ? M : 1}, bs[2] = {tb ? 1 : N, tb ? K : 1};
    ig__dnnl_md_strided(&st->a_m, 2, amk, as);
    ig__dnnl_md_strided(&st->b_u, 2, bkn, bs);
    ig__dnnl_md_plain(&st->dst_m, 2, omn);
    bool w_const = ig__dnnl_is_initializer(s, 1) && b->data;
    const dnnl_memory_desc_t *bin_ptr[IG_MAX_POST_OPS] = {0};
    int rc = build(s, err, st, 2, bkn, w_const, alpha, bin_ptr);
    if (!rc) ig_kstep_set_output(s, 0, IG_DT_FLOAT, 2, omn);
    return finish(s, err, st, rc);
}

int ig__dnnl_mm_run(ig_kstep *s)
{
    mm_state *st = s->state;
    char *scr = s->scratch;
    void *b = s->in[1]->data, *dst = s->out[0]->data;
    int rc;
    if (st->w) {
        b = ig__dnnl_weights_data(st->w);
    } else if (st->r_wei.p) {
        if ((rc = ig__dnnl_reorder_run(&st->r_wei, &st->b_u, b, &st->b_m, scr + st->off_wei,
                                       scr + st->off_rscr)))
            return rc;
        b = scr + st->off_wei;
    }
    if (st->c_input >= 0) {
        const float *c = s->in[st->c_input]->data;
        float *o = dst;
        for (int64_t i = 0; i < st->m; i++)
            for (int64_t j = 0; j < st->n; j++) o[i * st->n + j] = st->beta * c[i * st->c_sm + j * st->c_sn];
    }
    ig__dnnl_arg a[4 + IG_MAX_POST_OPS];
    int na = 0;
    a[na++] = (ig__dnnl_arg){DNNL_ARG_SRC, &st->a_m, s->in[0]->data};
    a[na++] = (ig__dnnl_arg){DNNL_ARG_WEIGHTS, &st->b_m, b};
    if (st->bias_input >= 0)
        a[na++] = (ig__dnnl_arg){DNNL_ARG_BIAS, &st->bias_m, s->in[st->bias_input]->data};
    a[na++] = (ig__dnnl_arg){DNNL_ARG_DST, &st->dst_m, dst};
    for (int i = 0; i < st->po.n; i++) {
        if (st->po.kind[i] != IG_PO_SUM || (i == 0 && st->c_input >= 0)) continue;
        void *r = s->in[st->sum_input[i]]->data;
        if (st->bin[i])
            a[na++] = (ig__dnnl_arg){DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1, &st->bin_md[i], r};
        else
            memcpy(dst, r, dnnl_memory_desc_get_size(&st->dst_m));
    }
    if (!st->single) return ig__dnnl_execute(&st->mm, a, na, scr + st->off_scr);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    rc = ig__dnnl_execute(&st->mm, a, na, scr + st->off_scr);
    omp_set_num_threads(saved);
    return rc;
}
