/* IEEE float16 and bfloat16 <-> float conversions (round to nearest even, NaN and infinities kept),
 * written with integer bit operations so they are exact on every target and need no F16C. */
#ifndef IG_ENGINE_KERNELS_REF_HALF_H
#define IG_ENGINE_KERNELS_REF_HALF_H

#include <stdint.h>
#include <string.h>

static inline float ig_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    float f;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else {
        /* zero or subnormal: man units of 2^-24, exact in float */
        f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t ig_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504 */
    if (ax < 0x38800000u) {
        /* Below the smallest normal half: adding 0.5f makes the FPU round to a multiple of 2^-24,
         * which is exactly the subnormal half mantissa (0x400 when it rounds up to a normal). */
        float a, t;
        uint32_t tb;
        memcpy(&a, &ax, 4);
        t = a + 0.5f;
        memcpy(&tb, &t, 4);
        return (uint16_t)(sign | (tb - 0x3f000000u));
    }
    ax += 0xc8000fffu + ((ax >> 13) & 1u); /* rebias 127 -> 15 and round to nearest even */
    return (uint16_t)(sign | (ax >> 13));
}

static inline float ig_bfloat16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t ig_float_to_bfloat16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* Truncating conversion: what ONNX's Cast test data (numpy view of the upper half) expects. */
static inline uint16_t ig_float_to_bfloat16_trunc(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return (uint16_t)(x >> 16);
}

#endif
