/* Unary elementwise operators: arithmetic (Abs, Neg, Sign, Reciprocal, rounding), math functions,
 * activations with their attributes, IsNaN/IsInf and Not. float uses vectorisable approximations
 * for exp, erf, tanh and sigmoid; double uses libm. */
#include <math.h>
#include <string.h>

#include "engine/kernels/ref/elementwise.h"
#include "engine/kernels/ref/elementwise_vmath.h"

/* libm by argument type; float exp-family calls go to the vectorisable versions */
#define M(fn, x) _Generic((x), float : fn##f, default : fn)(x)
#define M_EXP(x) _Generic((x), float : ig__expf, default : exp)(x)
#define M_EXPM1(x) _Generic((x), float : ig__expm1f, default : expm1)(x)
#define M_TANH(x) _Generic((x), float : ig__tanhf, default : tanh)(x)
#define M_ERF(x) _Generic((x), float : ig__erff, default : erf)(x)

/* Each op: a typed loop per dtype in its list and a dtype-indexed table named <op>_fns. */
#define UNARY_OP(op, LIST, ...)                                                                              \
    LIST(IG__EW_DEF_UNARY, op, __VA_ARGS__)                                                                  \
    static ig__ew_fns op##_fns = {LIST(IG__EW_ENTRY, op)};

/* Negation goes through the wide unsigned type U so INT_MIN wraps instead of overflowing (floats
 * have U == T). Unsigned types have no negative values to handle. */
#define ABS_U(DT, T, S, U, HOT, op) IG__EW_UNARY(abs__##S, T, T, U, HOT, x)
#define SIGN_U(DT, T, S, U, HOT, op) IG__EW_UNARY(sign_##S, T, T, U, HOT, x > 0)
IG__EW_SIGNED(IG__EW_DEF_UNARY, abs_, x < 0 ? (0 - (U)x) : x)
IG__EW_UINTS(ABS_U, abs_)
static ig__ew_fns abs__fns = {IG__EW_NUMS(IG__EW_ENTRY, abs_)};
IG__EW_SIGNED(IG__EW_DEF_UNARY, sign, x > 0 ? 1 : (x < 0 ? -1 : x))
IG__EW_UINTS(SIGN_U, sign)
static ig__ew_fns sign_fns = {IG__EW_NUMS(IG__EW_ENTRY, sign)};
UNARY_OP(neg, IG__EW_SIGNED, 0 - (U)x)
UNARY_OP(reciprocal, IG__EW_FLOATS, 1 / x)
UNARY_OP(floor_, IG__EW_FLOATS, M(floor, x))
UNARY_OP(ceil_, IG__EW_FLOATS, M(ceil, x))
UNARY_OP(round_, IG__EW_FLOATS, M(nearbyint, x))
UNARY_OP(sqrt_, IG__EW_FLOATS, M(sqrt, x))
UNARY_OP(exp_, IG__EW_FLOATS, M_EXP(x))
UNARY_OP(log_, IG__EW_FLOATS, M(log, x))
UNARY_OP(erf_, IG__EW_FLOATS, M_ERF(x))
UNARY_OP(sin_, IG__EW_FLOATS, M(sin, x))
UNARY_OP(cos_, IG__EW_FLOATS, M(cos, x))
UNARY_OP(tan_, IG__EW_FLOATS, M(tan, x))
UNARY_OP(asin_, IG__EW_FLOATS, M(asin, x))
UNARY_OP(acos_, IG__EW_FLOATS, M(acos, x))
UNARY_OP(atan_, IG__EW_FLOATS, M(atan, x))
UNARY_OP(sinh_, IG__EW_FLOATS, M(sinh, x))
UNARY_OP(cosh_, IG__EW_FLOATS, M(cosh, x))
UNARY_OP(tanh_, IG__EW_FLOATS, M_TANH(x))
UNARY_OP(asinh_, IG__EW_FLOATS, M(asinh, x))
UNARY_OP(acosh_, IG__EW_FLOATS, M(acosh, x))
UNARY_OP(atanh_, IG__EW_FLOATS, M(atanh, x))
UNARY_OP(sigmoid, IG__EW_FLOATS, 1 / (1 + M_EXP(-x)))
UNARY_OP(relu, IG__EW_SIGNED, x < 0 ? 0 : x)
UNARY_OP(leakyrelu, IG__EW_FLOATS, x < 0 ? x * (T)c->f[0] : x)
UNARY_OP(elu, IG__EW_FLOATS, x < 0 ? (T)c->f[0] * M_EXPM1(x) : x)
UNARY_OP(selu, IG__EW_FLOATS, x <= 0 ? (T)c->f[1] * ((T)c->f[0] * M_EXPM1(x)) : (T)c->f[1] * x)
UNARY_OP(celu, IG__EW_FLOATS, (x > 0 ? x : 0) + (x < 0 ? (T)c->f[0] * M_EXPM1(x / (T)c->f[0]) : 0))
#define CLAMP01(v)                                                                                           \
    ({                                                                                                       \
        T v_ = (v);                                                                                          \
        v_ < 0 ? 0 : (v_ > 1 ? 1 : v_);                                                                      \
    })
