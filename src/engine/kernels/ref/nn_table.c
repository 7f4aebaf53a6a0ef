/* Table of the nn reference kernels (see kernel.h). */
#include <stdlib.h>

#include "engine/kernels/kernel.h"

/* X(name): each nn_*.c file defines ig__<name>_plan and ig__<name>_run. */
#define IG__NN_KERNELS(X)                                                                                    \
    X(conv)                                                                                                  \
    X(convtranspose)                                                                                         \
    X(maxpool)                                                                                               \
    X(averagepool)                                                                                           \
    X(lppool) X(globalmaxpool) X(globalaveragepool) X(globallppool) X(maxunpool) X(maxroipool) X(matmul)     \
        X(matmulinteger) X(qlinearmatmul) X(gemm)

#define IG__NN_DECL(k)                                                                                       \
    int ig__##k##_plan(ig_kstep *s, ig_error *err);                                                          \
    int ig__##k##_run(ig_kstep *s);
IG__NN_KERNELS(IG__NN_DECL)
#undef IG__NN_DECL

#define F32_F64 (IG_TYPE(IG_DT_FLOAT) | IG_TYPE(IG_DT_DOUBLE))
#define U8_I8 (IG_TYPE(IG_DT_UINT8) | IG_TYPE(IG_DT_INT8))
#define ROW(op, since, until, types, k)                                                                      \
    {                                                                                                        \
        "", op, since, until, types, 0, "ref", ig__##k##_plan, ig__##k##_run, free, 0                        \
    }

const ig_kernel_def ig__kernels_nn[] = {
    ROW("Conv", 1, 0, F32_F64, conv),
    ROW("ConvTranspose", 1, 0, F32_F64, convtranspose),
    ROW("MaxPool", 1, 11, F32_F64, maxpool),
    ROW("MaxPool", 12, 0, F32_F64 | IG_TYPE(IG_DT_INT8) | IG_TYPE(IG_DT_UINT8), maxpool),
    ROW("AveragePool", 1, 0, F32_F64, averagepool),
    ROW("LpPool", 1, 0, F32_F64, lppool),
    ROW("GlobalMaxPool", 1, 0, F32_F64, globalmaxpool),
    ROW("GlobalAveragePool", 1, 0, F32_F64, globalaveragepool),
    ROW("GlobalLpPool", 1, 0, F32_F64, globallppool),
    ROW("MaxUnpool", 9, 0, F32_F64, maxunpool),
    ROW("MaxRoiPool", 1, 0, F32_F64, maxroipool),
    ROW("MatMul", 1, 0, F32_F64, matmul),
    ROW("MatMulInteger", 10, 0, U8_I8, matmulinteger),
    ROW("QLinearMatMul", 10, 0, U8_I8, qlinearmatmul),
    ROW("Gemm", 1, 0, F32_F64, gemm),
    {0},
};
