/* GridSample (opset 16+, 4-D inputs): samples X [N,C,H,W] at the normalised (x, y) points of
 * Grid [N,Ho,Wo,2] with nearest, bilinear or bicubic interpolation and zeros, border or reflection
 * padding, following the PyTorch/onnxruntime conventions the ONNX tests were made with. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

enum { GS_NEAREST, GS_LINEAR, GS_CUBIC };
enum { GP_ZEROS, GP_BORDER, GP_REFLECTION };

typedef struct gs_state {
    int mode, pad, align;
} gs_state;

int ig__misc_gridsample_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[0] || !s->in[1])
        return ig_kstep_fail(s, err, IG_EINVAL, "X and grid are required");
    const ig_tensor *x = s->in[0], *g = s->in[1];
    if (x->dtype != IG_DT_FLOAT && x->dtype != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "X must be float or double");
    if (g->dtype != IG_DT_FLOAT && g->dtype != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "grid must be float or double");
    if (x->ndim != 4 || g->ndim != 4 || g->dims[3] != 2 || g->dims[0] != x->dims[0])
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "only 2-D sampling (X [N,C,H,W], grid [N,Ho,Wo,2])");
    gs_state st = {0};
    const char *m = ig_node_attr_str(s->node, "mode", s->node->opset >= 20 ? "linear" : "bilinear");
    if (!strcmp(m, "nearest"))
        st.mode = GS_NEAREST;
    else if (!strcmp(m, "bilinear") || !strcmp(m, "linear"))
        st.mode = GS_LINEAR;
    else if (!strcmp(m, "bicubic") || !strcmp(m, "cubic"))
        st.mode = GS_CUBIC;
    else
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown mode %s", m);
    const char *p = ig_node_attr_str(s->node, "padding_mode", "zeros");
    if (!strcmp(p, "zeros"))
        st.pad = GP_ZEROS;
    else if (!strcmp(p, "border"))
        st.pad = GP_BORDER;
    else if (!strcmp(p, "reflection"))
        st.pad = GP_REFLECTION;
    else
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown padding_mode %s", p);
    st.align = ig_node_attr_int(s->node, "align_corners", 0) != 0;
    int64_t dims[4] = {x->dims[0], x->dims[1], g->dims[1], g->dims[2]};
    ig_kstep_set_output(s, 0, x->dtype, 4, dims);
    gs_state *ps = malloc(sizeof(*ps));
    if (!ps) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *ps = st;
    s->state = ps;
    return 0;
}

static double reflect(double x, double lo, double hi)
{
    double range = hi - lo;
    if (range <= 0) return lo;
    if (x < lo) {
        double d = lo - x;
        int64_t n = (int64_t)(d / range);
        double r = d - (double)n * range;
        return n % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double d = x - hi;
        int64_t n = (int64_t)(d / range);
        double r = d - (double)n * range;
        return n % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

typedef struct gs_img {
    const void *data;
    bool dbl;
    int64_t h, w;
    int pad;
    double lo_x, hi_x, lo_y, hi_y;
} gs_img;

static double pixel(const gs_img *im, int64_t r, int64_t c)
{
    if (im->pad == GP_ZEROS) {
        if (r < 0 || r >= im->h || c < 0 || c >= im->w) return 0;
    } else if (im->pad == GP_BORDER) {
        c = c < 0 ? 0 : c >= im->w ? im->w - 1 : c;
        r = r < 0 ? 0 : r >= im->h ? im->h - 1 : r;
    } else {
        c = (int64_t)reflect((double)c, im->lo_x, im->hi_x);
        r = (int64_t)reflect((double)r, im->lo_y, im->hi_y);
        c = c < 0 ? 0 : c >= im->w ? im->w - 1 : c;
        r = r < 0 ? 0 : r >= im->h ? im->h - 1 : r;
    }
    int64_t i = r * im->w + c;
    return im->dbl ? ((const double *)im->data)[i] : ((const float *)im->data)[i];
}

static void cubic_coeffs(double t, double *c)
{
    const double a = -0.75;
    double u = t + 1, v = 1 - t, q = 2 - t;
    c[0] = ((a * u - 5 * a) * u + 8 * a) * u - 4 * a;
    c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    c[2] = ((a + 2) * v - (a + 3)) * v * v + 1;
    c[3] = ((a * q - 5 * a) * q + 8 * a) * q - 4 * a;
}

static double sample(const gs_state *st, const gs_img *im, double x, double y)
{
    if (st->mode == GS_NEAREST) {
        x = nearbyint(x);
        y = nearbyint(y);
    }
    if (x < im->lo_x || x > im->hi_x || y < im->lo_y || y > im->hi_y) {
        if (st->pad == GP_BORDER) {
            x = x < 0 ? 0 : x > (double)(im->w - 1) ? (double)(im->w - 1) : x;
            y = y < 0 ? 0 : y > (double)(im->h - 1) ? (double)(im->h - 1) : y;
        } else if (st->pad == GP_REFLECTION) {
            x = reflect(x, im->lo_x, im->hi_x);
            y = reflect(y, im->lo_y, im->hi_y);
        }
    }
    if (st->mode == GS_NEAREST) return pixel(im, (int64_t)y, (int64_t)x);
    if (st->mode == GS_LINEAR) {
        double fx = floor(x), fy = floor(y);
        int64_t x1 = (int64_t)fx, y1 = (int64_t)fy;
        double dx1 = x - fx, dy1 = y - fy, dx2 = 1 - dx1, dy2 = 1 - dy1;
        return dy2 * (dx2 * pixel(im, y1, x1) + dx1 * pixel(im, y1, x1 + 1)) +
               dy1 * (dx2 * pixel(im, y1 + 1, x1) + dx1 * pixel(im, y1 + 1, x1 + 1));
    }
    double fx = floor(x) - 1, fy = floor(y) - 1;
    int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
    double cx[4], cy[4];
    cubic_coeffs(x - fx - 1, cx);
    cubic_coeffs(y - fy - 1, cy);
    double acc = 0;
    for (int i = 0; i < 4; i++) {
        double row = 0;
        for (int j = 0; j < 4; j++) row += cx[j] * pixel(im, y0 + i, x0 + j);
        acc += cy[i] * row;
    }
    return acc;
}

int ig__misc_gridsample_run(ig_kstep *s)
{
    const gs_state *st = s->state;
    const ig_tensor *x = s->in[0], *g = s->in[1];
    ig_tensor *y = s->out[0];
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], Ho = g->dims[1], Wo = g->dims[2];
    bool dbl = x->dtype == IG_DT_DOUBLE, gdbl = g->dtype == IG_DT_DOUBLE;
    size_t esz = dbl ? sizeof(double) : sizeof(float);
    if (ig_tensor_numel(y) == 0) return 0;
    if (H == 0 || W == 0) {
        memset(y->data, 0, (size_t)ig_tensor_numel(y) * esz);
        return 0;
    }
#pragma omp parallel for collapse(2) num_threads(s->n_threads) if (N * C * Ho * Wo > (1 << 14))
    for (int64_t n = 0; n < N; n++) {
        for (int64_t c = 0; c < C; c++) {
            gs_img im = {
                (const char *)x->data + (size_t)((n * C + c) * H * W) * esz, dbl, H, W, st->pad, 0, 0, 0, 0};
            if (st->align) {
                im.lo_x = 0, im.hi_x = (double)(W - 1), im.lo_y = 0, im.hi_y = (double)(H - 1);
            } else {
                im.lo_x = -0.5, im.hi_x = (double)W - 0.5, im.lo_y = -0.5, im.hi_y = (double)H - 0.5;
            }
            for (int64_t i = 0; i < Ho * Wo; i++) {
                int64_t gi = (n * Ho * Wo + i) * 2;
                double gx = gdbl ? ((const double *)g->data)[gi] : ((const float *)g->data)[gi];
                double gy = gdbl ? ((const double *)g->data)[gi + 1] : ((const float *)g->data)[gi + 1];
                double px, py;
                if (st->align) {
                    px = (gx + 1) / 2 * (double)(W - 1);
                    py = (gy + 1) / 2 * (double)(H - 1);
                } else {
                    px = ((gx + 1) * (double)W - 1) / 2;
                    py = ((gy + 1) * (double)H - 1) / 2;
                }
                double v = sample(st, &im, px, py);
                int64_t oi = (n * C + c) * Ho * Wo + i;
                if (dbl)
                    ((double *)y->data)[oi] = v;
                else
                    ((float *)y->data)[oi] = (float)v;
            }
        }
    }
    return 0;
}
