/* DFT (opset 17+) and STFT (opset 17+): direct O(n^2) discrete Fourier transforms over one axis of
 * real ([..., 1]) or complex ([..., 2]) input, with a twiddle table built in plan. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

typedef struct dft_state {
    int inverse, onesided, complex_in;
    int axis;             /* DFT: signal axis of the input */
    int64_t len, out_len; /* transform length and number of bins written */
    int64_t step, frames; /* STFT */
    double *tw;           /* [len] cos, then [len] sin of 2*pi*k/len */
} dft_state;

void ig__misc_dft_destroy(void *p)
{
    dft_state *st = p;
    if (!st) return;
    free(st->tw);
    free(st);
}

static bool scalar_i64(const ig_tensor *t, int64_t *v)
{
    if (!t->data || ig_tensor_numel(t) != 1) return false;
    if (t->dtype == IG_DT_INT64)
        *v = *(const int64_t *)t->data;
    else if (t->dtype == IG_DT_INT32)
        *v = *(const int32_t *)t->data;
    else
        return false;
    return true;
}

static int finish(ig_kstep *s, ig_error *err, dft_state *st)
{
    dft_state *p = malloc(sizeof(*p));
    if (p) *p = *st;
    if (p) p->tw = malloc(sizeof(double) * 2 * (size_t)(st->len + 1));
    if (!p || !p->tw) {
        ig__misc_dft_destroy(p);
        return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    }
    for (int64_t k = 0; k < st->len; k++) {
        double a = 2 * M_PI * (double)k / (double)st->len;
        p->tw[k] = cos(a);
        p->tw[st->len + k] = sin(a);
    }
    s->state = p;
    return 0;
}

int ig__misc_dft_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 1 || !s->in[0]) return ig_kstep_fail(s, err, IG_EINVAL, "input is required");
    const ig_tensor *x = s->in[0];
    const ig_tensor *tl = s->n_in > 1 ? s->in[1] : NULL, *ta = s->n_in > 2 ? s->in[2] : NULL;
    if (x->dtype != IG_DT_FLOAT && x->dtype != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "input must be float or double");
    int r = x->ndim;
    if (r < 2 || (x->dims[r - 1] != 1 && x->dims[r - 1] != 2))
        return ig_kstep_fail(s, err, IG_ESHAPE, "last dimension must be 1 (real) or 2 (complex)");
    if ((tl && !tl->data) || (ta && !ta->data)) return IG_EDEFER;
    dft_state st = {0};
    st.inverse = ig_node_attr_int(s->node, "inverse", 0) != 0;
    st.onesided = ig_node_attr_int(s->node, "onesided", 0) != 0;
    st.complex_in = x->dims[r - 1] == 2;
    int64_t axis;
    if (s->node->opset >= 20) {
        axis = -2;
        if (ta && !scalar_i64(ta, &axis))
            return ig_kstep_fail(s, err, IG_EINVAL, "axis must be an integer scalar");
    } else {
        axis = ig_node_attr_int(s->node, "axis", 1);
    }
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r - 1) return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    st.axis = (int)axis;
    st.len = x->dims[axis];
    if (tl && ig_tensor_numel(tl) && !scalar_i64(tl, &st.len))
        return ig_kstep_fail(s, err, IG_EINVAL, "dft_length must be an integer scalar");
    if (st.len < 1) return ig_kstep_fail(s, err, IG_EINVAL, "dft_length must be positive");
    st.out_len = st.onesided ? st.len / 2 + 1 : st.len;
    int64_t dims[IG_MAX_DIMS];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)r);
    dims[axis] = st.out_len;
    dims[r - 1] = 2;
    ig_kstep_set_output(s, 0, x->dtype, r, dims);
    s->scratch_bytes = sizeof(double) * 2 * (size_t)st.len;
    return finish(s, err, &st);
}

static double ld(const void *d, bool dbl, int64_t i)
{
    return dbl ? ((const double *)d)[i] : (double)((const float *)d)[i];
}

/* in: [len] complex (re, im interleaved); writes out_len bins, scaled by 1/len when inverse. */
static void transform(const dft_state *st, const double *in, void *out, bool dbl, int64_t out_off,
                      int64_t out_stride)
{
    int64_t n = st->len;
    double sign = st->inverse ? 1 : -1, scale = st->inverse ? 1.0 / (double)n : 1;
    for (int64_t k = 0; k < st->out_len; k++) {
        double re = 0, im = 0;
        int64_t idx = 0;
        for (int64_t j = 0; j < n; j++) {
            double c = st->tw[idx], sn = sign * st->tw[n + idx];
            re += in[2 * j] * c - in[2 * j + 1] * sn;
            im += in[2 * j] * sn + in[2 * j + 1] * c;
            idx += k;
            if (idx >= n) idx %= n;
        }
        int64_t o = out_off + k * out_stride;
        if (dbl) {
            ((double *)out)[o] = re * scale;
            ((double *)out)[o + 1] = im * scale;
        } else {
            ((float *)out)[o] = (float)(re * scale);
            ((float *)out)[o + 1] = (float)(im * scale);
        }
    }
}

