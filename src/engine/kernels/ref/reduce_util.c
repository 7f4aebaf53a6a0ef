/* Strided row conversion between tensor buffers of any numeric dtype and double / int64 working
 * buffers (see reduce_util.h). The dtype switch sits outside each loop so the loops stay tight. */
#include <stdlib.h>

#include "engine/kernels/ref/reduce_util.h"

#define RD_LOAD_LOOP(T, CONV)                                                                                \
    do {                                                                                                     \
        const T *p_ = (const T *)base + off;                                                                 \
        for (int64_t i = 0; i < n; i++) dst[i] = CONV(p_[i * stride]);                                       \
    } while (0)

#define RD_STORE_LOOP(T, CONV)                                                                               \
    do {                                                                                                     \
        T *p_ = (T *)base + off;                                                                             \
        for (int64_t i = 0; i < n; i++) p_[i * stride] = CONV(src[i]);                                       \
    } while (0)

#define RD_AS_D(v) ((double)(v))
#define RD_AS_I(v) ((int64_t)(v))
#define RD_H2D(v) ((double)rd_f16_to_f32(v))
#define RD_H2I(v) ((int64_t)rd_f16_to_f32(v))

void ig__rd_load_d(const void *base, ig_dtype dt, int64_t off, int64_t n, int64_t stride, double *dst)
{
    switch (dt) {
    case IG_DT_FLOAT:
        RD_LOAD_LOOP(float, RD_AS_D);
        break;
    case IG_DT_DOUBLE:
        RD_LOAD_LOOP(double, RD_AS_D);
        break;
    case IG_DT_FLOAT16:
        RD_LOAD_LOOP(uint16_t, RD_H2D);
        break;
    case IG_DT_INT8:
        RD_LOAD_LOOP(int8_t, RD_AS_D);
        break;
    case IG_DT_INT16:
        RD_LOAD_LOOP(int16_t, RD_AS_D);
        break;
    case IG_DT_INT32:
        RD_LOAD_LOOP(int32_t, RD_AS_D);
        break;
    case IG_DT_INT64:
        RD_LOAD_LOOP(int64_t, RD_AS_D);
        break;
    case IG_DT_UINT8:
        RD_LOAD_LOOP(uint8_t, RD_AS_D);
        break;
    case IG_DT_UINT16:
        RD_LOAD_LOOP(uint16_t, RD_AS_D);
        break;
    case IG_DT_UINT32:
        RD_LOAD_LOOP(uint32_t, RD_AS_D);
        break;
    case IG_DT_UINT64:
        RD_LOAD_LOOP(uint64_t, RD_AS_D);
        break;
    case IG_DT_BOOL:
        RD_LOAD_LOOP(uint8_t, RD_AS_D);
        break;
    default:
        memset(dst, 0, (size_t)n * sizeof(*dst));
        break;
    }
}

/* Float to integer conversion is undefined out of range; saturate and map NaN to 0 instead. */
#define RD_D2INT(T, LO, HI)                                                                                  \
    (isnan(v) ? (T)0 : v <= (double)(LO) ? (T)(LO) : v >= (double)(HI) ? (T)(HI) : (T)v)
static inline int8_t d2i8(double v)
{
    return RD_D2INT(int8_t, INT8_MIN, INT8_MAX);
}
static inline int16_t d2i16(double v)
{
    return RD_D2INT(int16_t, INT16_MIN, INT16_MAX);
}
static inline int32_t d2i32(double v)
{
    return RD_D2INT(int32_t, INT32_MIN, INT32_MAX);
}
static inline int64_t d2i64(double v)
{
    return RD_D2INT(int64_t, INT64_MIN, INT64_MAX);
}
static inline uint8_t d2u8(double v)
{
    return RD_D2INT(uint8_t, 0, UINT8_MAX);
}
static inline uint16_t d2u16(double v)
{
    return RD_D2INT(uint16_t, 0, UINT16_MAX);
}
static inline uint32_t d2u32(double v)
{
    return RD_D2INT(uint32_t, 0, UINT32_MAX);
}
static inline uint64_t d2u64(double v)
{
    return RD_D2INT(uint64_t, 0, UINT64_MAX);
}
static inline uint8_t d2b(double v)
{
    return v != 0;
}
static inline uint16_t d2h(double v)
{
    return rd_f32_to_f16((float)v);
}

