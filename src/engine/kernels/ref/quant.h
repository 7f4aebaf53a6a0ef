/* Quantisation arithmetic shared by the quantized nn kernels: round-half-to-even and saturation to
 * the 8-bit integer types, and reading a zero point or scale of any accepted dtype as a number. */
#ifndef IG_KERNELS_REF_QUANT_H
#define IG_KERNELS_REF_QUANT_H

#include <math.h>
#include <stdint.h>

#include "infergate/tensor.h"

/* rint() follows the current rounding mode, which is round-half-to-even unless someone changed it. */
static inline double ig__q_round(double v)
{
    return rint(v);
}

static inline int64_t ig__q_saturate(double v, ig_dtype dt)
{
    double lo = 0, hi = 255;
    switch (dt) {
    case IG_DT_INT8:
        lo = -128, hi = 127;
        break;
    case IG_DT_UINT16:
        hi = 65535;
        break;
    case IG_DT_INT16:
        lo = -32768, hi = 32767;
        break;
    case IG_DT_INT32:
        lo = -2147483648.0, hi = 2147483647.0;
        break;
    default:
        break;
    }
    if (!(v >= lo)) return (int64_t)lo; /* NaN saturates low */
    return (int64_t)(v > hi ? hi : v);
}

/* Element i of a numeric tensor buffer as double. */
static inline double ig__q_load(const void *p, ig_dtype dt, int64_t i)
{
    switch (dt) {
    case IG_DT_UINT8:
        return ((const uint8_t *)p)[i];
    case IG_DT_INT8:
        return ((const int8_t *)p)[i];
    case IG_DT_UINT16:
        return ((const uint16_t *)p)[i];
    case IG_DT_INT16:
        return ((const int16_t *)p)[i];
    case IG_DT_INT32:
        return ((const int32_t *)p)[i];
    case IG_DT_INT64:
        return (double)((const int64_t *)p)[i];
    case IG_DT_FLOAT:
        return ((const float *)p)[i];
    case IG_DT_DOUBLE:
        return ((const double *)p)[i];
    default:
        return 0;
    }
}

/* Stores an already rounded/saturated integer into an 8/16/32-bit integer buffer. */
static inline void ig__q_store(void *p, ig_dtype dt, int64_t i, int64_t v)
{
    switch (dt) {
    case IG_DT_UINT8:
        ((uint8_t *)p)[i] = (uint8_t)v;
        break;
    case IG_DT_INT8:
        ((int8_t *)p)[i] = (int8_t)v;
        break;
    case IG_DT_UINT16:
        ((uint16_t *)p)[i] = (uint16_t)v;
        break;
    case IG_DT_INT16:
        ((int16_t *)p)[i] = (int16_t)v;
        break;
    case IG_DT_INT32:
        ((int32_t *)p)[i] = (int32_t)v;
        break;
    default:
        break;
    }
}

#endif
