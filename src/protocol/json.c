/* Strict JSON pull reader: tokens, strings (escapes, UTF-8 validation), numbers, skipping, and the
 * streaming tensor-array path that converts numbers straight into a typed buffer. */
#include "protocol/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(ig_json_reader *r, const char *what)
{
    return ig_error_set(r->err, IG_EINVAL, "JSON: %s at offset %zu", what, (size_t)(r->p - r->begin));
}

void ig_json_init(ig_json_reader *r, const char *text, size_t len, ig_arena *arena, ig_error *err)
{
    r->begin = r->p = text;
    r->end = text + len;
    r->depth = 0;
    r->arena = arena;
    r->err = err;
}

size_t ig_json_offset(const ig_json_reader *r)
{
    return (size_t)(r->p - r->begin);
}

static inline void ws(ig_json_reader *r)
{
    const char *p = r->p, *e = r->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    r->p = p;
}

ig_json_type ig_json_peek(ig_json_reader *r)
{
    ws(r);
    if (r->p >= r->end) return IG_JSON_END;
    switch (*r->p) {
    case '{':
        return IG_JSON_OBJECT;
    case '[':
        return IG_JSON_ARRAY;
    case '"':
        return IG_JSON_STRING;
    case 't':
        return IG_JSON_TRUE;
    case 'f':
        return IG_JSON_FALSE;
    case 'n':
        return IG_JSON_NULL;
    case '-':
    case '0' ... '9':
        return IG_JSON_NUMBER;
    default:
        return IG_JSON_BAD;
    }
}

static const char *type_word(ig_json_type t)
{
    static const char *const w[] = {"end of text", "an object", "an array",
                                    "a string",    "a number",  "true",
                                    "false",       "null",      "an unexpected character"};
    return w[t];
}

static int expect_type(ig_json_reader *r, ig_json_type want, const char *wantword)
{
    ig_json_type t = ig_json_peek(r);
    if (t == want) return 0;
    char msg[96];
    snprintf(msg, sizeof msg, "expected %s, found %s", wantword, type_word(t));
    return fail(r, msg);
}

static int open_nested(ig_json_reader *r)
{
    if (++r->depth > IG_JSON_MAX_DEPTH) return fail(r, "nesting deeper than 100");
    r->p++;
    return 0;
}

int ig_json_obj_begin(ig_json_reader *r)
{
    int rc = expect_type(r, IG_JSON_OBJECT, "an object");
    return rc ? rc : open_nested(r);
}

int ig_json_arr_begin(ig_json_reader *r)
{
    int rc = expect_type(r, IG_JSON_ARRAY, "an array");
    return rc ? rc : open_nested(r);
}

/* After '{' or '[' the first call sees either the closer or a value; later calls need ',' first.
 * The previous character (skipping whitespace backwards is unneeded: we track it) tells which. */
