/* Resize (opset 10-19+) and Upsample (7-9): nearest, N-D linear and cubic interpolation with every
 * coordinate transformation mode. Plan turns the sizes/scales into one table of source taps per
 * resized axis; run applies linear/cubic as separable 1-D passes from the last axis to the first
 * (the order in which ONNX's reference nests its 1-D interpolations, which matters for
 * tf_crop_and_resize extrapolation) and nearest as a single N-D gather. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

enum { RS_NEAREST, RS_LINEAR, RS_CUBIC };
enum {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
};
/* NM_SIMPLE is the pre-opset-11 rule (Upsample, Resize-10): truncate when upsampling, ceil when
 * downsampling, as onnxruntime does. */
enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };

typedef struct rs_axis {
    int64_t in, out;
    int n;          /* taps per output coordinate; 0 when the axis is left unchanged */
    int64_t *idx;   /* [out * n] source indices, clamped into [0, in) */
    double *w;      /* [out * n] weights (unused for nearest) */
    uint8_t *extra; /* [out] 1 where the coordinate falls outside the crop (tf_crop_and_resize) */
} rs_axis;

typedef struct rs_state {
    int mode;
    int ndim;
    rs_axis ax[IG_MAX_DIMS];
    double extrapolation;
    int64_t max_mid; /* largest intermediate numel between separable passes */
} rs_state;

void ig__misc_resize_destroy(void *p)
{
    rs_state *st = p;
    if (!st) return;
    for (int d = 0; d < IG_MAX_DIMS; d++) {
        free(st->ax[d].idx);
        free(st->ax[d].w);
        free(st->ax[d].extra);
    }
    free(st);
}

