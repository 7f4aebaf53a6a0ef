/* Table of the dnnl kernels (see kernel.h): f32 convolution, matmul/gemm, pooling and batch
 * normalization on oneDNN. Each plan declines (IG_EUNSUPPORTED) what the reference kernels handle. */
#include "engine/kernels/dnnl/dnnl_conv.h"
#include "engine/kernels/dnnl/dnnl_matmul.h"
#include "engine/kernels/dnnl/dnnl_pool.h"
#include "engine/kernels/kernel.h"

#define F32 IG_TYPE(IG_DT_FLOAT)

const ig_kernel_def ig__kernels_dnnl[] = {
    {"", "Conv", 1, 0, F32, 0, "dnnl", ig__dnnl_conv_plan, ig__dnnl_conv_run, ig__dnnl_conv_destroy, 0},
    {"", "MatMul", 1, 0, F32, 0, "dnnl", ig__dnnl_matmul_plan, ig__dnnl_mm_run, ig__dnnl_mm_destroy, 0},
    {"", "Gemm", 1, 0, F32, 0, "dnnl", ig__dnnl_gemm_plan, ig__dnnl_mm_run, ig__dnnl_mm_destroy, 0},
    {"", "MaxPool", 1, 0, F32, 0, "dnnl", ig__dnnl_maxpool_plan, ig__dnnl_pool_run, ig__dnnl_pool_destroy, 0},
    {"", "AveragePool", 1, 0, F32, 0, "dnnl", ig__dnnl_avgpool_plan, ig__dnnl_pool_run, ig__dnnl_pool_destroy,
     0},
    {"", "GlobalAveragePool", 1, 0, F32, 0, "dnnl", ig__dnnl_gavgpool_plan, ig__dnnl_pool_run,
     ig__dnnl_pool_destroy, 0},
    {"", "GlobalMaxPool", 1, 0, F32, 0, "dnnl", ig__dnnl_gmaxpool_plan, ig__dnnl_pool_run,
     ig__dnnl_pool_destroy, 0},
    {"", "BatchNormalization", 7, 0, F32, 0, "dnnl", ig__dnnl_bn_plan, ig__dnnl_pool_run,
     ig__dnnl_pool_destroy, 0},
    {0},
};
