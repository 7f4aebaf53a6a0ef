/* Binary and variadic arithmetic: Add Sub Mul Div Pow Mod BitShift PRelu, and Sum Mean Max Min
 * which fold any number of broadcast inputs. Signed integer arithmetic wraps through the wide
 * unsigned type U; integer division and modulo by 0 give 0 instead of trapping. */
#include <math.h>
#include <string.h>

#include "engine/kernels/ref/dtype_convert.h"
#include "engine/kernels/ref/elementwise.h"

#define BINARY_OP(op, LIST, ...)                                                                             \
    LIST(IG__EW_DEF_BINARY, op, __VA_ARGS__)                                                                 \
    static ig__ew_fns op##_fns = {LIST(IG__EW_ENTRY, op)};

BINARY_OP(add, IG__EW_NUMS, (U)x + (U)y)
BINARY_OP(sub, IG__EW_NUMS, (U)x - (U)y)
BINARY_OP(mul, IG__EW_NUMS, (U)x *(U)y)

IG__EW_FLOATS(IG__EW_DEF_BINARY, div, x / y)
IG__EW_SINTS(IG__EW_DEF_BINARY, div, y == 0 ? 0 : (y == -1 ? (T)(0 - (U)x) : (T)(x / y)))
IG__EW_UINTS(IG__EW_DEF_BINARY, div, y == 0 ? 0 : x / y)
static ig__ew_fns div_fns = {IG__EW_NUMS(IG__EW_ENTRY, div)};

/* numpy maximum/minimum: a NaN operand wins */
IG__EW_FLOATS(IG__EW_DEF_BINARY, max_, x != x || x > y ? x : y)
IG__EW_INTS(IG__EW_DEF_BINARY, max_, x > y ? x : y)
static ig__ew_fns max__fns = {IG__EW_NUMS(IG__EW_ENTRY, max_)};
IG__EW_FLOATS(IG__EW_DEF_BINARY, min_, x != x || x < y ? x : y)
IG__EW_INTS(IG__EW_DEF_BINARY, min_, x < y ? x : y)
static ig__ew_fns min__fns = {IG__EW_NUMS(IG__EW_ENTRY, min_)};

/* Mean's finish: scale the sum by 1/n */
IG__EW_FLOATS(IG__EW_DEF_UNARY, mean_fin, x *(T)c->d[0])
static ig__ew_fns mean_fin_fns = {IG__EW_FLOATS(IG__EW_ENTRY, mean_fin)};
static ig__ew_fns mean_fns = {IG__EW_FLOATS(IG__EW_ENTRY, add)}; /* Mean is float-only */

BINARY_OP(prelu, IG__EW_SIGNED, x < 0 ? x * y : x)

/* Mod: fmod=0 takes the divisor's sign (Python), fmod=1 the dividend's (C). x % -1 is 0 but traps
 * on INT_MIN, so it is answered without dividing. */
#define PYMOD_I(x, y)                                                                                        \
    ({                                                                                                       \
        T r_ = (y == 0 || y == (T)-1) ? 0 : (T)(x % y);                                                      \
        (r_ != 0 && ((r_ < 0) != (y < 0))) ? (T)(r_ + y) : r_;                                               \
    })
#define PYMOD_F(x, y)                                                                                        \
    ({                                                                                                       \
        T r_ = _Generic((x), float : fmodf, default : fmod)(x, y);                                           \
        (r_ != 0 && ((r_ < 0) != (y < 0))) ? r_ + y : r_;                                                    \
    })
IG__EW_FLOATS(IG__EW_DEF_BINARY, mod, PYMOD_F(x, y))
IG__EW_SINTS(IG__EW_DEF_BINARY, mod, PYMOD_I(x, y))
IG__EW_UINTS(IG__EW_DEF_BINARY, mod, y == 0 ? 0 : x % y)
static ig__ew_fns mod_fns = {IG__EW_NUMS(IG__EW_ENTRY, mod)};
IG__EW_FLOATS(IG__EW_DEF_BINARY, fmod_, _Generic((x), float : fmodf, default : fmod)(x, y))
IG__EW_SINTS(IG__EW_DEF_BINARY, fmod_, (y == 0 || y == (T)-1) ? 0 : x % y)
IG__EW_UINTS(IG__EW_DEF_BINARY, fmod_, y == 0 ? 0 : x % y)
static ig__ew_fns fmod__fns = {IG__EW_NUMS(IG__EW_ENTRY, fmod_)};

/* shifting by the type's width or more is undefined in C; ONNX means all bits shifted out */
IG__EW_UINTS(IG__EW_DEF_BINARY, shl, y >= sizeof(T) * 8 ? 0 : (T)((U)x << y))
static ig__ew_fns shl_fns = {IG__EW_UINTS(IG__EW_ENTRY, shl)};
IG__EW_UINTS(IG__EW_DEF_BINARY, shr, y >= sizeof(T) * 8 ? 0 : (T)(x >> y))
static ig__ew_fns shr_fns = {IG__EW_UINTS(IG__EW_ENTRY, shr)};