static int parse_ctm(const char *s)
{
    static const char *const names[] = {"half_pixel",        "half_pixel_symmetric", "pytorch_half_pixel",
                                        "align_corners",     "asymmetric",           "tf_half_pixel_for_nn",
                                        "tf_crop_and_resize"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

static int parse_nearest(const char *s)
{
    static const char *const names[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

/* Source coordinate of output coordinate o along one axis. out_f is the (possibly fractional)
 * scaled length, which the reference uses instead of the integer output length. */
static double src_coord(int ctm, double o, double scale, int64_t in, int64_t out, double out_f, double r0,
                        double r1)
{
    switch (ctm) {
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)out / out_f, center = (double)in / 2;
        return center * (1 - adj) + (o + 0.5) / scale - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL:
        return out_f == 1 ? -0.5 : (o + 0.5) / scale - 0.5;
    case CT_ALIGN_CORNERS:
        return out_f == 1 ? 0 : o * (double)(in - 1) / (out_f - 1);
    case CT_ASYMMETRIC:
        return o / scale;
    case CT_TF_HALF_PIXEL_FOR_NN:
        return (o + 0.5) / scale;
    case CT_TF_CROP_AND_RESIZE: {
        double x =
            out_f == 1 ? (r1 - r0) * (double)(in - 1) / 2 : o * (r1 - r0) * (double)(in - 1) / (out_f - 1);
        return x + r0 * (double)(in - 1);
    }
    default:
        return (o + 0.5) / scale - 0.5;
    }
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int64_t nearest_index(int nm, double x, double scale)
{
    double f = floor(x), r = x - f;
    if (nm == NM_SIMPLE) return scale < 1 ? (int64_t)ceil(x) : (int64_t)f;
    if (r == 0) return (int64_t)f;
    switch (nm) {
    case NM_ROUND_PREFER_CEIL:
        return (int64_t)f + (r >= 0.5);
    case NM_FLOOR:
        return (int64_t)f;
    case NM_CEIL:
        return (int64_t)f + 1;
    default:
        return (int64_t)f + (r > 0.5);
    }
}

static void cubic_weights(double r, double a, double *c)
{
    double t = r + 1, u = 1 - r, v = 2 - r;
    c[0] = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    c[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
    c[2] = ((a + 2) * u - (a + 3)) * u * u + 1;
    c[3] = ((a * v - 5 * a) * v + 8 * a) * v - 4 * a;
}

typedef struct rs_params {
    int mode, ctm, nearest;
    double cubic_a;
    bool exclude_outside, antialias;
} rs_params;

/* Antialiased downsampling (opset 18) stretches the linear or cubic kernel by 1/scale, which
 * widens the footprint to aa_taps() samples around the source coordinate. */
static int aa_taps(int mode, double scale)
{
    double support = mode == RS_LINEAR ? 1 : 2;
    return 2 - 2 * ((int)floor(-support / scale) + 1);
}

static double aa_weight(int mode, double a, double x)
{
    x = fabs(x);
    if (mode == RS_LINEAR) return x < 1 ? 1 - x : 0;
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
}

/* Fills the tap table of one axis. Returns false on allocation failure. */
static bool build_axis(rs_axis *a, const rs_params *p, double scale, double out_f, double r0, double r1)
{
    int n = p->mode == RS_NEAREST ? 1 : p->mode == RS_LINEAR ? 2 : 4;
    bool aa = p->antialias && p->mode != RS_NEAREST && scale < 1;
    if (aa) {
        if (!(scale > 1e-6)) return false;
        n = aa_taps(p->mode, scale);
    }
    a->n = n;
    a->idx = malloc(sizeof(int64_t) * (size_t)(a->out * n + 1));
    a->w = malloc(sizeof(double) * (size_t)(a->out * n + 1));
    a->extra = calloc((size_t)a->out + 1, 1);
    if (!a->idx || !a->w || !a->extra) return false;
    for (int64_t o = 0; o < a->out; o++) {
        double x = src_coord(p->ctm, (double)o, scale, a->in, a->out, out_f, r0, r1);
        int64_t *ix = a->idx + o * n;
        double *w = a->w + o * n;
        if (p->ctm == CT_TF_CROP_AND_RESIZE && (x < 0 || x > (double)(a->in - 1))) a->extra[o] = 1;
        if (n == 1) {
            ix[0] = clamp64(nearest_index(p->nearest, x, scale), 0, a->in - 1);
            w[0] = 1;
            continue;
        }
        /* The reference takes the n nearest samples, preferring the left one, with ratio in (0, 1]. */
        double f = floor(x);
        double r = x - f;
        if (r == 0) {
            f -= 1;
            r = 1;
        }
        int64_t base = (int64_t)f - n / 2 + 1;
        if (aa) {
            double sum = 0;
            for (int k = 0; k < n; k++)
                sum += w[k] = aa_weight(p->mode, p->cubic_a, (k + 1 - n / 2 - r) * scale);
            for (int k = 0; k < n; k++) w[k] = sum != 0 ? w[k] / sum : 0;
        } else if (n == 2) {
            w[0] = 1 - r;
            w[1] = r;
        } else {
            cubic_weights(r, p->cubic_a, w);
        }
        double sum = 0;
        for (int k = 0; k < n; k++) {
            int64_t i = base + k;
            if (p->exclude_outside && (i < 0 || i >= a->in)) w[k] = 0;
            sum += w[k];
            ix[k] = clamp64(i, 0, a->in - 1);
        }
        if (p->exclude_outside && sum != 0)
            for (int k = 0; k < n; k++) w[k] /= sum;
    }
    return true;
}

static bool axis_is_identity(const rs_axis *a)
{
    if (a->in != a->out) return false;
    for (int64_t o = 0; o < a->out; o++) {
        if (a->extra[o]) return false;
        for (int k = 0; k < a->n; k++) {
            double w = a->n == 1 ? 1 : a->w[o * a->n + k];
            if (w != 0 && (a->idx[o * a->n + k] != o || w != 1)) return false;
        }
    }
    return true;
}

static double load_f64(const ig_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case IG_DT_FLOAT:
        return ((const float *)t->data)[i];
    case IG_DT_DOUBLE:
        return ((const double *)t->data)[i];
    case IG_DT_INT64:
        return (double)((const int64_t *)t->data)[i];
    case IG_DT_INT32:
        return ((const int32_t *)t->data)[i];
    default:
        return 0;
    }
}

static bool rs_linear_type_ok(ig_dtype dt)
{
    return dt == IG_DT_FLOAT || dt == IG_DT_DOUBLE || dt == IG_DT_INT8 || dt == IG_DT_UINT8 ||
           dt == IG_DT_INT16 || dt == IG_DT_UINT16 || dt == IG_DT_INT32 || dt == IG_DT_INT64 ||
           dt == IG_DT_UINT32 || dt == IG_DT_UINT64;
}

static int rs_plan_common(ig_kstep *s, ig_error *err, rs_params *p, const ig_tensor *x, const ig_tensor *roi,
                          const ig_tensor *scales, const ig_tensor *sizes, const int64_t *axes_attr,
                          int n_axes, int aspect, double extrapolation, const float *attr_scales,
                          int n_attr_scales)
{
    int r = x->ndim;
    if (r < 1) return ig_kstep_fail(s, err, IG_ESHAPE, "input must have rank >= 1");
    if (x->dtype == IG_DT_STRING || x->dtype == IG_DT_COMPLEX64 || x->dtype == IG_DT_COMPLEX128)
        return ig_kstep_fail(s, err, IG_EDTYPE, "unsupported dtype %s", ig_dtype_name(x->dtype));
    if (p->mode != RS_NEAREST && !rs_linear_type_ok(x->dtype))
        return ig_kstep_fail(s, err, IG_EDTYPE, "linear/cubic resize of %s is not supported",
                             ig_dtype_name(x->dtype));

    int axes[IG_MAX_DIMS];
    int na = r;
    if (axes_attr) {
        na = n_axes;
        if (na < 1 || na > r) return ig_kstep_fail(s, err, IG_EINVAL, "bad axes count %d", na);
        for (int i = 0; i < na; i++) {
            int64_t a = axes_attr[i] < 0 ? axes_attr[i] + r : axes_attr[i];
            if (a < 0 || a >= r)
                return ig_kstep_fail(s, err, IG_EINVAL, "axis %lld out of range", (long long)axes_attr[i]);
            for (int j = 0; j < i; j++)
                if (axes[j] == a) return ig_kstep_fail(s, err, IG_EINVAL, "repeated axis %lld", (long long)a);
            axes[i] = (int)a;
        }
    } else {
        for (int i = 0; i < r; i++) axes[i] = i;
    }

    /* Empty scales/sizes tensors mean "absent" (opset 11 models pass empty constants). */
    if (scales && ig_tensor_numel(scales) == 0) scales = NULL;
    if (sizes && ig_tensor_numel(sizes) == 0) sizes = NULL;
    if (roi && ig_tensor_numel(roi) == 0) roi = NULL;
    if ((scales && !scales->data) || (sizes && !sizes->data) ||
        (roi && !roi->data && p->ctm == CT_TF_CROP_AND_RESIZE))
        return IG_EDEFER;
    if (!attr_scales && !scales && !sizes)
        return ig_kstep_fail(s, err, IG_EINVAL, "one of scales and sizes is required");
    if (scales && sizes) return ig_kstep_fail(s, err, IG_EINVAL, "only one of scales and sizes may be given");

    double scale[IG_MAX_DIMS], out_f[IG_MAX_DIMS], r0[IG_MAX_DIMS], r1[IG_MAX_DIMS];
    int64_t out[IG_MAX_DIMS];
    for (int d = 0; d < r; d++) {
        scale[d] = 1;
        out[d] = x->dims[d];
        out_f[d] = (double)x->dims[d];
        r0[d] = 0;
        r1[d] = 1;
    }
    if (roi && p->ctm == CT_TF_CROP_AND_RESIZE) {
        if (roi->dtype != IG_DT_FLOAT && roi->dtype != IG_DT_DOUBLE)
            return ig_kstep_fail(s, err, IG_EDTYPE, "roi must be float or double");
        if (ig_tensor_numel(roi) != 2 * na)
            return ig_kstep_fail(s, err, IG_ESHAPE, "roi must have %d values", 2 * na);
        for (int i = 0; i < na; i++) {
            r0[axes[i]] = load_f64(roi, i);
            r1[axes[i]] = load_f64(roi, na + i);
        }
    }
    if (attr_scales || scales) {
        int ns = attr_scales ? n_attr_scales : (int)ig_tensor_numel(scales);
        if (scales && scales->dtype != IG_DT_FLOAT && scales->dtype != IG_DT_DOUBLE)
            return ig_kstep_fail(s, err, IG_EDTYPE, "scales must be float");
        if (ns != na) return ig_kstep_fail(s, err, IG_ESHAPE, "scales has %d values for %d axes", ns, na);
        for (int i = 0; i < na; i++) {
            double sc = attr_scales ? attr_scales[i] : load_f64(scales, i);
            int d = axes[i];
            if (!(sc > 0) || !isfinite(sc))
                return ig_kstep_fail(s, err, IG_EINVAL, "scales must be positive");
            double len = (double)x->dims[d];
            if (p->ctm == CT_TF_CROP_AND_RESIZE) len *= r1[d] - r0[d];
            double o = floor(len * sc);
            if (!(o >= 0) || o > 9.0e15) return ig_kstep_fail(s, err, IG_EINVAL, "bad output size");
            scale[d] = sc;
            out[d] = (int64_t)o;
            out_f[d] = sc * (double)x->dims[d];
        }
    } else {
        if (sizes->dtype != IG_DT_INT64) return ig_kstep_fail(s, err, IG_EDTYPE, "sizes must be int64");
        if (ig_tensor_numel(sizes) != na)
            return ig_kstep_fail(s, err, IG_ESHAPE, "sizes has %lld values for %d axes",
                                 (long long)ig_tensor_numel(sizes), na);
        const int64_t *sz = sizes->data;
        for (int i = 0; i < na; i++)
            if (sz[i] < 0) return ig_kstep_fail(s, err, IG_EINVAL, "negative size");
        if (aspect) {
            /* keep_aspect_ratio_policy: one scale for every axis, the smallest (not_larger) or
             * largest (not_smaller) of size/input. */
            double sc = aspect == 1 ? INFINITY : 0;
            for (int i = 0; i < na; i++) {
                double q = (double)sz[i] / (double)x->dims[axes[i]];
                sc = aspect == 1 ? fmin(sc, q) : fmax(sc, q);
            }
            for (int i = 0; i < na; i++) {
                int d = axes[i];
                scale[d] = sc;
                out[d] = (int64_t)floor(sc * (double)x->dims[d] + 0.5);
                out_f[d] = sc * (double)x->dims[d];
            }
        } else {
            for (int i = 0; i < na; i++) {
                int d = axes[i];
                out[d] = sz[i];
                scale[d] = (double)sz[i] / (double)x->dims[d];
                out_f[d] = (double)sz[i];
            }
        }
    }
    ig_kstep_set_output(s, 0, x->dtype, r, out);

    int64_t numel_in = ig_tensor_numel(x), numel_out = 1;
    for (int d = 0; d < r; d++)
        if (__builtin_mul_overflow(numel_out, out[d], &numel_out))
            return ig_kstep_fail(s, err, IG_EOVERFLOW, "output size overflows");
    if (numel_in == 0 && numel_out != 0)
        return ig_kstep_fail(s, err, IG_EINVAL, "cannot resize an empty tensor to a non-empty one");
    rs_state *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->mode = p->mode;
    st->ndim = r;
    st->extrapolation = extrapolation;
    bool empty = numel_in == 0 || numel_out == 0;
    for (int d = 0; d < r; d++) {
        rs_axis *a = &st->ax[d];
        a->in = x->dims[d];
        a->out = out[d];
        if (empty) continue;
        if (p->antialias && scale[d] < 1e-6) {
            ig__misc_resize_destroy(st);
            return ig_kstep_fail(s, err, IG_EINVAL, "antialias scale too small");
        }
        if (!build_axis(a, p, scale[d], out_f[d], r0[d], r1[d])) {
            ig__misc_resize_destroy(st);
            return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
        }
        if (axis_is_identity(a)) a->n = 0;
    }

    /* Separable passes run from the last axis to the first; find the biggest in-between array. */
    int64_t cur[IG_MAX_DIMS], mid = 0;
    memcpy(cur, x->dims, sizeof(int64_t) * (size_t)r);
    for (int d = r - 1; d >= 0; d--) {
        if (!st->ax[d].n) continue;
        cur[d] = out[d];
        int64_t m = 1;
        for (int k = 0; k < r; k++)
            if (__builtin_mul_overflow(m, cur[k], &m)) {
                ig__misc_resize_destroy(st);
                return ig_kstep_fail(s, err, IG_EOVERFLOW, "intermediate size overflows");
            }
        if (m > mid) mid = m;
    }
    if (numel_in > mid) mid = numel_in;
    st->max_mid = mid;
    if (p->mode != RS_NEAREST && !empty) {
        size_t esz = x->dtype == IG_DT_DOUBLE ? sizeof(double) : sizeof(float);
        s->scratch_bytes = 2 * (size_t)mid * esz + 128;
    }
    s->state = st;
    return 0;
}

/* ---- run ---- */

static void store_scalar(ig_dtype dt, void *p, double v)
{
    switch (dt) {
    case IG_DT_FLOAT:
        *(float *)p = (float)v;
        break;
    case IG_DT_DOUBLE:
        *(double *)p = v;
        break;
    case IG_DT_INT8:
        *(int8_t *)p = (int8_t)v;
        break;
    case IG_DT_UINT8:
    case IG_DT_BOOL:
        *(uint8_t *)p = (uint8_t)v;
        break;
    case IG_DT_INT16:
        *(int16_t *)p = (int16_t)v;
        break;
    case IG_DT_UINT16:
        *(uint16_t *)p = (uint16_t)v;
        break;
    case IG_DT_INT32:
        *(int32_t *)p = (int32_t)v;
        break;
    case IG_DT_UINT32:
        *(uint32_t *)p = (uint32_t)v;
        break;
    case IG_DT_INT64:
        *(int64_t *)p = (int64_t)v;
        break;
    case IG_DT_UINT64:
        *(uint64_t *)p = (uint64_t)v;
        break;
    default:
        memset(p, 0, ig_dtype_size(dt));
        break;
    }
}

static int run_nearest(ig_kstep *s)
{
    const rs_state *st = s->state;
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    int r = st->ndim;
    size_t esz = ig_dtype_size(x->dtype);
    int64_t numel = ig_tensor_numel(y);
    if (numel == 0) return 0;
    int64_t istride[IG_MAX_DIMS];
    istride[r - 1] = 1;
    for (int d = r - 2; d >= 0; d--) istride[d] = istride[d + 1] * x->dims[d + 1];
    unsigned char fill[16];
    store_scalar(x->dtype, fill, st->extrapolation);
    const rs_axis *last = &st->ax[r - 1];
    int64_t w = last->out, rows = numel / w;
    const unsigned char *src = x->data;
    unsigned char *dst = y->data;

#pragma omp parallel for num_threads(s->n_threads) if (numel > (1 << 15))
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, off = 0;
        bool outside = false;
        for (int d = r - 2; d >= 0; d--) {
            const rs_axis *a = &st->ax[d];
            int64_t o = rem % a->out;
            rem /= a->out;
            int64_t i = a->n ? a->idx[o] : o;
            if (a->n && a->extra[o]) outside = true;
            off += i * istride[d];
        }
        unsigned char *yr = dst + (size_t)(row * w) * esz;
        for (int64_t o = 0; o < w; o++) {
            unsigned char *yo = yr + (size_t)o * esz;
            if (outside || (last->n && last->extra[o])) {
                memcpy(yo, fill, esz);
                continue;
            }
            const unsigned char *xi = src + (size_t)(off + (last->n ? last->idx[o] : o)) * esz;
            switch (esz) {
            case 1:
                *yo = *xi;
                break;
            case 2:
                *(uint16_t *)yo = *(const uint16_t *)xi;
                break;
            case 4:
                *(uint32_t *)yo = *(const uint32_t *)xi;
                break;
            case 8:
                *(uint64_t *)yo = *(const uint64_t *)xi;
                break;
            default:
                memcpy(yo, xi, esz);
            }
        }
    }
    return 0;
}

/* One separable pass along an axis: x viewed as [outer, in, inner] becomes y [outer, out, inner]. */
#define RS_DEFINE_PASS(NAME, T)                                                                              \
    static void NAME(const T *x, T *y, int64_t outer, int64_t inner, const rs_axis *a, T fill, int nth)      \
    {                                                                                                        \
        int64_t in = a->in, out = a->out;                                                                    \
        int n = a->n;                                                                                        \
        _Pragma(                                                                                             \
            "omp parallel for num_threads(nth) if (outer * out * inner * n > (1 << 15))") for (int64_t b =   \
                                                                                                   0;        \
                                                                                               b < outer;    \
                                                                                               b++)          \
        {                                                                                                    \
            const T *xb = x + b * in * inner;                                                                \
            T *yb = y + b * out * inner;                                                                     \
            for (int64_t o = 0; o < out; o++) {                                                              \
                T *yo = yb + o * inner;                                                                      \
                const int64_t *ix = a->idx + o * n;                                                          \
                const double *w = a->w + o * n;                                                              \
                if (a->extra[o]) {                                                                           \
                    for (int64_t i = 0; i < inner; i++) yo[i] = fill;                                        \
                } else if (inner == 1) {                                                                     \
                    T acc = 0;                                                                               \
                    for (int k = 0; k < n; k++) acc += (T)w[k] * xb[ix[k]];                                  \
                    yo[0] = acc;                                                                             \
                } else {                                                                                     \
                    T w0 = (T)w[0];                                                                          \
                    const T *x0 = xb + ix[0] * inner;                                                        \
                    for (int64_t i = 0; i < inner; i++) yo[i] = w0 * x0[i];                                  \
                    for (int k = 1; k < n; k++) {                                                            \
                        T wk = (T)w[k];                                                                      \
                        if (wk == 0) continue;                                                               \
                        const T *xk = xb + ix[k] * inner;                                                    \
                        for (int64_t i = 0; i < inner; i++) yo[i] += wk * xk[i];                             \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

RS_DEFINE_PASS(pass_f32, float)
RS_DEFINE_PASS(pass_f64, double)

/* Integer inputs go through float: widen, resize, then round and saturate back. */
static void widen(const ig_tensor *x, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        switch (x->dtype) {
        case IG_DT_INT8:
            dst[i] = ((const int8_t *)x->data)[i];
            break;
        case IG_DT_UINT8:
            dst[i] = ((const uint8_t *)x->data)[i];
            break;
        case IG_DT_INT16:
            dst[i] = ((const int16_t *)x->data)[i];
            break;
        case IG_DT_UINT16:
            dst[i] = ((const uint16_t *)x->data)[i];
            break;
        case IG_DT_INT32:
            dst[i] = (float)((const int32_t *)x->data)[i];
            break;
        case IG_DT_UINT32:
            dst[i] = (float)((const uint32_t *)x->data)[i];
            break;
        case IG_DT_INT64:
            dst[i] = (float)((const int64_t *)x->data)[i];
            break;
        case IG_DT_UINT64:
            dst[i] = (float)((const uint64_t *)x->data)[i];
            break;
        default:
            dst[i] = 0;
        }
    }
}

static void narrow(const float *src, ig_tensor *y, int64_t n)
{
    double lo = 0, hi = 0;
    switch (y->dtype) {
    case IG_DT_INT8:
        lo = -128, hi = 127;
        break;
    case IG_DT_UINT8:
        lo = 0, hi = 255;
        break;
    case IG_DT_INT16:
        lo = -32768, hi = 32767;
        break;
    case IG_DT_UINT16:
        lo = 0, hi = 65535;
        break;
    case IG_DT_INT32:
        lo = -2147483648.0, hi = 2147483647.0;
        break;
    case IG_DT_UINT32:
        lo = 0, hi = 4294967295.0;
        break;
    case IG_DT_INT64:
        lo = -9.2e18, hi = 9.2e18;
        break;
    default:
        lo = 0, hi = 1.8e19;
    }
    size_t esz = ig_dtype_size(y->dtype);
    for (int64_t i = 0; i < n; i++) {
        double v = nearbyint(src[i]);
        v = v < lo ? lo : v > hi ? hi : v;
        store_scalar(y->dtype, (unsigned char *)y->data + (size_t)i * esz, v);
    }
}

static int run_interp(ig_kstep *s)
{
    const rs_state *st = s->state;
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    int r = st->ndim;
    int64_t numel_in = ig_tensor_numel(x), numel_out = ig_tensor_numel(y);
    if (numel_out == 0) return 0;
    bool dbl = x->dtype == IG_DT_DOUBLE, flt = x->dtype == IG_DT_FLOAT;
    size_t esz = dbl ? sizeof(double) : sizeof(float);
    unsigned char *bufs[2] = {s->scratch,
                              (unsigned char *)s->scratch + (((size_t)st->max_mid * esz + 63) & ~(size_t)63)};

    const void *cur = x->data;
    int nb = 0; /* which scratch buffer the next pass writes */
    if (!dbl && !flt) {
        widen(x, (float *)bufs[0], numel_in);
        cur = bufs[0];
        nb = 1;
    }
    int last_pass = -1;
    for (int d = 0; d < r; d++)
        if (st->ax[d].n) {
            last_pass = d;
            break;
        }
    int64_t dims[IG_MAX_DIMS];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)r);
    for (int d = r - 1; d >= 0; d--) {
        const rs_axis *a = &st->ax[d];
        if (!a->n) continue;
        int64_t outer = 1, inner = 1;
        for (int k = 0; k < d; k++) outer *= dims[k];
        for (int k = d + 1; k < r; k++) inner *= dims[k];
        void *dst = (d == last_pass && (dbl || flt)) ? y->data : bufs[nb];
        if (dbl)
            pass_f64(cur, dst, outer, inner, a, st->extrapolation, s->n_threads);
        else
            pass_f32(cur, dst, outer, inner, a, (float)st->extrapolation, s->n_threads);
        dims[d] = a->out;
        cur = dst;
        nb ^= 1;
    }
    if (dbl || flt) {
        if (last_pass < 0) memcpy(y->data, x->data, (size_t)numel_out * esz);
    } else {
        narrow(cur, y, numel_out);
    }
    return 0;
}

int ig__misc_resize_run(ig_kstep *s)
{
    const rs_state *st = s->state;
    return st->mode == RS_NEAREST ? run_nearest(s) : run_interp(s);
}

static int parse_mode(const char *m)
{
    if (!strcmp(m, "nearest")) return RS_NEAREST;
    if (!strcmp(m, "linear") || !strcmp(m, "bilinear") || !strcmp(m, "trilinear")) return RS_LINEAR;
    if (!strcmp(m, "cubic") || !strcmp(m, "bicubic")) return RS_CUBIC;
    return -1;
}

int ig__misc_resize_plan(ig_kstep *s, ig_error *err)
{
    const ig_node *n = s->node;
    if (s->n_in < 1 || !s->in[0]) return ig_kstep_fail(s, err, IG_EINVAL, "missing input X");
    rs_params p = {0};
    p.mode = parse_mode(ig_node_attr_str(n, "mode", "nearest"));
    if (p.mode < 0) return ig_kstep_fail(s, err, IG_EINVAL, "unknown mode");
    const ig_tensor *x = s->in[0], *roi = NULL, *scales = NULL, *sizes = NULL;
    if (n->opset < 11) {
        if (p.mode == RS_CUBIC) return ig_kstep_fail(s, err, IG_EINVAL, "cubic needs opset 11");
        p.ctm = CT_ASYMMETRIC;
        p.nearest = NM_SIMPLE;
        scales = s->n_in > 1 ? s->in[1] : NULL;
        if (!scales) return ig_kstep_fail(s, err, IG_EINVAL, "missing scales");
        return rs_plan_common(s, err, &p, x, NULL, scales, NULL, NULL, 0, 0, 0, NULL, 0);
    }
    p.ctm = parse_ctm(ig_node_attr_str(n, "coordinate_transformation_mode", "half_pixel"));
    if (p.ctm < 0) return ig_kstep_fail(s, err, IG_EINVAL, "unknown coordinate_transformation_mode");
    p.nearest = parse_nearest(ig_node_attr_str(n, "nearest_mode", "round_prefer_floor"));
    if (p.nearest < 0) return ig_kstep_fail(s, err, IG_EINVAL, "unknown nearest_mode");
    p.cubic_a = ig_node_attr_float(n, "cubic_coeff_a", -0.75f);
    p.exclude_outside = ig_node_attr_int(n, "exclude_outside", 0) != 0;
    double extrap = ig_node_attr_float(n, "extrapolation_value", 0.0f);
    p.antialias = ig_node_attr_int(n, "antialias", 0) != 0;
    int aspect = 0;
    const char *pol = ig_node_attr_str(n, "keep_aspect_ratio_policy", "stretch");
    if (!strcmp(pol, "not_larger"))
        aspect = 1;
    else if (!strcmp(pol, "not_smaller"))
        aspect = 2;
    else if (strcmp(pol, "stretch"))
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown keep_aspect_ratio_policy");
    int n_axes = 0;
    const int64_t *axes = ig_node_attr_ints(n, "axes", &n_axes);
    roi = s->n_in > 1 ? s->in[1] : NULL;
    scales = s->n_in > 2 ? s->in[2] : NULL;
    sizes = s->n_in > 3 ? s->in[3] : NULL;
    return rs_plan_common(s, err, &p, x, roi, scales, sizes, axes, n_axes, aspect, extrap, NULL, 0);
}

int ig__misc_upsample_plan(ig_kstep *s, ig_error *err)
{
    const ig_node *n = s->node;
    if (s->n_in < 1 || !s->in[0]) return ig_kstep_fail(s, err, IG_EINVAL, "missing input X");
    rs_params p = {0};
    p.mode = parse_mode(ig_node_attr_str(n, "mode", "nearest"));
    if (p.mode < 0 || p.mode == RS_CUBIC) return ig_kstep_fail(s, err, IG_EINVAL, "unknown mode");
    p.ctm = CT_ASYMMETRIC;
    p.nearest = NM_SIMPLE;
    if (n->opset < 9) {
        int ns = 0;
        const float *sc = ig_node_attr_floats(n, "scales", &ns);
        if (!sc) return ig_kstep_fail(s, err, IG_EINVAL, "missing scales attribute");
        return rs_plan_common(s, err, &p, s->in[0], NULL, NULL, NULL, NULL, 0, 0, 0, sc, ns);
    }
    const ig_tensor *scales = s->n_in > 1 ? s->in[1] : NULL;
    if (!scales) return ig_kstep_fail(s, err, IG_EINVAL, "missing scales");
    return rs_plan_common(s, err, &p, s->in[0], NULL, scales, NULL, NULL, 0, 0, 0, NULL, 0);
}
