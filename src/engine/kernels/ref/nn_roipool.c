/* MaxRoiPool (opset 1+): max over a pooled_shape grid of bins inside each region of interest, with
 * rois [num_rois, 5] = (batch, x1, y1, x2, y2) in input coordinates scaled by spatial_scale. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

typedef struct roi_state {
    int64_t ph, pw;
    float scale;
} roi_state;

int ig__maxroipool_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *r = s->n_in > 1 ? s->in[1] : NULL;
    if (!r || r->dtype != x->dtype) return ig_kstep_fail(s, err, IG_EDTYPE, "rois must share X's dtype");
    if (x->ndim != 4 || r->ndim != 2 || r->dims[1] != 5)
        return ig_kstep_fail(s, err, IG_ESHAPE, "X must be [N,C,H,W] and rois [num_rois,5]");
    int cnt;
    const int64_t *ps = ig_node_attr_ints(s->node, "pooled_shape", &cnt);
    if (!ps || cnt != 2 || ps[0] < 1 || ps[1] < 1)
        return ig_kstep_fail(s, err, IG_EINVAL, "pooled_shape must hold two positive values");
    roi_state st = {ps[0], ps[1], ig_node_attr_float(s->node, "spatial_scale", 1.0f)};
    int64_t dims[4] = {r->dims[0], x->dims[1], st.ph, st.pw};
    ig_kstep_set_output(s, 0, x->dtype, 4, dims);
    if (!(s->state = malloc(sizeof(st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, &st, sizeof(st));
    return 0;
}

#define IG_ROIPOOL(NAME, T)                                                                                  \
    static int NAME(ig_kstep *s)                                                                             \
    {                                                                                                        \
        const roi_state *st = s->state;                                                                      \
        const ig_tensor *xt = s->in[0];                                                                      \
        int64_t nb = xt->dims[0], c = xt->dims[1], h = xt->dims[2], w = xt->dims[3];                         \
        int64_t nr = s->in[1]->dims[0];                                                                      \
        const T *x = xt->data, *rois = s->in[1]->data;                                                       \
        T *y = s->out[0]->data;                                                                              \
        for (int64_t r = 0; r < nr; r++) {                                                                   \
            const T *roi = rois + r * 5;                                                                     \
            int64_t b = (int64_t)roi[0];                                                                     \
            if (b < 0 || b >= nb) return IG_EINVAL;                                                          \
            int64_t x1 = (int64_t)round(roi[1] * st->scale), y1 = (int64_t)round(roi[2] * st->scale);        \
            int64_t x2 = (int64_t)round(roi[3] * st->scale), y2 = (int64_t)round(roi[4] * st->scale);        \
            int64_t rw = x2 - x1 + 1 > 1 ? x2 - x1 + 1 : 1, rh = y2 - y1 + 1 > 1 ? y2 - y1 + 1 : 1;          \
            double bh = (double)rh / st->ph, bw = (double)rw / st->pw;                                       \
            for (int64_t ch = 0; ch < c; ch++) {                                                             \
                const T *xp = x + (b * c + ch) * h * w;                                                      \
                T *yp = y + (r * c + ch) * st->ph * st->pw;                                                  \
                for (int64_t i = 0; i < st->ph; i++) {                                                       \
                    int64_t hs = (int64_t)floor(i * bh) + y1, he = (int64_t)ceil((i + 1) * bh) + y1;         \
                    hs = hs < 0 ? 0 : hs > h ? h : hs, he = he < 0 ? 0 : he > h ? h : he;                    \
                    for (int64_t j = 0; j < st->pw; j++) {                                                   \
                        int64_t ws = (int64_t)floor(j * bw) + x1, we = (int64_t)ceil((j + 1) * bw) + x1;     \
                        ws = ws < 0 ? 0 : ws > w ? w : ws, we = we < 0 ? 0 : we > w ? w : we;                \
                        T m = 0;                                                                             \
                        int any = 0;                                                                         \
                        for (int64_t yy = hs; yy < he; yy++)                                                 \
                            for (int64_t xx = ws; xx < we; xx++)                                             \
                                if (!any || xp[yy * w + xx] > m) m = xp[yy * w + xx], any = 1;               \
                        yp[i * st->pw + j] = m;                                                              \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        return 0;                                                                                            \
    }

IG_ROIPOOL(roipool_f32, float)
IG_ROIPOOL(roipool_f64, double)

int ig__maxroipool_run(ig_kstep *s)
{
    return s->in[0]->dtype == IG_DT_FLOAT ? roipool_f32(s) : roipool_f64(s);
}
