/* Conv (opset 1+) for float and double: im2col per image and group, then the blocked gemm
 * Y_g[mg, out] = W_g[mg, cg*k] * col[cg*k, out], with the bias preloaded into Y. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/gemm.h"
#include "engine/kernels/ref/nn_window.h"

int ig__conv_setup(const ig_node *node, const ig_tensor *x, const ig_tensor *w, ig__conv *c, char *why)
{
    memset(c, 0, sizeof(*c));
    if (x->ndim < 3) return snprintf(why, 128, "X must have rank >= 3"), -1;
    if (w->ndim != x->ndim)
        return snprintf(why, 128, "W rank %d differs from X rank %d", w->ndim, x->ndim), -1;
    int nsp = x->ndim - 2;
    if (ig__window_parse(node, nsp, w->dims + 2, &c->w, why)) return -1;
    for (int i = 0; i < nsp; i++)
        if (c->w.kernel[i] != w->dims[2 + i])
            return snprintf(why, 128, "kernel_shape does not match W's spatial dims"), -1;
    c->group = ig_node_attr_int(node, "group", 1);
    c->n = x->dims[0], c->c = x->dims[1], c->m = w->dims[0];
    if (c->group < 1 || c->c % c->group || c->m % c->group || w->dims[1] * c->group != c->c)
        return snprintf(why, 128, "channels C=%lld, M=%lld, W C/group=%lld do not fit group=%lld",
                        (long long)c->c, (long long)c->m, (long long)w->dims[1], (long long)c->group),
               -1;
    c->cg = c->c / c->group, c->mg = c->m / c->group;
    memcpy(c->in_sp, x->dims + 2, sizeof(int64_t) * nsp);
    if (ig__window_output(&c->w, c->in_sp, c->out_sp, why)) return -1;
    c->in_size = c->out_size = c->kprod = 1;
    c->direct = 1;
    for (int i = 0; i < nsp; i++) {
        c->in_size *= c->in_sp[i], c->out_size *= c->out_sp[i], c->kprod *= c->w.kernel[i];
        if (c->w.kernel[i] != 1 || c->w.stride[i] != 1 || c->w.pad_b[i] || c->w.pad_e[i]) c->direct = 0;
    }
    c->krows = c->cg * c->kprod;
    return 0;
}

#define IG_IM2COL_IMPL(NAME, T)                                                                              \
    void NAME(const ig__conv *c, const T *x, T *col, T pad_value, int n_threads)                             \
    {                                                                                                        \
        int nsp = c->w.nsp, last = nsp - 1;                                                                  \
        int64_t ow = c->out_sp[last], iw = c->in_sp[last], outer = c->out_size / (ow ? ow : 1);              \
        int64_t sw = c->w.stride[last], dw = c->w.dil[last], pw = c->w.pad_b[last];                          \
        int nt = c->krows * c->out_size > (1 << 16) ? n_threads : 1;                                         \
        _Pragma("omp parallel for num_threads(nt) if(nt > 1)") for (int64_t r = 0; r < c->krows; r++)        \
        {                                                                                                    \
            int64_t ch = r / c->kprod, kr = r % c->kprod, koff[IG_MAX_DIMS];                                 \
            for (int d = nsp - 1; d >= 0; d--) koff[d] = kr % c->w.kernel[d], kr /= c->w.kernel[d];          \
            const T *xc = x + ch * c->in_size;                                                               \
            T *dst = col + r * c->out_size;                                                                  \
            for (int64_t o = 0; o < outer; o++) {                                                            \
                /* Offset of this output row's window origin in the input, or -1 when it is padding. */      \
                int64_t rem = o, base = 0, scale = 1;                                                        \
                int inside = 1;                                                                              \
                for (int d = last - 1; d >= 0; d--) {                                                        \
                    int64_t od = rem % c->out_sp[d];                                                         \
                    rem /= c->out_sp[d];                                                                     \
                    int64_t id = od * c->w.stride[d] - c->w.pad_b[d] + koff[d] * c->w.dil[d];                \
                    if (id < 0 || id >= c->in_sp[d]) inside = 0;                                             \
                    base += id * scale;                                                                      \
                    scale *= c->in_sp[d];                                                                    \
                }                                                                                            \
                T *drow = dst + o * ow;                                                                      \
                if (!inside) {                                                                               \
                    for (int64_t j = 0; j < ow; j++) drow[j] = pad_value;                                    \
                    continue;                                                                                \
                }                                                                                            \
                const T *xrow = xc + base * iw;                                                              \
                int64_t start = koff[last] * dw - pw;                                                        \
                if (sw == 1 && start >= 0 && start + ow <= iw) {                                             \
                    memcpy(drow, xrow + start, sizeof(T) * ow);                                              \
                    continue;                                                                                \
                }                                                                                            \
                for (int64_t j = 0; j < ow; j++) {                                                           \
                    int64_t ix = start + j * sw;                                                             \
                    drow[j] = ix >= 0 && ix < iw ? xrow[ix] : pad_value;                                     \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

IG_IM2COL_IMPL(ig__im2col_f32, float)
IG_IM2COL_IMPL(ig__im2col_f64, double)

typedef struct conv_state {
    ig__conv c;
    size_t col_bytes;
} conv_state;

int ig__conv_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *w = s->n_in > 1 ? s->in[1] : NULL;
    const ig_tensor *b = s->n_in > 2 ? s->in[2] : NULL;
    if (!w) return ig_kstep_fail(s, err, IG_EINVAL, "W input is required");
    if (w->dtype != x->dtype || (b && b->dtype != x->dtype))
        return ig_kstep_fail(s, err, IG_EDTYPE, "X, W and B must share a dtype");
    if (x->dtype != IG_DT_FLOAT && x->dtype != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "unsupported dtype %s", ig_dtype_name(x->dtype));
    conv_state tmp, *st = &tmp;
    char why[128];
    if (ig__conv_setup(s->node, x, w, &st->c, why)) return ig_kstep_fail(s, err, IG_ESHAPE, "%s", why);
    const ig__conv *c = &st->c;
    if (b && (b->ndim != 1 || b->dims[0] != c->m))
        return ig_kstep_fail(s, err, IG_ESHAPE, "B must be a vector of M=%lld", (long long)c->m);
    int64_t dims[IG_MAX_DIMS] = {c->n, c->m};
    memcpy(dims + 2, c->out_sp, sizeof(int64_t) * c->w.nsp);
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, dims);
    size_t es = ig_dtype_size(x->dtype);
    st->col_bytes = c->direct ? 0 : ((size_t)(c->krows * c->out_size) * es + 63) / 64 * 64;
    s->scratch_bytes = st->col_bytes + ig__gemm_scratch_bytes(es, c->mg, c->out_size, c->krows, s->n_threads);
    if (!(s->state = malloc(sizeof(tmp)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, &tmp, sizeof(tmp));
    return 0;
}

#define IG_CONV_RUN(NAME, T, IM2COL, GEMM)                                                                   \
    static void NAME(ig_kstep *s)                                                                            \
    {                                                                                                        \
        const conv_state *st = s->state;                                                                     \
        const ig__conv *c = &st->c;                                                                          \
        const T *x = s->in[0]->data, *w = s->in[1]->data;                                                    \
        const T *b = s->n_in > 2 && s->in[2] ? s->in[2]->data : NULL;                                        \
        T *y = s->out[0]->data, *col = s->scratch;                                                           \
        void *gs = (char *)s->scratch + st->col_bytes;                                                       \
        for (int64_t n = 0; n < c->n; n++) {                                                                 \
            for (int64_t g = 0; g < c->group; g++) {                                                         \
                const T *xg = x + (n * c->c + g * c->cg) * c->in_size;                                       \
                T *yg = y + (n * c->m + g * c->mg) * c->out_size;                                            \
                for (int64_t m = 0; m < c->mg; m++) {                                                        \
                    T bv = b ? b[g * c->mg + m] : 0;                                                         \
                    for (int64_t o = 0; o < c->out_size; o++) yg[m * c->out_size + o] = bv;                  \
                }                                                                                            \
                const T *src = xg;                                                                           \
                if (!c->direct) {                                                                            \
                    IM2COL(c, xg, col, 0, s->n_threads);                                                     \
                    src = col;                                                                               \
                }                                                                                            \
                GEMM(false, false, c->mg, c->out_size, c->krows, 1, w + g * c->mg * c->krows, c->krows, src, \
                     c->out_size, 1, yg, c->out_size, gs, s->n_threads);                                     \
            }                                                                                                \
        }                                                                                                    \
    }

IG_CONV_RUN(conv_run_f32, float, ig__im2col_f32, ig__sgemm)
IG_CONV_RUN(conv_run_f64, double, ig__im2col_f64, ig__dgemm)

int ig__conv_run(ig_kstep *s)
{
    if (s->in[0]->dtype == IG_DT_FLOAT)
        conv_run_f32(s);
    else
        conv_run_f64(s);
    return 0;
}
