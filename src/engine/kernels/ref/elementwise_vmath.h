/* Branch-free float approximations of exp, expm1, tanh, sigmoid and erf (about 1e-7 relative
 * error) written so the compiler vectorises the loops that call them; libm's scalar calls would
 * not vectorise. Only elementwise kernels include this. */
#ifndef IG_ENGINE_KERNELS_REF_ELEMENTWISE_VMATH_H
#define IG_ENGINE_KERNELS_REF_ELEMENTWISE_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float ig__f_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* 2^n for integral n in [-126, 127], built from the exponent field. */
static inline float ig__pow2i(int32_t n)
{
    return ig__f_from_bits((uint32_t)(n + 127) << 23);
}

/* exp(x) - 1 = 2^n (1 + q) - 1 with x = n ln2 + r, |r| <= ln2/2, and q = e^r - 1 by its Taylor
 * series to r^8 (truncation error below 2e-9). Returns q and sets *s = 2^(n/2) split so that the
 * caller can scale without overflowing before the end. */
static inline float ig__exp_core(float x, float *s1, float *s2)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + shifter;
    float nf = t - shifter;
    float r = x - nf * 0.693145751953125f; /* ln2 split in a high part exact in float... */
    r = r - nf * 1.42860682030941723e-06f; /* ...and the rest */
    float q = r * (1.0f + r * (0.5f + r * (1.6666667163e-1f +
                                           r * (4.1666667908e-2f +
                                                r * (8.3333337680e-3f +
                                                     r * (1.3888889225e-3f +
                                                          r * (1.9841270114e-4f + r * 2.4801587642e-5f)))))));
    int32_t n = (int32_t)nf;
    int32_t n1 = n >> 1;
    *s1 = ig__pow2i(n1);
    *s2 = ig__pow2i(n - n1);
    return q;
}

static inline float ig__expf(float x)
{
    /* below -104 the result is 0 in float, above 88.73 it is inf: clamping keeps n representable */
    float xc = x < -104.0f ? -104.0f : x;
    xc = xc > 88.75f ? 88.75f : xc;
    xc = x != x ? 0.0f : xc;
    float s1, s2;
    float q = ig__exp_core(xc, &s1, &s2);
    float r = (q + 1.0f) * s1 * s2;
    return x != x ? x : r;
}

static inline float ig__expm1f(float x)
{
    float xc = x < -30.0f ? -30.0f : x;
    xc = xc > 88.75f ? 88.75f : xc;
    xc = x != x ? 0.0f : xc;
    float s1, s2;
    float q = ig__exp_core(xc, &s1, &s2);
    float s = s1 * s2;
    /* s*q + (s-1) keeps full relative precision when n == 0 (s == 1) */
    float r = s * q + (s - 1.0f);
    return x != x ? x : r;
}

static inline float ig__tanhf(float x)
{
    float ax = x < 0 ? -x : x;
    ax = ax > 9.5f ? 9.5f : ax; /* tanh(9.5) rounds to 1 in float */
    float u = ig__expm1f(2.0f * ax);
    float r = u / (u + 2.0f);
    r = x < 0 ? -r : r;
    return x != x ? x : r;
}

static inline float ig__sigmoidf(float x)
{
    return 1.0f / (1.0f + ig__expf(-x));
}

/* erf: Taylor series of 2/sqrt(pi) (x - x^3/3 + x^5/10 - ...) for |x| < 0.5, and Abramowitz &
 * Stegun 7.1.26 (absolute error 1.5e-7, relative under 3e-7 where erf >= 0.52) beyond. */
static inline float ig__erff(float x)
{
    float ax = x < 0 ? -x : x;
    float z = x * x;
    float small = x * (1.12837916709551257f +
                       z * (-0.37612638903183752f +
                            z * (0.11283791670955126f +
                                 z * (-0.02686617064513125f +
                                      z * (0.00522397762544218f +
                                           z * (-0.00085483270234508f + z * 0.00012055332981789f))))));
    float axc = ax > 6.0f ? 6.0f : ax;
    float t = 1.0f / (1.0f + 0.3275911f * axc);
    float poly = t * (0.254829592f +
                      t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float big = 1.0f - poly * ig__expf(-axc * axc);
    big = x < 0 ? -big : big;
    float r = ax < 0.5f ? small : big;
    return x != x ? x : r;
}

#endif
