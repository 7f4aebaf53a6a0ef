/* Table of the fused kernels (see kernel.h): the com.infergate ops the load-time fusion pass
 * (graph/fuse.c) produces, run on oneDNN with their activations and residual adds as post-ops. */
#include "engine/kernels/dnnl/dnnl_conv.h"
#include "engine/kernels/dnnl/dnnl_matmul.h"
#include "engine/kernels/dnnl/dnnl_pool.h"
#include "engine/kernels/kernel.h"

#define F32 IG_TYPE(IG_DT_FLOAT)

const ig_kernel_def ig__kernels_fused[] = {
    {"com.infergate", "FusedConv", 1, 0, F32, 0, "dnnl", ig__dnnl_conv_plan, ig__dnnl_conv_run,
     ig__dnnl_conv_destroy, 0},
    {"com.infergate", "FusedMatMul", 1, 0, F32, 0, "dnnl", ig__dnnl_matmul_plan, ig__dnnl_mm_run,
     ig__dnnl_mm_destroy, 0},
    {"com.infergate", "FusedGemm", 1, 0, F32, 0, "dnnl", ig__dnnl_gemm_plan, ig__dnnl_mm_run,
     ig__dnnl_mm_destroy, 0},
    /* pooling between channels-last convolutions (nhwc_in / nhwc_out attributes) */
    {"com.infergate", "FusedMaxPool", 1, 0, F32, 0, "dnnl", ig__dnnl_maxpool_plan, ig__dnnl_pool_run,
     ig__dnnl_pool_destroy, 0},
    {"com.infergate", "FusedAveragePool", 1, 0, F32, 0, "dnnl", ig__dnnl_avgpool_plan, ig__dnnl_pool_run,
     ig__dnnl_pool_destroy, 0},
    {"com.infergate", "FusedGlobalAveragePool", 1, 0, F32, 0, "dnnl", ig__dnnl_gavgpool_plan,
     ig__dnnl_pool_run, ig__dnnl_pool_destroy, 0},
    {0},
};
