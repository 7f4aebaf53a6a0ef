/* NonMaxSuppression (opset 10+): greedy per-(batch, class) selection by descending score, dropping
 * boxes whose IoU with an already selected box exceeds the threshold. The output length depends on
 * the data, so plan computes the whole answer once every input is known (deferring otherwise) and
 * run only copies it out. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

typedef struct nms_state {
    int64_t n;
    int64_t *sel; /* [n, 3] */
} nms_state;

void ig__misc_nms_destroy(void *p)
{
    nms_state *st = p;
    if (!st) return;
    free(st->sel);
    free(st);
}

static double ld(const ig_tensor *t, int64_t i)
{
    return t->dtype == IG_DT_DOUBLE ? ((const double *)t->data)[i] : (double)((const float *)t->data)[i];
}

typedef struct nms_cand {
    double score;
    int64_t idx;
} nms_cand;

static int cand_cmp(const void *a, const void *b)
{
    const nms_cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Corners as (ymin, xmin, ymax, xmax). */
static void corners(const ig_tensor *boxes, int64_t off, int center, double *c)
{
    double a = ld(boxes, off), b = ld(boxes, off + 1), d = ld(boxes, off + 2), e = ld(boxes, off + 3);
    if (center) {
        /* [x_center, y_center, width, height] */
        c[0] = b - e / 2;
        c[1] = a - d / 2;
        c[2] = b + e / 2;
        c[3] = a + d / 2;
    } else {
        c[0] = fmin(a, d);
        c[1] = fmin(b, e);
        c[2] = fmax(a, d);
        c[3] = fmax(b, e);
    }
}

static bool suppressed_by(const double *a, const double *b, double thr)
{
    double ih = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    double iw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (ih <= 0 || iw <= 0) return false;
    double inter = ih * iw;
    double area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    double uni = area_a + area_b - inter;
    if (uni <= 0) return false;
    return inter / uni > thr;
}

int ig__misc_nms_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[0] || !s->in[1])
        return ig_kstep_fail(s, err, IG_EINVAL, "boxes and scores are required");
    const ig_tensor *boxes = s->in[0], *scores = s->in[1];
    const ig_tensor *tmax = s->n_in > 2 ? s->in[2] : NULL, *tiou = s->n_in > 3 ? s->in[3] : NULL,
                    *tscore = s->n_in > 4 ? s->in[4] : NULL;
    if ((boxes->dtype != IG_DT_FLOAT && boxes->dtype != IG_DT_DOUBLE) || scores->dtype != boxes->dtype)
        return ig_kstep_fail(s, err, IG_EDTYPE, "boxes and scores must be float or double");
    if (boxes->ndim != 3 || boxes->dims[2] != 4 || scores->ndim != 3 || scores->dims[0] != boxes->dims[0] ||
        scores->dims[2] != boxes->dims[1])
        return ig_kstep_fail(s, err, IG_ESHAPE, "boxes must be [B,N,4] and scores [B,C,N]");
    if (tmax && (tmax->dtype != IG_DT_INT64 || ig_tensor_numel(tmax) > 1))
        return ig_kstep_fail(s, err, IG_EINVAL, "max_output_boxes_per_class must be one int64");
    if (tiou && ((tiou->dtype != IG_DT_FLOAT && tiou->dtype != IG_DT_DOUBLE) || ig_tensor_numel(tiou) > 1))
        return ig_kstep_fail(s, err, IG_EINVAL, "iou_threshold must be one float");
    if (tscore &&
        ((tscore->dtype != IG_DT_FLOAT && tscore->dtype != IG_DT_DOUBLE) || ig_tensor_numel(tscore) > 1))
        return ig_kstep_fail(s, err, IG_EINVAL, "score_threshold must be one float");
    int center = (int)ig_node_attr_int(s->node, "center_point_box", 0);
    if (center != 0 && center != 1)
        return ig_kstep_fail(s, err, IG_EINVAL, "center_point_box must be 0 or 1");
    if (!boxes->data || !scores->data || (tmax && !tmax->data) || (tiou && !tiou->data) ||
        (tscore && !tscore->data))
        return IG_EDEFER;

    int64_t max_out = tmax && ig_tensor_numel(tmax) ? ((const int64_t *)tmax->data)[0] : 0;
    double iou = tiou && ig_tensor_numel(tiou) ? ld(tiou, 0) : 0;
    bool has_st = tscore && ig_tensor_numel(tscore);
    double sthr = has_st ? ld(tscore, 0) : 0;
    int64_t B = boxes->dims[0], N = boxes->dims[1], C = scores->dims[1];
    if (max_out < 0) max_out = 0;
    if (max_out > N) max_out = N;

    nms_state *st = calloc(1, sizeof(*st));
    size_t cap = (size_t)(B * C * max_out) + 1;
    nms_cand *cand = malloc(sizeof(nms_cand) * ((size_t)N + 1));
    double *box = malloc(sizeof(double) * 4 * ((size_t)N + 1));
    int64_t *picked = malloc(sizeof(int64_t) * ((size_t)max_out + 1));
    if (st) st->sel = malloc(sizeof(int64_t) * 3 * cap);
    if (!st || !st->sel || !cand || !box || !picked) {
        free(cand);
        free(box);
        free(picked);
        ig__misc_nms_destroy(st);
        return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    }
    for (int64_t b = 0; b < B && max_out > 0; b++) {
        for (int64_t i = 0; i < N; i++) corners(boxes, (b * N + i) * 4, center, box + 4 * i);
        for (int64_t c = 0; c < C; c++) {
            int64_t nc = 0;
            for (int64_t i = 0; i < N; i++) {
                double sc = ld(scores, (b * C + c) * N + i);
                if (has_st && !(sc > sthr)) continue;
                cand[nc].score = sc;
                cand[nc].idx = i;
                nc++;
            }
            qsort(cand, (size_t)nc, sizeof(nms_cand), cand_cmp);
            int64_t np = 0;
            for (int64_t k = 0; k < nc && np < max_out; k++) {
                const double *bx = box + 4 * cand[k].idx;
                bool keep = true;
                for (int64_t j = 0; j < np && keep; j++)
                    if (suppressed_by(bx, box + 4 * picked[j], iou)) keep = false;
                if (!keep) continue;
                picked[np++] = cand[k].idx;
                st->sel[3 * st->n] = b;
                st->sel[3 * st->n + 1] = c;
                st->sel[3 * st->n + 2] = cand[k].idx;
                st->n++;
            }
        }
    }
    free(cand);
    free(box);
    free(picked);
    int64_t dims[2] = {st->n, 3};
    ig_kstep_set_output(s, 0, IG_DT_INT64, 2, dims);
    s->state = st;
    return 0;
}

int ig__misc_nms_run(ig_kstep *s)
{
    const nms_state *st = s->state;
    if (st->n) memcpy(s->out[0]->data, st->sel, sizeof(int64_t) * 3 * (size_t)st->n);
    return 0;
}
