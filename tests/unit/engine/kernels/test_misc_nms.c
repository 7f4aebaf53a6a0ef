/* Unit tests of the NonMaxSuppression reference kernel on a three-box example. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/kernel.h"

static int nms(float *boxes, float *scores, int64_t max_out, float iou, float *score_thr, ig_tensor *y)
{
    int64_t bd[3] = {1, 3, 4}, sd[3] = {1, 1, 3}, one[1] = {1};
    ig_tensor tb = {IG_DT_FLOAT, 3, {0}, boxes}, ts = {IG_DT_FLOAT, 3, {0}, scores};
    memcpy(tb.dims, bd, sizeof(bd));
    memcpy(ts.dims, sd, sizeof(sd));
    ig_tensor tm = {IG_DT_INT64, 1, {1}, &max_out}, ti = {IG_DT_FLOAT, 1, {1}, &iou},
              tt = {IG_DT_FLOAT, 1, {1}, score_thr};
    (void)one;
    ig_node node = {.name = "n", .op_type = "NonMaxSuppression", .domain = "", .opset = 11};
    ig_tensor *in[5] = {&tb, &ts, &tm, &ti, score_thr ? &tt : NULL};
    ig_tensor *out[1] = {y};
    ig_kstep s = {.node = &node, .n_in = 5, .n_out = 1, .in = in, .out = out, .n_threads = 1};
    const ig_kernel_def *k = ig_kernel_next(NULL, "", "NonMaxSuppression", 11, in, 5);
    if (!k) return -100;
    ig_error err = {0};
    int rc = k->plan(&s, &err);
    if (rc) return rc;
    y->data = malloc(ig_tensor_nbytes(y) + 1);
    rc = k->run(&s);
    k->destroy(s.state);
    return rc;
}

int main(void)
{
    /* box 1 overlaps box 0 heavily; box 2 is far away */
    float boxes[12] = {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 10, 1, 11};
    float scores[3] = {0.9f, 0.75f, 0.6f};
    ig_tensor y = {0};
    CHECK_EQ_INT(nms(boxes, scores, 3, 0.5f, NULL, &y), 0);
    CHECK_EQ_INT(y.dtype, IG_DT_INT64);
    CHECK_EQ_INT(y.dims[0], 2);
    CHECK_EQ_INT(y.dims[1], 3);
    const int64_t *sel = y.data;
    CHECK(sel[0] == 0 && sel[1] == 0 && sel[2] == 0);
    CHECK(sel[3] == 0 && sel[4] == 0 && sel[5] == 2);
    free(y.data);

    float thr = 0.7f;
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(nms(boxes, scores, 3, 0.5f, &thr, &y), 0);
    CHECK_EQ_INT(y.dims[0], 1);
    free(y.data);

    /* a loose IoU threshold keeps all three; max_output 2 keeps two */
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(nms(boxes, scores, 2, 0.95f, NULL, &y), 0);
    CHECK_EQ_INT(y.dims[0], 2);
    sel = y.data;
    CHECK(sel[2] == 0 && sel[5] == 1);
    free(y.data);

    /* scores unknown at plan time: deferred */
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(nms(boxes, NULL, 3, 0.5f, NULL, &y), IG_EDEFER);
    return CHECK_DONE();
}