static int container_next(ig_json_reader *r, char closer)
{
    ws(r);
    if (r->p >= r->end) return fail(r, "unterminated object or array");
    /* Find whether we are right after the opener: the last non-space character before p. */
    const char *q = r->p - 1;
    while (q > r->begin && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q--;
    bool first = (*q == '{' || *q == '[') && q >= r->begin;
    /* A '{' or '[' just before could also end a string key like "a[" only if q is inside a string,
     * which cannot be: p only ever rests between tokens and strings end with '"'. */
    if (*r->p == closer) {
        if (!first && *q == ',') return fail(r, "trailing comma");
        r->p++;
        r->depth--;
        return 0;
    }
    if (!first) {
        if (*r->p != ',') return fail(r, closer == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        r->p++;
        ws(r);
        if (r->p < r->end && *r->p == closer) return fail(r, "trailing comma");
    }
    return 1;
}

int ig_json_arr_next(ig_json_reader *r)
{
    return container_next(r, ']');
}

int ig_json_obj_next(ig_json_reader *r, ig_string *key)
{
    int rc = container_next(r, '}');
    if (rc <= 0) return rc;
    if (ig_json_peek(r) != IG_JSON_STRING) return fail(r, "expected a string key");
    if ((rc = ig_json_string(r, key))) return rc;
    ws(r);
    if (r->p >= r->end || *r->p != ':') return fail(r, "expected ':'");
    r->p++;
    return 1;
}

/* ---- strings ---- */

/* Length of a valid UTF-8 sequence starting at p (lead byte >= 0x80), or 0 if invalid. */
static int utf8_seq(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (e - p < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int ig_json_string(ig_json_reader *r, ig_string *out)
{
    int rc = expect_type(r, IG_JSON_STRING, "a string");
    if (rc) return rc;
    const char *start = ++r->p, *p = start, *e = r->end;
    bool escapes = false;
    /* Pass 1: validate and find the end. */
    while (1) {
        if (p >= e) {
            r->p = p;
            return fail(r, "unterminated string");
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c < 0x20) {
            r->p = p;
            return fail(r, "control character in string");
        }
        if (c == '\\') {
            escapes = true;
            if (e - p < 2) {
                r->p = p;
                return fail(r, "unterminated string");
            }
            char x = p[1];
            if (x == 'u') {
                unsigned cp;
                if (e - p < 6 || hex4(p + 2, &cp)) {
                    r->p = p;
                    return fail(r, "bad \\u escape");
                }
                p += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 ||
                        lo > 0xDFFF) {
                        r->p = p;
                        return fail(r, "unpaired UTF-16 surrogate in \\u escape");
                    }
                    p += 6;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    r->p = p;
                    return fail(r, "unpaired UTF-16 surrogate in \\u escape");
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", x) || !x) {
                r->p = p;
                return fail(r, "bad escape in string");
            }
            p += 2;
            continue;
        }
        if (c >= 0x80) {
            int n = utf8_seq((const unsigned char *)p, (const unsigned char *)e);
            if (!n) {
                r->p = p;
                return fail(r, "invalid UTF-8 in string");
            }
            p += n;
            continue;
        }
        p++;
    }
    r->p = p + 1;
    if (!escapes) {
        out->ptr = start;
        out->len = (size_t)(p - start);
        return 0;
    }
    /* Pass 2: unescape; the result is never longer than the source. */
    char *o = ig_arena_alloc(r->arena, (size_t)(p - start) + 1, 1);
    if (!o) return ig_error_set(r->err, IG_ENOMEM, "JSON: out of memory for a string");
    size_t n = 0;
    for (const char *q = start; q < p;) {
        if (*q != '\\') {
            o[n++] = *q++;
            continue;
        }
        char x = q[1];
        q += 2;
        switch (x) {
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            unsigned cp = 0, lo = 0;
            hex4(q, &cp);
            q += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                hex4(q + 2, &lo);
                q += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default:
            o[n++] = x;
        }
    }
    o[n] = 0;
    out->ptr = o;
    out->len = n;
    return 0;
}

int ig_json_cstr(ig_json_reader *r, const char **out)
{
    ig_string s;
    size_t off = ig_json_offset(r);
    int rc = ig_json_string(r, &s);
    if (rc) return rc;
    if (memchr(s.ptr, 0, s.len))
        return ig_error_set(r->err, IG_EINVAL, "JSON: NUL character in a name at offset %zu", off);
    char *c = ig_arena_strndup(r->arena, s.ptr, s.len);
    if (!c) return ig_error_set(r->err, IG_ENOMEM, "JSON: out of memory for a string");
    *out = c;
    return 0;
}

/* ---- literals and numbers ---- */

static int literal(ig_json_reader *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n)) return fail(r, "invalid literal");
    r->p += n;
    return 0;
}

int ig_json_bool(ig_json_reader *r, bool *out)
{
    ig_json_type t = ig_json_peek(r);
    if (t == IG_JSON_TRUE) {
        *out = true;
        return literal(r, "true", 4);
    }
    if (t == IG_JSON_FALSE) {
        *out = false;
        return literal(r, "false", 5);
    }
    char msg[64];
    snprintf(msg, sizeof msg, "expected true or false, found %s", type_word(t));
    return fail(r, msg);
}

/* A scanned number token: grammar checked, digits located, value not yet converted. */
typedef struct numtok {
    const char *start, *end;
    bool neg, integral; /* integral: no fraction and no exponent */
    uint64_t mant;      /* first up to 19 significant digits */
    int exp10;          /* value = mant * 10^exp10 (when !trunc) */
    bool trunc;         /* more than 19 significant digits: mant is inexact */
    bool int_overflow;  /* integral digits do not fit uint64 */
} numtok;

static int scan_number(ig_json_reader *r, numtok *t)
{
    const char *p = r->p, *e = r->end;
    t->start = p;
    t->neg = false;
    t->trunc = false;
    t->int_overflow = false;
    if (p < e && *p == '-') {
        t->neg = true;
        p++;
    }
    if (p >= e || (unsigned)(*p - '0') > 9) return fail(r, "invalid number");
    uint64_t m = 0;
    int nd = 0, dropped = 0; /* significant digits kept, integer digits dropped */
    if (*p == '0') {
        p++;
        if (p < e && (unsigned)(*p - '0') <= 9) return fail(r, "leading zero in number");
    } else {
        while (p < e && (unsigned)(*p - '0') <= 9) {
            unsigned d = (unsigned)(*p - '0');
            if (nd < 19) {
                m = m * 10 + d;
                nd++;
            } else {
                dropped++;
                if (d) t->trunc = true;
            }
            p++;
        }
    }
    /* Integral digits beyond 19 might still fit uint64 (20 digits); recompute exactly when needed. */
    int exp10 = dropped;
    t->integral = true;
    if (p < e && *p == '.') {
        t->integral = false;
        p++;
        if (p >= e || (unsigned)(*p - '0') > 9) return fail(r, "digit expected after '.'");
        while (p < e && (unsigned)(*p - '0') <= 9) {
            unsigned d = (unsigned)(*p - '0');
            if (nd < 19) {
                if (m || d) {
                    m = m * 10 + d;
                    nd++;
                }
                exp10--;
            } else if (d)
                t->trunc = true;
            p++;
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        t->integral = false;
        p++;
        bool eneg = false;
        if (p < e && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= e || (unsigned)(*p - '0') > 9) return fail(r, "digit expected in exponent");
        int x = 0;
        while (p < e && (unsigned)(*p - '0') <= 9) {
            if (x < 100000) x = x * 10 + (*p - '0');
            p++;
        }
        exp10 += eneg ? -x : x;
    }
    t->end = p;
    t->mant = m;
    t->exp10 = exp10;
    if (t->integral && dropped) t->int_overflow = true; /* > 19 digits: checked exactly by to_u64 */
    r->p = p;
    return 0;
}

/* Exact magnitude of an integral token as uint64; false when it does not fit. */
static bool tok_u64(const numtok *t, uint64_t *out)
{
    if (!t->int_overflow) {
        *out = t->mant;
        return true;
    }
    const char *p = t->start + t->neg;
    uint64_t v = 0;
    for (; p < t->end; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static double slow_double(const numtok *t, bool as_float, bool *ok)
{
    char buf[512];
    size_t n = (size_t)(t->end - t->start);
    if (n >= sizeof buf) {
        *ok = false;
        return 0;
    }
    memcpy(buf, t->start, n);
    buf[n] = 0;
    *ok = true;
    return as_float ? (double)strtof(buf, NULL) : strtod(buf, NULL);
}

static const long double p10l[28] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
                                     1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
                                     1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
static const double p10d[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Value of a token as float (FP32/FP16 targets): m and 10^|e| (e <= 27) are exact in the 64-bit
 * long double mantissa, so one rounding there and one to float: correctly rounded except for
 * double-rounding ties about 2^-40 apart. Returns false when the text is too long to convert. */
static bool tok_float(const numtok *t, float *out)
{
    if (!t->trunc && t->exp10 >= -27 && t->exp10 <= 27) {
        long double v = (long double)t->mant;
        v = t->exp10 < 0 ? v / p10l[-t->exp10] : v * p10l[t->exp10];
        float f = (float)v;
        *out = t->neg ? -f : f;
        return true;
    }
    if (t->mant == 0 && !t->trunc) {
        *out = t->neg ? -0.0f : 0.0f;
        return true;
    }
    bool ok;
    *out = (float)slow_double(t, true, &ok);
    return ok;
}

/* FP64: Clinger's exact fast path, else the C library (correctly rounded in glibc). */
static bool tok_double(const numtok *t, double *out)
{
    if (!t->trunc && t->mant < (1ull << 53) && t->exp10 >= -22 && t->exp10 <= 22) {
        double v = (double)t->mant;
        v = t->exp10 < 0 ? v / p10d[-t->exp10] : v * p10d[t->exp10];
        *out = t->neg ? -v : v;
        return true;
    }
    bool ok;
    *out = slow_double(t, false, &ok);
    return ok;
}

static int number_tok(ig_json_reader *r, numtok *t)
{
    int rc = expect_type(r, IG_JSON_NUMBER, "a number");
    return rc ? rc : scan_number(r, t);
}

int ig_json_uint64(ig_json_reader *r, uint64_t *out)
{
    numtok t;
    const char *at = (ws(r), r->p);
    int rc = number_tok(r, &t);
    if (rc) return rc;
    uint64_t v;
    if (!t.integral) return r->p = at, fail(r, "expected an integer");
    if ((t.neg && (t.mant || t.int_overflow)) || !tok_u64(&t, &v))
        return r->p = at, fail(r, "integer out of range for uint64");
    *out = t.neg ? 0 : v;
    return 0;
}

int ig_json_int64(ig_json_reader *r, int64_t *out)
{
    numtok t;
    const char *at = (ws(r), r->p);
    int rc = number_tok(r, &t);
    if (rc) return rc;
    uint64_t v;
    if (!t.integral) return r->p = at, fail(r, "expected an integer");
    if (!tok_u64(&t, &v) || v > (t.neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return r->p = at, fail(r, "integer out of range for int64");
    *out = t.neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int ig_json_double(ig_json_reader *r, double *out)
{
    numtok t;
    const char *at = (ws(r), r->p);
    int rc = number_tok(r, &t);
    if (rc) return rc;
    if (!tok_double(&t, out) || !isfinite(*out)) return r->p = at, fail(r, "number out of range");
    return 0;
}

int ig_json_skip(ig_json_reader *r)
{
    /* Iterative: a stack of container kinds is unnecessary because container_next checks closers
     * against the opener we are in, which we track with a small bitset (depth <= 100). */
    uint64_t kinds[2] = {0, 0}; /* bit set = object */
    int base = r->depth, rc;
    ig_string key;
    do {
        int level = r->depth - base; /* containers open inside this skip */
        bool in_obj = level > 0 && (kinds[(level - 1) / 64] >> ((level - 1) % 64) & 1);
        if (level > 0) {
            rc = in_obj ? ig_json_obj_next(r, &key) : ig_json_arr_next(r);
            if (rc < 0) return rc;
            if (rc == 0) continue; /* closed one */
        }
        switch (ig_json_peek(r)) {
        case IG_JSON_OBJECT:
        case IG_JSON_ARRAY: {
            bool obj = *r->p == '{';
            if ((rc = open_nested(r))) return rc;
            int l = r->depth - base - 1;
            if (obj)
                kinds[l / 64] |= 1ull << (l % 64);
            else
                kinds[l / 64] &= ~(1ull << (l % 64));
            break;
        }
        case IG_JSON_STRING: {
            ig_string s;
            /* Validation without unescaping into the arena would be nicer; strings are rare here. */
            if ((rc = ig_json_string(r, &s))) return rc;
            break;
        }
        case IG_JSON_NUMBER: {
            numtok t;
            if ((rc = scan_number(r, &t))) return rc;
            break;
        }
        case IG_JSON_TRUE:
            if ((rc = literal(r, "true", 4))) return rc;
            break;
        case IG_JSON_FALSE:
            if ((rc = literal(r, "false", 5))) return rc;
            break;
        case IG_JSON_NULL:
            if ((rc = literal(r, "null", 4))) return rc;
            break;
        case IG_JSON_END:
            return fail(r, "unexpected end of text");
        default:
            return fail(r, "unexpected character");
        }
    } while (r->depth > base);
    return 0;
}

int ig_json_finish(ig_json_reader *r)
{
    ws(r);
    if (r->p != r->end) return fail(r, "trailing characters after the JSON value");
    return 0;
}

/* ---- half precision ---- */

uint16_t ig_json_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7FFFFFFF;
    if (ax >= 0x7F800000) return (uint16_t)(sign | 0x7C00 | (ax > 0x7F800000 ? 0x200 : 0));
    if (ax >= 0x477FF000) return (uint16_t)(sign | 0x7C00); /* rounds to >= 65520: infinity */
    if (ax < 0x38800000) {                                  /* subnormal half or zero */
        float a;
        memcpy(&a, &ax, 4);
        /* Adding 0.5 aligns the half subnormal grid to float's ulp: the FPU rounds to nearest even. */
        float s = a + 0.5f;
        uint32_t sx;
        memcpy(&sx, &s, 4);
        return (uint16_t)(sign | (sx - 0x3F000000));
    }
    uint32_t mant_odd = (ax >> 13) & 1;
    ax += 0xC8000FFF + mant_odd; /* rebias exponent (-112 << 23) and round to nearest even */
    return (uint16_t)(sign | (ax >> 13));
}

float ig_json_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF, x;
    if (e == 0) {
        float f = (float)m * 0x1p-24f;
        return sign ? -f : f;
    }
    if (e == 31)
        x = sign | 0x7F800000 | (m << 13);
    else
        x = sign | ((e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

float ig_json_bf16_to_f32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- streaming tensor arrays ---- */

static int elem_fail(ig_json_reader *r, size_t idx, const char *what)
{
    return ig_error_set(r->err, IG_EINVAL, "element %zu %s (JSON offset %zu)", idx, what,
                        (size_t)(r->p - r->begin));
}

/* Converts one number token into element i of dst. */
static int store_number(ig_json_reader *r, const numtok *t, ig_dtype dt, void *dst, size_t i)
{
    switch (dt) {
    case IG_DT_FLOAT: {
        float f;
        if (!tok_float(t, &f)) return elem_fail(r, i, "is too long a number");
        if (isinf(f)) return elem_fail(r, i, "is out of range for FP32");
        ((float *)dst)[i] = f;
        return 0;
    }
    case IG_DT_DOUBLE: {
        double d;
        if (!tok_double(t, &d)) return elem_fail(r, i, "is too long a number");
        if (isinf(d)) return elem_fail(r, i, "is out of range for FP64");
        ((double *)dst)[i] = d;
        return 0;
    }
    case IG_DT_FLOAT16: {
        float f;
        if (!tok_float(t, &f)) return elem_fail(r, i, "is too long a number");
        uint16_t h = ig_json_f32_to_f16(f);
        if ((h & 0x7FFF) == 0x7C00) return elem_fail(r, i, "is out of range for FP16");
        ((uint16_t *)dst)[i] = h;
        return 0;
    }
    default:
        break;
    }
    if (!t->integral) return elem_fail(r, i, "is not an integer");
    uint64_t mag;
    bool fits = tok_u64(t, &mag);
    int64_t lo;
    uint64_t hi;
    switch (dt) {
    case IG_DT_INT8:
        lo = INT8_MIN, hi = INT8_MAX;
        break;
    case IG_DT_INT16:
        lo = INT16_MIN, hi = INT16_MAX;
        break;
    case IG_DT_INT32:
        lo = INT32_MIN, hi = INT32_MAX;
        break;
    case IG_DT_INT64:
        lo = INT64_MIN, hi = INT64_MAX;
        break;
    case IG_DT_UINT8:
        lo = 0, hi = UINT8_MAX;
        break;
    case IG_DT_UINT16:
        lo = 0, hi = UINT16_MAX;
        break;
    case IG_DT_UINT32:
        lo = 0, hi = UINT32_MAX;
        break;
    default:
        lo = 0, hi = UINT64_MAX;
        break;
    }
    char what[48];
    if (!fits || (t->neg ? (mag && (lo == 0 || mag > (uint64_t)(-(lo + 1)) + 1)) : mag > hi)) {
        snprintf(what, sizeof what, "is out of range for %s", ig_dtype_name(dt));
        return elem_fail(r, i, what);
    }
    int64_t v = t->neg ? (int64_t)(0 - mag) : (int64_t)mag;
    switch (dt) {
    case IG_DT_INT8:
        ((int8_t *)dst)[i] = (int8_t)v;
        break;
    case IG_DT_UINT8:
        ((uint8_t *)dst)[i] = (uint8_t)v;
        break;
    case IG_DT_INT16:
        ((int16_t *)dst)[i] = (int16_t)v;
        break;
    case IG_DT_UINT16:
        ((uint16_t *)dst)[i] = (uint16_t)v;
        break;
    case IG_DT_INT32:
        ((int32_t *)dst)[i] = (int32_t)v;
        break;
    case IG_DT_UINT32:
        ((uint32_t *)dst)[i] = (uint32_t)v;
        break;
    case IG_DT_INT64:
        ((int64_t *)dst)[i] = v;
        break;
    default:
        ((uint64_t *)dst)[i] = mag;
        break;
    }
    return 0;
}

static int read_element(ig_json_reader *r, ig_dtype dt, void *dst, size_t cap, size_t i)
{
    int rc;
    ig_json_type ty = ig_json_peek(r);
    if (dt == IG_DT_STRING) {
        if (ty != IG_JSON_STRING) return elem_fail(r, i, "is not a string");
        ig_string s;
        if ((rc = ig_json_string(r, &s))) return rc;
        if (i < cap) ((ig_string *)dst)[i] = s;
        return 0;
    }
    if (dt == IG_DT_BOOL) {
        if (ty != IG_JSON_TRUE && ty != IG_JSON_FALSE) return elem_fail(r, i, "is not true or false");
        bool b;
        if ((rc = ig_json_bool(r, &b))) return rc;
        if (i < cap) ((uint8_t *)dst)[i] = b;
        return 0;
    }
    if (ty != IG_JSON_NUMBER) return elem_fail(r, i, "is not a number");
    numtok t;
    if ((rc = scan_number(r, &t))) return rc;
    return i < cap ? store_number(r, &t, dt, dst, i) : 0;
}

/* Hot loop for a flat FP32 array: the common large-tensor case, without the generic dispatch. It
 * takes a separator only when another number follows, so it always stops right after a number and
 * leaves ']' (or anything unusual) to container_next. */
static int read_f32_run(ig_json_reader *r, float *dst, size_t cap, size_t *n)
{
    const char *e = r->end;
    size_t i = *n;
    while (i < cap) {
        numtok t;
        int rc = scan_number(r, &t);
        if (rc) return rc;
        if (!tok_float(&t, &dst[i])) return elem_fail(r, i, "is too long a number");
        if (isinf(dst[i])) return elem_fail(r, i, "is out of range for FP32");
        i++;
        ws(r);
        const char *q = r->p;
        if (i == cap || q >= e || *q != ',') break;
        q++;
        while (q < e && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q++;
        if (q >= e || !(*q == '-' || (unsigned)(*q - '0') <= 9)) break;
        r->p = q;
    }
    *n = i;
    return 0;
}

int ig_json_read_tensor(ig_json_reader *r, ig_dtype dt, void *dst, size_t cap, size_t *count)
{
    if (dt == IG_DT_BFLOAT16 || dt == IG_DT_COMPLEX64 || dt == IG_DT_COMPLEX128 || dt == IG_DT_UNDEFINED ||
        ig_dtype_size(dt) == 0)
        return ig_error_set(r->err, IG_EUNSUPPORTED, "%s data has no JSON form: send it as binary data",
                            ig_dtype_name(dt));
    size_t n = 0;
    int rc;
    if (ig_json_peek(r) != IG_JSON_ARRAY) {
        rc = read_element(r, dt, dst, cap, 0);
        *count = 1;
        return rc;
    }
    int base = r->depth;
    if ((rc = open_nested(r))) return rc;
    while (r->depth > base) {
        rc = ig_json_arr_next(r);
        if (rc < 0) return rc;
        if (rc == 0) continue;
        ig_json_type ty = ig_json_peek(r);
        if (ty == IG_JSON_ARRAY) {
            if ((rc = open_nested(r))) return rc;
            continue;
        }
        if (dt == IG_DT_FLOAT && ty == IG_JSON_NUMBER && n < cap) {
            /* The run stops before ']' or anything unusual; container_next then takes over. */
            if ((rc = read_f32_run(r, dst, cap, &n))) return rc;
            continue;
        }
        if ((rc = read_element(r, dt, dst, cap, n))) return rc;
        n++;
    }
    *count = n;
    return 0;
}

/* ---- writer ---- */

void ig_jw_reserve(ig_json_writer *w, size_t extra)
{
    if (w->oom || w->cap - w->len > extra) return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len <= extra) {
        if (cap > SIZE_MAX / 2) {
            w->oom = 1;
            return;
        }
        cap *= 2;
    }
    char *d = realloc(w->data, cap);
    if (!d) {
        w->oom = 1;
        return;
    }
    w->data = d;
    w->cap = cap;
}

void ig_jw_raw(ig_json_writer *w, const char *s, size_t n)
{
    ig_jw_reserve(w, n);
    if (w->oom) return;
    memcpy(w->data + w->len, s, n);
    w->len += n;
}

void ig_jw_lit(ig_json_writer *w, const char *s)
{
    ig_jw_raw(w, s, strlen(s));
}

void ig_jw_char(ig_json_writer *w, char c)
{
    ig_jw_reserve(w, 1);
    if (w->oom) return;
    w->data[w->len++] = c;
}

void ig_jw_str(ig_json_writer *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n > (SIZE_MAX - 2) / 6) {
        w->oom = 1;
        return;
    }
    ig_jw_reserve(w, n * 6 + 2);
    if (w->oom) return;
    char *o = w->data + w->len;
    *o++ = '"';
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            p++;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            p++;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            default:
                *o++ = 'u', *o++ = '0', *o++ = '0', *o++ = hex[c >> 4], *o++ = hex[c & 15];
            }
            p++;
        } else {
            int k = utf8_seq(p, e);
            if (k) {
                memcpy(o, p, (size_t)k);
                o += k;
                p += k;
            } else {
                memcpy(o, "\\ufffd", 6); /* binary in a BYTES element: keep the JSON valid */
                o += 6;
                p++;
            }
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->data);
}

void ig_jw_cstr(ig_json_writer *w, const char *s)
{
    ig_jw_str(w, s ? s : "", s ? strlen(s) : 0);
}

static size_t fmt_u64(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    return n;
}

void ig_jw_u64(ig_json_writer *w, uint64_t v)
{
    ig_jw_reserve(w, 24);
    if (w->oom) return;
    w->len += fmt_u64(w->data + w->len, v);
}

void ig_jw_i64(ig_json_writer *w, int64_t v)
{
    ig_jw_reserve(w, 24);
    if (w->oom) return;
    char *o = w->data + w->len;
    uint64_t m = (uint64_t)v;
    if (v < 0) {
        *o++ = '-';
        m = 0 - m;
    }
    o += fmt_u64(o, m);
    w->len = (size_t)(o - w->data);
}

/* Writes digits (ndig significant, no leading zero) with decimal exponent E (value = d.ddd * 10^E)
 * in plain notation for -5 <= E < 17, else d.ddde±X. Trailing zeros were already removed. */
static size_t fmt_digits(char *o, bool neg, const char *dig, int ndig, int E)
{
    char *s = o;
    if (neg) *o++ = '-';
    if (E >= 0 && E < 17) {
        for (int i = 0; i <= E; i++) *o++ = i < ndig ? dig[i] : '0';
        if (ndig > E + 1) {
            *o++ = '.';
            for (int i = E + 1; i < ndig; i++) *o++ = dig[i];
        }
    } else if (E < 0 && E >= -5) {
        *o++ = '0';
        *o++ = '.';
        for (int i = -1; i > E; i--) *o++ = '0';
        for (int i = 0; i < ndig; i++) *o++ = dig[i];
    } else {
        *o++ = dig[0];
        if (ndig > 1) {
            *o++ = '.';
            for (int i = 1; i < ndig; i++) *o++ = dig[i];
        }
        *o++ = 'e';
        if (E < 0) {
            *o++ = '-';
            E = -E;
        }
        o += fmt_u64(o, (uint64_t)E);
    }
    return (size_t)(o - s);
}

static const double p10w[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                              1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static double pow10i(int k)
{
    double r = 1;
    int a = k < 0 ? -k : k;
    while (a > 22) {
        r *= 1e22;
        a -= 22;
    }
    r *= p10w[a];
    return k < 0 ? 1 / r : r;
}

void ig_jw_f32(ig_json_writer *w, float f)
{
    if (!isfinite(f)) {
        ig_jw_raw(w, "null", 4);
        return;
    }
    ig_jw_reserve(w, 32);
    if (w->oom) return;
    char *o = w->data + w->len;
    if (f == 0) {
        w->len += signbit(f) ? (memcpy(o, "-0.0", 4), 4) : (memcpy(o, "0.0", 3), 3);
        return;
    }
    double v = fabs((double)f);
    /* Small integers: exact and common (labels, counts, ReLU outputs). */
    if (v < 16777216.0 && v == (double)(int32_t)v) {
        char *s = o;
        if (f < 0) *o++ = '-';
        o += fmt_u64(o, (uint64_t)v);
        w->len += (size_t)(o - s);
        return;
    }
    /* 9 significant digits: scale into [1e8, 1e9) in double (error ~1e-16 relative, far inside the
     * 9-digit grid, so the printed value still round-trips to the same float). */
    int E = (int)floor(log10(v));
    double scaled = v * pow10i(8 - E);
    uint64_t m = (uint64_t)llround(scaled);
    if (m >= 1000000000ull) {
        m = (m + 5) / 10;
        E++;
    } else if (m < 100000000ull) {
        m = (uint64_t)llround(v * pow10i(9 - E));
        E--;
        if (m >= 1000000000ull) {
            m = (m + 5) / 10;
            E++;
        }
    }
    char dig[10];
    fmt_u64(dig, m);
    int nd = 9;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    w->len += fmt_digits(o, f < 0, dig, nd, E);
}

void ig_jw_f64(ig_json_writer *w, double d)
{
    if (!isfinite(d)) {
        ig_jw_raw(w, "null", 4);
        return;
    }
    ig_jw_reserve(w, 40);
    if (w->oom) return;
    char *o = w->data + w->len;
    double v = fabs(d);
    if (v < 9007199254740992.0 && v == floor(v) && d != 0) {
        char *s = o;
        if (d < 0) *o++ = '-';
        o += fmt_u64(o, (uint64_t)v);
        w->len += (size_t)(o - s);
        return;
    }
    if (d == 0) {
        w->len += signbit(d) ? (memcpy(o, "-0.0", 4), 4) : (memcpy(o, "0.0", 3), 3);
        return;
    }
    /* %.17e gives the digits exactly (glibc is correctly rounded); reformat JSON-style. */
    char buf[40];
    snprintf(buf, sizeof buf, "%.16e", v);
    char dig[18];
    int nd = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') dig[nd++] = *p;
    int E = atoi(p + 1);
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    w->len += fmt_digits(o, d < 0, dig, nd, E);
}

char *ig_jw_take(ig_json_writer *w, size_t *len)
{
    ig_jw_char(w, 0);
    if (w->oom) {
        ig_jw_free(w);
        if (len) *len = 0;
        return NULL;
    }
    char *d = w->data;
    if (len) *len = w->len - 1;
    w->data = NULL;
    w->len = w->cap = 0;
    return d;
}

void ig_jw_free(ig_json_writer *w)
{
    free(w->data);
    w->data = NULL;
    w->len = w->cap = 0;
}
