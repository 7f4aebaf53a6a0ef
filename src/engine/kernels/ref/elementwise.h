/* Shared machinery of the elementwise kernels: dtype lists that generate typed loops, the loop
 * shapes (unary, binary with scalar/contiguous operands), and the common plan/run that broadcasts,
 * folds variadic inputs and computes float16/bfloat16 in float. */
#ifndef IG_ENGINE_KERNELS_REF_ELEMENTWISE_H
#define IG_ENGINE_KERNELS_REF_ELEMENTWISE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"

/* Hot float loops get AVX-512 and AVX2 clones picked once at load time. Sanitizer builds skip them
 * (ifunc resolvers run before the ASan runtime is up). */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__clang__)
#define IG__HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define IG__HOT
/* Plan functions of the table (run is ig__ew_run unless named). */
#define IG__EW_PLANS(X)                                                                                      \
    X(add)                                                                                                   \
    X(sub)                                                                                                   \
    X(mul) X(div) X(pow) X(mod) X(bitshift) X(prelu) X(sum) X(mean) X(max_) X(min_) X(equal) X(less)         \
        X(greater) X(less_equal) X(greater_equal) X(and_) X(or_) X(xor_) X(not_) X(where) X(expand) X(clip)  \
            X(abs_) X(neg) X(sign) X(reciprocal) X(floor_) X(ceil_) X(round_) X(sqrt_) X(exp_) X(log_)       \
                X(erf_) X(sin_) X(cos_) X(tan_) X(asin_) X(acos_) X(atan_) X(sinh_) X(cosh_) X(tanh_)        \
                    X(asinh_) X(acosh_) X(atanh_) X(sigmoid) X(hardsigmoid) X(hardswish) X(relu)             \
                        X(leakyrelu) X(elu) X(selu) X(celu) X(softplus) X(softsign) X(thresholdedrelu)       \
                            X(shrink) X(isnan_) X(isinf_) X(cast) X(castlike)
#define IG__EW_DECLARE_PLAN(op) int ig__ew_plan_##op(ig_kstep *s, ig_error *err);
IG__EW_PLANS(IG__EW_DECLARE_PLAN)
#undef IG__EW_DECLARE_PLAN
int ig__ew_run_clip(ig_kstep *s);
/* Cast to STRING, an IG_KF_ALLOCS_OUTPUTS kernel tried after the plain Cast declines. */
int ig__ew_run_cast_string(ig_kstep *s);

#endif

/* Type lists: X(DTYPE suffix, C type, short name, wide unsigned type for wrapping arithmetic,
 * function attributes, extra...). */
#define IG__EW_FLOATS(X, ...)                                                                                \
    X(FLOAT, float, f32, float, IG__HOT, __VA_ARGS__) X(DOUBLE, double, f64, double, , __VA_ARGS__)
#define IG__EW_SINTS(X, ...)                                                                                 \
    X(INT8, int8_t, i8, uint32_t, , __VA_ARGS__)                                                             \
    X(INT16, int16_t, i16, uint32_t, , __VA_ARGS__)                                                          \
    X(INT32, int32_t, i32, uint32_t, , __VA_ARGS__)                                                          \
    X(INT64, int64_t, i64, uint64_t, , __VA_ARGS__)
#define IG__EW_UINTS(X, ...)                                                                                 \
    X(UINT8, uint8_t, u8, uint32_t, , __VA_ARGS__)                                                           \
    X(UINT16, uint16_t, u16, uint32_t, , __VA_ARGS__)                                                        \
    X(UINT32, uint32_t, u32, uint32_t, , __VA_ARGS__)                                                        \
    X(UINT64, uint64_t, u64, uint64_t, , __VA_ARGS__)
#define IG__EW_INTS(X, ...) IG__EW_SINTS(X, __VA_ARGS__) IG__EW_UINTS(X, __VA_ARGS__)
#define IG__EW_NUMS(X, ...) IG__EW_FLOATS(X, __VA_ARGS__) IG__EW_INTS(X, __VA_ARGS__)
#define IG__EW_SIGNED(X, ...) IG__EW_FLOATS(X, __VA_ARGS__) IG__EW_SINTS(X, __VA_ARGS__)
#define IG__EW_BOOL(X, ...) X(BOOL, uint8_t, b8, uint32_t, , __VA_ARGS__)

