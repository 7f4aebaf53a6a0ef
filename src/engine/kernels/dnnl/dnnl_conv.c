/* Conv (1-3 spatial dims, groups, dilations, pads, auto_pad, bias) on oneDNN. The primitive picks
 * its layouts; inputs and outputs are reordered at the boundary and constant weights are packed
 * once through the process-wide cache. Extra inputs after the bias are residuals for sum post-ops. */
#include "engine/kernels/dnnl/dnnl_conv.h"

#include <stdlib.h>
#include <string.h>

#include "engine/kernels/dnnl/dnnl_common.h"
#include "engine/kernels/dnnl/dnnl_window.h"

typedef struct conv_state {
    ig__dnnl_prim conv, r_src, r_wei, r_dst, r_sum;
    dnnl_memory_desc_t src_u, src_m, wei_u, wei_m, bias_m, dst_u, dst_m, res_u;
    ig__dnnl_postops po;
    dnnl_memory_desc_t bin_md[IG_MAX_POST_OPS];
    bool bin[IG_MAX_POST_OPS];
    int sum_input[IG_MAX_POST_OPS]; /* kstep input index feeding post-op i (sum kinds only) */
    size_t off_src, off_wei, off_dst, off_scr, off_rscr;
    ig__dnnl_wentry *w;
    bool has_bias;
} conv_state;

void ig__dnnl_conv_destroy(void *state)
{
    conv_state *st = state;
    if (!st) return;
    ig__dnnl_prim_destroy(&st->conv);
    ig__dnnl_prim_destroy(&st->r_src);
    ig__dnnl_prim_destroy(&st->r_wei);
    ig__dnnl_prim_destroy(&st->r_dst);
    ig__dnnl_prim_destroy(&st->r_sum);
    ig__dnnl_weights_release(st->w);
    free(st);
}

