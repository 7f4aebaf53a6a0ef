/* Quantisation arithmetic shared by the quantized nn kernels: round-half-to-even and saturation to
 * the quantized integer types (NaN saturates low, unlike ig__store_f64 which maps it to 0). */
#ifndef IG_KERNELS_REF_QUANT_H
#define IG_KERNELS_REF_QUANT_H

#include <math.h>
#include <stdint.h>

#include "engine/kernels/ref/dtype_convert.h"
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

/* Stores v, already rounded, saturated to dt's range into element i of an integer buffer. */
static inline void ig__q_store_sat(void *p, ig_dtype dt, int64_t i, double v)
{
    ig__store_f64(p, dt, i, (double)ig__q_saturate(v, dt));
}

#endif
