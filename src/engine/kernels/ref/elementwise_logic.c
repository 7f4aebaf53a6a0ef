/* Comparisons (Equal Less Greater LessOrEqual GreaterOrEqual) producing bool, the boolean ops
 * And Or Xor, and Where, which selects by element size so it serves every dtype. */
#include "engine/kernels/ref/elementwise.h"

#define CMP_OP(op, LIST, ...)                                                                                \
    LIST(IG__EW_DEF_BINARY_BOOL, op, __VA_ARGS__)                                                            \
    static ig__ew_fns op##_fns = {LIST(IG__EW_ENTRY, op)};
#define NUMS_BOOL(X, ...) IG__EW_NUMS(X, __VA_ARGS__) IG__EW_BOOL(X, __VA_ARGS__)

CMP_OP(equal, NUMS_BOOL, x == y)
CMP_OP(less, IG__EW_NUMS, x < y)
CMP_OP(greater, IG__EW_NUMS, x > y)
CMP_OP(less_equal, IG__EW_NUMS, x <= y)
CMP_OP(greater_equal, IG__EW_NUMS, x >= y)
CMP_OP(and_, IG__EW_BOOL, x &&y)
CMP_OP(or_, IG__EW_BOOL, x || y)
CMP_OP(xor_, IG__EW_BOOL, (x != 0) != (y != 0))

#define PLAN_CMP(op)                                                                                         \
    int ig__ew_plan_##op(ig_kstep *s, ig_error *err)                                                         \
    {                                                                                                        \
        ig__ew_spec spec = {.fns = op##_fns, .out_dt = IG_DT_BOOL, .n_in = 2};                               \
        return ig__ew_plan(s, err, &spec, NULL);                                                             \
    }
PLAN_CMP(equal)
PLAN_CMP(less)
PLAN_CMP(greater)
PLAN_CMP(less_equal)
PLAN_CMP(greater_equal)
PLAN_CMP(and_)
PLAN_CMP(or_)
PLAN_CMP(xor_)

typedef struct {
    uint64_t lo, hi;
} u128;

#define WHERE_FN(name, T)                                                                                    \
    static void name(void *o_, const void *const *in, const int64_t *st, int64_t n, const void *ctx)         \
    {                                                                                                        \
        T *o = o_;                                                                                           \
        const uint8_t *cnd = in[0];                                                                          \
        const T *x = in[1], *y = in[2];                                                                      \
        if (st[0] && st[1] && st[2]) {                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = cnd[i] ? x[i] : y[i];                                     \
        } else {                                                                                             \
            for (int64_t i = 0; i < n; i++) o[i] = cnd[i * st[0]] ? x[i * st[1]] : y[i * st[2]];             \
        }                                                                                                    \
    }
WHERE_FN(where1, uint8_t)
WHERE_FN(where2, uint16_t)
WHERE_FN(where4, uint32_t)
WHERE_FN(where8, uint64_t)
WHERE_FN(where16, u128)

int ig__ew_plan_where(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 3 || !s->in[0] || !s->in[1] || !s->in[2])
        return ig_kstep_fail(s, err, IG_EINVAL, "Where needs 3 inputs");
    if (s->in[0]->dtype != IG_DT_BOOL)
        return ig_kstep_fail(s, err, IG_EDTYPE, "condition must be BOOL, got %s",
                             ig_dtype_name(s->in[0]->dtype));
    ig_dtype dt = s->in[1]->dtype;
    if (s->in[2]->dtype != dt)
        return ig_kstep_fail(s, err, IG_EDTYPE, "X is %s but Y is %s", ig_dtype_name(dt),
                             ig_dtype_name(s->in[2]->dtype));
    ig__bcast_fn fns[IG_DT_COUNT] = {NULL};
    switch (ig_dtype_size(dt)) {
    case 1:
        fns[IG_DT_BOOL] = where1;
        break;
    case 2:
        fns[IG_DT_BOOL] = where2;
        break;
    case 4:
        fns[IG_DT_BOOL] = where4;
        break;
    case 8:
        fns[IG_DT_BOOL] = where8;
        break;
    case 16:
        fns[IG_DT_BOOL] = where16;
        break;
    default:
        return ig_kstep_fail(s, err, IG_EDTYPE, "Where on %s is not supported", ig_dtype_name(dt));
    }
    ig__ew_spec spec = {.fns = fns, .out_dt = dt, .n_in = 3, .mixed = true, .raw = true};
    return ig__ew_plan(s, err, &spec, NULL);
}