/* Op parameters the typed loops read through ctx. */
typedef struct ig__ew_attrs {
    float f[4];
    double d[2];
    int64_t i[2];
    const void *p[2]; /* run-time operands (Clip's bounds), NULL when absent */
} ig__ew_attrs;

/* Loop bodies: EXPR computes the output element from x (and y) of type TI; c is the attrs. */
#define IG__EW_UNARY(name, TI, TO, UU, ATTR, EXPR)                                                           \
    ATTR static void name(void *o_, const void *const *in_, const int64_t *st_, int64_t n_, const void *ctx) \
    {                                                                                                        \
        TO *o = o_;                                                                                          \
        const TI *a_ = in_[0];                                                                               \
        const ig__ew_attrs *c = ctx;                                                                         \
        typedef TI T __attribute__((unused));                                                                \
        typedef UU U __attribute__((unused));                                                                \
        (void)c;                                                                                             \
        if (st_[0]) {                                                                                        \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                                            \
                TI x = a_[i_];                                                                               \
                o[i_] = (TO)(EXPR);                                                                          \
            }                                                                                                \
        } else {                                                                                             \
            TI x = a_[0];                                                                                    \
            TO r_ = (TO)(EXPR);                                                                              \
            for (int64_t i_ = 0; i_ < n_; i_++) o[i_] = r_;                                                  \
        }                                                                                                    \
    }

#define IG__EW_BINARY(name, TI, TJ, TO, UU, ATTR, EXPR)                                                      \
    ATTR static void name(void *o_, const void *const *in_, const int64_t *st_, int64_t n_, const void *ctx) \
    {                                                                                                        \
        TO *o = o_;                                                                                          \
        const TI *a_ = in_[0];                                                                               \
        const TJ *b_ = in_[1];                                                                               \
        const ig__ew_attrs *c = ctx;                                                                         \
        typedef TI T __attribute__((unused));                                                                \
        typedef UU U __attribute__((unused));                                                                \
        (void)c;                                                                                             \
        if (st_[0] && st_[1]) {                                                                              \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                                            \
                TI x = a_[i_];                                                                               \
                TJ y = b_[i_];                                                                               \
                o[i_] = (TO)(EXPR);                                                                          \
            }                                                                                                \
        } else if (st_[0]) {                                                                                 \
            TJ y = b_[0];                                                                                    \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                                            \
                TI x = a_[i_];                                                                               \
                o[i_] = (TO)(EXPR);                                                                          \
            }                                                                                                \
        } else if (st_[1]) {                                                                                 \
            TI x = a_[0];                                                                                    \
            for (int64_t i_ = 0; i_ < n_; i_++) {                                                            \
                TJ y = b_[i_];                                                                               \
                o[i_] = (TO)(EXPR);                                                                          \
            }                                                                                                \
        } else {                                                                                             \
            TI x = a_[0];                                                                                    \
            TJ y = b_[0];                                                                                    \
            TO r_ = (TO)(EXPR);                                                                              \
            for (int64_t i_ = 0; i_ < n_; i_++) o[i_] = r_;                                                  \
        }                                                                                                    \
    }

