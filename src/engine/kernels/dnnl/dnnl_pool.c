/* MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool (f32, 1-3 spatial dims) and inference
 * BatchNormalization on oneDNN, over plain row-major tensors. */
#include "engine/kernels/dnnl/dnnl_pool.h"

#include <stdlib.h>
#include <string.h>

#include "engine/kernels/dnnl/dnnl_common.h"
#include "engine/kernels/dnnl/dnnl_window.h"

typedef struct pool_state {
    ig__dnnl_prim p;
    dnnl_memory_desc_t src, dst, ws;
    bool has_ws;
    int kind; /* 0 pool, 1 batchnorm */
    dnnl_memory_desc_t cmd;
} pool_state;

void ig__dnnl_pool_destroy(void *state)
{
    pool_state *st = state;
    if (!st) return;
    ig__dnnl_prim_destroy(&st->p);
    free(st);
}

static bool usable(const ig_tensor *x)
{
    if (!x || x->dtype != IG_DT_FLOAT || x->ndim < 3 || x->ndim > 5) return false;
    for (int i = 0; i < x->ndim; i++)
        if (x->dims[i] <= 0) return false;
    return true;
}

static int pool_common(ig_kstep *s, ig_error *err, dnnl_alg_kind_t alg, bool global)
{
    const ig_tensor *x = s->n_in > 0 ? s->in[0] : NULL;
    if (!usable(x) || !ig__dnnl_engine()) return IG_EUNSUPPORTED;
    if (s->n_out > 1 && s->out[1]) return IG_EUNSUPPORTED; /* MaxPool indices: reference kernel */
    int nd = x->ndim, ns = nd - 2;
    ig__dnnl_window w;
    if (global) {
        memset(&w, 0, sizeof(w));
        w.ns = ns;
        for (int i = 0; i < ns; i++) w.k[i] = x->dims[2 + i], w.s[i] = w.d[i] = w.out[i] = 1;
    } else {
        int nk = 0;
        const int64_t *k = ig_node_attr_ints(s->node, "kernel_shape", &nk);
        if (!k || nk != ns)
            return ig_kstep_fail(s, err, IG_EINVAL, "kernel_shape missing or of wrong length");
        bool ceil_mode = ig_node_attr_int(s->node, "ceil_mode", 0) != 0;
        int rc = ig__dnnl_window_init(s, err, ns, x->dims + 2, k, ceil_mode, &w);
        if (rc) return rc;
        if (ceil_mode && alg == dnnl_pooling_avg_include_padding) {
            /* PyTorch/ONNX count only the declared pads, not the ceil overhang: reference kernel */
            int np = 0;
            const int64_t *pads = ig_node_attr_ints(s->node, "pads", &np);
            for (int i = 0; i < ns; i++)
                if (w.pr[i] != (pads && np == 2 * ns ? pads[ns + i] : 0)) return IG_EUNSUPPORTED;
        }
    }
    int64_t od[5] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < ns; i++) od[2 + i] = w.out[i];
    pool_state *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    /* With a 1x1 output (global pooling) channels-last and plain are the same bytes: say channels-last
     * so that oneDNN keeps one layout and picks its vectorised kernel instead of the reference one. */
    int in_nhwc = ig__dnnl_nhwc_in(s->node, 0);
    bool out_1x1 = true;
    for (int i = 0; i < ns; i++) out_1x1 = out_1x1 && od[2 + i] == 1;
    ig__dnnl_md_user(&st->src, in_nhwc, nd, x->dims);
    int out_l = ig__dnnl_nhwc_out(s->node);
    if (!out_l && in_nhwc && out_1x1) out_l = in_nhwc;
    ig__dnnl_md_user(&st->dst, out_l, nd, od);
    dnnl_dims_t str, ker, dil, pl, pr;
    for (int i = 0; i < ns; i++) {
        str[i] = w.s[i], ker[i] = w.k[i], dil[i] = w.d[i] - 1, pl[i] = w.pl[i], pr[i] = w.pr[i];
    }
    dnnl_pooling_v2_desc_t pd_desc;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = ig__dnnl_attr(NULL, NULL);
    if (!attr ||
        dnnl_pooling_v2_forward_desc_init(&pd_desc, dnnl_forward_inference, alg, &st->src, &st->dst, str, ker,
                                          dil, pl, pr) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &pd_desc, attr, ig__dnnl_engine(), NULL) != dnnl_success) {
        if (attr) dnnl_primitive_attr_destroy(attr);
        free(st);
        return IG_EUNSUPPORTED;
    }
    dnnl_primitive_attr_destroy(attr);
    const dnnl_memory_desc_t *ws = dnnl_primitive_desc_query_md(pd, dnnl_query_workspace_md, 0);
    if (ws && dnnl_memory_desc_get_size(ws)) {
        dnnl_primitive_desc_destroy(pd);
        free(st);
        return IG_EUNSUPPORTED;
    }
    if (ig__dnnl_prim_from_pd(&st->p, pd)) {
        free(st);
        return IG_EUNSUPPORTED;
    }
    s->scratch_bytes = st->p.scratch_bytes;
    s->state = st;
    ig_kstep_set_output(s, 0, IG_DT_FLOAT, nd, od);
    return 0;
}

