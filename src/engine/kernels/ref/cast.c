/* Cast and CastLike between every numeric dtype, bool, float16 and bfloat16, and from STRING.
 * One loop per (from, to) pair, generated from the type list; float -> integer saturates (NaN
 * gives 0) instead of hitting C's undefined conversion. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/elementwise.h"
#include "engine/kernels/ref/half.h"

/* X(DTYPE, C storage type, short name, loader, storer) */
#define CAST_TYPES_A(X, ...)                                                                                 \
    X(FLOAT, float, f32, LD_ID, ST_F32, __VA_ARGS__)                                                         \
    X(DOUBLE, double, f64, LD_ID, ST_F64, __VA_ARGS__)                                                       \
    X(FLOAT16, uint16_t, f16, LD_F16, ST_F16, __VA_ARGS__)                                                   \
    X(BFLOAT16, uint16_t, bf16, LD_BF16, ST_BF16, __VA_ARGS__)                                               \
    X(BOOL, uint8_t, b8, LD_ID, ST_BOOL, __VA_ARGS__)                                                        \
    X(INT8, int8_t, i8, LD_ID, ST_I8, __VA_ARGS__)                                                           \
    X(INT16, int16_t, i16, LD_ID, ST_I16, __VA_ARGS__)                                                       \
    X(INT32, int32_t, i32, LD_ID, ST_I32, __VA_ARGS__)                                                       \
    X(INT64, int64_t, i64, LD_ID, ST_I64, __VA_ARGS__)                                                       \
    X(UINT8, uint8_t, u8, LD_ID, ST_U8, __VA_ARGS__)                                                         \
    X(UINT16, uint16_t, u16, LD_ID, ST_U16, __VA_ARGS__)                                                     \
    X(UINT32, uint32_t, u32, LD_ID, ST_U32, __VA_ARGS__)                                                     \
    X(UINT64, uint64_t, u64, LD_ID, ST_U64, __VA_ARGS__)
/* the preprocessor will not expand a list inside itself, so the inner walk uses a twin */
#define CAST_TYPES_B(X, ...)                                                                                 \
    X(FLOAT, float, f32, LD_ID, ST_F32, __VA_ARGS__)                                                         \
    X(DOUBLE, double, f64, LD_ID, ST_F64, __VA_ARGS__)                                                       \
    X(FLOAT16, uint16_t, f16, LD_F16, ST_F16, __VA_ARGS__)                                                   \
    X(BFLOAT16, uint16_t, bf16, LD_BF16, ST_BF16, __VA_ARGS__)                                               \
    X(BOOL, uint8_t, b8, LD_ID, ST_BOOL, __VA_ARGS__)                                                        \
    X(INT8, int8_t, i8, LD_ID, ST_I8, __VA_ARGS__)                                                           \
    X(INT16, int16_t, i16, LD_ID, ST_I16, __VA_ARGS__)                                                       \
    X(INT32, int32_t, i32, LD_ID, ST_I32, __VA_ARGS__)                                                       \
    X(INT64, int64_t, i64, LD_ID, ST_I64, __VA_ARGS__)                                                       \
    X(UINT8, uint8_t, u8, LD_ID, ST_U8, __VA_ARGS__)                                                         \
    X(UINT16, uint16_t, u16, LD_ID, ST_U16, __VA_ARGS__)                                                     \
    X(UINT32, uint32_t, u32, LD_ID, ST_U32, __VA_ARGS__)                                                     \
    X(UINT64, uint64_t, u64, LD_ID, ST_U64, __VA_ARGS__)

#define LD_ID(v) (v)
#define LD_F16(v) ig_half_to_float(v)
#define LD_BF16(v) ig_bfloat16_to_float(v)

/* float -> integer saturates (NaN gives 0); integer -> integer wraps like numpy's astype */
#define SAT_FNS(T, S, lo, hi)                                                                                \
    static inline T sat_##S(double v)                                                                        \
    {                                                                                                        \
        return v != v ? 0 : v <= (double)(lo) ? (T)(lo) : v >= (double)(hi) ? (T)(hi) : (T)v;                \
    }                                                                                                        \
    static inline T wrap_##S(uint64_t v)                                                                     \
    {                                                                                                        \
        return (T)v;                                                                                         \
    }
