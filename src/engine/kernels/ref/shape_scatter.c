/* ScatterND, ScatterElements and the deprecated Scatter: the output starts as a copy of data, then
 * updates are written (or combined by the reduction attribute) at the indexed positions, in order. */
#include "engine/kernels/ref/shape_common.h"

#include <stdlib.h>

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

typedef struct {
    int axis;
    int reduction;
} scatter_state;

static int parse_state(ig_kstep *s, ig_error *err, int axis)
{
    const char *r = ig_node_attr_str(s->node, "reduction", "none");
    int red;
    if (!strcmp(r, "none"))
        red = RED_NONE;
    else if (!strcmp(r, "add"))
        red = RED_ADD;
    else if (!strcmp(r, "mul"))
        red = RED_MUL;
    else if (!strcmp(r, "max"))
        red = RED_MAX;
    else if (!strcmp(r, "min"))
        red = RED_MIN;
    else
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown reduction '%s'", r);
    const ig_tensor *x = s->in[0];
    if (red != RED_NONE &&
        (x->dtype == IG_DT_STRING || x->dtype == IG_DT_COMPLEX64 || x->dtype == IG_DT_COMPLEX128))
        return ig_kstep_fail(s, err, IG_EDTYPE, "reduction on %s", ig_dtype_name(x->dtype));
    scatter_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->axis = axis;
    st->reduction = red;
    s->state = st;
    return 0;
}

#define IG__RED(T)                                                                                           \
    do {                                                                                                     \
        T *a_ = (T *)dst + k;                                                                                \
        T b_ = ((const T *)src)[j];                                                                          \
        switch (red) {                                                                                       \
        case RED_ADD:                                                                                        \
            *a_ = (T)(*a_ + b_);                                                                             \
            break;                                                                                           \
        case RED_MUL:                                                                                        \
            *a_ = (T)(*a_ * b_);                                                                             \
            break;                                                                                           \
        case RED_MAX:                                                                                        \
            *a_ = *a_ > b_ ? *a_ : b_;                                                                       \
            break;                                                                                           \
        default:                                                                                             \
            *a_ = *a_ < b_ ? *a_ : b_;                                                                       \
            break;                                                                                           \
        }                                                                                                    \
    } while (0)

/* dst[k] = src[j] combined by red. */
static void combine(ig_dtype dt, int red, void *dst, int64_t k, const void *src, int64_t j, size_t es)
{
    if (red == RED_NONE) {
        memcpy((char *)dst + k * (int64_t)es, (const char *)src + j * (int64_t)es, es);
        return;
    }
    switch (dt) {
    case IG_DT_FLOAT:
        IG__RED(float);
        break;
    case IG_DT_DOUBLE:
        IG__RED(double);
        break;
    case IG_DT_INT64:
        IG__RED(int64_t);
        break;
    case IG_DT_INT32:
        IG__RED(int32_t);
        break;
    case IG_DT_INT16:
        IG__RED(int16_t);
        break;
    case IG_DT_INT8:
        IG__RED(int8_t);
        break;
    case IG_DT_UINT64:
        IG__RED(uint64_t);
        break;
    case IG_DT_UINT32:
        IG__RED(uint32_t);
        break;
    case IG_DT_UINT16:
        IG__RED(uint16_t);
        break;
    case IG_DT_UINT8:
    case IG_DT_BOOL:
        IG__RED(uint8_t);
        break;
    default: {
        ig_tensor a = {.dtype = dt, .data = dst}, b = {.dtype = dt, .data = (void *)src};
        double x = ig__shape_get_f64(&a, k), y = ig__shape_get_f64(&b, j);
        double r = red == RED_ADD   ? x + y
                   : red == RED_MUL ? x * y
                   : red == RED_MAX ? (x > y ? x : y)
                                    : (x < y ? x : y);
        ig__shape_put_f64(dst, dt, k, r);
    }
    }
}

