/* Tensors as the engine and its callers exchange them: a dtype, a shape and a borrowed buffer. */
#ifndef INFERGATE_TENSOR_H
#define INFERGATE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

/* Values equal ONNX TensorProto.DataType, so a model's type field maps directly. */
typedef enum ig_dtype {
    IG_DT_UNDEFINED = 0,
    IG_DT_FLOAT = 1,
    IG_DT_UINT8 = 2,
    IG_DT_INT8 = 3,
    IG_DT_UINT16 = 4,
    IG_DT_INT16 = 5,
    IG_DT_INT32 = 6,
    IG_DT_INT64 = 7,
    IG_DT_STRING = 8,
    IG_DT_BOOL = 9,
    IG_DT_FLOAT16 = 10,
    IG_DT_DOUBLE = 11,
    IG_DT_UINT32 = 12,
    IG_DT_UINT64 = 13,
    IG_DT_COMPLEX64 = 14,
    IG_DT_COMPLEX128 = 15,
    IG_DT_BFLOAT16 = 16,
    IG_DT_COUNT
} ig_dtype;

#define IG_MAX_DIMS 8

/* One element of a STRING tensor: bytes that need not be NUL-terminated. */
typedef struct ig_string {
    const char *ptr;
    size_t len;
} ig_string;

/* A dense, row-major tensor. data is borrowed: whoever filled the struct says how long it lives. */
typedef struct ig_tensor {
    ig_dtype dtype;
    int ndim;
    int64_t dims[IG_MAX_DIMS];
    void *data;
} ig_tensor;

/* Bytes of one element (sizeof(ig_string) for STRING); 0 for UNDEFINED or unknown values. */
size_t ig_dtype_size(ig_dtype dt);
/* ONNX-style upper-case name ("FLOAT", "INT64"), or "UNDEFINED". */
const char *ig_dtype_name(ig_dtype dt);
/* numpy-style name ("float32", "int64", "bool"), or NULL where numpy has none. */
const char *ig_dtype_numpy_name(ig_dtype dt);

/* Product of dims; 1 for a scalar. Returns -1 on overflow of int64. */
int64_t ig_tensor_numel(const ig_tensor *t);
/* numel * element size; SIZE_MAX when that overflows. */
size_t ig_tensor_nbytes(const ig_tensor *t);
/* Writes "[1,3,224,224]" into buf (truncated to len). Returns buf. */
char *ig_shape_str(const ig_tensor *t, char *buf, size_t len);

#endif