static bool same_shape(const ig_tensor *a, int ndim, const int64_t *dims)
{
    if (a->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (a->dims[i] != dims[i]) return false;
    return true;
}

/* Descriptor of a residual broadcast against dst dims (ranks aligned right). */
static bool broadcast_md(dnnl_memory_desc_t *md, const ig_tensor *t, int ndim, const int64_t *dims)
{
    if (t->ndim > ndim) return false;
    int64_t d[DNNL_MAX_NDIMS];
    for (int i = 0; i < ndim; i++) {
        int j = i - (ndim - t->ndim);
        d[i] = j < 0 ? 1 : t->dims[j];
        if (d[i] != 1 && d[i] != dims[i]) return false;
    }
    ig__dnnl_md_plain(md, ndim, d);
    return true;
}

int ig__dnnl_conv_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[0] || !s->in[1]) return IG_EUNSUPPORTED;
    const ig_tensor *x = s->in[0], *wt = s->in[1];
    const ig_tensor *b = s->n_in > 2 ? s->in[2] : NULL;
    if (x->dtype != IG_DT_FLOAT || wt->dtype != IG_DT_FLOAT || (b && b->dtype != IG_DT_FLOAT))
        return IG_EUNSUPPORTED;
    int nd = x->ndim, ns = nd - 2;
    if (ns < 1 || ns > 3 || wt->ndim != nd) return IG_EUNSUPPORTED;
    if (!ig__dnnl_engine()) return IG_EUNSUPPORTED;
    int64_t g = ig_node_attr_int(s->node, "group", 1);
    int64_t oc = wt->dims[0], icg = wt->dims[1];
    if (g < 1 || oc % g || x->dims[1] != icg * g)
        return ig_kstep_fail(s, err, IG_ESHAPE, "input channels do not match weights and group");
    if (b && (b->ndim != 1 || b->dims[0] != oc)) return ig_kstep_fail(s, err, IG_ESHAPE, "bias must be [M]");
    int nks = 0;
    const int64_t *ks = ig_node_attr_ints(s->node, "kernel_shape", &nks);
    if (ks && nks != ns) return ig_kstep_fail(s, err, IG_EINVAL, "kernel_shape length does not match");
    for (int i = 0; ks && i < ns; i++)
        if (ks[i] != wt->dims[2 + i]) return ig_kstep_fail(s, err, IG_ESHAPE, "kernel_shape != weight dims");
    for (int i = 0; i < nd; i++)
        if (x->dims[i] <= 0 || wt->dims[i] <= 0) return IG_EUNSUPPORTED; /* empty tensors: reference */
    ig__dnnl_window win;
    int rc = ig__dnnl_window_init(s, err, ns, x->dims + 2, wt->dims + 2, false, &win);
    if (rc) return rc;

    conv_state *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    rc = ig__dnnl_postops_parse(s->node, &st->po);
    if (rc) {
        free(st);
        return ig_kstep_fail(s, err, IG_EINVAL, "bad post_ops attributes");
    }
    int64_t od[5] = {x->dims[0], oc};
    for (int i = 0; i < ns; i++) od[2 + i] = win.out[i];
    const dnnl_memory_desc_t *bin_ptr[IG_MAX_POST_OPS] = {0};
    int next_in = 3, j = 0;
    for (int i = 0; i < st->po.n; i++) {
        if (st->po.kind[i] != IG_PO_SUM) continue;
        const ig_tensor *r = next_in < s->n_in ? s->in[next_in] : NULL;
        if (!r || r->dtype != IG_DT_FLOAT) {
            free(st);
            return ig_kstep_fail(s, err, IG_EINVAL, "fused residual input missing or not float");
        }
        st->sum_input[i] = next_in++;
        /* dnnl supports one accumulating sum; further or broadcast residuals become binary adds */
        int r_nhwc = ig__dnnl_nhwc_in(s->node, st->sum_input[i]);
        if (!same_shape(r, nd, od) || j > 0) {
            if (r_nhwc) {
                free(st);
                return ig_kstep_fail(s, err, IG_ESHAPE, "channels-last residual of another shape");
            }
            if (!broadcast_md(&st->bin_md[i], r, nd, od)) {
                free(st);
                return ig_kstep_fail(s, err, IG_ESHAPE, "residual does not broadcast to the output");
            }
            st->bin[i] = true;
            bin_ptr[j] = &st->bin_md[i];
        } else {
            ig__dnnl_md_user(&st->res_u, r_nhwc, nd, od);
        }
        j++;
    }

    bool w_const = ig__dnnl_is_initializer(s, 1) && wt->data;
    ig__dnnl_md_user(&st->src_u, ig__dnnl_nhwc_in(s->node, 0), nd, x->dims);
    ig__dnnl_md_user(&st->dst_u, ig__dnnl_nhwc_out(s->node), nd, od);
    int64_t wd[6];
    int wnd = nd;
    if (g > 1) {
        wd[0] = g;
        wd[1] = oc / g;
        for (int i = 1; i < nd; i++) wd[1 + i] = wt->dims[i];
        wnd = nd + 1;
    } else {
        memcpy(wd, wt->dims, sizeof(int64_t) * nd);
    }
    ig__dnnl_md_plain(&st->wei_u, wnd, wd);
    dnnl_memory_desc_t src_a, wei_a, dst_a;
    static int plain_io = -1;
    if (plain_io < 0) plain_io = getenv("IG_DNNL_CONV_PLAIN") != NULL;
    /* channels-last neighbours: ask for exactly that layout so no reorder runs at either side */
    if (plain_io || ig__dnnl_nhwc_in(s->node, 0))
        src_a = st->src_u;
    else
        ig__dnnl_md_any(&src_a, nd, x->dims);
    if (plain_io || ig__dnnl_nhwc_out(s->node))
        dst_a = st->dst_u;
    else
        ig__dnnl_md_any(&dst_a, nd, od);
    ig__dnnl_md_any(&wei_a, wnd, wd);
    st->has_bias = b != NULL;
    if (b) ig__dnnl_md_plain(&st->bias_m, 1, &oc);
    dnnl_dims_t strides, dil, pl, pr;
    for (int i = 0; i < ns; i++) {
        strides[i] = win.s[i];
        dil[i] = win.d[i] - 1;
        pl[i] = win.pl[i];
        pr[i] = win.pr[i];
    }
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = ig__dnnl_attr(&st->po, bin_ptr);
    if (!attr ||
        dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                   &src_a, &wei_a, b ? &st->bias_m : NULL, &dst_a, strides,
                                                   dil, pl, pr) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &cd, attr, ig__dnnl_engine(), NULL) != dnnl_success) {
        if (attr) dnnl_primitive_attr_destroy(attr);
        free(st);
        return IG_EUNSUPPORTED;
    }
    /* mixed neighbour layouts (blocked on one side, channels-last on the other) have no fast
     * kernel: let the primitive pick its own and reorder at the boundary instead */
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
        !strncmp(impl, "ref", 3)) {
        dnnl_primitive_desc_t pd2 = NULL;
        ig__dnnl_md_any(&src_a, nd, x->dims);
        ig__dnnl_md_any(&dst_a, nd, od);
        if (dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                       &src_a, &wei_a, b ? &st->bias_m : NULL, &dst_a,
                                                       strides, dil, pl, pr) == dnnl_success &&
            dnnl_primitive_desc_create(&pd2, &cd, attr, ig__dnnl_engine(), NULL) == dnnl_success) {
            dnnl_primitive_desc_destroy(pd);
            pd = pd2;
        }
    }
    dnnl_primitive_attr_destroy(attr);
    st->src_m = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    st->wei_m = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    st->dst_m = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    size_t total = 0, rscr = 0;
    if ((rc = ig__dnnl_prim_from_pd(&st->conv, pd))) goto fail;
    st->off_scr = ig__dnnl_scratch_take(&total, st->conv.scratch_bytes);
    if ((rc = ig__dnnl_reorder_make(&st->r_src, &st->src_u, &st->src_m))) goto fail;
    if ((rc = ig__dnnl_reorder_make(&st->r_dst, &st->dst_m, &st->dst_u))) goto fail;
    if (st->po.n_sum && (rc = ig__dnnl_reorder_make(&st->r_sum, &st->res_u, &st->dst_m))) goto fail;
    if (st->r_src.p) st->off_src = ig__dnnl_scratch_take(&total, dnnl_memory_desc_get_size(&st->src_m));
    if (st->r_dst.p) st->off_dst = ig__dnnl_scratch_take(&total, dnnl_memory_desc_get_size(&st->dst_m));
    if (w_const) {
        st->w = ig__dnnl_weights_acquire(wt->data, &st->wei_u, &st->wei_m);
        if (!st->w) {
            rc = IG_EUNSUPPORTED;
            goto fail;
        }
    } else {
        if ((rc = ig__dnnl_reorder_make(&st->r_wei, &st->wei_u, &st->wei_m))) goto fail;
        if (st->r_wei.p) st->off_wei = ig__dnnl_scratch_take(&total, dnnl_memory_desc_get_size(&st->wei_m));
    }
    const ig__dnnl_prim *rs[] = {&st->r_src, &st->r_dst, &st->r_sum, &st->r_wei};
    for (int i = 0; i < 4; i++)
        if (rs[i]->scratch_bytes > rscr) rscr = rs[i]->scratch_bytes;
    st->off_rscr = ig__dnnl_scratch_take(&total, rscr);
    s->scratch_bytes = total;
    s->state = st;
    ig_kstep_set_output(s, 0, IG_DT_FLOAT, nd, od);
    return 0;