/* Pow */
static inline uint64_t ipow(uint64_t b, uint64_t e)
{
    uint64_t r = 1;
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return r;
}
/* negative exponents: only 1 and -1 have integer results; numpy errors, we answer 0 */
#define IPOW_S(x, y)                                                                                         \
    (y < 0 ? (x == 1 ? 1 : (x == -1 ? ((y & 1) ? -1 : 1) : 0)) : (T)ipow((uint64_t)x, (uint64_t)y))
IG__EW_FLOATS(IG__EW_DEF_BINARY, pow_, y == 2 ? x * x : _Generic((x), float : powf, default : pow)(x, y))
IG__EW_SINTS(IG__EW_DEF_BINARY, pow_, IPOW_S(x, y))
IG__EW_UINTS(IG__EW_DEF_BINARY, pow_, (T)ipow(x, y))
static ig__ew_fns pow__fns = {IG__EW_NUMS(IG__EW_ENTRY, pow_)};

/* Pow with base and exponent of different dtypes (rare): computed in double, output the base's
 * dtype. c->i holds the two dtypes as the loops see them. */
static void pow_mixed(void *o, const void *const *in, const int64_t *st, int64_t n, const void *ctx)
{
    const ig__ew_attrs *c = ctx;
    ig_dtype bdt = (ig_dtype)c->i[0], edt = (ig_dtype)c->i[1];
    for (int64_t i = 0; i < n; i++) {
        double b = ig__load_f64(in[0], bdt, st[0] ? i : 0), e = ig__load_f64(in[1], edt, st[1] ? i : 0);
        ig__store_f64(o, bdt, i, pow(b, e));
    }
}

static ig_dtype compute_dt(ig_dtype dt)
{
    return ig__ew_is_half(dt) ? IG_DT_FLOAT : dt;
}

#define PLAN_BINARY(op)                                                                                      \
    int ig__ew_plan_##op(ig_kstep *s, ig_error *err)                                                         \
    {                                                                                                        \
        ig__ew_spec spec = {.fns = op##_fns, .n_in = 2};                                                     \
        return ig__ew_plan(s, err, &spec, NULL);                                                             \
    }
PLAN_BINARY(add)
PLAN_BINARY(sub)
PLAN_BINARY(mul)
PLAN_BINARY(div)
PLAN_BINARY(prelu)

#define PLAN_VARIADIC(op, fns_, fin_)                                                                        \
    int ig__ew_plan_##op(ig_kstep *s, ig_error *err)                                                         \
    {                                                                                                        \
        ig__ew_spec spec = {.fns = fns_, .variadic = true, .fin = fin_};                                     \
        return ig__ew_plan(s, err, &spec, NULL);                                                             \
    }
PLAN_VARIADIC(sum, add_fns, NULL)
PLAN_VARIADIC(mean, mean_fns, mean_fin_fns)
PLAN_VARIADIC(max_, max__fns, NULL)
PLAN_VARIADIC(min_, min__fns, NULL)

int ig__ew_plan_mod(ig_kstep *s, ig_error *err)
{
    int64_t f = ig_node_attr_int(s->node, "fmod", 0);
    if (f != 0 && f != 1)
        return ig_kstep_fail(s, err, IG_EINVAL, "fmod must be 0 or 1, got %lld", (long long)f);
    ig__ew_spec spec = {.fns = f ? fmod__fns : mod_fns, .n_in = 2};
    return ig__ew_plan(s, err, &spec, NULL);
}

int ig__ew_plan_bitshift(ig_kstep *s, ig_error *err)
{
    const char *dir = ig_node_attr_str(s->node, "direction", "");
    bool left = !strcmp(dir, "LEFT");
    if (!left && strcmp(dir, "RIGHT"))
        return ig_kstep_fail(s, err, IG_EINVAL, "direction must be LEFT or RIGHT, got '%s'", dir);
    ig__ew_spec spec = {.fns = left ? shl_fns : shr_fns, .n_in = 2};
    return ig__ew_plan(s, err, &spec, NULL);
}

int ig__ew_plan_pow(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[0] || !s->in[1]) return ig_kstep_fail(s, err, IG_EINVAL, "Pow needs 2 inputs");
    ig_dtype b = compute_dt(s->in[0]->dtype), e = compute_dt(s->in[1]->dtype);
    if (b == e) {
        ig__ew_spec spec = {.fns = pow__fns, .n_in = 2, .mixed = true};
        return ig__ew_plan(s, err, &spec, NULL);
    }
    static ig__ew_fns numeric = {IG__EW_NUMS(IG__EW_ENTRY, pow_)};
    if (!numeric[b] || !numeric[e])
        return ig_kstep_fail(s, err, IG_EDTYPE, "Pow of %s by %s is not supported",
                             ig_dtype_name(s->in[0]->dtype), ig_dtype_name(s->in[1]->dtype));
    ig__bcast_fn mixed[IG_DT_COUNT] = {[0] = NULL};
    mixed[b] = pow_mixed;
    ig__ew_attrs a = {.i = {b, e}};
    ig__ew_spec spec = {.fns = mixed, .n_in = 2, .mixed = true};
    return ig__ew_plan(s, err, &spec, &a);
}
