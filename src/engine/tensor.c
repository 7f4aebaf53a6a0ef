/* dtype facts and small tensor-shape helpers shared by every layer. */
#include "infergate/tensor.h"

#include <stdint.h>
#include <stdio.h>

static const struct {
    size_t size;
    const char *name, *numpy;
} dtypes[IG_DT_COUNT] = {
    [IG_DT_UNDEFINED] = {0, "UNDEFINED", NULL},
    [IG_DT_FLOAT] = {4, "FLOAT", "float32"},
    [IG_DT_UINT8] = {1, "UINT8", "uint8"},
    [IG_DT_INT8] = {1, "INT8", "int8"},
    [IG_DT_UINT16] = {2, "UINT16", "uint16"},
    [IG_DT_INT16] = {2, "INT16", "int16"},
    [IG_DT_INT32] = {4, "INT32", "int32"},
    [IG_DT_INT64] = {8, "INT64", "int64"},
    [IG_DT_STRING] = {sizeof(ig_string), "STRING", NULL},
    [IG_DT_BOOL] = {1, "BOOL", "bool"},
    [IG_DT_FLOAT16] = {2, "FLOAT16", "float16"},
    [IG_DT_DOUBLE] = {8, "DOUBLE", "float64"},
    [IG_DT_UINT32] = {4, "UINT32", "uint32"},
    [IG_DT_UINT64] = {8, "UINT64", "uint64"},
    [IG_DT_COMPLEX64] = {8, "COMPLEX64", "complex64"},
    [IG_DT_COMPLEX128] = {16, "COMPLEX128", "complex128"},
    [IG_DT_BFLOAT16] = {2, "BFLOAT16", NULL},
};

size_t ig_dtype_size(ig_dtype dt)
{
    return (unsigned)dt < IG_DT_COUNT ? dtypes[dt].size : 0;
}

const char *ig_dtype_name(ig_dtype dt)
{
    return (unsigned)dt < IG_DT_COUNT ? dtypes[dt].name : "UNDEFINED";
}

const char *ig_dtype_numpy_name(ig_dtype dt)
{
    return (unsigned)dt < IG_DT_COUNT ? dtypes[dt].numpy : NULL;
}

int64_t ig_tensor_numel(const ig_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] < 0) return -1;
        if (t->dims[i] && n > INT64_MAX / t->dims[i]) return -1;
        n *= t->dims[i];
    }
    return n;
}

size_t ig_tensor_nbytes(const ig_tensor *t)
{
    int64_t n = ig_tensor_numel(t);
    size_t es = ig_dtype_size(t->dtype);
    if (n < 0 || (uint64_t)n > SIZE_MAX / (es ? es : 1)) return SIZE_MAX;
    return (size_t)n * es;
}

char *ig_shape_str(const ig_tensor *t, char *buf, size_t len)
{
    size_t o = 0;
    if (!len) return buf;
    buf[0] = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < t->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}
