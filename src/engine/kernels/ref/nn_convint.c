/* ConvInteger and QLinearConv (opset 10+): zero points are subtracted into double buffers (exact
 * for 8-bit products summed below 2^53), the double im2col + gemm of Conv does the arithmetic, and
 * the result is stored as int32 or requantised with round-half-to-even and saturation. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/gemm.h"
#include "engine/kernels/ref/nn_window.h"
#include "engine/kernels/ref/quant.h"

typedef struct convint_state {
    ig__conv c;
    int q; /* QLinearConv */
    size_t xg_off, col_off, w_off, y_off, gemm_off;
} convint_state;

static size_t al64(size_t v)
{
    return (v + 63) / 64 * 64;
}

static int is_8bit(const ig_tensor *t)
{
    return t && (t->dtype == IG_DT_UINT8 || t->dtype == IG_DT_INT8);
}

static int check_param(ig_kstep *s, ig_error *err, const ig_tensor *t, int64_t len, const char *what)
{
    if (!t) return 0;
    int64_t n = ig_tensor_numel(t);
    if (n != 1 && !(t->ndim == 1 && n == len))
        return ig_kstep_fail(s, err, IG_ESHAPE, "%s must be a scalar or hold %lld values", what,
                             (long long)len);
    return 0;
}

static const ig_tensor *in_at(const ig_kstep *s, int i)
{
    return i < s->n_in ? s->in[i] : NULL;
}

