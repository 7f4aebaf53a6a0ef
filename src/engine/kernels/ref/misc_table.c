/* Table of the misc reference kernels (see kernel.h): resampling, detection, recurrent, signal and
 * random-number operators. */
#include <stdlib.h>

#include "engine/kernels/kernel.h"

#define PLAN(name) int ig__misc_##name##_plan(ig_kstep *s, ig_error *err);
#define RUN(name) int ig__misc_##name##_run(ig_kstep *s);

PLAN(resize) PLAN(upsample) RUN(resize) void ig__misc_resize_destroy(void *state);
PLAN(nms) RUN(nms) void ig__misc_nms_destroy(void *state);
PLAN(rnn)
PLAN(gru)
PLAN(lstm) RUN(rnn) PLAN(gridsample) RUN(gridsample) PLAN(roialign) RUN(roialign) PLAN(hann) PLAN(hamming)
    PLAN(blackman) RUN(window) PLAN(mel) RUN(mel) PLAN(dft) RUN(dft) PLAN(stft)
        RUN(stft) void ig__misc_dft_destroy(void *state);
PLAN(runiform)
PLAN(rnormal)
PLAN(runiform_like) PLAN(rnormal_like) PLAN(bernoulli) RUN(random)

    static void misc_free(void *state)
{
    free(state);
}

#define FD (IG_TYPE(IG_DT_FLOAT) | IG_TYPE(IG_DT_DOUBLE))
#define INTS32_64 (IG_TYPE(IG_DT_INT32) | IG_TYPE(IG_DT_INT64))
#define NOFOLD IG_KF_NO_FOLD

const ig_kernel_def ig__kernels_misc[] = {
    {"", "Resize", 10, 0, 0, 0, "ref", ig__misc_resize_plan, ig__misc_resize_run, ig__misc_resize_destroy, 0},
    {"", "Upsample", 7, 9, 0, 0, "ref", ig__misc_upsample_plan, ig__misc_resize_run, ig__misc_resize_destroy,
     0},
    {"", "NonMaxSuppression", 10, 0, FD, 0, "ref", ig__misc_nms_plan, ig__misc_nms_run, ig__misc_nms_destroy,
     0},
    {"", "RNN", 7, 0, FD, 0, "ref", ig__misc_rnn_plan, ig__misc_rnn_run, misc_free, 0},
    {"", "GRU", 7, 0, FD, 0, "ref", ig__misc_gru_plan, ig__misc_rnn_run, misc_free, 0},
    {"", "LSTM", 7, 0, FD, 0, "ref", ig__misc_lstm_plan, ig__misc_rnn_run, misc_free, 0},
    {"", "GridSample", 16, 0, FD, 0, "ref", ig__misc_gridsample_plan, ig__misc_gridsample_run, misc_free, 0},
    {"", "RoiAlign", 10, 0, FD, 0, "ref", ig__misc_roialign_plan, ig__misc_roialign_run, misc_free, 0},
    {"", "HannWindow", 17, 0, INTS32_64, 0, "ref", ig__misc_hann_plan, ig__misc_window_run, misc_free, 0},
    {"", "HammingWindow", 17, 0, INTS32_64, 0, "ref", ig__misc_hamming_plan, ig__misc_window_run, misc_free,
     0},
    {"", "BlackmanWindow", 17, 0, INTS32_64, 0, "ref", ig__misc_blackman_plan, ig__misc_window_run, misc_free,
     0},
    {"", "MelWeightMatrix", 17, 0, 0, 0, "ref", ig__misc_mel_plan, ig__misc_mel_run, misc_free, 0},
    {"", "DFT", 17, 0, FD, 0, "ref", ig__misc_dft_plan, ig__misc_dft_run, ig__misc_dft_destroy, 0},
    {"", "STFT", 17, 0, FD, 0, "ref", ig__misc_stft_plan, ig__misc_stft_run, ig__misc_dft_destroy, 0},
    {"", "RandomUniform", 1, 0, 0, 0, "ref", ig__misc_runiform_plan, ig__misc_random_run, misc_free, NOFOLD},
    {"", "RandomNormal", 1, 0, 0, 0, "ref", ig__misc_rnormal_plan, ig__misc_random_run, misc_free, NOFOLD},
    {"", "RandomUniformLike", 1, 0, 0, 0, "ref", ig__misc_runiform_like_plan, ig__misc_random_run, misc_free,
     NOFOLD},
    {"", "RandomNormalLike", 1, 0, 0, 0, "ref", ig__misc_rnormal_like_plan, ig__misc_random_run, misc_free,
     NOFOLD},
    {"", "Bernoulli", 15, 0, FD, 0, "ref", ig__misc_bernoulli_plan, ig__misc_random_run, misc_free, NOFOLD},
    {0},
};
