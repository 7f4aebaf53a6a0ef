/* oneDNN convolution, shared by the plain ONNX Conv kernel and the fused com.infergate FusedConv
 * (post-ops from the node's post_ops attributes; initializer weights packed once). */
#ifndef IG_ENGINE_KERNELS_DNNL_CONV_H
#define IG_ENGINE_KERNELS_DNNL_CONV_H

#include "engine/kernels/kernel.h"

int ig__dnnl_conv_plan(ig_kstep *s, ig_error *err);
int ig__dnnl_conv_run(ig_kstep *s);
void ig__dnnl_conv_destroy(void *state);

#endif
