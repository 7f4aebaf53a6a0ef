/* config.pbtxt reader: protobuf text format (comments, `name: value`, `name { }`/`< >`, lists,
 * string concatenation, dec/hex/octal ints, enums by name or number) parsed into a small tree, then
 * walked against the ModelConfig fields infergate honours. Every error names the line it is on. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serving/config.h"

#define MAX_DEPTH 32             /* ModelConfig nests ~5 deep; bounds recursion on hostile input */
#define MAX_PRIORITY_LEVELS 1024 /* per-level queues are allocated; Triton configs use a handful */

/* ---- tokens ---- */

enum { T_EOF, T_IDENT, T_NUM, T_STR, T_PUNCT };

typedef struct tok {
    int kind;
    int line;
    const char *s; /* IDENT/NUM: into the text; STR: decoded into the arena; PUNCT: the char */
    size_t len;
} tok;

typedef struct pctx {
    const char *p, *end;
    int line;
    ig_arena *a;
    ig_error *err;
    tok cur;
    bool have;
    char *scratch; /* text length + 1: decoded strings never outgrow their source */
} pctx;

static int perr(pctx *p, int line, const char *fmt, const char *a1, const char *a2)
{
    char msg[400];
    snprintf(msg, sizeof(msg), fmt, a1 ? a1 : "", a2 ? a2 : "");
    return ig_error_set(p->err, IG_EFORMAT, "config.pbtxt:%d: %s", line, msg);
}

