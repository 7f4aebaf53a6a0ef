/* Zero-copy reader for the protobuf wire format over a (pointer, length) buffer: fields come back as
 * scalars or as sub-views into the buffer. Every length is checked against what remains, so a reader
 * never touches a byte outside its buffer however the input is corrupted. */
#ifndef IG_ENGINE_ONNX_WIRE_H
#define IG_ENGINE_ONNX_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum { IG_PB_VARINT = 0, IG_PB_FIXED64 = 1, IG_PB_LEN = 2, IG_PB_FIXED32 = 5 };

typedef struct ig__pb {
    const uint8_t *p;
    size_t len, pos;
} ig__pb;

typedef struct ig__pb_field {
    uint32_t num;
    uint32_t wt;
    uint64_t u;          /* value of a VARINT, FIXED32 or FIXED64 field */
    const uint8_t *data; /* payload of a LEN field (points into the reader's buffer) */
    size_t len;
} ig__pb_field;

static inline ig__pb ig__pb_init(const void *p, size_t len)
{
    ig__pb r = {(const uint8_t *)p, len, 0};
    return r;
}

/* Decodes a varint at p[*pos] (at most 10 bytes, none past len) and advances *pos. 0 or IG_EFORMAT. */
int ig__pb_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out);

/* Reads the next field: 1 when one was read, 0 at the end of the buffer, IG_EFORMAT on malformed input
 * (with a static reason in *why). Groups (wire types 3 and 4) and wire types 6 and 7 are malformed. */
int ig__pb_next(ig__pb *r, ig__pb_field *f, const char **why);

/* A repeated scalar field may arrive unpacked (one element per field, wire type elem_wt) or packed (a
 * LEN payload of elements). ig__pb_rep_count gives the element count of one occurrence; the iterator
 * walks its elements. Both return IG_EFORMAT (with *why) on malformed input or a wrong wire type. */
int ig__pb_rep_count(const ig__pb_field *f, uint32_t elem_wt, size_t *count, const char **why);

typedef struct ig__pb_rep {
    const uint8_t *p;
    size_t len, pos;
    uint32_t wt;
    int single; /* 1: the occurrence was unpacked and its one value is in u */
    uint64_t u;
} ig__pb_rep;

int ig__pb_rep_init(ig__pb_rep *it, const ig__pb_field *f, uint32_t elem_wt, const char **why);
/* 1 with the element's bits in *v, 0 at the end, IG_EFORMAT on malformed input. */
int ig__pb_rep_next(ig__pb_rep *it, uint64_t *v, const char **why);

/* Bit casts of fixed-width payloads (memcpy, never pointer casts). */
static inline float ig__pb_f32(uint64_t u)
{
    uint32_t b = (uint32_t)u;
    float f;
    __builtin_memcpy(&f, &b, sizeof(f));
    return f;
}

static inline double ig__pb_f64(uint64_t u)
{
    double d;
    __builtin_memcpy(&d, &u, sizeof(d));
    return d;
}

#endif
