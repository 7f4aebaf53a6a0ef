/* Table of the elementwise reference kernels (see kernel.h). One row per op covering every opset;
 * plans read node->opset where behaviour changed (Clip's bounds). Dtypes are checked by the plans,
 * which name the unsupported type in their error. */
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/elementwise.h"

#define ROW(name, op) {"", name, 1, 0, 0, 0, "ref", ig__ew_plan_##op, ig__ew_run, ig__ew_destroy, 0},

const ig_kernel_def ig__kernels_elementwise[] = {
    ROW("Add", add) ROW("Sub", sub) ROW("Mul", mul) ROW("Div", div) ROW("Pow", pow) ROW("Mod", mod)
        ROW("BitShift", bitshift) ROW("PRelu", prelu) ROW("Sum", sum) ROW("Mean", mean) ROW("Max", max_)
            ROW("Min", min_) ROW("Equal", equal) ROW("Less", less) ROW("Greater", greater)
                ROW("LessOrEqual", less_equal) ROW("GreaterOrEqual", greater_equal) ROW("And", and_)
                    ROW("Or", or_) ROW("Xor", xor_) ROW("Not", not_) ROW("Where", where)
                        ROW("Expand", expand){"", "Clip", 1, 0, 0, 0, "ref", ig__ew_plan_clip,
                                              ig__ew_run_clip, ig__ew_destroy, 0},
    ROW("Abs", abs_) ROW("Neg", neg) ROW("Sign", sign) ROW("Reciprocal", reciprocal) ROW("Floor", floor_)
        ROW("Ceil", ceil_) ROW("Round", round_) ROW("Sqrt", sqrt_) ROW("Exp", exp_) ROW("Log", log_)
            ROW("Erf", erf_) ROW("Sin", sin_) ROW("Cos", cos_) ROW("Tan", tan_) ROW("Asin", asin_)
                ROW("Acos", acos_) ROW("Atan", atan_) ROW("Sinh", sinh_) ROW("Cosh", cosh_) ROW("Tanh", tanh_)
                    ROW("Asinh", asinh_) ROW("Acosh", acosh_) ROW("Atanh", atanh_) ROW("Sigmoid", sigmoid)
                        ROW("HardSigmoid", hardsigmoid) ROW("HardSwish", hardswish) ROW("Relu", relu)
                            ROW("LeakyRelu", leakyrelu) ROW("Elu", elu) ROW("Selu", selu) ROW("Celu", celu)
                                ROW("Softplus", softplus) ROW("Softsign", softsign)
                                    ROW("ThresholdedRelu", thresholdedrelu) ROW("Shrink", shrink)
                                        ROW("IsNaN", isnan_) ROW("IsInf", isinf_) ROW("Cast", cast)
                                            ROW("CastLike", castlike){0},
};