static void skip_space(pctx *p)
{
    while (p->p < p->end) {
        char c = *p->p;
        if (c == '\n') {
            p->line++;
            p->p++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            p->p++;
        } else if (c == '#') {
            while (p->p < p->end && *p->p != '\n') p->p++;
        } else {
            break;
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Appends the UTF-8 encoding of cp. */
static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one quoted string starting at p->p (the quote) into o; returns bytes written or <0. */
static long decode_string(pctx *p, char *o)
{
    char q = *p->p++;
    size_t n = 0;
    while (1) {
        if (p->p >= p->end || *p->p == '\n') return perr(p, p->line, "unterminated string", NULL, NULL);
        char c = *p->p++;
        if (c == q) break;
        if (c != '\\') {
            if (c == 0) return perr(p, p->line, "string contains a NUL byte", NULL, NULL);
            o[n++] = c;
            continue;
        }
        if (p->p >= p->end) return perr(p, p->line, "unterminated string", NULL, NULL);
        c = *p->p++;
        unsigned v = 0;
        switch (c) {
        case 'n':
            o[n++] = '\n';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 'a':
            o[n++] = '\a';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'v':
            o[n++] = '\v';
            break;
        case '?':
            o[n++] = '?';
            break;
        case '\\':
            o[n++] = '\\';
            break;
        case '\'':
            o[n++] = '\'';
            break;
        case '"':
            o[n++] = '"';
            break;
        case 'x':
        case 'X': {
            int k = 0, h;
            while (k < 2 && p->p < p->end && (h = hexval(*p->p)) >= 0) v = v * 16 + h, p->p++, k++;
            if (!k) return perr(p, p->line, "\\x needs hex digits", NULL, NULL);
            if (!v) return perr(p, p->line, "string contains a NUL byte", NULL, NULL);
            o[n++] = (char)v;
            break;
        }
        case 'u':
        case 'U': {
            int want = c == 'u' ? 4 : 8, h;
            for (int k = 0; k < want; k++) {
                if (p->p >= p->end || (h = hexval(*p->p)) < 0)
                    return perr(p, p->line, "bad \\u escape in string", NULL, NULL);
                v = v * 16 + h, p->p++;
            }
            if (!v || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
                return perr(p, p->line, "bad \\u escape in string", NULL, NULL);
            n += put_utf8(o + n, v);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                v = c - '0';
                for (int k = 0; k < 2 && p->p < p->end && *p->p >= '0' && *p->p <= '7'; k++)
                    v = v * 8 + (*p->p++ - '0');
                if (!v || v > 255) return perr(p, p->line, "bad octal escape in string", NULL, NULL);
                o[n++] = (char)v;
                break;
            }
            return perr(p, p->line, "unknown escape in string", NULL, NULL);
        }
    }
    return (long)n;
}

static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int lex(pctx *p, tok *t)
{
    skip_space(p);
    t->line = p->line;
    if (p->p >= p->end) {
        t->kind = T_EOF;
        t->s = "end of file";
        t->len = 11;
        return 0;
    }
    char c = *p->p;
    if (c == '"' || c == '\'') {
        /* Adjacent literals concatenate; decoded bytes never exceed the source bytes. */
        char *buf = p->scratch;
        size_t n = 0;
        do {
            long r = decode_string(p, buf + n);
            if (r < 0) return (int)r;
            n += (size_t)r;
            skip_space(p);
        } while (p->p < p->end && (*p->p == '"' || *p->p == '\''));
        buf = ig_arena_strndup(p->a, buf, n);
        if (!buf) return ig_error_set(p->err, IG_ENOMEM, "out of memory parsing config.pbtxt");
        t->kind = T_STR;
        t->s = buf;
        t->len = n;
        return 0;
    }
    const char *start = p->p;
    if (is_ident_start(c)) {
        while (p->p < p->end && is_ident_char(*p->p)) p->p++;
        t->kind = T_IDENT;
    } else if ((c >= '0' && c <= '9') || c == '.' || c == '-') {
        if (c == '-') p->p++;
        while (p->p < p->end) {
            char d = *p->p;
            if (is_ident_char(d) || d == '.') {
                p->p++;
            } else if ((d == '+' || d == '-') && (p->p[-1] == 'e' || p->p[-1] == 'E') &&
                       !(start[0] == '0' && (start[1] == 'x' || start[1] == 'X'))) {
                p->p++;
            } else {
                break;
            }
        }
        t->kind = T_NUM;
        if (c == '-' && p->p == start + 1) {
            /* `- 5`, `-inf`: a sign separated from its value. */
            skip_space(p);
            const char *v = p->p;
            while (p->p < p->end && (is_ident_char(*p->p) || *p->p == '.')) p->p++;
            if (p->p == v) return perr(p, t->line, "'-' must be followed by a number", NULL, NULL);
            char *buf = ig_arena_alloc(p->a, (size_t)(p->p - v) + 2, 1);
            if (!buf) return ig_error_set(p->err, IG_ENOMEM, "out of memory parsing config.pbtxt");
            buf[0] = '-';
            memcpy(buf + 1, v, (size_t)(p->p - v));
            t->s = buf;
            t->len = (size_t)(p->p - v) + 1;
            return 0;
        }
    } else if (strchr(":{}<>[],;", c)) {
        p->p++;
        t->kind = T_PUNCT;
    } else {
        char s[8];
        snprintf(s, sizeof(s), (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? "'%c'" : "0x%02x",
                 (unsigned char)c);
        return perr(p, t->line, "unexpected character %s", s, NULL);
    }
    t->s = start;
    t->len = (size_t)(p->p - start);
    return 0;
}

static int peek(pctx *p, tok **t)
{
    if (!p->have) {
        int rc = lex(p, &p->cur);
        if (rc) return rc;
        p->have = true;
    }
    *t = &p->cur;
    return 0;
}

static void consume(pctx *p)
{
    p->have = false;
}

static int is_punct(const tok *t, char c)
{
    return t->kind == T_PUNCT && t->s[0] == c;
}

/* ---- tree ---- */

typedef struct pnode {
    const char *name;
    int line;
    bool is_msg;
    bool in_list; /* came from `name: [ ... ]` */
    tok val;      /* scalars */
    struct pnode *child, *next;
} pnode;

static int tokstr(const tok *t, char *buf, size_t n)
{
    size_t l = t->len < n - 1 ? t->len : n - 1;
    memcpy(buf, t->s, l);
    buf[l] = 0;
    return 0;
}

static int parse_fields(pctx *p, char close, int depth, pnode **out);

static int parse_message_body(pctx *p, pnode *n, int depth)
{
    tok *t;
    int rc = peek(p, &t);
    if (rc) return rc;
    char close = t->s[0] == '{' ? '}' : '>';
    consume(p);
    if (depth >= MAX_DEPTH) return perr(p, t->line, "messages nested too deeply", NULL, NULL);
    n->is_msg = true;
    return parse_fields(p, close, depth + 1, &n->child);
}

static int parse_scalar(pctx *p, pnode *n)
{
    tok *t;
    int rc = peek(p, &t);
    if (rc) return rc;
    if (t->kind != T_IDENT && t->kind != T_NUM && t->kind != T_STR) {
        char b[64];
        tokstr(t, b, sizeof(b));
        return perr(p, t->line, "expected a value for '%s', found '%s'", n->name, b);
    }
    n->val = *t;
    consume(p);
    return 0;
}

static pnode *new_node(pctx *p, const char *name, int line)
{
    pnode *n = ig_arena_alloc(p->a, sizeof(*n), _Alignof(pnode));
    if (!n) {
        ig_error_set(p->err, IG_ENOMEM, "out of memory parsing config.pbtxt");
        return NULL;
    }
    n->name = name;
    n->line = line;
    return n;
}

static int parse_fields(pctx *p, char close, int depth, pnode **out)
{
    pnode **tail = out;
    tok *t;
    int rc;
    for (;;) {
        if ((rc = peek(p, &t))) return rc;
        if (close && is_punct(t, close)) {
            consume(p);
            return 0;
        }
        if (t->kind == T_EOF) {
            if (!close) return 0;
            return perr(p, t->line, "missing '%s' before end of file", (char[]){close, 0}, NULL);
        }
        if (t->kind != T_IDENT) {
            char b[64];
            tokstr(t, b, sizeof(b));
            return perr(p, t->line, "expected a field name, found '%s'", b, NULL);
        }
        char *name = ig_arena_strndup(p->a, t->s, t->len);
        if (!name) return ig_error_set(p->err, IG_ENOMEM, "out of memory parsing config.pbtxt");
        int line = t->line;
        consume(p);
        if ((rc = peek(p, &t))) return rc;
        bool colon = is_punct(t, ':');
        if (colon) {
            consume(p);
            if ((rc = peek(p, &t))) return rc;
        }
        if (is_punct(t, '{') || is_punct(t, '<')) {
            pnode *n = new_node(p, name, line);
            if (!n) return IG_ENOMEM;
            if ((rc = parse_message_body(p, n, depth))) return rc;
            *tail = n, tail = &n->next;
        } else if (is_punct(t, '[')) {
            consume(p);
            if ((rc = peek(p, &t))) return rc;
            if (!is_punct(t, ']')) {
                for (;;) {
                    if ((rc = peek(p, &t))) return rc;
                    pnode *n = new_node(p, name, t->line);
                    if (!n) return IG_ENOMEM;
                    n->in_list = true;
                    if (is_punct(t, '{') || is_punct(t, '<')) {
                        if ((rc = parse_message_body(p, n, depth))) return rc;
                    } else {
                        if (!colon) return perr(p, line, "missing ':' after field '%s'", name, NULL);
                        if ((rc = parse_scalar(p, n))) return rc;
                    }
                    *tail = n, tail = &n->next;
                    if ((rc = peek(p, &t))) return rc;
                    if (is_punct(t, ',')) {
                        consume(p);
                        continue;
                    }
                    if (is_punct(t, ']')) break;
                    return perr(p, t->line, "expected ',' or ']' in the list for '%s'", name, NULL);
                }
            }
            consume(p); /* ']' */
        } else {
            if (!colon) return perr(p, line, "missing ':' after field '%s'", name, NULL);
            pnode *n = new_node(p, name, line);
            if (!n) return IG_ENOMEM;
            if ((rc = parse_scalar(p, n))) return rc;
            *tail = n, tail = &n->next;
        }
        if ((rc = peek(p, &t))) return rc;
        if (is_punct(t, ',') || is_punct(t, ';')) consume(p);
    }
}

/* ---- values ---- */

typedef struct wctx {
    ig_arena *a;
    ig_error *err;
} wctx;

static int werr(wctx *w, const pnode *n, const char *fmt, const char *a1, const char *a2)
{
    char msg[400];
    snprintf(msg, sizeof(msg), fmt, a1 ? a1 : "", a2 ? a2 : "");
    return ig_error_set(w->err, IG_EFORMAT, "config.pbtxt:%d: %s", n->line, msg);
}

static int need_scalar(wctx *w, const pnode *n)
{
    if (n->is_msg) return werr(w, n, "field '%s' takes a value, not a message", n->name, NULL);
    return 0;
}

static int get_string(wctx *w, const pnode *n, const char **out)
{
    int rc = need_scalar(w, n);
    if (rc) return rc;
    if (n->val.kind != T_STR) return werr(w, n, "field '%s' takes a quoted string", n->name, NULL);
    *out = n->val.s;
    return 0;
}

/* Integer literal: optional '-', then decimal, 0x hex or 0-led octal. */
static int parse_int_text(const char *s, size_t len, bool *neg, uint64_t *mag)
{
    size_t i = 0;
    *neg = false;
    if (i < len && s[i] == '-') *neg = true, i++;
    if (i >= len) return -1;
    unsigned base = 10;
    if (s[i] == '0' && i + 1 < len && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        base = 16, i += 2;
        if (i >= len) return -1;
    } else if (s[i] == '0' && i + 1 < len) {
        base = 8, i++;
    }
    uint64_t v = 0;
    for (; i < len; i++) {
        int d = hexval(s[i]);
        if (d < 0 || (unsigned)d >= base) return -1;
        if (v > (UINT64_MAX - (unsigned)d) / base) return -2;
        v = v * base + (unsigned)d;
    }
    *mag = v;
    return 0;
}

/* Integer in [lo, hi]; lo/hi as int64, with a separate path for full-range uint64. */
static int get_int_range(wctx *w, const pnode *n, bool is_u64, int64_t lo, int64_t hi, uint64_t *out)
{
    int rc = need_scalar(w, n);
    if (rc) return rc;
    char b[64];
    tokstr(&n->val, b, sizeof(b));
    if (n->val.kind != T_NUM) return werr(w, n, "field '%s' takes an integer, found '%s'", n->name, b);
    bool neg;
    uint64_t mag;
    int r = parse_int_text(n->val.s, n->val.len, &neg, &mag);
    if (r == -1) return werr(w, n, "field '%s' takes an integer, found '%s'", n->name, b);
    if (r == -2) return werr(w, n, "integer '%s' for field '%s' is out of range", b, n->name);
    if (is_u64) {
        if (neg && mag) return werr(w, n, "field '%s' cannot be negative ('%s')", n->name, b);
        *out = mag;
        return 0;
    }
    int64_t v;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return werr(w, n, "integer '%s' for field '%s' is out of range", b, n->name);
        v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return werr(w, n, "integer '%s' for field '%s' is out of range", b, n->name);
        v = (int64_t)mag;
    }
    if (v < lo || v > hi) return werr(w, n, "integer '%s' for field '%s' is out of range", b, n->name);
    *out = (uint64_t)v;
    return 0;
}

static int get_i64(wctx *w, const pnode *n, int64_t lo, int64_t hi, int64_t *out)
{
    uint64_t u;
    int rc = get_int_range(w, n, false, lo, hi, &u);
    if (!rc) *out = (int64_t)u;
    return rc;
}

static int get_u64(wctx *w, const pnode *n, uint64_t *out)
{
    return get_int_range(w, n, true, 0, 0, out);
}

static int get_u32(wctx *w, const pnode *n, uint32_t *out)
{
    int64_t v;
    int rc = get_i64(w, n, 0, UINT32_MAX, &v);
    if (!rc) *out = (uint32_t)v;
    return rc;
}

static int tok_is(const tok *t, const char *s)
{
    return t->len == strlen(s) && !memcmp(t->s, s, t->len);
}

static int get_bool(wctx *w, const pnode *n, bool *out)
{
    int rc = need_scalar(w, n);
    if (rc) return rc;
    const tok *t = &n->val;
    if (tok_is(t, "true") || tok_is(t, "True") || tok_is(t, "t") || tok_is(t, "1")) {
        *out = true;
        return 0;
    }
    if (tok_is(t, "false") || tok_is(t, "False") || tok_is(t, "f") || tok_is(t, "0")) {
        *out = false;
        return 0;
    }
    char b[64];
    tokstr(t, b, sizeof(b));
    return werr(w, n, "field '%s' takes true or false, found '%s'", n->name, b);
}

typedef struct enumval {
    const char *name;
    int value;
} enumval;

static int get_enum(wctx *w, const pnode *n, const enumval *vals, int nvals, int *out)
{
    int rc = need_scalar(w, n);
    if (rc) return rc;
    char b[64];
    tokstr(&n->val, b, sizeof(b));
    if (n->val.kind == T_IDENT) {
        for (int i = 0; i < nvals; i++)
            if (tok_is(&n->val, vals[i].name)) {
                *out = vals[i].value;
                return 0;
            }
    } else if (n->val.kind == T_NUM) {
        bool neg;
        uint64_t mag;
        if (!parse_int_text(n->val.s, n->val.len, &neg, &mag) && !neg)
            for (int i = 0; i < nvals; i++)
                if ((uint64_t)vals[i].value == mag) {
                    *out = vals[i].value;
                    return 0;
                }
    }
    return werr(w, n, "unknown value '%s' for field '%s'", b, n->name);
}

static const enumval dtype_vals[] = {
    {"TYPE_INVALID", 0}, {"TYPE_BOOL", 1},  {"TYPE_UINT8", 2}, {"TYPE_UINT16", 3},  {"TYPE_UINT32", 4},
    {"TYPE_UINT64", 5},  {"TYPE_INT8", 6},  {"TYPE_INT16", 7}, {"TYPE_INT32", 8},   {"TYPE_INT64", 9},
    {"TYPE_FP16", 10},   {"TYPE_FP32", 11}, {"TYPE_FP64", 12}, {"TYPE_STRING", 13}, {"TYPE_BF16", 14},
};

static int get_dtype(wctx *w, const pnode *n, ig_cfg_dtype *out)
{
    int v = 0;
    int rc = get_enum(w, n, dtype_vals, (int)(sizeof(dtype_vals) / sizeof(dtype_vals[0])), &v);
    if (rc) return rc;
    if (v == 0) return werr(w, n, "field '%s' cannot be TYPE_INVALID", n->name, NULL);
    *out = (ig_cfg_dtype)v;
    return 0;
}

/* ---- field tables ---- */

enum { F_MSG = 1, F_REP = 2, F_UNSUP = 4 };

typedef struct fdef {
    const char *name;
    unsigned flags;
} fdef;

/* Finds n's field in defs, enforcing kind, repetition and "set at most once". Returns the index. */
static int field_index(wctx *w, const fdef *defs, int ndefs, const char *where, const pnode *n,
                       uint64_t *seen)
{
    for (int i = 0; i < ndefs; i++) {
        if (strcmp(defs[i].name, n->name)) continue;
        if (defs[i].flags & F_UNSUP)
            return ig_error_set(w->err, IG_EUNSUPPORTED,
                                "config.pbtxt:%d: field '%s' in %s is not supported by infergate", n->line,
                                n->name, where);
        if ((defs[i].flags & F_MSG) && !n->is_msg)
            return werr(w, n, "field '%s' takes a message { ... }, not a value", n->name, NULL);
        if (!(defs[i].flags & F_MSG) && n->is_msg)
            return werr(w, n, "field '%s' takes a value, not a message", n->name, NULL);
        if (!(defs[i].flags & F_REP)) {
            if (n->in_list)
                return werr(w, n, "field '%s' is not repeated and cannot take a [list]", n->name, NULL);
            if (*seen & (1ull << i)) return werr(w, n, "field '%s' is set more than once", n->name, NULL);
        }
        *seen |= 1ull << i;
        return i;
    }
    return werr(w, n, "unknown field '%s' in %s", n->name, where);
}

#define NDEFS(d) ((int)(sizeof(d) / sizeof(d[0])))

static int count_named(const pnode *first, const char *name)
{
    int k = 0;
    for (const pnode *n = first; n; n = n->next) k += !strcmp(n->name, name);
    return k;
}

static int add_dim(wctx *w, const pnode *n, int *nd, int64_t *dims, bool allow_neg)
{
    int64_t v;
    int rc = get_i64(w, n, allow_neg ? -1 : 0, INT64_MAX, &v);
    if (rc) return rc;
    if (*nd >= IG_MAX_DIMS) return werr(w, n, "too many dims (infergate supports at most 8)", NULL, NULL);
    dims[(*nd)++] = v;
    return 0;
}

static int reject_true(wctx *w, const pnode *n, const char *why)
{
    bool b;
    int rc = get_bool(w, n, &b);
    if (rc) return rc;
    if (b)
        return ig_error_set(w->err, IG_EUNSUPPORTED, "config.pbtxt:%d: '%s: true' is not supported: %s",
                            n->line, n->name, why);
    return 0;
}

/* ---- messages ---- */

static int walk_reshape(wctx *w, const pnode *m, ig_cfg_tensor *t)
{
    static const fdef defs[] = {{"shape", F_REP}};
    uint64_t seen = 0;
    t->has_reshape = true;
    for (const pnode *n = m->child; n; n = n->next) {
        int k = field_index(w, defs, NDEFS(defs), "reshape", n, &seen);
        if (k < 0) return k;
        int rc = add_dim(w, n, &t->n_reshape, t->reshape, true);
        if (rc) return rc;
    }
    return 0;
}

static int walk_tensor(wctx *w, const pnode *m, ig_cfg_tensor *t, bool is_input)
{
    static const fdef in_defs[] = {{"name", 0},
                                   {"data_type", 0},
                                   {"format", 0},
                                   {"dims", F_REP},
                                   {"reshape", F_MSG},
                                   {"is_shape_tensor", 0},
                                   {"allow_ragged_batch", 0},
                                   {"optional", 0},
                                   {"is_non_linear_format_io", 0}};
    static const fdef out_defs[] = {{"name", 0},
                                    {"data_type", 0},
                                    {"dims", F_REP},
                                    {"reshape", F_MSG},
                                    {"label_filename", 0},
                                    {"is_shape_tensor", 0},
                                    {"is_non_linear_format_io", 0}};
    static const enumval formats[] = {{"FORMAT_NONE", 0}, {"FORMAT_NHWC", 1}, {"FORMAT_NCHW", 2}};
    const fdef *defs = is_input ? in_defs : out_defs;
    int nd = is_input ? NDEFS(in_defs) : NDEFS(out_defs);
    const char *where = is_input ? "input" : "output";
    uint64_t seen = 0;
    int rc = 0, fmt;
    for (const pnode *n = m->child; n && !rc; n = n->next) {
        int k = field_index(w, defs, nd, where, n, &seen);
        if (k < 0) return k;
        const char *f = defs[k].name;
        if (!strcmp(f, "name")) {
            rc = get_string(w, n, &t->name);
            if (!rc && !t->name[0]) rc = werr(w, n, "%s name cannot be empty", where, NULL);
        } else if (!strcmp(f, "data_type")) {
            rc = get_dtype(w, n, &t->data_type);
        } else if (!strcmp(f, "format")) {
            rc = get_enum(w, n, formats, NDEFS(formats), &fmt); /* layout hints do not change CPU execution */
        } else if (!strcmp(f, "dims")) {
            rc = add_dim(w, n, &t->n_dims, t->dims, true);
        } else if (!strcmp(f, "reshape")) {
            rc = walk_reshape(w, n, t);
        } else if (!strcmp(f, "is_shape_tensor")) {
            rc = reject_true(w, n, "shape tensors are a TensorRT feature");
        } else if (!strcmp(f, "allow_ragged_batch")) {
            rc = reject_true(w, n, "ragged batching needs batch_input, which infergate does not implement");
        } else if (!strcmp(f, "is_non_linear_format_io")) {
            rc = reject_true(w, n, "non-linear I/O formats are a TensorRT feature");
        } else if (!strcmp(f, "optional")) {
            rc = get_bool(w, n, &t->optional);
        } else if (!strcmp(f, "label_filename")) {
            rc = get_string(w, n, &t->label_filename);
            if (!rc && (!t->label_filename[0] || strchr(t->label_filename, '/') ||
                        !strcmp(t->label_filename, "..") || !strcmp(t->label_filename, ".")))
                rc = werr(w, n, "label_filename must be a file name inside the model folder", NULL, NULL);
        }
    }
    if (rc) return rc;
    if (!t->name) return werr(w, m, "%s without a name", where, NULL);
    return 0;
}

static int walk_version_policy(wctx *w, const pnode *m, ig_model_config *c)
{
    static const fdef defs[] = {{"latest", F_MSG}, {"all", F_MSG}, {"specific", F_MSG}};
    static const fdef latest_defs[] = {{"num_versions", 0}};
    static const fdef specific_defs[] = {{"versions", F_REP}};
    static const fdef all_defs[] = {{"", 0}};
    uint64_t seen = 0;
    int rc;
    for (const pnode *n = m->child; n; n = n->next) {
        int k = field_index(w, defs, NDEFS(defs), "version_policy", n, &seen);
        if (k < 0) return k;
        if (__builtin_popcountll(seen) > 1)
            return werr(w, n, "version_policy takes one of latest, all or specific", NULL, NULL);
        uint64_t s2 = 0;
        if (k == 0) {
            c->version_policy = IG_VERSION_LATEST;
            for (const pnode *f = n->child; f; f = f->next) {
                if ((rc = field_index(w, latest_defs, 1, "latest", f, &s2)) < 0) return rc;
                if ((rc = get_u32(w, f, &c->latest_num_versions))) return rc;
                if (!c->latest_num_versions) return werr(w, f, "num_versions must be at least 1", NULL, NULL);
            }
        } else if (k == 1) {
            c->version_policy = IG_VERSION_ALL;
            for (const pnode *f = n->child; f; f = f->next)
                if ((rc = field_index(w, all_defs, 1, "all", f, &s2)) < 0) return rc;
        } else {
            c->version_policy = IG_VERSION_SPECIFIC;
            int cnt = count_named(n->child, "versions");
            c->specific_versions = ig_arena_array(w->a, cnt ? cnt : 1, sizeof(int64_t), 8);
            if (!c->specific_versions) return ig_error_set(w->err, IG_ENOMEM, "out of memory");
            for (const pnode *f = n->child; f; f = f->next) {
                if ((rc = field_index(w, specific_defs, 1, "specific", f, &s2)) < 0) return rc;
                int64_t v;
                if ((rc = get_i64(w, f, 0, INT64_MAX, &v))) return rc;
                c->specific_versions[c->n_specific_versions++] = v;
            }
        }
    }
    return 0;
}

static int walk_instance_group(wctx *w, const pnode *m, int *count)
{
    static const fdef defs[] = {{"name", 0},
                                {"kind", 0},
                                {"count", 0},
                                {"gpus", F_REP},
                                {"rate_limiter", F_MSG | F_UNSUP},
                                {"secondary_devices", F_MSG | F_REP | F_UNSUP},
                                {"profile", F_REP | F_UNSUP},
                                {"passive", 0},
                                {"host_policy", 0 | F_UNSUP}};
    static const enumval kinds[] = {{"KIND_AUTO", 0}, {"KIND_GPU", 1}, {"KIND_CPU", 2}, {"KIND_MODEL", 3}};
    uint64_t seen = 0;
    int rc, kind = 0;
    int64_t cnt = 1;
    const char *name;
    for (const pnode *n = m->child; n; n = n->next) {
        int k = field_index(w, defs, NDEFS(defs), "instance_group", n, &seen);
        if (k < 0) return k;
        switch (k) {
        case 0:
            if ((rc = get_string(w, n, &name))) return rc;
            break;
        case 1:
            if ((rc = get_enum(w, n, kinds, NDEFS(kinds), &kind))) return rc;
            if (kind == 1)
                return ig_error_set(
                    w->err, IG_EUNSUPPORTED,
                    "config.pbtxt:%d: instance_group kind KIND_GPU is not supported: infergate runs "
                    "on CPUs (use KIND_CPU)",
                    n->line);
            if (kind == 3)
                return ig_error_set(
                    w->err, IG_EUNSUPPORTED,
                    "config.pbtxt:%d: instance_group kind KIND_MODEL is not supported (use KIND_CPU)",
                    n->line);
            break;
        case 2:
            if ((rc = get_i64(w, n, 1, 1024, &cnt))) return rc;
            break;
        case 3:
            return ig_error_set(
                w->err, IG_EUNSUPPORTED,
                "config.pbtxt:%d: instance_group 'gpus' is not supported: infergate runs on CPUs", n->line);
        case 7:
            if ((rc = reject_true(w, n, "passive instances are not implemented"))) return rc;
            break;
        }
    }
    if (*count > INT32_MAX - cnt) return werr(w, m, "instance counts add up to too many", NULL, NULL);
    *count += (int)cnt;
    return 0;
}

static int walk_queue_policy(wctx *w, const pnode *m, ig_queue_policy *q)
{
    static const fdef defs[] = {{"timeout_action", 0},
                                {"default_timeout_microseconds", 0},
                                {"allow_timeout_override", 0},
                                {"max_queue_size", 0}};
    static const enumval actions[] = {{"REJECT", 0}, {"DELAY", 1}};
    uint64_t seen = 0;
    int rc = 0, act = 0;
    for (const pnode *n = m->child; n && !rc; n = n->next) {
        int k = field_index(w, defs, NDEFS(defs), m->name, n, &seen);
        if (k < 0) return k;
        switch (k) {
        case 0:
            rc = get_enum(w, n, actions, NDEFS(actions), &act);
            q->timeout_delay = act == 1;
            break;
        case 1:
            rc = get_u64(w, n, &q->default_timeout_us);
            break;
        case 2:
            rc = get_bool(w, n, &q->allow_timeout_override);
            break;
        case 3:
            rc = get_u32(w, n, &q->max_queue_size);
            break;
        }
    }
    return rc;
}

static int walk_dynamic_batching(wctx *w, const pnode *m, ig_model_config *c)
{
    static const fdef defs[] = {{"preferred_batch_size", F_REP},
                                {"max_queue_delay_microseconds", 0},
                                {"preserve_ordering", 0},
                                {"priority_levels", 0},
                                {"default_priority_level", 0},
                                {"default_queue_policy", F_MSG},
                                {"priority_queue_policy", F_MSG | F_REP}};
    static const fdef entry_defs[] = {{"key", 0}, {"value", F_MSG}};
    uint64_t seen = 0, u;
    int rc = 0;
    c->dynamic_batching = true;
    int npref = count_named(m->child, "preferred_batch_size");
    c->preferred_batch_sizes = ig_arena_array(w->a, npref ? npref : 1, sizeof(int32_t), 4);
    if (!c->preferred_batch_sizes) return ig_error_set(w->err, IG_ENOMEM, "out of memory");
    const pnode *default_level_node = NULL;
    for (const pnode *n = m->child; n && !rc; n = n->next) {
        int k = field_index(w, defs, NDEFS(defs), "dynamic_batching", n, &seen);
        if (k < 0) return k;
        int64_t v = 0;
        switch (k) {
        case 0:
            rc = get_i64(w, n, 1, INT32_MAX, &v);
            if (!rc) c->preferred_batch_sizes[c->n_preferred_batch_sizes++] = (int32_t)v;
            break;
        case 1:
            rc = get_u64(w, n, &c->max_queue_delay_us);
            break;
        case 2:
            rc = get_bool(w, n, &c->preserve_ordering);
            break;
        case 3:
            rc = get_u64(w, n, &u);
            if (!rc && u > MAX_PRIORITY_LEVELS)
                rc = werr(w, n, "priority_levels is above infergate's limit of 1024", NULL, NULL);
            c->priority_levels = (uint32_t)u;
            break;
        case 4:
            rc = get_u64(w, n, &u);
            if (!rc && u > MAX_PRIORITY_LEVELS)
                rc = werr(w, n, "default_priority_level is above infergate's limit of 1024", NULL, NULL);
            c->default_priority_level = (uint32_t)u;
            default_level_node = n;
            break;
        case 5:
            rc = walk_queue_policy(w, n, &c->default_queue_policy);
            break;
        }
    }
    if (rc) return rc;
    if (default_level_node &&
        (c->priority_levels ? c->default_priority_level > c->priority_levels || c->default_priority_level == 0
                            : c->default_priority_level != 0))
        return werr(w, default_level_node, "default_priority_level must be between 1 and priority_levels",
                    NULL, NULL);
    if (c->priority_levels && !c->default_priority_level) c->default_priority_level = 1;
    /* The map's values default to default_queue_policy, which may come after the entries. */
    if (!count_named(m->child, "priority_queue_policy")) return 0;
    c->priority_queue_policy = ig_arena_array(w->a, c->priority_levels + 1, sizeof(ig_queue_policy), 8);
    bool *set = ig_arena_array(w->a, c->priority_levels + 1, 1, 1);
    if (!c->priority_queue_policy || !set) return ig_error_set(w->err, IG_ENOMEM, "out of memory");
    for (uint32_t i = 0; i <= c->priority_levels; i++) c->priority_queue_policy[i] = c->default_queue_policy;
    for (const pnode *n = m->child; n; n = n->next) {
        if (strcmp(n->name, "priority_queue_policy")) continue;
        uint64_t s2 = 0, key = 0;
        const pnode *val = NULL, *keyn = NULL;
        for (const pnode *f = n->child; f; f = f->next) {
            int k = field_index(w, entry_defs, 2, "priority_queue_policy", f, &s2);
            if (k < 0) return k;
            if (k == 0) {
                if ((rc = get_u64(w, f, &key))) return rc;
                keyn = f;
            } else {
                val = f;
            }
        }
        if (!keyn) return werr(w, n, "priority_queue_policy entry without a key", NULL, NULL);
        if (key < 1 || key > c->priority_levels)
            return werr(w, keyn, "priority_queue_policy key must be between 1 and priority_levels", NULL,
                        NULL);
        if (set[key]) return werr(w, keyn, "priority_queue_policy has this key more than once", NULL, NULL);
        set[key] = true;
        if (val && (rc = walk_queue_policy(w, val, &c->priority_queue_policy[key]))) return rc;
    }
    return 0;
}

static int walk_warmup_input(wctx *w, const pnode *m, struct ig_cfg_warmup_input *in)
{
    static const fdef defs[] = {
        {"data_type", 0}, {"dims", F_REP}, {"zero_data", 0}, {"random_data", 0}, {"input_data_file", 0}};
    uint64_t seen = 0;
    int rc = 0, which = 0;
    bool b;
    for (const pnode *n = m->child; n && !rc; n = n->next) {
        int k = field_index(w, defs, NDEFS(defs), "model_warmup input", n, &seen);
        if (k < 0) return k;
        if (k >= 2 && which)
            return werr(w, n, "a warmup input takes one of zero_data, random_data or input_data_file", NULL,
                        NULL);
        switch (k) {
        case 0:
            rc = get_dtype(w, n, &in->data_type);
            break;
        case 1:
            rc = add_dim(w, n, &in->n_dims, in->dims, false);
            break;
        case 2:
        case 3:
            which = k;
            rc = get_bool(w, n, &b);
            in->random_data = k == 3;
            break;
        case 4:
            return ig_error_set(w->err, IG_EUNSUPPORTED,
                                "config.pbtxt:%d: warmup input_data_file is not supported (use zero_data or "
                                "random_data)",
                                n->line);
        }
    }
    if (rc) return rc;
    if (!in->data_type) return werr(w, m, "warmup input '%s' has no data_type", in->name, NULL);
    if (!which) return werr(w, m, "warmup input '%s' needs zero_data or random_data", in->name, NULL);
    return 0;
}

static int walk_warmup(wctx *w, const pnode *m, ig_cfg_warmup *wu)
{
    static const fdef defs[] = {{"name", 0}, {"batch_size", 0}, {"inputs", F_MSG | F_REP}, {"count", 0}};
    static const fdef entry_defs[] = {{"key", 0}, {"value", F_MSG}};
    uint64_t seen = 0;
    int rc = 0;
    int nin = count_named(m->child, "inputs");
    wu->inputs = ig_arena_array(w->a, nin ? nin : 1, sizeof(*wu->inputs), 8);
    if (!wu->inputs) return ig_error_set(w->err, IG_ENOMEM, "out of memory");
    for (const pnode *n = m->child; n && !rc; n = n->next) {
        int k = field_index(w, defs, NDEFS(defs), "model_warmup", n, &seen);
        if (k < 0) return k;
        switch (k) {
        case 0:
            rc = get_string(w, n, &wu->name);
            break;
        case 1:
            rc = get_u32(w, n, &wu->batch_size);
            break;
        case 3:
            rc = get_u32(w, n, &wu->count);
            break;
        case 2: {
            struct ig_cfg_warmup_input *in = &wu->inputs[wu->n_inputs];
            const pnode *val = NULL;
            uint64_t s2 = 0;
            for (const pnode *f = n->child; f && !rc; f = f->next) {
                int j = field_index(w, entry_defs, 2, "model_warmup inputs", f, &s2);
                if (j < 0) return j;
                if (j == 0)
                    rc = get_string(w, f, &in->name);
                else
                    val = f;
            }
            if (rc) return rc;
            if (!in->name) return werr(w, n, "warmup inputs entry without a key", NULL, NULL);
            for (int i = 0; i < wu->n_inputs; i++)
                if (!strcmp(wu->inputs[i].name, in->name))
                    return werr(w, n, "warmup input '%s' is given more than once", in->name, NULL);
            if (!val) return werr(w, n, "warmup input '%s' has no value", in->name, NULL);
            rc = walk_warmup_input(w, val, in);
            wu->n_inputs++;
            break;
        }
        }
    }
    if (rc) return rc;
    if (!wu->name || !wu->name[0]) return werr(w, m, "model_warmup needs a name", NULL, NULL);
    return 0;
}

static int walk_parameter(wctx *w, const pnode *m, ig_model_config *c)
{
    static const fdef entry_defs[] = {{"key", 0}, {"value", F_MSG}};
    static const fdef value_defs[] = {{"string_value", 0}};
    uint64_t seen = 0;
    int rc = 0;
    ig_cfg_param *p = &c->parameters[c->n_parameters];
    for (const pnode *n = m->child; n && !rc; n = n->next) {
        int k = field_index(w, entry_defs, 2, "parameters", n, &seen);
        if (k < 0) return k;
        if (k == 0) {
            rc = get_string(w, n, &p->key);
        } else {
            uint64_t s2 = 0;
            for (const pnode *f = n->child; f && !rc; f = f->next) {
                if ((rc = field_index(w, value_defs, 1, "parameters value", f, &s2)) < 0) return rc;
                rc = get_string(w, f, &p->value);
            }
        }
    }
    if (rc) return rc;
    if (!p->key) return werr(w, m, "parameters entry without a key", NULL, NULL);
    if (!p->value) p->value = "";
    for (int i = 0; i < c->n_parameters; i++)
        if (!strcmp(c->parameters[i].key, p->key))
            return werr(w, m, "parameter '%s' is given more than once", p->key, NULL);
    c->n_parameters++;
    return 0;
}

static int walk_transaction_policy(wctx *w, const pnode *m)
{
    static const fdef defs[] = {{"decoupled", 0}};
    uint64_t seen = 0;
    for (const pnode *n = m->child; n; n = n->next) {
        int k = field_index(w, defs, 1, "model_transaction_policy", n, &seen);
        if (k < 0) return k;
        int rc = reject_true(w, n, "decoupled models are not implemented");
        if (rc) return rc;
    }
    return 0;
}

static int walk_response_cache(wctx *w, const pnode *m, ig_model_config *c)
{
    static const fdef defs[] = {{"enable", 0}};
    uint64_t seen = 0;
    for (const pnode *n = m->child; n; n = n->next) {
        int k = field_index(w, defs, 1, "response_cache", n, &seen);
        if (k < 0) return k;
        int rc = get_bool(w, n, &c->response_cache);
        if (rc) return rc;
    }
    return 0;
}

enum {
    C_NAME,
    C_PLATFORM,
    C_BACKEND,
    C_MAX_BATCH,
    C_INPUT,
    C_OUTPUT,
    C_VERSION_POLICY,
    C_INSTANCE_GROUP,
    C_DYNAMIC_BATCHING,
    C_RESPONSE_CACHE,
    C_WARMUP,
    C_PARAMETERS,
    C_DEFAULT_FILENAME,
    C_TRANSACTION,
};

static const fdef config_defs[] = {
    [C_NAME] = {"name", 0},
    [C_PLATFORM] = {"platform", 0},
    [C_BACKEND] = {"backend", 0},
    [C_MAX_BATCH] = {"max_batch_size", 0},
    [C_INPUT] = {"input", F_MSG | F_REP},
    [C_OUTPUT] = {"output", F_MSG | F_REP},
    [C_VERSION_POLICY] = {"version_policy", F_MSG},
    [C_INSTANCE_GROUP] = {"instance_group", F_MSG | F_REP},
    [C_DYNAMIC_BATCHING] = {"dynamic_batching", F_MSG},
    [C_RESPONSE_CACHE] = {"response_cache", F_MSG},
    [C_WARMUP] = {"model_warmup", F_MSG | F_REP},
    [C_PARAMETERS] = {"parameters", F_MSG | F_REP},
    [C_DEFAULT_FILENAME] = {"default_model_filename", 0},
    [C_TRANSACTION] = {"model_transaction_policy", F_MSG},
    {"runtime", F_UNSUP},
    {"batch_input", F_UNSUP},
    {"batch_output", F_UNSUP},
    {"optimization", F_UNSUP},
    {"sequence_batching", F_UNSUP},
    {"ensemble_scheduling", F_UNSUP},
    {"cc_model_filenames", F_UNSUP},
    {"metric_tags", F_UNSUP},
    {"model_operations", F_UNSUP},
    {"model_repository_agents", F_UNSUP},
    {"model_metrics", F_UNSUP},
};

static int walk_config(wctx *w, const pnode *root, ig_model_config *c)
{
    uint64_t seen = 0;
    int rc = 0, n_groups = 0, icount = 0;
    int nin = count_named(root, "input"), nout = count_named(root, "output");
    int nwarm = count_named(root, "model_warmup"), nparam = count_named(root, "parameters");
    c->inputs = ig_arena_array(w->a, nin ? nin : 1, sizeof(ig_cfg_tensor), 8);
    c->outputs = ig_arena_array(w->a, nout ? nout : 1, sizeof(ig_cfg_tensor), 8);
    c->warmups = ig_arena_array(w->a, nwarm ? nwarm : 1, sizeof(ig_cfg_warmup), 8);
    c->parameters = ig_arena_array(w->a, nparam ? nparam : 1, sizeof(ig_cfg_param), 8);
    if (!c->inputs || !c->outputs || !c->warmups || !c->parameters)
        return ig_error_set(w->err, IG_ENOMEM, "out of memory");
    for (const pnode *n = root; n && !rc; n = n->next) {
        int k = field_index(w, config_defs, NDEFS(config_defs), "model config", n, &seen);
        if (k < 0) return k;
        int64_t v = 0;
        switch (k) {
        case C_NAME:
            rc = get_string(w, n, &c->name);
            break;
        case C_PLATFORM:
            rc = get_string(w, n, &c->platform);
            break;
        case C_BACKEND:
            rc = get_string(w, n, &c->backend);
            break;
        case C_MAX_BATCH:
            rc = get_i64(w, n, 0, INT32_MAX, &v);
            c->max_batch_size = (int32_t)v;
            break;
        case C_INPUT:
        case C_OUTPUT: {
            bool in = k == C_INPUT;
            ig_cfg_tensor *t = in ? &c->inputs[c->n_inputs] : &c->outputs[c->n_outputs];
            rc = walk_tensor(w, n, t, in);
            if (rc) break;
            ig_cfg_tensor *all = in ? c->inputs : c->outputs;
            int cnt = in ? c->n_inputs : c->n_outputs;
            for (int i = 0; i < cnt; i++)
                if (!strcmp(all[i].name, t->name))
                    return werr(w, n, "%s '%s' is declared more than once", in ? "input" : "output", t->name);
            if (in)
                c->n_inputs++;
            else
                c->n_outputs++;
            break;
        }
        case C_VERSION_POLICY:
            rc = walk_version_policy(w, n, c);
            break;
        case C_INSTANCE_GROUP:
            rc = walk_instance_group(w, n, &icount);
            n_groups++;
            break;
        case C_DYNAMIC_BATCHING:
            rc = walk_dynamic_batching(w, n, c);
            break;
        case C_RESPONSE_CACHE:
            rc = walk_response_cache(w, n, c);
            break;
        case C_WARMUP:
            rc = walk_warmup(w, n, &c->warmups[c->n_warmups]);
            if (!rc) c->n_warmups++;
            break;
        case C_PARAMETERS:
            rc = walk_parameter(w, n, c);
            break;
        case C_DEFAULT_FILENAME:
            rc = get_string(w, n, &c->default_model_filename);
            if (!rc && (!c->default_model_filename[0] || strchr(c->default_model_filename, '/') ||
                        !strcmp(c->default_model_filename, ".") || !strcmp(c->default_model_filename, "..")))
                rc = werr(w, n, "default_model_filename must be a file name inside the version folder", NULL,
                          NULL);
            break;
        case C_TRANSACTION:
            rc = walk_transaction_policy(w, n);
            break;
        }
    }
    if (rc) return rc;
    if (n_groups) c->instance_count = icount;
    return 0;
}

int ig_config_parse(const char *text, size_t len, ig_arena *arena, ig_model_config *cfg, ig_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->arena = arena;
    cfg->version_policy = IG_VERSION_LATEST;
    cfg->latest_num_versions = 1;
    cfg->instance_count = 1;
    if (len > INT32_MAX) return ig_error_set(err, IG_EINVAL, "config.pbtxt is too large");
    pctx p = {.p = text, .end = text + len, .line = 1, .a = arena, .err = err};
    p.scratch = malloc(len + 1);
    if (!p.scratch) return ig_error_set(err, IG_ENOMEM, "out of memory parsing config.pbtxt");
    pnode *root = NULL;
    int rc = parse_fields(&p, 0, 0, &root);
    free(p.scratch);
    if (rc) return rc;
    wctx w = {.a = arena, .err = err};
    return walk_config(&w, root, cfg);
}
