/* A small strict JSON (RFC 8259) pull reader and a growable JSON writer. The reader walks the text in
 * place (no DOM), validates UTF-8 and nesting depth, and has a streaming path that parses a numeric
 * or string array straight into a typed tensor buffer: large JSON tensors never become a tree.
 * Duplicate keys are the caller's business: it sees every key in order and decides. */
#ifndef IG_PROTOCOL_JSON_H
#define IG_PROTOCOL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "infergate/error.h"
#include "infergate/tensor.h"

enum { IG_JSON_MAX_DEPTH = 100 };

typedef enum ig_json_type {
    IG_JSON_END = 0, /* no more text */
    IG_JSON_OBJECT,
    IG_JSON_ARRAY,
    IG_JSON_STRING,
    IG_JSON_NUMBER,
    IG_JSON_TRUE,
    IG_JSON_FALSE,
    IG_JSON_NULL,
    IG_JSON_BAD, /* a character no value starts with */
} ig_json_type;

/* Owned by one thread; holds borrowed pointers into the text, the arena (for unescaped strings) and
 * the error. Every function returns 0 (or a count/flag >= 0) or a negative IG_E* with err filled as
 * "JSON: <what> at offset N". */
typedef struct ig_json_reader {
    const char *begin, *p, *end;
    int depth;
    ig_arena *arena;
    ig_error *err;
} ig_json_reader;

void ig_json_init(ig_json_reader *r, const char *text, size_t len, ig_arena *arena, ig_error *err);
/* Type of the next value (after whitespace), without consuming it. */
ig_json_type ig_json_peek(ig_json_reader *r);
size_t ig_json_offset(const ig_json_reader *r);

/* Objects: begin consumes '{'; next returns 1 with *key set (and ':' consumed) or 0 after the
 * closing '}'. Keys are unescaped and need not be NUL-terminated. */
int ig_json_obj_begin(ig_json_reader *r);
int ig_json_obj_next(ig_json_reader *r, ig_string *key);
/* Arrays: begin consumes '['; next returns 1 when an element follows, 0 after the closing ']'. */
int ig_json_arr_begin(ig_json_reader *r);
int ig_json_arr_next(ig_json_reader *r);

/* Scalars. ig_json_string points into the text when the string has no escapes, else into the
 * arena. ig_json_cstr gives a NUL-terminated arena copy and refuses embedded NULs. */
int ig_json_string(ig_json_reader *r, ig_string *out);
int ig_json_cstr(ig_json_reader *r, const char **out);
int ig_json_bool(ig_json_reader *r, bool *out);
int ig_json_int64(ig_json_reader *r, int64_t *out); /* integers only: 1.0 and 1e3 are refused */
int ig_json_uint64(ig_json_reader *r, uint64_t *out);
int ig_json_double(ig_json_reader *r, double *out); /* finite only */
int ig_json_skip(ig_json_reader *r);                /* any value, checked but not kept */
/* Only whitespace may remain. */
int ig_json_finish(ig_json_reader *r);

/* Streams an array of elements (nested arrays are flattened, depth-checked) into dst as dtype dt:
 * numbers for the numeric types (converted with range checks; integers must be integral), true/false
 * for BOOL, strings for STRING (ig_string elements). Stores at most cap elements but counts them all
 * into *count, so a caller can report "needs 6 elements, got 5". A scalar in place of the array is one
 * element. Element errors name the element's flat index. IG_DT_BFLOAT16 and complex types are refused. */
int ig_json_read_tensor(ig_json_reader *r, ig_dtype dt, void *dst, size_t cap, size_t *count);

/* IEEE half/bfloat16 conversions (round to nearest even), shared with the encoder. */
uint16_t ig_json_f32_to_f16(float f);
float ig_json_f16_to_f32(uint16_t h);
float ig_json_bf16_to_f32(uint16_t h);

/* Growable output buffer (malloc). On OOM `oom` is set and further writes are dropped. */
typedef struct ig_json_writer {
    char *data;
    size_t len, cap;
    int oom;
} ig_json_writer;

void ig_jw_reserve(ig_json_writer *w, size_t extra);
void ig_jw_raw(ig_json_writer *w, const char *s, size_t n);
void ig_jw_lit(ig_json_writer *w, const char *s); /* NUL-terminated raw text */
void ig_jw_char(ig_json_writer *w, char c);
/* A JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD so the output stays valid. */
void ig_jw_str(ig_json_writer *w, const char *s, size_t n);
void ig_jw_cstr(ig_json_writer *w, const char *s);
void ig_jw_i64(ig_json_writer *w, int64_t v);
void ig_jw_u64(ig_json_writer *w, uint64_t v);
/* Floats: 9 significant digits for FP32 (always round-trips), 17 for FP64, trailing zeros dropped;
 * NaN and infinities (not JSON) are written as null. */
void ig_jw_f32(ig_json_writer *w, float v);
void ig_jw_f64(ig_json_writer *w, double v);
/* Takes the buffer: returns data (NUL-terminated, caller frees) or NULL after OOM. */
char *ig_jw_take(ig_json_writer *w, size_t *len);
void ig_jw_free(ig_json_writer *w);

#endif
