/* Table of the misc reference kernels (see kernel.h): resampling, detection, recurrent, signal and
 * random-number operators. */
#include "engine/kernels/kernel.h"

#define IG__MISC_KERNEL(name)                                                                                \
    int ig__misc_##name##_plan(ig_kstep *s, ig_error *err);                                                  \
    int ig__misc_##name##_run(ig_kstep *s);

int ig__misc_resize_plan(ig_kstep *s, ig_error *err);
int ig__misc_upsample_plan(ig_kstep *s, ig_error *err);
int ig__misc_resize_run(ig_kstep *s);
void ig__misc_resize_destroy(void *state);
IG__MISC_KERNEL(nms)
void ig__misc_nms_destroy(void *state);
int ig__misc_rnn_plan(ig_kstep *s, ig_error *err);
int ig__misc_gru_plan(ig_kstep *s, ig_error *err);
int ig__misc_lstm_plan(ig_kstep *s, ig_error *err);
int ig__misc_rnn_run(ig_kstep *s);
void ig__misc_rnn_destroy(void *state);

#define FD (IG_TYPE(IG_DT_FLOAT) | IG_TYPE(IG_DT_DOUBLE))

const ig_kernel_def ig__kernels_misc[] = {
    {"", "Resize", 10, 0, 0, 0, "ref", ig__misc_resize_plan, ig__misc_resize_run, ig__misc_resize_destroy, 0},
    {"", "Upsample", 7, 9, 0, 0, "ref", ig__misc_upsample_plan, ig__misc_resize_run, ig__misc_resize_destroy, 0},
    {"", "NonMaxSuppression", 10, 0, FD, 0, "ref", ig__misc_nms_plan, ig__misc_nms_run, ig__misc_nms_destroy, 0},
    {"", "RNN", 7, 0, FD, 0, "ref", ig__misc_rnn_plan, ig__misc_rnn_run, ig__misc_rnn_destroy, 0},
    {"", "GRU", 7, 0, FD, 0, "ref", ig__misc_gru_plan, ig__misc_rnn_run, ig__misc_rnn_destroy, 0},
    {"", "LSTM", 7, 0, FD, 0, "ref", ig__misc_lstm_plan, ig__misc_rnn_run, ig__misc_rnn_destroy, 0},
    {0},
};