int ig__dnnl_maxpool_plan(ig_kstep *s, ig_error *err)
{
    if (ig_node_attr_int(s->node, "storage_order", 0) != 0) return IG_EUNSUPPORTED;
    return pool_common(s, err, dnnl_pooling_max, false);
}

int ig__dnnl_avgpool_plan(ig_kstep *s, ig_error *err)
{
    bool incl = ig_node_attr_int(s->node, "count_include_pad", 0) != 0;
    return pool_common(s, err, incl ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding,
                       false);
}

int ig__dnnl_gavgpool_plan(ig_kstep *s, ig_error *err)
{
    return pool_common(s, err, dnnl_pooling_avg_exclude_padding, true);
}

int ig__dnnl_gmaxpool_plan(ig_kstep *s, ig_error *err)
{
    return pool_common(s, err, dnnl_pooling_max, true);
}

int ig__dnnl_bn_plan(ig_kstep *s, ig_error *err)
{
    const ig_node *n = s->node;
    if (n->opset < 7 || s->n_in < 5) return IG_EUNSUPPORTED;
    if (ig_node_attr_int(n, "training_mode", 0) != 0 || ig_node_attr_int(n, "spatial", 1) != 1)
        return IG_EUNSUPPORTED;
    for (int i = 1; i < s->n_out; i++)
        if (s->out[i]) return IG_EUNSUPPORTED;
    const ig_tensor *x = s->in[0];
    if (!x || x->dtype != IG_DT_FLOAT || x->ndim < 2 || x->ndim > 5 || !ig__dnnl_engine())
        return IG_EUNSUPPORTED;
    for (int i = 0; i < x->ndim; i++)
        if (x->dims[i] <= 0) return IG_EUNSUPPORTED;
    for (int i = 1; i < 5; i++) {
        const ig_tensor *p = s->in[i];
        if (!p || p->dtype != IG_DT_FLOAT) return IG_EUNSUPPORTED;
        if (ig_tensor_numel(p) != x->dims[1])
            return ig_kstep_fail(s, err, IG_ESHAPE, "BatchNormalization parameter %d is not [C]", i);
    }
    pool_state *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->kind = 1;
    ig__dnnl_md_plain(&st->src, x->ndim, x->dims);
    ig__dnnl_md_plain(&st->cmd, 1, &x->dims[1]);
    float eps = ig_node_attr_float(n, "epsilon", 1e-5f);
    dnnl_batch_normalization_desc_t bd;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = ig__dnnl_attr(NULL, NULL);
    if (!attr ||
        dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_inference, &st->src, eps,
                                                   dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift) !=
            dnnl_success ||
        dnnl_primitive_desc_create(&pd, &bd, attr, ig__dnnl_engine(), NULL) != dnnl_success) {
        if (attr) dnnl_primitive_attr_destroy(attr);
        free(st);
        return IG_EUNSUPPORTED;
    }
    dnnl_primitive_attr_destroy(attr);
    if (ig__dnnl_prim_from_pd(&st->p, pd)) {
        free(st);
        return IG_EUNSUPPORTED;
    }
    s->scratch_bytes = st->p.scratch_bytes;
    s->state = st;
    ig_kstep_set_output(s, 0, IG_DT_FLOAT, x->ndim, x->dims);
    return 0;
}

int ig__dnnl_pool_run(ig_kstep *s)
{
    pool_state *st = s->state;
    if (st->kind == 1) {
        ig__dnnl_arg a[6] = {
            {DNNL_ARG_SRC, &st->src, s->in[0]->data},   {DNNL_ARG_DST, &st->src, s->out[0]->data},
            {DNNL_ARG_SCALE, &st->cmd, s->in[1]->data}, {DNNL_ARG_SHIFT, &st->cmd, s->in[2]->data},
            {DNNL_ARG_MEAN, &st->cmd, s->in[3]->data},  {DNNL_ARG_VARIANCE, &st->cmd, s->in[4]->data},
        };
        return ig__dnnl_execute(&st->p, a, 6, s->scratch);
    }
    ig__dnnl_arg a[2] = {{DNNL_ARG_SRC, &st->src, s->in[0]->data}, {DNNL_ARG_DST, &st->dst, s->out[0]->data}};
    return ig__dnnl_execute(&st->p, a, 2, s->scratch);
}
