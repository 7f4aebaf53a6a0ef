/* Helpers shared by the reduce-group reference kernels: float16 conversion, axis normalisation,
 * and moving strided rows of any numeric dtype into double or int64 working buffers, so each kernel
 * writes its arithmetic once instead of once per dtype. */
#ifndef IG_ENGINE_KERNELS_REF_REDUCE_UTIL_H
#define IG_ENGINE_KERNELS_REF_REDUCE_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/kernel.h"

static inline float rd_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {
            /* Subnormal half: renormalise into a float exponent. */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest even, with overflow to infinity and gradual underflow. */
static inline uint16_t rd_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) {
        if (ax < 0x33000000u) return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((ax - 0x38000000u) >> 13), rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

static inline bool rd_is_float(ig_dtype dt)
{
    return dt == IG_DT_FLOAT || dt == IG_DT_DOUBLE || dt == IG_DT_FLOAT16;
}

/* Normalises axis into [0, rank) in place; false when out of range. */
static inline bool rd_norm_axis(int64_t *axis, int rank)
{
    if (*axis < -rank || *axis >= rank) return false;
    if (*axis < 0) *axis += rank;
    return true;
}

/* Product of dims[lo..hi). */
static inline int64_t rd_prod(const int64_t *dims, int lo, int hi)
{
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= dims[i];
    return p;
}

/* Reads an integer scalar (int32 or int64, any shape with one element) from t. */
static inline bool rd_read_int_scalar(const ig_tensor *t, int64_t *v)
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

/* Gathers n elements starting at element off with element stride `stride` into dst as double. */
void ig__rd_load_d(const void *base, ig_dtype dt, int64_t off, int64_t n, int64_t stride, double *dst);
/* Scatters n doubles into the tensor buffer (converting, truncating toward zero for integers). */
void ig__rd_store_d(void *base, ig_dtype dt, int64_t off, int64_t n, int64_t stride, const double *src);
/* Same for integer dtypes through int64 (uint64 values keep their bits). */
void ig__rd_load_i(const void *base, ig_dtype dt, int64_t off, int64_t n, int64_t stride, int64_t *dst);
void ig__rd_store_i(void *base, ig_dtype dt, int64_t off, int64_t n, int64_t stride, const int64_t *src);

/* Hot float loops get AVX-512 and AVX2 clones picked at load time; the build targets baseline
 * x86-64, which would leave them at SSE2. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define RD_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RD_HOT
#endif

/* expf for float vectors: accurate to a few ulp over the whole float range, written without calls
 * or branches so `omp simd` loops that use it vectorise. */
static inline float rd_expf(float x)
{
    float xc = x < -87.3f ? -87.3f : x;
    xc = xc > 88.0f ? 88.0f : xc;
    /* Round to nearest through the 1.5*2^23 trick: roundf is a libcall without SSE4.1. */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693145751953125f;
    r = r - n * 1.428606765330187e-06f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &e, 4);
    return x < -87.3f ? 0.0f : p * s;
}

/* s->state as a zeroed block of `size` bytes, reusing the block of an earlier plan of this step
 * (a deferred step plans again); NULL when out of memory. Released by ig__rd_free. */
void *ig__rd_state(ig_kstep *s, size_t size);
void ig__rd_free(void *state);

/* Kernel entry points, one pair per file, collected by reduce_table.c. */
#define IG__RD_KERNELS(X)                                                                                    \
    X(reduce)                                                                                                \
    X(argminmax)                                                                                             \
    X(cumsum)                                                                                                \
    X(topk)                                                                                                  \
    X(softmax)                                                                                               \
    X(einsum)                                                                                                \
    X(det)                                                                                                   \
    X(nll)                                                                                                   \
    X(sce)
#define IG__RD_DECL(k)                                                                                       \
    int ig__rd_##k##_plan(ig_kstep *s, ig_error *err);                                                       \
    int ig__rd_##k##_run(ig_kstep *s);
IG__RD_KERNELS(IG__RD_DECL)
#undef IG__RD_DECL

#endif