void ig__rd_store_d(void *base, ig_dtype dt, int64_t off, int64_t n, int64_t stride, const double *src)
{
    switch (dt) {
    case IG_DT_FLOAT:
        RD_STORE_LOOP(float, (float));
        break;
    case IG_DT_DOUBLE:
        RD_STORE_LOOP(double, );
        break;
    case IG_DT_FLOAT16:
        RD_STORE_LOOP(uint16_t, d2h);
        break;
    case IG_DT_INT8:
        RD_STORE_LOOP(int8_t, d2i8);
        break;
    case IG_DT_INT16:
        RD_STORE_LOOP(int16_t, d2i16);
        break;
    case IG_DT_INT32:
        RD_STORE_LOOP(int32_t, d2i32);
        break;
    case IG_DT_INT64:
        RD_STORE_LOOP(int64_t, d2i64);
        break;
    case IG_DT_UINT8:
        RD_STORE_LOOP(uint8_t, d2u8);
        break;
    case IG_DT_UINT16:
        RD_STORE_LOOP(uint16_t, d2u16);
        break;
    case IG_DT_UINT32:
        RD_STORE_LOOP(uint32_t, d2u32);
        break;
    case IG_DT_UINT64:
        RD_STORE_LOOP(uint64_t, d2u64);
        break;
    case IG_DT_BOOL:
        RD_STORE_LOOP(uint8_t, d2b);
        break;
    default:
        break;
    }
}

void ig__rd_load_i(const void *base, ig_dtype dt, int64_t off, int64_t n, int64_t stride, int64_t *dst)
{
    switch (dt) {
    case IG_DT_INT8:
        RD_LOAD_LOOP(int8_t, RD_AS_I);
        break;
    case IG_DT_INT16:
        RD_LOAD_LOOP(int16_t, RD_AS_I);
        break;
    case IG_DT_INT32:
        RD_LOAD_LOOP(int32_t, RD_AS_I);
        break;
    case IG_DT_INT64:
        RD_LOAD_LOOP(int64_t, RD_AS_I);
        break;
    case IG_DT_UINT8:
        RD_LOAD_LOOP(uint8_t, RD_AS_I);
        break;
    case IG_DT_UINT16:
        RD_LOAD_LOOP(uint16_t, RD_AS_I);
        break;
    case IG_DT_UINT32:
        RD_LOAD_LOOP(uint32_t, RD_AS_I);
        break;
    case IG_DT_UINT64:
        RD_LOAD_LOOP(uint64_t, RD_AS_I);
        break;
    case IG_DT_BOOL:
        RD_LOAD_LOOP(uint8_t, RD_AS_I);
        break;
    case IG_DT_FLOAT:
        RD_LOAD_LOOP(float, d2i64);
        break;
    case IG_DT_DOUBLE:
        RD_LOAD_LOOP(double, d2i64);
        break;
    case IG_DT_FLOAT16:
        RD_LOAD_LOOP(uint16_t, RD_H2I);
        break;
    default:
        memset(dst, 0, (size_t)n * sizeof(*dst));
        break;
    }
}

void ig__rd_store_i(void *base, ig_dtype dt, int64_t off, int64_t n, int64_t stride, const int64_t *src)
{
    switch (dt) {
    case IG_DT_INT8:
        RD_STORE_LOOP(int8_t, (int8_t));
        break;
    case IG_DT_INT16:
        RD_STORE_LOOP(int16_t, (int16_t));
        break;
    case IG_DT_INT32:
        RD_STORE_LOOP(int32_t, (int32_t));
        break;
    case IG_DT_INT64:
        RD_STORE_LOOP(int64_t, );
        break;
    case IG_DT_UINT8:
        RD_STORE_LOOP(uint8_t, (uint8_t));
        break;
    case IG_DT_UINT16:
        RD_STORE_LOOP(uint16_t, (uint16_t));
        break;
    case IG_DT_UINT32:
        RD_STORE_LOOP(uint32_t, (uint32_t));
        break;
    case IG_DT_UINT64:
        RD_STORE_LOOP(uint64_t, (uint64_t));
        break;
    case IG_DT_BOOL:
        RD_STORE_LOOP(uint8_t, d2b);
        break;
    case IG_DT_FLOAT:
        RD_STORE_LOOP(float, (float));
        break;
    case IG_DT_DOUBLE:
        RD_STORE_LOOP(double, (double));
        break;
    case IG_DT_FLOAT16:
        RD_STORE_LOOP(uint16_t, d2h);
        break;
    default:
        break;
    }
}

void *ig__rd_state(ig_kstep *s, size_t size)
{
    if (!s->state)
        s->state = calloc(1, size);
    else
        memset(s->state, 0, size);
    return s->state;
}

void ig__rd_free(void *state)
{
    free(state);
}
