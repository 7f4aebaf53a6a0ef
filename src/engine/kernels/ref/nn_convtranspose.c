/* ConvTranspose (opset 1+) for float and double: per image and group, col = W_g^T * X_g by the
 * blocked gemm, then col2im scatters each column into the output with stride, dilation and pads.
 * Output size comes from output_shape, auto_pad or pads + output_padding as the spec describes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/gemm.h"
#include "engine/kernels/ref/nn_window.h"

typedef struct convt_state {
    ig__window w;
    int64_t n, c, m, group, cg, mg;
    int64_t in_sp[IG_MAX_DIMS], out_sp[IG_MAX_DIMS];
    int64_t in_size, out_size, kprod, rows; /* rows = mg * kprod */
    size_t col_bytes;
} convt_state;

static int64_t floor_div2(int64_t v)
{
    return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

int ig__convtranspose_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *w = s->n_in > 1 ? s->in[1] : NULL;
    const ig_tensor *b = s->n_in > 2 ? s->in[2] : NULL;
    if (!w) return ig_kstep_fail(s, err, IG_EINVAL, "W input is required");
    if (w->dtype != x->dtype || (b && b->dtype != x->dtype))
        return ig_kstep_fail(s, err, IG_EDTYPE, "X, W and B must share a dtype");
    if (x->ndim < 3 || w->ndim != x->ndim)
        return ig_kstep_fail(s, err, IG_ESHAPE, "X must have rank >= 3 and W the same rank");
    convt_state st;
    memset(&st, 0, sizeof(st));
    int nsp = x->ndim - 2;
    char why[128];
    if (ig__window_parse(s->node, nsp, w->dims + 2, &st.w, why))
        return ig_kstep_fail(s, err, IG_EINVAL, "%s", why);
    for (int i = 0; i < nsp; i++)
        if (st.w.kernel[i] != w->dims[2 + i])
            return ig_kstep_fail(s, err, IG_ESHAPE, "kernel_shape does not match W's spatial dims");
    st.group = ig_node_attr_int(s->node, "group", 1);
    st.n = x->dims[0], st.c = x->dims[1];
    if (st.group < 1 || st.c % st.group || w->dims[0] != st.c)
        return ig_kstep_fail(s, err, IG_ESHAPE, "W's first dim must equal C and C be divisible by group");
    st.cg = st.c / st.group, st.mg = w->dims[1], st.m = st.mg * st.group;
    if (b && (b->ndim != 1 || b->dims[0] != st.m))
        return ig_kstep_fail(s, err, IG_ESHAPE, "B must be a vector of M=%lld", (long long)st.m);
    int cnt;
    const int64_t *opad = ig_node_attr_ints(s->node, "output_padding", &cnt);
    if (opad && cnt != nsp) return ig_kstep_fail(s, err, IG_EINVAL, "output_padding needs %d values", nsp);
    const int64_t *oshape = ig_node_attr_ints(s->node, "output_shape", &cnt);
    if (oshape && cnt != nsp && cnt != nsp + 2)
        return ig_kstep_fail(s, err, IG_EINVAL, "output_shape needs %d values", nsp);
    if (oshape && cnt == nsp + 2) oshape += 2;
    st.in_size = st.out_size = st.kprod = 1;
    for (int i = 0; i < nsp; i++) {
        int64_t in = x->dims[2 + i], sd = st.w.stride[i], op = opad ? opad[i] : 0;
        int64_t full = sd * (in - 1) + op + (st.w.kernel[i] - 1) * st.w.dil[i] + 1;
        st.in_sp[i] = in;
        if (oshape || st.w.auto_pad == IG__PAD_SAME_UPPER || st.w.auto_pad == IG__PAD_SAME_LOWER) {
            int64_t out = oshape ? oshape[i] : in * sd;
            int64_t total = full - out;
            if (st.w.auto_pad == IG__PAD_SAME_UPPER) {
                st.w.pad_b[i] = floor_div2(total);
                st.w.pad_e[i] = total - st.w.pad_b[i];
            } else {
                st.w.pad_e[i] = floor_div2(total);
                st.w.pad_b[i] = total - st.w.pad_e[i];
            }
            st.out_sp[i] = out;
        } else {
            if (st.w.auto_pad == IG__PAD_VALID) st.w.pad_b[i] = st.w.pad_e[i] = 0;
            st.out_sp[i] = full - st.w.pad_b[i] - st.w.pad_e[i];
        }
        if (st.out_sp[i] < 0) return ig_kstep_fail(s, err, IG_ESHAPE, "negative output size");
        st.in_size *= in, st.out_size *= st.out_sp[i], st.kprod *= st.w.kernel[i];
    }
    st.rows = st.mg * st.kprod;
    int64_t dims[IG_MAX_DIMS] = {st.n, st.m};
    memcpy(dims + 2, st.out_sp, sizeof(int64_t) * nsp);
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, dims);
    size_t es = ig_dtype_size(x->dtype);
    st.col_bytes = ((size_t)(st.rows * st.in_size) * es + 63) / 64 * 64;
    s->scratch_bytes = st.col_bytes + ig__gemm_scratch_bytes(es, st.rows, st.in_size, st.cg, s->n_threads);
    if (!(s->state = malloc(sizeof(st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, &st, sizeof(st));
    return 0;
}

#define IG_CONVT_RUN(NAME, T, GEMM)                                                                          \
    static void NAME(ig_kstep *s)                                                                            \
    {                                                                                                        \
        const convt_state *st = s->state;                                                                    \
        const T *x = s->in[0]->data, *w = s->in[1]->data;                                                    \
        const T *b = s->n_in > 2 && s->in[2] ? s->in[2]->data : NULL;                                        \
        T *y = s->out[0]->data, *col = s->scratch;                                                           \
        void *gs = (char *)s->scratch + st->col_bytes;                                                       \
        int nsp = st->w.nsp, nt = st->rows * st->in_size > (1 << 15) ? s->n_threads : 1;                     \
        for (int64_t n = 0; n < st->n; n++) {                                                                \
            for (int64_t g = 0; g < st->group; g++) {                                                        \
                const T *xg = x + (n * st->c + g * st->cg) * st->in_size;                                    \
                T *yg = y + (n * st->m + g * st->mg) * st->out_size;                                         \
                GEMM(true, false, st->rows, st->in_size, st->cg, 1, w + g * st->cg * st->rows, st->rows, xg, \
                     st->in_size, 0, col, st->in_size, gs, s->n_threads);                                    \
                _Pragma("omp parallel for num_threads(nt) if(nt > 1)") for (int64_t m = 0; m < st->mg; m++)  \
                {                                                                                            \
                    T *ym = yg + m * st->out_size;                                                           \
                    T bv = b ? b[g * st->mg + m] : 0;                                                        \
                    for (int64_t o = 0; o < st->out_size; o++) ym[o] = bv;                                   \
                    for (int64_t kr = 0; kr < st->kprod; kr++) {                                             \
                        int64_t koff[IG_MAX_DIMS], rem = kr;                                                 \
                        for (int d = nsp - 1; d >= 0; d--)                                                   \
                            koff[d] = rem % st->w.kernel[d], rem /= st->w.kernel[d];                         \
                        const T *cr = col + (m * st->kprod + kr) * st->in_size;                              \
                        for (int64_t i = 0; i < st->in_size; i++) {                                          \
                            int64_t irem = i, off = 0, scale = 1;                                            \
                            int ok = 1;                                                                      \
                            for (int d = nsp - 1; d >= 0; d--) {                                             \
                                int64_t id = irem % st->in_sp[d];                                            \
                                irem /= st->in_sp[d];                                                        \
                                int64_t od = id * st->w.stride[d] + koff[d] * st->w.dil[d] - st->w.pad_b[d]; \
                                if (od < 0 || od >= st->out_sp[d]) {                                         \
                                    ok = 0;                                                                  \
                                    break;                                                                   \
                                }                                                                            \
                                off += od * scale;                                                           \
                                scale *= st->out_sp[d];                                                      \
                            }                                                                                \
                            if (ok) ym[off] += cr[i];                                                        \
                        }                                                                                    \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

IG_CONVT_RUN(convt_run_f32, float, ig__sgemm)
IG_CONVT_RUN(convt_run_f64, double, ig__dgemm)

int ig__convtranspose_run(ig_kstep *s)
{
    if (s->in[0]->dtype == IG_DT_FLOAT)
        convt_run_f32(s);
    else
        convt_run_f64(s);
    return 0;
}
