/* Table of the reduce reference kernels (see kernel.h): reductions, arg/top-k selection, scans,
 * softmax family, einsum, determinant and the two classification losses. */
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/reduce_util.h"

#define RD_ROW(op, since, until, types, k)                                                                   \
    {                                                                                                        \
        "", op, since, until, types, 0, "ref", ig__rd_##k##_plan, ig__rd_##k##_run, ig__rd_free, 0           \
    }

#define RD_NUM (IG_TYPES_NUMERIC)
#define RD_FLT (IG_TYPES_FLOAT)

const ig_kernel_def ig__kernels_reduce[] = {
    RD_ROW("ReduceSum", 1, 0, RD_NUM, reduce),
    RD_ROW("ReduceMean", 1, 0, RD_NUM, reduce),
    RD_ROW("ReduceMax", 1, 0, RD_NUM | IG_TYPE(IG_DT_BOOL), reduce),
    RD_ROW("ReduceMin", 1, 0, RD_NUM | IG_TYPE(IG_DT_BOOL), reduce),
    RD_ROW("ReduceProd", 1, 0, RD_NUM, reduce),
    RD_ROW("ReduceL1", 1, 0, RD_NUM, reduce),
    RD_ROW("ReduceL2", 1, 0, RD_NUM, reduce),
    RD_ROW("ReduceLogSum", 1, 0, RD_NUM, reduce),
    RD_ROW("ReduceLogSumExp", 1, 0, RD_NUM, reduce),
    RD_ROW("ReduceSumSquare", 1, 0, RD_NUM, reduce),
    RD_ROW("ArgMax", 1, 0, RD_NUM, argminmax),
    RD_ROW("ArgMin", 1, 0, RD_NUM, argminmax),
    RD_ROW("CumSum", 11, 0, RD_NUM, cumsum),
    RD_ROW("TopK", 1, 0, RD_NUM, topk),
    RD_ROW("Softmax", 1, 0, RD_FLT, softmax),
    RD_ROW("LogSoftmax", 1, 0, RD_FLT, softmax),
    RD_ROW("Hardmax", 1, 0, RD_FLT, softmax),
    RD_ROW("Einsum", 12, 0, RD_NUM, einsum),
    RD_ROW("Det", 11, 0, RD_FLT, det),
    RD_ROW("NegativeLogLikelihoodLoss", 12, 0, RD_FLT, nll),
    RD_ROW("SoftmaxCrossEntropyLoss", 12, 0, RD_FLT, sce),
    {0},
};
