/* Gather, GatherElements and GatherND. Indices may be negative (counted from the end); an index
 * outside the data is an error from run(), never a wild read. */
#include "engine/kernels/ref/shape_common.h"

#include <stdlib.h>

typedef struct {
    int axis;
} gather_state;

static int save_axis(ig_kstep *s, ig_error *err, int axis)
{
    gather_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->axis = axis;
    s->state = st;
    return 0;
}

static bool index_type_ok(const ig_tensor *t)
{
    return t && (t->dtype == IG_DT_INT64 || t->dtype == IG_DT_INT32);
}

static inline int64_t idx_at(const ig_tensor *t, int64_t k)
{
    return t->dtype == IG_DT_INT64 ? ((const int64_t *)t->data)[k] : ((const int32_t *)t->data)[k];
}

int ig__shape_gather_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *ind = ig__shape_in(s, 1);
    if (!index_type_ok(ind)) return ig_kstep_fail(s, err, IG_EDTYPE, "indices must be int32 or int64");
    int axis;
    if (!ig__shape_axis(ig_node_attr_int(s->node, "axis", 0), x->ndim, &axis))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range for rank %d", x->ndim);
    int nd = x->ndim - 1 + ind->ndim;
    if (nd > IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "output rank %d too large", nd);
    int64_t dims[IG_MAX_DIMS];
    int o = 0;
    for (int k = 0; k < axis; k++) dims[o++] = x->dims[k];
    for (int k = 0; k < ind->ndim; k++) dims[o++] = ind->dims[k];
    for (int k = axis + 1; k < x->ndim; k++) dims[o++] = x->dims[k];
    ig__shape_set_out(s, 0, x->dtype, nd, dims);
    return save_axis(s, err, axis);
}

int ig__shape_gather_run(ig_kstep *s)
{
    const gather_state *st = s->state;
    const ig_tensor *x = s->in[0], *ind = s->in[1];
    size_t es = ig_dtype_size(x->dtype);
    int64_t outer = ig__shape_prod(x->dims, 0, st->axis), d = x->dims[st->axis];
    int64_t inner = ig__shape_prod(x->dims, st->axis + 1, x->ndim) * (int64_t)es;
    int64_t ni = ig_tensor_numel(ind);
    for (int64_t j = 0; j < ni; j++) {
        int64_t v = idx_at(ind, j);
        if (v < -d || v >= d) return IG_EINVAL;
    }
    const char *src = x->data;
    char *dst = s->out[0]->data;
#pragma omp parallel for num_threads(s->n_threads) if (outer * ni * inner > (1 << 17) && s->n_threads > 1)
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < ni; j++) {
            int64_t v = idx_at(ind, j);
            if (v < 0) v += d;
            memcpy(dst + (o * ni + j) * inner, src + (o * d + v) * inner, (size_t)inner);
        }
    }
    return 0;
}

int ig__shape_gather_elements_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *ind = ig__shape_in(s, 1);
    if (!index_type_ok(ind)) return ig_kstep_fail(s, err, IG_EDTYPE, "indices must be int32 or int64");
    int axis;
    if (!ig__shape_axis(ig_node_attr_int(s->node, "axis", 0), x->ndim, &axis))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range for rank %d", x->ndim);
    if (ind->ndim != x->ndim) return ig_kstep_fail(s, err, IG_ESHAPE, "indices rank differs from data rank");
    ig__shape_set_out(s, 0, x->dtype, ind->ndim, ind->dims);
    return save_axis(s, err, axis);
}

int ig__shape_gather_elements_run(ig_kstep *s)
{
    const gather_state *st = s->state;
    const ig_tensor *x = s->in[0], *ind = s->in[1];
    size_t es = ig_dtype_size(x->dtype);
    int r = x->ndim, axis = st->axis;
    int64_t n = ig_tensor_numel(ind), xstr[IG_MAX_DIMS], d = x->dims[axis];
    ig__shape_strides(x->dims, r, xstr);
    const char *src = x->data;
    char *dst = s->out[0]->data;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int k = r - 1; k >= 0; k--) {
            int64_t c = rem % ind->dims[k];
            rem /= ind->dims[k];
            if (k == axis) {
                c = idx_at(ind, i);
                if (c < 0) c += d;
                if (c < 0 || c >= d) bad = 1;
            } else if (c >= x->dims[k]) {
                bad = 1;
            }
            off += c * xstr[k];
        }
        if (bad) return IG_EINVAL;
        memcpy(dst + i * (int64_t)es, src + off * (int64_t)es, es);
    }
    return 0;
}

typedef struct {
    int batch_dims;
} gathernd_state;

int ig__shape_gathernd_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *ind = ig__shape_in(s, 1);
    if (!ind || ind->dtype != IG_DT_INT64) return ig_kstep_fail(s, err, IG_EDTYPE, "indices must be int64");
    int64_t b = ig_node_attr_int(s->node, "batch_dims", 0);
    if (ind->ndim < 1 || b < 0 || b >= ind->ndim || b >= x->ndim)
        return ig_kstep_fail(s, err, IG_EINVAL, "bad batch_dims or indices rank");
    int64_t kk = ind->dims[ind->ndim - 1];
    if (kk < 1 || kk > x->ndim - b)
        return ig_kstep_fail(s, err, IG_ESHAPE, "index tuple length %lld too long", (long long)kk);
    for (int k = 0; k < b; k++)
        if (ind->dims[k] != x->dims[k]) return ig_kstep_fail(s, err, IG_ESHAPE, "batch dims differ");
    int nd = ind->ndim - 1 + x->ndim - (int)b - (int)kk;
    if (nd > IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "output rank too large");
    int64_t dims[IG_MAX_DIMS];
    int o = 0;
    for (int k = 0; k < ind->ndim - 1; k++) dims[o++] = ind->dims[k];
    for (int k = (int)(b + kk); k < x->ndim; k++) dims[o++] = x->dims[k];
    ig__shape_set_out(s, 0, x->dtype, nd, dims);
    gathernd_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->batch_dims = (int)b;
    s->state = st;
    return 0;
}

int ig__shape_gathernd_run(ig_kstep *s)
{
    const gathernd_state *st = s->state;
    const ig_tensor *x = s->in[0], *ind = s->in[1];
    const int64_t *iv = ind->data;
    size_t es = ig_dtype_size(x->dtype);
    int b = st->batch_dims;
    int64_t kk = ind->dims[ind->ndim - 1], xstr[IG_MAX_DIMS];
    ig__shape_strides(x->dims, x->ndim, xstr);
    int64_t nbatch = ig__shape_prod(x->dims, 0, b);
    int64_t per_batch = ig__shape_prod(ind->dims, b, ind->ndim - 1);
    int64_t slice = ig__shape_prod(x->dims, b + (int)kk, x->ndim) * (int64_t)es;
    int64_t bstride = b ? xstr[b - 1] : 0;
    const char *src = x->data;
    char *dst = s->out[0]->data;
    for (int64_t bi = 0; bi < nbatch; bi++) {
        for (int64_t j = 0; j < per_batch; j++) {
            const int64_t *t = iv + (bi * per_batch + j) * kk;
            int64_t off = bi * bstride;
            for (int64_t q = 0; q < kk; q++) {
                int64_t d = x->dims[b + q], v = t[q] < 0 ? t[q] + d : t[q];
                if (v < 0 || v >= d) return IG_EINVAL;
                off += v * xstr[b + q];
            }
            memcpy(dst + (bi * per_batch + j) * slice, src + off * (int64_t)es, (size_t)slice);
        }
    }
    return 0;
}
