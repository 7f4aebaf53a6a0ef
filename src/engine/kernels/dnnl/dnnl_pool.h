/* oneDNN pooling and inference batch normalization kernels. */
#ifndef IG_ENGINE_KERNELS_DNNL_POOL_H
#define IG_ENGINE_KERNELS_DNNL_POOL_H

#include "engine/kernels/kernel.h"

int ig__dnnl_maxpool_plan(ig_kstep *s, ig_error *err);
int ig__dnnl_avgpool_plan(ig_kstep *s, ig_error *err);
int ig__dnnl_gavgpool_plan(ig_kstep *s, ig_error *err);
int ig__dnnl_gmaxpool_plan(ig_kstep *s, ig_error *err);
int ig__dnnl_bn_plan(ig_kstep *s, ig_error *err);
int ig__dnnl_pool_run(ig_kstep *s);
void ig__dnnl_pool_destroy(void *state);

#endif
