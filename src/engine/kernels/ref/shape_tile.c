/* Tile: the output repeats the input along every dim; each output row is the matching input row
 * (coordinates modulo the input dims) repeated along the last dim. */
#include "engine/kernels/ref/shape_common.h"

int ig__shape_tile_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *rep = ig__shape_in(s, 1);
    if (!rep) return ig_kstep_fail(s, err, IG_EINVAL, "missing repeats");
    if (!rep->data) return IG_EDEFER;
    int64_t r[IG_MAX_DIMS], dims[IG_MAX_DIMS];
    int n = ig__shape_read_ints(rep, r, IG_MAX_DIMS);
    if (n != x->ndim) return ig_kstep_fail(s, err, IG_EINVAL, "repeats must be int64 with one entry per dim");
    for (int k = 0; k < n; k++) {
        if (r[k] < 0) return ig_kstep_fail(s, err, IG_EINVAL, "negative repeat");
        dims[k] = x->dims[k] * r[k];
    }
    ig__shape_set_out(s, 0, x->dtype, n, dims);
    return 0;
}

int ig__shape_tile_run(ig_kstep *s)
{
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    int r = x->ndim;
    size_t es = ig_dtype_size(x->dtype);
    if (ig_tensor_numel(y) == 0) return 0;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return 0;
    }
    int64_t xin = x->dims[r - 1] * (int64_t)es, yin = y->dims[r - 1] * (int64_t)es;
    int64_t rows = ig__shape_prod(y->dims, 0, r - 1), xstr[IG_MAX_DIMS];
    ig__shape_strides(x->dims, r, xstr);
    const char *src = x->data;
    char *dst = y->data;
#pragma omp parallel for num_threads(s->n_threads) if (rows * yin > (1 << 17) && s->n_threads > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, off = 0;
        for (int k = r - 2; k >= 0; k--) {
            off += (rem % y->dims[k]) % x->dims[k] * xstr[k];
            rem /= y->dims[k];
        }
        char *o = dst + row * yin;
        for (int64_t p = 0; p < yin; p += xin) memcpy(o + p, src + off * (int64_t)es, (size_t)xin);
    }
    return 0;
}
