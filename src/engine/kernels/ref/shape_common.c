/* Shared helpers of the shape kernels: numeric element access across dtypes, half-precision
 * conversion, element comparison, and the strided N-D copy behind Transpose, Slice and friends. */
#include "engine/kernels/ref/shape_common.h"

#include <math.h>

float ig__shape_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man) {
        /* Subnormal: renormalise so the float has an implicit leading one. */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ig__shape_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    if (exp == 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f) return sign | 0x7c00;
    if (e <= 0) {
        if (e < -10) return sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

float ig__shape_bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int64_t ig__shape_get_i64(const ig_tensor *t, int64_t k)
{
    const void *d = t->data;
    switch (t->dtype) {
    case IG_DT_INT64:
        return ((const int64_t *)d)[k];
    case IG_DT_INT32:
        return ((const int32_t *)d)[k];
    case IG_DT_INT16:
        return ((const int16_t *)d)[k];
    case IG_DT_INT8:
        return ((const int8_t *)d)[k];
    case IG_DT_UINT64:
        return (int64_t)((const uint64_t *)d)[k];
    case IG_DT_UINT32:
        return ((const uint32_t *)d)[k];
    case IG_DT_UINT16:
        return ((const uint16_t *)d)[k];
    case IG_DT_UINT8:
    case IG_DT_BOOL:
        return ((const uint8_t *)d)[k];
    default:
        return (int64_t)ig__shape_get_f64(t, k);
    }
}

double ig__shape_get_f64(const ig_tensor *t, int64_t k)
{
    const void *d = t->data;
    switch (t->dtype) {
    case IG_DT_FLOAT:
        return ((const float *)d)[k];
    case IG_DT_DOUBLE:
        return ((const double *)d)[k];
    case IG_DT_FLOAT16:
        return ig__shape_half_to_float(((const uint16_t *)d)[k]);
    case IG_DT_BFLOAT16:
        return ig__shape_bf16_to_float(((const uint16_t *)d)[k]);
    case IG_DT_UINT64:
        return (double)((const uint64_t *)d)[k];
    default:
        return ig__shape_is_int(t->dtype) ? (double)ig__shape_get_i64(t, k) : 0.0;
    }
}

void ig__shape_put_f64(void *d, ig_dtype dt, int64_t k, double v)
{
    switch (dt) {
    case IG_DT_FLOAT:
        ((float *)d)[k] = (float)v;
        break;
    case IG_DT_DOUBLE:
        ((double *)d)[k] = v;
        break;
    case IG_DT_FLOAT16:
        ((uint16_t *)d)[k] = ig__shape_float_to_half((float)v);
        break;
    case IG_DT_BFLOAT16: {
        float f = (float)v;
        uint32_t b;
        memcpy(&b, &f, 4);
        ((uint16_t *)d)[k] = (uint16_t)((b + 0x7fff + ((b >> 16) & 1)) >> 16);
        break;
    }
    case IG_DT_INT64:
        ((int64_t *)d)[k] = (int64_t)v;
        break;
    case IG_DT_INT32:
        ((int32_t *)d)[k] = (int32_t)v;
        break;
    case IG_DT_INT16:
        ((int16_t *)d)[k] = (int16_t)v;
        break;
    case IG_DT_INT8:
        ((int8_t *)d)[k] = (int8_t)v;
        break;
    case IG_DT_UINT64:
        ((uint64_t *)d)[k] = (uint64_t)v;
        break;
    case IG_DT_UINT32:
        ((uint32_t *)d)[k] = (uint32_t)v;
        break;
    case IG_DT_UINT16:
        ((uint16_t *)d)[k] = (uint16_t)v;
        break;
    case IG_DT_UINT8:
        ((uint8_t *)d)[k] = (uint8_t)v;
        break;
    case IG_DT_BOOL:
        ((uint8_t *)d)[k] = v != 0;
        break;
    default:
        break;
    }
}

#define IG__CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

static int cmp_double(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
    return IG__CMP(a, b);
}

int ig__shape_cmp(ig_dtype dt, const void *a, int64_t i, const void *b, int64_t j)
{
    switch (dt) {
    case IG_DT_INT64:
        return IG__CMP(((const int64_t *)a)[i], ((const int64_t *)b)[j]);
    case IG_DT_UINT64:
        return IG__CMP(((const uint64_t *)a)[i], ((const uint64_t *)b)[j]);
    case IG_DT_FLOAT:
        return cmp_double(((const float *)a)[i], ((const float *)b)[j]);
    case IG_DT_DOUBLE:
        return cmp_double(((const double *)a)[i], ((const double *)b)[j]);
    case IG_DT_STRING: {
        const ig_string *x = (const ig_string *)a + i, *y = (const ig_string *)b + j;
        size_t n = x->len < y->len ? x->len : y->len;
        int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
        return c ? (c < 0 ? -1 : 1) : IG__CMP(x->len, y->len);
    }
    case IG_DT_FLOAT16:
    case IG_DT_BFLOAT16: {
        ig_tensor ta = {.dtype = dt, .data = (void *)a}, tb = {.dtype = dt, .data = (void *)b};
        return cmp_double(ig__shape_get_f64(&ta, i), ig__shape_get_f64(&tb, j));
    }
    default: {
        ig_tensor ta = {.dtype = dt, .data = (void *)a}, tb = {.dtype = dt, .data = (void *)b};
        if (ig__shape_is_int(dt)) return IG__CMP(ig__shape_get_i64(&ta, i), ig__shape_get_i64(&tb, j));
        size_t es = ig_dtype_size(dt);
        int c = memcmp((const char *)a + i * es, (const char *)b + j * es, es);
        return c < 0 ? -1 : c > 0;
    }
    }
}

int ig__shape_read_ints(const ig_tensor *t, int64_t *out, int max)
{
    if (!ig__shape_is_int(t->dtype) || t->dtype == IG_DT_BOOL) return -1;
    int64_t n = ig_tensor_numel(t);
    if (n < 0 || n > max) return -1;
    for (int64_t k = 0; k < n; k++) out[k] = ig__shape_get_i64(t, k);
    return (int)n;
}

static inline void copy_row(char *dst, const char *src, size_t es, int64_t n, int64_t stride)
{
    if (stride == 1) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    switch (es) {
    case 1:
        for (int64_t k = 0; k < n; k++) dst[k] = src[k * stride];
        break;
    case 2:
        for (int64_t k = 0; k < n; k++) ((uint16_t *)dst)[k] = ((const uint16_t *)src)[k * stride];
        break;
    case 4:
        for (int64_t k = 0; k < n; k++) ((uint32_t *)dst)[k] = ((const uint32_t *)src)[k * stride];
        break;
    case 8:
        for (int64_t k = 0; k < n; k++) ((uint64_t *)dst)[k] = ((const uint64_t *)src)[k * stride];
        break;
    default:
        for (int64_t k = 0; k < n; k++) memcpy(dst + k * es, src + k * stride * (int64_t)es, es);
    }
}

void ig__shape_copy_strided(void *dst, const void *src, size_t es, int ndim, const int64_t *dims,
                            const int64_t *strides, int n_threads)
{
    /* Merge neighbouring dims whose strides chain, so contiguous runs become long memcpy rows. */
    int64_t d[IG_MAX_DIMS], st[IG_MAX_DIMS];
    int nd = 0;
    for (int k = 0; k < ndim; k++) {
        if (dims[k] == 0) return;
        if (dims[k] == 1) continue;
        if (nd && st[nd - 1] == strides[k] * dims[k]) {
            d[nd - 1] *= dims[k];
            st[nd - 1] = strides[k];
        } else {
            d[nd] = dims[k];
            st[nd] = strides[k];
            nd++;
        }
    }
    if (nd == 0) {
        memcpy(dst, src, es);
        return;
    }
    int64_t inner = d[nd - 1], istride = st[nd - 1], rows = 1;
    for (int k = 0; k < nd - 1; k++) rows *= d[k];
    char *o = dst;
    const char *in = src;
#pragma omp parallel for num_threads(n_threads) if (rows * inner > (1 << 15) && n_threads > 1)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = 0, rem = r;
        for (int k = nd - 2; k >= 0; k--) {
            off += (rem % d[k]) * st[k];
            rem /= d[k];
        }
        copy_row(o + r * inner * (int64_t)es, in + off * (int64_t)es, es, inner, istride);
    }
}