/* Adapters for the type lists: one loop per type named op_<short>, and the dtype-indexed table. */
#define IG__EW_DEF_UNARY(DT, T, S, U, HOT, op, ...) IG__EW_UNARY(op##_##S, T, T, U, HOT, (__VA_ARGS__))
#define IG__EW_DEF_UNARY_BOOL(DT, T, S, U, HOT, op, ...)                                                     \
    IG__EW_UNARY(op##_##S, T, uint8_t, U, HOT, (__VA_ARGS__))
#define IG__EW_DEF_BINARY(DT, T, S, U, HOT, op, ...) IG__EW_BINARY(op##_##S, T, T, T, U, HOT, (__VA_ARGS__))
#define IG__EW_DEF_BINARY_BOOL(DT, T, S, U, HOT, op, ...)                                                    \
    IG__EW_BINARY(op##_##S, T, T, uint8_t, U, HOT, (__VA_ARGS__))
#define IG__EW_ENTRY(DT, T, S, U, HOT, op) [IG_DT_##DT] = op##_##S,

typedef const ig__bcast_fn ig__ew_fns[IG_DT_COUNT];

/* What the common plan needs to know about an op. */
typedef struct ig__ew_spec {
    const ig__bcast_fn *fns;     /* typed loops indexed by the dtype of input 0 */
    ig_dtype out_dt;             /* output dtype; UNDEFINED = that of input 0 */
    bool variadic;               /* fold any number of inputs with fns (Sum, Max, ...) */
    const ig__bcast_fn *fin;     /* variadic: applied to the result with c->f[0] = 1/n (Mean) */
    bool mixed;                  /* inputs may differ in dtype (fns then picked by the caller) */
    int n_in;                    /* inputs taking part (0 = all present) */
    bool raw;                    /* loops take float16/bfloat16 as they are (copies, selects) */
    const ig_tensor *shape_only; /* also broadcast the output to this shape (Expand) */
} ig__ew_spec;

/* Validates dtypes, broadcasts, chooses the loop (float16/bfloat16 promoted to float) and sets the
 * output. attrs may be NULL. */
int ig__ew_plan(ig_kstep *s, ig_error *err, const ig__ew_spec *spec, const ig__ew_attrs *attrs);
int ig__ew_run(ig_kstep *s);
/* Runs with a, rather than the planned attributes (values only known at run time). */
int ig__ew_run_with(ig_kstep *s, const ig__ew_attrs *a);
const ig__ew_attrs *ig__ew_planned_attrs(const void *state);
void ig__ew_destroy(void *state);

/* Copies by element size (1, 2, 4, 8 or 16 bytes), for Expand, one-input Sum and the like. */
ig__bcast_fn ig__ew_copy_fn(size_t es);

/* true when plan may compute this dtype in float (float16, bfloat16). */
static inline bool ig__ew_is_half(ig_dtype dt)
{
    return dt == IG_DT_FLOAT16 || dt == IG_DT_BFLOAT16;
}

/* Converts n float16/bfloat16 elements to float and back, threaded for large n. */
void ig__ew_half_to_float(ig_dtype dt, const void *src, float *dst, int64_t n, int n_threads);
void ig__ew_float_to_half(ig_dtype dt, const float *src, void *dst, int64_t n, int n_threads);

/* Plan functions of the table (run is ig__ew_run unless named). */
#define IG__EW_PLANS(X)                                                                                      \
    X(add)                                                                                                   \
    X(sub)                                                                                                   \
    X(mul) X(div) X(pow) X(mod) X(bitshift) X(prelu) X(sum) X(mean) X(max_) X(min_) X(equal) X(less)         \
        X(greater) X(less_equal) X(greater_equal) X(and_) X(or_) X(xor_) X(not_) X(where) X(expand) X(clip)  \
            X(abs_) X(neg) X(sign) X(reciprocal) X(floor_) X(ceil_) X(round_) X(sqrt_) X(exp_) X(log_)       \
                X(erf_) X(sin_) X(cos_) X(tan_) X(asin_) X(acos_) X(atan_) X(sinh_) X(cosh_) X(tanh_)        \
                    X(asinh_) X(acosh_) X(atanh_) X(sigmoid) X(hardsigmoid) X(hardswish) X(relu)             \
                        X(leakyrelu) X(elu) X(selu) X(celu) X(softplus) X(softsign) X(thresholdedrelu)       \
                            X(shrink) X(isnan_) X(isinf_) X(cast) X(castlike)
#define IG__EW_DECLARE_PLAN(op) int ig__ew_plan_##op(ig_kstep *s, ig_error *err);
IG__EW_PLANS(IG__EW_DECLARE_PLAN)
#undef IG__EW_DECLARE_PLAN
int ig__ew_run_clip(ig_kstep *s);
/* Cast to STRING, an IG_KF_ALLOCS_OUTPUTS kernel tried after the plain Cast declines. */
int ig__ew_run_cast_string(ig_kstep *s);

#endif