static int convint_plan(ig_kstep *s, ig_error *err, int q)
{
    const ig_tensor *x = s->in[0], *w = in_at(s, q ? 3 : 1);
    if (!is_8bit(x) || !is_8bit(w)) return ig_kstep_fail(s, err, IG_EDTYPE, "x and w must be int8 or uint8");
    convint_state st;
    memset(&st, 0, sizeof(st));
    st.q = q;
    char why[128];
    if (ig__conv_setup(s->node, x, w, &st.c, why)) return ig_kstep_fail(s, err, IG_ESHAPE, "%s", why);
    const ig__conv *c = &st.c;
    const ig_tensor *xzp = in_at(s, 2), *wzp = in_at(s, q ? 5 : 3);
    int rc;
    if ((rc = check_param(s, err, xzp, 1, "x_zero_point")) ||
        (rc = check_param(s, err, wzp, c->m, "w_zero_point")))
        return rc;
    if ((xzp && xzp->dtype != x->dtype) || (wzp && wzp->dtype != w->dtype))
        return ig_kstep_fail(s, err, IG_EDTYPE, "zero points must match their operand's dtype");
    ig_dtype ydt = IG_DT_INT32;
    if (q) {
        const ig_tensor *xs = in_at(s, 1), *ws = in_at(s, 4), *ys = in_at(s, 6), *yzp = in_at(s, 7),
                        *b = in_at(s, 8);
        if (!xs || !ws || !ys || xs->dtype != IG_DT_FLOAT || ws->dtype != IG_DT_FLOAT ||
            ys->dtype != IG_DT_FLOAT)
            return ig_kstep_fail(s, err, IG_EDTYPE, "scales must be float");
        if ((rc = check_param(s, err, xs, 1, "x_scale")) || (rc = check_param(s, err, ws, c->m, "w_scale")) ||
            (rc = check_param(s, err, ys, 1, "y_scale")) ||
            (rc = check_param(s, err, yzp, 1, "y_zero_point")))
            return rc;
        ydt = yzp ? yzp->dtype : IG_DT_UINT8;
        if (ydt != IG_DT_UINT8 && ydt != IG_DT_INT8)
            return ig_kstep_fail(s, err, IG_EDTYPE, "bad y_zero_point dtype");
        if (b && (b->dtype != IG_DT_INT32 || ig_tensor_numel(b) != c->m))
            return ig_kstep_fail(s, err, IG_ESHAPE, "B must be an int32 vector of M values");
    }
    int64_t dims[IG_MAX_DIMS] = {c->n, c->m};
    memcpy(dims + 2, c->out_sp, sizeof(int64_t) * c->w.nsp);
    ig_kstep_set_output(s, 0, ydt, x->ndim, dims);
    st.xg_off = 0;
    st.col_off = al64(sizeof(double) * (size_t)(c->cg * c->in_size));
    st.w_off = st.col_off + al64(sizeof(double) * (size_t)(c->krows * c->out_size));
    st.y_off = st.w_off + al64(sizeof(double) * (size_t)(c->m * c->krows));
    st.gemm_off = st.y_off + al64(sizeof(double) * (size_t)(c->mg * c->out_size));
    s->scratch_bytes = st.gemm_off + ig__gemm_scratch_bytes(8, c->mg, c->out_size, c->krows, s->n_threads);
    if (!(s->state = malloc(sizeof(st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, &st, sizeof(st));
    return 0;
}

int ig__convinteger_plan(ig_kstep *s, ig_error *err)
{
    return convint_plan(s, err, 0);
}

int ig__qlinearconv_plan(ig_kstep *s, ig_error *err)
{
    return convint_plan(s, err, 1);
}

static double param(const ig_tensor *t, int64_t i)
{
    if (!t) return 0;
    return ig__load_f64(t->data, t->dtype, ig_tensor_numel(t) > 1 ? i : 0);
}

static int convint_run(ig_kstep *s)
{
    const convint_state *st = s->state;
    const ig__conv *c = &st->c;
    int q = st->q;
    const ig_tensor *x = s->in[0], *w = s->in[q ? 3 : 1], *xzp = in_at(s, 2), *wzp = in_at(s, q ? 5 : 3);
    char *scr = s->scratch;
    double *xg = (double *)(scr + st->xg_off), *col = (double *)(scr + st->col_off);
    double *wd = (double *)(scr + st->w_off), *yd = (double *)(scr + st->y_off);
    double xz = param(xzp, 0);
    for (int64_t m = 0; m < c->m; m++) {
        double wz = param(wzp, m);
        for (int64_t k = 0; k < c->krows; k++)
            wd[m * c->krows + k] = ig__load_f64(w->data, w->dtype, m * c->krows + k) - wz;
    }
    ig_tensor *y = s->out[0];
    for (int64_t n = 0; n < c->n; n++) {
        for (int64_t g = 0; g < c->group; g++) {
            int64_t x0 = (n * c->c + g * c->cg) * c->in_size;
            for (int64_t i = 0; i < c->cg * c->in_size; i++)
                xg[i] = ig__load_f64(x->data, x->dtype, x0 + i) - xz;
            const double *src = xg;
            if (!c->direct) {
                ig__im2col_f64(c, xg, col, 0, s->n_threads);
                src = col;
            }
            ig__dgemm(false, false, c->mg, c->out_size, c->krows, 1, wd + g * c->mg * c->krows, c->krows, src,
                      c->out_size, 0, yd, c->out_size, scr + st->gemm_off, s->n_threads);
            int64_t y0 = (n * c->m + g * c->mg) * c->out_size;
            if (!q) {
                int32_t *yo = (int32_t *)y->data + y0;
                for (int64_t i = 0; i < c->mg * c->out_size; i++) yo[i] = (int32_t)(int64_t)yd[i];
                continue;
            }
            const ig_tensor *xs = s->in[1], *ws = s->in[4], *ys = s->in[6], *yzp = in_at(s, 7),
                            *b = in_at(s, 8);
            double yscale = param(ys, 0), yz = param(yzp, 0);
            for (int64_t mm = 0; mm < c->mg; mm++) {
                int64_t m = g * c->mg + mm;
                double mult = (double)(float)(param(xs, 0) * param(ws, m)) / yscale;
                double bias = b ? ((const int32_t *)b->data)[m] : 0;
                for (int64_t o = 0; o < c->out_size; o++) {
                    double v = ig__q_round((yd[mm * c->out_size + o] + bias) * mult) + yz;
                    ig__q_store_sat(y->data, y->dtype, y0 + mm * c->out_size + o, v);
                }
            }
        }
    }
    return 0;
}

int ig__convinteger_run(ig_kstep *s)
{
    return convint_run(s);
}

int ig__qlinearconv_run(ig_kstep *s)
{
    return convint_run(s);
}
