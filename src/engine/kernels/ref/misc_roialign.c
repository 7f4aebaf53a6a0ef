/* RoiAlign (opset 10+): average or max pooling of bilinear samples over a regular grid in each
 * region of interest, with the legacy (output_half_pixel) or half_pixel coordinate convention. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

typedef struct ra_state {
    int max_mode, half_pixel;
    int64_t oh, ow, sampling;
    double scale;
} ra_state;

int ig__misc_roialign_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 3 || !s->in[0] || !s->in[1] || !s->in[2])
        return ig_kstep_fail(s, err, IG_EINVAL, "X, rois and batch_indices are required");
    const ig_tensor *x = s->in[0], *rois = s->in[1], *bi = s->in[2];
    if (x->dtype != IG_DT_FLOAT && x->dtype != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "X must be float or double");
    if (rois->dtype != x->dtype) return ig_kstep_fail(s, err, IG_EDTYPE, "rois must have X's dtype");
    if (bi->dtype != IG_DT_INT64) return ig_kstep_fail(s, err, IG_EDTYPE, "batch_indices must be int64");
    if (x->ndim != 4 || rois->ndim != 2 || rois->dims[1] != 4 || bi->ndim != 1 ||
        bi->dims[0] != rois->dims[0])
        return ig_kstep_fail(s, err, IG_ESHAPE, "expected X [N,C,H,W], rois [R,4], batch_indices [R]");
    ra_state st = {0};
    const char *m = ig_node_attr_str(s->node, "mode", "avg");
    if (!strcmp(m, "max"))
        st.max_mode = 1;
    else if (strcmp(m, "avg"))
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown mode %s", m);
    const char *ct = ig_node_attr_str(s->node, "coordinate_transformation_mode",
                                      s->node->opset >= 16 ? "half_pixel" : "output_half_pixel");
    if (!strcmp(ct, "half_pixel"))
        st.half_pixel = 1;
    else if (strcmp(ct, "output_half_pixel"))
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown coordinate_transformation_mode %s", ct);
    st.oh = ig_node_attr_int(s->node, "output_height", 1);
    st.ow = ig_node_attr_int(s->node, "output_width", 1);
    st.sampling = ig_node_attr_int(s->node, "sampling_ratio", 0);
    st.scale = ig_node_attr_float(s->node, "spatial_scale", 1.0f);
    if (st.oh <= 0 || st.ow <= 0 || st.sampling < 0)
        return ig_kstep_fail(s, err, IG_EINVAL, "bad output size or sampling_ratio");
    int64_t dims[4] = {rois->dims[0], x->dims[1], st.oh, st.ow};
    ig_kstep_set_output(s, 0, x->dtype, 4, dims);
    ra_state *p = malloc(sizeof(*p));
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    return 0;
}

static double ldx(const void *d, bool dbl, int64_t i)
{
    return dbl ? ((const double *)d)[i] : (double)((const float *)d)[i];
}

int ig__misc_roialign_run(ig_kstep *s)
{
    const ra_state *st = s->state;
    const ig_tensor *x = s->in[0], *rois = s->in[1], *bi = s->in[2];
    ig_tensor *y = s->out[0];
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], R = rois->dims[0];
    bool dbl = x->dtype == IG_DT_DOUBLE;
    for (int64_t r = 0; r < R; r++)
        if (((const int64_t *)bi->data)[r] < 0 || ((const int64_t *)bi->data)[r] >= N) return IG_EINVAL;
    int rc = 0;
#pragma omp parallel for collapse(2) num_threads(s->n_threads) if (R * C * st->oh * st->ow > (1 << 12))
    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c++) {
            int64_t b = ((const int64_t *)bi->data)[r];
            double off = st->half_pixel ? 0.5 : 0;
            double x0 = ldx(rois->data, dbl, r * 4) * st->scale - off;
            double y0 = ldx(rois->data, dbl, r * 4 + 1) * st->scale - off;
            double x1 = ldx(rois->data, dbl, r * 4 + 2) * st->scale - off;
            double y1 = ldx(rois->data, dbl, r * 4 + 3) * st->scale - off;
            double rw = x1 - x0, rh = y1 - y0;
            if (!st->half_pixel) {
                rw = fmax(rw, 1.0);
                rh = fmax(rh, 1.0);
            }
            double bh = rh / (double)st->oh, bw = rw / (double)st->ow;
            int64_t gh = st->sampling > 0 ? st->sampling : (int64_t)ceil(rh / (double)st->oh);
            int64_t gw = st->sampling > 0 ? st->sampling : (int64_t)ceil(rw / (double)st->ow);
            double count = (double)(gh * gw > 1 ? gh * gw : 1);
            const void *img = (const char *)x->data + (size_t)((b * C + c) * H * W) * (dbl ? 8 : 4);
            for (int64_t ph = 0; ph < st->oh; ph++) {
                for (int64_t pw = 0; pw < st->ow; pw++) {
                    double acc = 0;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        double yy = y0 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double xx = x0 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            double v = 0;
                            if (!(yy < -1.0 || yy > (double)H || xx < -1.0 || xx > (double)W) && H > 0 &&
                                W > 0) {
                                double py = yy <= 0 ? 0 : yy, px = xx <= 0 ? 0 : xx;
                                int64_t yl = (int64_t)py, xl = (int64_t)px, yh, xh;
                                if (yl >= H - 1) {
                                    yh = yl = H - 1;
                                    py = (double)yl;
                                } else {
                                    yh = yl + 1;
                                }
                                if (xl >= W - 1) {
                                    xh = xl = W - 1;
                                    px = (double)xl;
                                } else {
                                    xh = xl + 1;
                                }
                                double ly = py - (double)yl, lx = px - (double)xl, hy = 1 - ly, hx = 1 - lx;
                                double v1 = hy * hx * ldx(img, dbl, yl * W + xl);
                                double v2 = hy * lx * ldx(img, dbl, yl * W + xh);
                                double v3 = ly * hx * ldx(img, dbl, yh * W + xl);
                                double v4 = ly * lx * ldx(img, dbl, yh * W + xh);
                                v = st->max_mode ? fmax(fmax(v1, v2), fmax(v3, v4)) : v1 + v2 + v3 + v4;
                            }
                            if (st->max_mode) {
                                acc = first ? v : fmax(acc, v);
                                first = false;
                            } else {
                                acc += v;
                            }
                        }
                    }
                    double out = st->max_mode ? acc : acc / count;
                    int64_t oi = ((r * C + c) * st->oh + ph) * st->ow + pw;
                    if (dbl)
                        ((double *)y->data)[oi] = out;
                    else
                        ((float *)y->data)[oi] = (float)out;
                }
            }
        }
    }
    return rc;
}