fail:
    ig__dnnl_conv_destroy(st);
    return rc == IG_EUNSUPPORTED ? rc : ig_kstep_fail(s, err, rc, "oneDNN convolution setup failed");
}

int ig__dnnl_conv_run(ig_kstep *s)
{
    conv_state *st = s->state;
    char *scr = s->scratch;
    void *rscr = scr + st->off_rscr;
    void *src = s->in[0]->data, *wei = s->in[1]->data, *dst = s->out[0]->data;
    int rc;
    if (st->r_src.p) {
        if ((rc = ig__dnnl_reorder_run(&st->r_src, &st->src_u, src, &st->src_m, scr + st->off_src, rscr)))
            return rc;
        src = scr + st->off_src;
    }
    if (st->w) {
        wei = ig__dnnl_weights_data(st->w);
    } else if (st->r_wei.p) {
        if ((rc = ig__dnnl_reorder_run(&st->r_wei, &st->wei_u, wei, &st->wei_m, scr + st->off_wei, rscr)))
            return rc;
        wei = scr + st->off_wei;
    }
    if (st->r_dst.p) dst = scr + st->off_dst;
    ig__dnnl_arg a[4 + IG_MAX_POST_OPS];
    int na = 0;
    a[na++] = (ig__dnnl_arg){DNNL_ARG_SRC, &st->src_m, src};
    a[na++] = (ig__dnnl_arg){DNNL_ARG_WEIGHTS, &st->wei_m, wei};
    if (st->has_bias) a[na++] = (ig__dnnl_arg){DNNL_ARG_BIAS, &st->bias_m, s->in[2]->data};
    a[na++] = (ig__dnnl_arg){DNNL_ARG_DST, &st->dst_m, dst};
    for (int i = 0; i < st->po.n; i++) {
        if (st->po.kind[i] != IG_PO_SUM) continue;
        void *r = s->in[st->sum_input[i]]->data;
        if (st->bin[i]) {
            a[na++] = (ig__dnnl_arg){DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1, &st->bin_md[i], r};
        } else if (st->r_sum.p) {
            if ((rc = ig__dnnl_reorder_run(&st->r_sum, &st->res_u, r, &st->dst_m, dst, rscr))) return rc;
        } else {
            memcpy(dst, r, dnnl_memory_desc_get_size(&st->dst_m));
        }
    }
    if ((rc = ig__dnnl_execute(&st->conv, a, na, scr + st->off_scr))) return rc;
    if (st->r_dst.p)
        return ig__dnnl_reorder_run(&st->r_dst, &st->dst_m, dst, &st->dst_u, s->out[0]->data, rscr);
    return 0;
}