int ig__misc_dft_run(ig_kstep *s)
{
    const dft_state *st = s->state;
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    bool dbl = x->dtype == IG_DT_DOUBLE;
    int r = x->ndim, ci = st->complex_in ? 2 : 1;
    int64_t outer = 1, inner = 1, n_in = x->dims[st->axis];
    for (int d = 0; d < st->axis; d++) outer *= x->dims[d];
    for (int d = st->axis + 1; d < r - 1; d++) inner *= x->dims[d];
    double *buf = s->scratch;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t j = 0; j < st->len; j++) {
                if (j < n_in) {
                    int64_t src = ((o * n_in + j) * inner + i) * ci;
                    buf[2 * j] = ld(x->data, dbl, src);
                    buf[2 * j + 1] = ci == 2 ? ld(x->data, dbl, src + 1) : 0;
                } else {
                    buf[2 * j] = buf[2 * j + 1] = 0;
                }
            }
            transform(st, buf, y->data, dbl, (o * st->out_len * inner + i) * 2, inner * 2);
        }
    }
    return 0;
}

int ig__misc_stft_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[0] || !s->in[1])
        return ig_kstep_fail(s, err, IG_EINVAL, "signal and frame_step are required");
    const ig_tensor *x = s->in[0], *ts = s->in[1];
    const ig_tensor *win = s->n_in > 2 ? s->in[2] : NULL, *tl = s->n_in > 3 ? s->in[3] : NULL;
    if (x->dtype != IG_DT_FLOAT && x->dtype != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "signal must be float or double");
    if (x->ndim != 3 || (x->dims[2] != 1 && x->dims[2] != 2))
        return ig_kstep_fail(s, err, IG_ESHAPE, "signal must be [batch, length, 1 or 2]");
    if (win && (win->ndim != 1 || win->dtype != x->dtype))
        return ig_kstep_fail(s, err, IG_ESHAPE, "window must be 1-D with the signal's dtype");
    if (!ts->data || (tl && !tl->data)) return IG_EDEFER;
    dft_state st = {0};
    st.complex_in = x->dims[2] == 2;
    st.onesided = ig_node_attr_int(s->node, "onesided", 1) != 0 && !st.complex_in;
    if (!scalar_i64(ts, &st.step) || st.step <= 0) return ig_kstep_fail(s, err, IG_EINVAL, "bad frame_step");
    st.len = -1;
    if (tl && !scalar_i64(tl, &st.len)) return ig_kstep_fail(s, err, IG_EINVAL, "bad frame_length");
    if (win && st.len >= 0 && win->dims[0] != st.len)
        return ig_kstep_fail(s, err, IG_ESHAPE, "window length differs from frame_length");
    if (st.len < 0) st.len = win ? win->dims[0] : -1;
    if (st.len <= 0 || st.len > x->dims[1])
        return ig_kstep_fail(s, err, IG_EINVAL, "frame length must be in [1, signal length]");
    st.frames = 1 + (x->dims[1] - st.len) / st.step;
    st.out_len = st.onesided ? st.len / 2 + 1 : st.len;
    int64_t dims[4] = {x->dims[0], st.frames, st.out_len, 2};
    ig_kstep_set_output(s, 0, x->dtype, 4, dims);
    s->scratch_bytes = sizeof(double) * 2 * (size_t)st.len;
    return finish(s, err, &st);
}

int ig__misc_stft_run(ig_kstep *s)
{
    const dft_state *st = s->state;
    const ig_tensor *x = s->in[0], *win = s->n_in > 2 ? s->in[2] : NULL;
    bool dbl = x->dtype == IG_DT_DOUBLE;
    int ci = st->complex_in ? 2 : 1;
    int64_t L = x->dims[1];
    double *buf = s->scratch;
    for (int64_t b = 0; b < x->dims[0]; b++) {
        for (int64_t f = 0; f < st->frames; f++) {
            for (int64_t j = 0; j < st->len; j++) {
                int64_t src = (b * L + f * st->step + j) * ci;
                double w = win ? ld(win->data, dbl, j) : 1;
                buf[2 * j] = w * ld(x->data, dbl, src);
                buf[2 * j + 1] = ci == 2 ? w * ld(x->data, dbl, src + 1) : 0;
            }
            transform(st, buf, s->out[0]->data, dbl, ((b * st->frames + f) * st->out_len) * 2, 2);
        }
    }
    return 0;
}