UNARY_OP(hardsigmoid, IG__EW_FLOATS, CLAMP01((T)c->f[0] * x + (T)c->f[1]))
UNARY_OP(hardswish, IG__EW_FLOATS, x *CLAMP01(x *(T)(1.0 / 6) + (T)0.5))
UNARY_OP(softplus, IG__EW_FLOATS, x > 0 ? x + M(log1p, M_EXP(-x)) : M(log1p, M_EXP(x)))
UNARY_OP(softsign, IG__EW_FLOATS, x / (1 + (x < 0 ? -x : x)))
UNARY_OP(thresholdedrelu, IG__EW_FLOATS, x > (T)c->f[0] ? x : 0)
UNARY_OP(shrink, IG__EW_NUMS,
         x < -(double)c->f[0] ? (T)(x + (double)c->f[1])
                              : (x > (double)c->f[0] ? (T)(x - (double)c->f[1]) : 0))

#define PRED_OP(op, LIST, ...)                                                                               \
    LIST(IG__EW_DEF_UNARY_BOOL, op, __VA_ARGS__)                                                             \
    static ig__ew_fns op##_fns = {LIST(IG__EW_ENTRY, op)};
PRED_OP(isnan_, IG__EW_FLOATS, x != x)
PRED_OP(isinf_, IG__EW_FLOATS, (c->i[0] && x == (T)INFINITY) || (c->i[1] && x == -(T)INFINITY))
PRED_OP(not_, IG__EW_BOOL, !x)

static int plan_with(ig_kstep *s, ig_error *err, const ig__bcast_fn *fns, ig_dtype out_dt,
                     const ig__ew_attrs *a)
{
    ig__ew_spec spec = {.fns = fns, .out_dt = out_dt, .n_in = 1};
    return ig__ew_plan(s, err, &spec, a);
}

#define PLAN_SIMPLE(op)                                                                                      \
    int ig__ew_plan_##op(ig_kstep *s, ig_error *err)                                                         \
    {                                                                                                        \
        return plan_with(s, err, op##_fns, IG_DT_UNDEFINED, NULL);                                           \
    }
PLAN_SIMPLE(abs_)
PLAN_SIMPLE(neg)
PLAN_SIMPLE(sign)
PLAN_SIMPLE(reciprocal)
PLAN_SIMPLE(floor_)
PLAN_SIMPLE(ceil_)
PLAN_SIMPLE(round_)
PLAN_SIMPLE(sqrt_)
PLAN_SIMPLE(exp_)
PLAN_SIMPLE(log_)
PLAN_SIMPLE(erf_)
PLAN_SIMPLE(sin_)
PLAN_SIMPLE(cos_)
PLAN_SIMPLE(tan_)
PLAN_SIMPLE(asin_)
PLAN_SIMPLE(acos_)
PLAN_SIMPLE(atan_)
PLAN_SIMPLE(sinh_)
PLAN_SIMPLE(cosh_)
PLAN_SIMPLE(tanh_)
PLAN_SIMPLE(asinh_)
PLAN_SIMPLE(acosh_)
PLAN_SIMPLE(atanh_)
PLAN_SIMPLE(sigmoid)
PLAN_SIMPLE(relu)
PLAN_SIMPLE(hardswish)
PLAN_SIMPLE(softplus)
PLAN_SIMPLE(softsign)

int ig__ew_plan_not_(ig_kstep *s, ig_error *err)
{
    return plan_with(s, err, not__fns, IG_DT_BOOL, NULL);
}

int ig__ew_plan_isnan_(ig_kstep *s, ig_error *err)
{
    return plan_with(s, err, isnan__fns, IG_DT_BOOL, NULL);
}

int ig__ew_plan_isinf_(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {.i = {ig_node_attr_int(s->node, "detect_positive", 1),
                            ig_node_attr_int(s->node, "detect_negative", 1)}};
    return plan_with(s, err, isinf__fns, IG_DT_BOOL, &a);
}

int ig__ew_plan_leakyrelu(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {.f = {ig_node_attr_float(s->node, "alpha", 0.01f)}};
    return plan_with(s, err, leakyrelu_fns, IG_DT_UNDEFINED, &a);
}

int ig__ew_plan_elu(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {.f = {ig_node_attr_float(s->node, "alpha", 1.0f)}};
    return plan_with(s, err, elu_fns, IG_DT_UNDEFINED, &a);
}

int ig__ew_plan_selu(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {.f = {ig_node_attr_float(s->node, "alpha", 1.67326319217681884765625f),
                            ig_node_attr_float(s->node, "gamma", 1.05070102214813232421875f)}};
    return plan_with(s, err, selu_fns, IG_DT_UNDEFINED, &a);
}

int ig__ew_plan_celu(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {.f = {ig_node_attr_float(s->node, "alpha", 1.0f)}};
    if (a.f[0] == 0) return ig_kstep_fail(s, err, IG_EINVAL, "alpha must not be 0");
    return plan_with(s, err, celu_fns, IG_DT_UNDEFINED, &a);
}

int ig__ew_plan_hardsigmoid(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {
        .f = {ig_node_attr_float(s->node, "alpha", 0.2f), ig_node_attr_float(s->node, "beta", 0.5f)}};
    return plan_with(s, err, hardsigmoid_fns, IG_DT_UNDEFINED, &a);
}

int ig__ew_plan_thresholdedrelu(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {.f = {ig_node_attr_float(s->node, "alpha", 1.0f)}};
    return plan_with(s, err, thresholdedrelu_fns, IG_DT_UNDEFINED, &a);
}

int ig__ew_plan_shrink(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {
        .f = {ig_node_attr_float(s->node, "lambd", 0.5f), ig_node_attr_float(s->node, "bias", 0.0f)}};
    return plan_with(s, err, shrink_fns, IG_DT_UNDEFINED, &a);
}
