/* Scalar element access across the numeric dtypes, shared by the reference kernels: read any
 * element as double, and store a double back with saturation. Kernels with hot loops switch on the
 * dtype outside the loop instead; these serve scalars, attributes and rare mixed-dtype paths. */
#ifndef IG_ENGINE_KERNELS_REF_DTYPE_CONVERT_H
#define IG_ENGINE_KERNELS_REF_DTYPE_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/kernels/ref/half.h"
#include "infergate/tensor.h"

/* Whether dt is a real number type or bool: the dtypes ig__load_f64 and ig__store_f64 handle. */
static inline bool ig__dtype_is_real(ig_dtype dt)
{
    return dt > IG_DT_UNDEFINED && dt < IG_DT_COUNT && dt != IG_DT_STRING && dt != IG_DT_COMPLEX64 &&
           dt != IG_DT_COMPLEX128;
}

/* Element i of a numeric buffer as double: exact for every integer below 2^53 in magnitude and for
 * float16/bfloat16; bool reads 0 or 1. Non-numeric dtypes (string, complex) read as 0. */
static inline double ig__load_f64(const void *p, ig_dtype dt, int64_t i)
{
    switch (dt) {
    case IG_DT_FLOAT:
        return ((const float *)p)[i];
    case IG_DT_DOUBLE:
        return ((const double *)p)[i];
    case IG_DT_FLOAT16:
        return ig_half_to_float(((const uint16_t *)p)[i]);
    case IG_DT_BFLOAT16:
        return ig_bfloat16_to_float(((const uint16_t *)p)[i]);
    case IG_DT_INT8:
        return ((const int8_t *)p)[i];
    case IG_DT_INT16:
        return ((const int16_t *)p)[i];
    case IG_DT_INT32:
        return ((const int32_t *)p)[i];
    case IG_DT_INT64:
        return (double)((const int64_t *)p)[i];
    case IG_DT_UINT8:
    case IG_DT_BOOL:
        return ((const uint8_t *)p)[i];
    case IG_DT_UINT16:
        return ((const uint16_t *)p)[i];
    case IG_DT_UINT32:
        return ((const uint32_t *)p)[i];
    case IG_DT_UINT64:
        return (double)((const uint64_t *)p)[i];
    default:
        return 0;
    }
}

/* double -> integer type T without C's undefined behaviour: NaN gives 0, values beyond the type's
 * range give its nearest bound, the rest truncate toward zero. */
#define IG__SAT_CAST(T, lo, hi, v)                                                                           \
    ((v) != (v) ? (T)0 : (v) <= (double)(lo) ? (T)(lo) : (v) >= (double)(hi) ? (T)(hi) : (T)(v))

/* Stores v into element i of a numeric buffer. Floats round to nearest even (float16 and bfloat16
 * included); integers saturate as IG__SAT_CAST does (no rounding: callers that want it round first);
 * bool stores v != 0. Non-numeric dtypes are left untouched. */
static inline void ig__store_f64(void *p, ig_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case IG_DT_FLOAT:
        ((float *)p)[i] = (float)v;
        break;
    case IG_DT_DOUBLE:
        ((double *)p)[i] = v;
        break;
    case IG_DT_FLOAT16:
        ((uint16_t *)p)[i] = ig_float_to_half((float)v);
        break;
    case IG_DT_BFLOAT16:
        ((uint16_t *)p)[i] = ig_float_to_bfloat16((float)v);
        break;
    case IG_DT_INT8:
        ((int8_t *)p)[i] = IG__SAT_CAST(int8_t, INT8_MIN, INT8_MAX, v);
        break;
    case IG_DT_INT16:
        ((int16_t *)p)[i] = IG__SAT_CAST(int16_t, INT16_MIN, INT16_MAX, v);
        break;
    case IG_DT_INT32:
        ((int32_t *)p)[i] = IG__SAT_CAST(int32_t, INT32_MIN, INT32_MAX, v);
        break;
    case IG_DT_INT64:
        ((int64_t *)p)[i] = IG__SAT_CAST(int64_t, INT64_MIN, INT64_MAX, v);
        break;
    case IG_DT_UINT8:
        ((uint8_t *)p)[i] = IG__SAT_CAST(uint8_t, 0, UINT8_MAX, v);
        break;
    case IG_DT_UINT16:
        ((uint16_t *)p)[i] = IG__SAT_CAST(uint16_t, 0, UINT16_MAX, v);
        break;
    case IG_DT_UINT32:
        ((uint32_t *)p)[i] = IG__SAT_CAST(uint32_t, 0, UINT32_MAX, v);
        break;
    case IG_DT_UINT64:
        ((uint64_t *)p)[i] = IG__SAT_CAST(uint64_t, 0, UINT64_MAX, v);
        break;
    case IG_DT_BOOL:
        ((uint8_t *)p)[i] = v != 0;
        break;
    default:
        break;
    }
}

/* The value of a one-element int32 or int64 tensor whose data is known; false for anything else. */
static inline bool ig__read_int_scalar(const ig_tensor *t, int64_t *v)
{
    if (!t || !t->data || ig_tensor_numel(t) != 1) return false;
    if (t->dtype == IG_DT_INT64)
        *v = *(const int64_t *)t->data;
    else if (t->dtype == IG_DT_INT32)
        *v = *(const int32_t *)t->data;
    else
        return false;
    return true;
}

#endif
