/* Sliding-window geometry shared by the convolution and pooling kernels: ONNX kernel/stride/
 * dilation/pad/auto_pad/ceil_mode attributes turned into oneDNN's explicit left/right padding. */
#ifndef IG_ENGINE_KERNELS_DNNL_WINDOW_H
#define IG_ENGINE_KERNELS_DNNL_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/kernels/kernel.h"

typedef struct ig__dnnl_window {
    int ns; /* spatial dims, 1..3 */
    int64_t k[3], s[3], d[3], pl[3], pr[3], out[3];
} ig__dnnl_window;

/* in: the ns spatial input sizes; k: kernel sizes. Fills w (d is ONNX dilation, >= 1). Returns 0 or
 * an IG_E* with err set through s. */
int ig__dnnl_window_init(const ig_kstep *s, ig_error *err, int ns, const int64_t *in, const int64_t *k,
                         bool ceil_mode, ig__dnnl_window *w);

#endif