SAT_FNS(int8_t, i8, INT8_MIN, INT8_MAX)
SAT_FNS(int16_t, i16, INT16_MIN, INT16_MAX)
SAT_FNS(int32_t, i32, INT32_MIN, INT32_MAX)
SAT_FNS(int64_t, i64, INT64_MIN, INT64_MAX)
SAT_FNS(uint8_t, u8, 0, UINT8_MAX)
SAT_FNS(uint16_t, u16, 0, UINT16_MAX)
SAT_FNS(uint32_t, u32, 0, UINT32_MAX)
SAT_FNS(uint64_t, u64, 0, UINT64_MAX)
#define TO_INT(S, v) _Generic((v), float : sat_##S, double : sat_##S, default : wrap_##S)(v)
#define ST_F32(v) ((float)(v))
#define ST_F64(v) ((double)(v))
#define ST_F16(v) ig_float_to_half((float)(v))
/* truncation, as the ONNX Cast test data expects */
#define ST_BF16(v) ig_float_to_bfloat16_trunc((float)(v))
#define ST_BOOL(v) ((uint8_t)((v) != 0))
#define ST_I8(v) TO_INT(i8, v)
#define ST_I16(v) TO_INT(i16, v)
#define ST_I32(v) TO_INT(i32, v)
#define ST_I64(v) TO_INT(i64, v)
#define ST_U8(v) TO_INT(u8, v)
#define ST_U16(v) TO_INT(u16, v)
#define ST_U32(v) TO_INT(u32, v)
#define ST_U64(v) TO_INT(u64, v)

#define CAST_LOOP(DT, T, S, LD, ST, SDT, ST_T, SS, SLD, SST)                                                 \
    static void cast_##SS##_##S(void *o_, const void *const *in, const int64_t *st, int64_t n,               \
                                const void *ctx)                                                             \
    {                                                                                                        \
        T *o = o_;                                                                                           \
        const ST_T *a = in[0];                                                                               \
        for (int64_t i = 0; i < n; i++) o[i] = ST(SLD(a[st[0] ? i : 0]));                                    \
    }
#define CAST_FROM(DT, T, S, LD, ST, unused) CAST_TYPES_B(CAST_LOOP, DT, T, S, LD, ST)
CAST_TYPES_A(CAST_FROM, 0)

#define CAST_ENTRY(DT, T, S, LD, ST, SDT, SS) [IG_DT_##DT] = cast_##SS##_##S,
#define CAST_ROW(DT, T, S, LD, ST, unused) [IG_DT_##DT] = {CAST_TYPES_B(CAST_ENTRY, DT, S)},
static const ig__bcast_fn cast_fns[IG_DT_COUNT][IG_DT_COUNT] = {CAST_TYPES_A(CAST_ROW, 0)};

/* STRING -> number: strtod accepts "NaN", "INF", "+INF", "-INF" as numpy does. */
static double parse(const ig_string *s)
{
    char buf[128];
    size_t n = s->len < sizeof buf - 1 ? s->len : sizeof buf - 1;
    memcpy(buf, s->ptr, n);
    buf[n] = 0;
    return strtod(buf, NULL);
}
#define CAST_STR(DT, T, S, LD, ST, unused)                                                                   \
    static void cast_str_##S(void *o_, const void *const *in, const int64_t *st, int64_t n, const void *ctx) \
    {                                                                                                        \
        T *o = o_;                                                                                           \
        const ig_string *a = in[0];                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            double v = parse(&a[st[0] ? i : 0]);                                                             \
            o[i] = ST(v);                                                                                    \
        }                                                                                                    \
    }
CAST_TYPES_A(CAST_STR, 0)
#define CAST_STR_ENTRY(DT, T, S, LD, ST, unused) [IG_DT_##DT] = cast_str_##S,
static const ig__bcast_fn cast_str_fns[IG_DT_COUNT] = {CAST_TYPES_A(CAST_STR_ENTRY, 0)};

static int plan_cast_to(ig_kstep *s, ig_error *err, int64_t to)
{
    if (s->n_in < 1 || !s->in[0]) return ig_kstep_fail(s, err, IG_EINVAL, "input 0 is missing");
    ig_dtype from = s->in[0]->dtype;
    if (to <= 0 || to >= IG_DT_COUNT)
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown target dtype %lld", (long long)to);
    ig__bcast_fn fns[IG_DT_COUNT] = {NULL};
    if (to == IG_DT_STRING && from != IG_DT_STRING) /* the next table row formats text */
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "Cast to STRING needs run-time allocation");
    if (from == IG_DT_STRING && to == IG_DT_STRING)
        fns[from] = ig__ew_copy_fn(sizeof(ig_string));
    else if (from == IG_DT_STRING)
        fns[from] = cast_str_fns[to];
    else if ((unsigned)from < IG_DT_COUNT)
        fns[from] = cast_fns[from][to];
    if (!fns[from])
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "Cast from %s to %s is not supported",
                             ig_dtype_name(from), ig_dtype_name((ig_dtype)to));
    ig__ew_spec spec = {.fns = fns, .out_dt = (ig_dtype)to, .n_in = 1, .raw = true};
    return ig__ew_plan(s, err, &spec, NULL);
}

int ig__ew_plan_cast(ig_kstep *s, ig_error *err)
{
    const ig_attr *to = ig_node_attr(s->node, "to");
    if (!to) return ig_kstep_fail(s, err, IG_EINVAL, "attribute 'to' is required");
    return plan_cast_to(s, err, to->i);
}

int ig__ew_plan_castlike(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[1]) return ig_kstep_fail(s, err, IG_EINVAL, "CastLike needs 2 inputs");
    return plan_cast_to(s, err, s->in[1]->dtype);
}
