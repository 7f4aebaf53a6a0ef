/* oneDNN matmul behind MatMul, Gemm and their fused com.infergate forms (FusedMatMul, FusedGemm). */
#ifndef IG_ENGINE_KERNELS_DNNL_MATMUL_H
#define IG_ENGINE_KERNELS_DNNL_MATMUL_H

#include "engine/kernels/kernel.h"

int ig__dnnl_matmul_plan(ig_kstep *s, ig_error *err);
int ig__dnnl_gemm_plan(ig_kstep *s, ig_error *err);
int ig__dnnl_mm_run(ig_kstep *s);
void ig__dnnl_mm_destroy(void *state);

#endif