int ig__shape_scatternd_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *ind = ig__shape_in(s, 1), *upd = ig__shape_in(s, 2);
    if (!ind || !upd) return ig_kstep_fail(s, err, IG_EINVAL, "missing inputs");
    if (ind->dtype != IG_DT_INT64) return ig_kstep_fail(s, err, IG_EDTYPE, "indices must be int64");
    if (upd->dtype != x->dtype) return ig_kstep_fail(s, err, IG_EDTYPE, "updates dtype differs from data");
    if (ind->ndim < 1) return ig_kstep_fail(s, err, IG_ESHAPE, "indices must have rank >= 1");
    int64_t kk = ind->dims[ind->ndim - 1];
    if (kk > x->ndim) return ig_kstep_fail(s, err, IG_ESHAPE, "index tuple longer than data rank");
    int q = ind->ndim - 1;
    bool ok = upd->ndim == q + x->ndim - kk;
    for (int k = 0; ok && k < q; k++) ok = upd->dims[k] == ind->dims[k];
    for (int k = (int)kk; ok && k < x->ndim; k++) ok = upd->dims[q + k - kk] == x->dims[k];
    if (!ok) return ig_kstep_fail(s, err, IG_ESHAPE, "updates shape does not match indices and data");
    ig__shape_set_out(s, 0, x->dtype, x->ndim, x->dims);
    return parse_state(s, err, 0);
}

int ig__shape_scatternd_run(ig_kstep *s)
{
    const scatter_state *st = s->state;
    const ig_tensor *x = s->in[0], *ind = s->in[1], *upd = s->in[2];
    ig_tensor *y = s->out[0];
    size_t es = ig_dtype_size(x->dtype), nb = ig_tensor_nbytes(x);
    if (nb) memcpy(y->data, x->data, nb);
    int64_t kk = ind->dims[ind->ndim - 1], n = ig__shape_prod(ind->dims, 0, ind->ndim - 1), xstr[IG_MAX_DIMS];
    ig__shape_strides(x->dims, x->ndim, xstr);
    int64_t slice = ig__shape_prod(x->dims, (int)kk, x->ndim);
    const int64_t *iv = ind->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int64_t q = 0; q < kk; q++) {
            int64_t d = x->dims[q], v = iv[i * kk + q];
            if (v < 0) v += d;
            if (v < 0 || v >= d) return IG_EINVAL;
            off += v * xstr[q];
        }
        if (st->reduction == RED_NONE)
            memcpy((char *)y->data + off * (int64_t)es, (const char *)upd->data + i * slice * (int64_t)es,
                   (size_t)slice * es);
        else
            for (int64_t e = 0; e < slice; e++)
                combine(x->dtype, st->reduction, y->data, off + e, upd->data, i * slice + e, es);
    }
    return 0;
}

int ig__shape_scatter_elements_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *ind = ig__shape_in(s, 1), *upd = ig__shape_in(s, 2);
    if (!ind || !upd) return ig_kstep_fail(s, err, IG_EINVAL, "missing inputs");
    if (ind->dtype != IG_DT_INT64 && ind->dtype != IG_DT_INT32)
        return ig_kstep_fail(s, err, IG_EDTYPE, "indices must be int32 or int64");
    if (upd->dtype != x->dtype) return ig_kstep_fail(s, err, IG_EDTYPE, "updates dtype differs from data");
    if (ind->ndim != x->ndim || upd->ndim != x->ndim)
        return ig_kstep_fail(s, err, IG_ESHAPE, "data, indices and updates must have equal rank");
    for (int k = 0; k < x->ndim; k++)
        if (ind->dims[k] != upd->dims[k])
            return ig_kstep_fail(s, err, IG_ESHAPE, "indices and updates shapes differ");
    int axis;
    if (!ig__shape_axis(ig_node_attr_int(s->node, "axis", 0), x->ndim, &axis))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    ig__shape_set_out(s, 0, x->dtype, x->ndim, x->dims);
    return parse_state(s, err, axis);
}

int ig__shape_scatter_elements_run(ig_kstep *s)
{
    const scatter_state *st = s->state;
    const ig_tensor *x = s->in[0], *ind = s->in[1], *upd = s->in[2];
    ig_tensor *y = s->out[0];
    size_t es = ig_dtype_size(x->dtype), nb = ig_tensor_nbytes(x);
    if (nb) memcpy(y->data, x->data, nb);
    int r = x->ndim;
    int64_t n = ig_tensor_numel(ind), xstr[IG_MAX_DIMS], d = x->dims[st->axis];
    ig__shape_strides(x->dims, r, xstr);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int k = r - 1; k >= 0; k--) {
            int64_t c = rem % ind->dims[k];
            rem /= ind->dims[k];
            if (k == st->axis) {
                c = ind->dtype == IG_DT_INT64 ? ((const int64_t *)ind->data)[i]
                                              : ((const int32_t *)ind->data)[i];
                if (c < 0) c += d;
                if (c < 0 || c >= d) return IG_EINVAL;
            } else if (c >= x->dims[k]) {
                return IG_EINVAL;
            }
            off += c * xstr[k];
        }
        combine(x->dtype, st->reduction, y->data, off, upd->data, i, es);
    }
    return 0;
}
