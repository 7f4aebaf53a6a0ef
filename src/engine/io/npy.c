/* .npy reading and writing. The header is a Python dict literal; we accept exactly what numpy
 * writes: 'descr', 'fortran_order' and 'shape' keys, little-endian or byte-order-free dtypes. */
#include "engine/io/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *descr;
    ig_dtype dt;
} descrs[] = {
    {"<f4", IG_DT_FLOAT},  {"<f8", IG_DT_DOUBLE}, {"<f2", IG_DT_FLOAT16}, {"|i1", IG_DT_INT8},
    {"<i2", IG_DT_INT16},  {"<i4", IG_DT_INT32},  {"<i8", IG_DT_INT64},   {"|u1", IG_DT_UINT8},
    {"<u2", IG_DT_UINT16}, {"<u4", IG_DT_UINT32}, {"<u8", IG_DT_UINT64},  {"|b1", IG_DT_BOOL},
};

/* Finds 'key': in the NUL-terminated header and returns a pointer just past the colon and spaces, or
 * NULL. */
static const char *find_key(const char *h, const char *key)
{
    size_t kl = strlen(key);
    for (; *h; h++) {
        if ((*h == '\'' || *h == '"') && !strncmp(h + 1, key, kl) && h[1 + kl] == *h) {
            const char *p = h + kl + 2;
            while (*p == ' ' || *p == ':') p++;
            return p;
        }
    }
    return NULL;
}

/* The header dict: dtype and shape into out (data left NULL), the width of unicode dtypes into
 * *unicode_chars. h is a NUL-terminated copy, so no scan can leave it. */
static int parse_header(const char *h, ig_tensor *out, size_t *unicode_chars, ig_error *err)
{
    const char *d = find_key(h, "descr"), *fo = find_key(h, "fortran_order"), *sh = find_key(h, "shape");
    if (!d || !fo || !sh)
        return ig_error_set(err, IG_EFORMAT, ".npy header lacks descr, fortran_order or shape");
    if (!strncmp(fo, "True", 4))
        return ig_error_set(err, IG_EUNSUPPORTED, "Fortran-order .npy arrays are not supported");
    char descr[16] = {0};
    if (*d != '\'' && *d != '"') return ig_error_set(err, IG_EFORMAT, "bad .npy descr");
    size_t dl = 0;
    for (d++; *d && *d != '\'' && *d != '"' && dl < sizeof(descr) - 1;) descr[dl++] = *d++;
    memset(out, 0, sizeof(*out));
    *unicode_chars = 0;
    if ((descr[0] == '<' || descr[0] == '|') && descr[1] == 'U') {
        char *end;
        unsigned long n = strtoul(descr + 2, &end, 10);
        if (*end || n == 0 || n > 1 << 20)
            return ig_error_set(err, IG_EFORMAT, "bad unicode dtype '%s'", descr);
        *unicode_chars = n;
        out->dtype = IG_DT_STRING;
    } else {
        if (descr[0] == '=') descr[0] = '<';
        for (size_t i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++)
            if (!strcmp(descr, descrs[i].descr) ||
                (descr[0] == '<' && descrs[i].descr[0] == '|' && !strcmp(descr + 1, descrs[i].descr + 1)))
                out->dtype = descrs[i].dt;
        if (!out->dtype) return ig_error_set(err, IG_EUNSUPPORTED, ".npy dtype '%s' is not supported", descr);
    }
    if (*sh != '(') return ig_error_set(err, IG_EFORMAT, "bad .npy shape");
    for (const char *p = sh + 1; *p != ')';) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p)) return ig_error_set(err, IG_EFORMAT, "bad .npy shape");
        if (out->ndim == IG_MAX_DIMS)
            return ig_error_set(err, IG_EUNSUPPORTED, ".npy array has more than %d dims", IG_MAX_DIMS);
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0) return ig_error_set(err, IG_EFORMAT, "bad .npy dimension");
        out->dims[out->ndim++] = v;
        p = end;
    }
    return 0;
}

/* Decodes one UTF-32 code point to UTF-8; returns bytes written (0 for an invalid code point). */
static size_t utf8_encode(uint32_t c, char *o)
{
    if (c < 0x80) return o[0] = (char)c, 1;
    if (c < 0x800) return o[0] = (char)(0xc0 | c >> 6), o[1] = (char)(0x80 | (c & 0x3f)), 2;
    if (c >= 0xd800 && c < 0xe000) return 0;
    if (c < 0x10000)
        return o[0] = (char)(0xe0 | c >> 12), o[1] = (char)(0x80 | ((c >> 6) & 0x3f)),
               o[2] = (char)(0x80 | (c & 0x3f)), 3;
    if (c < 0x110000)
        return o[0] = (char)(0xf0 | c >> 18), o[1] = (char)(0x80 | ((c >> 12) & 0x3f)),
               o[2] = (char)(0x80 | ((c >> 6) & 0x3f)), o[3] = (char)(0x80 | (c & 0x3f)), 4;
    return 0;
}

int ig_npy_parse(const void *buf, size_t len, ig_arena *arena, ig_tensor *out, ig_error *err)
{
    const unsigned char *b = buf;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6))
        return ig_error_set(err, IG_EFORMAT, "not a .npy file (bad magic)");
    size_t hlen, hoff;
    if (b[6] == 1) {
        hlen = b[8] | (size_t)b[9] << 8;
        hoff = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12) return ig_error_set(err, IG_EFORMAT, "truncated .npy header");
        hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hoff = 12;
    } else {
        return ig_error_set(err, IG_EFORMAT, ".npy format version %d is not supported", b[6]);
    }
    if (hlen > len - hoff) return ig_error_set(err, IG_EFORMAT, "truncated .npy header");
    if (hlen > 1 << 16) return ig_error_set(err, IG_EFORMAT, ".npy header longer than 64 KiB");
    char *h = malloc(hlen + 1);
    if (!h) return ig_error_set(err, IG_ENOMEM, "out of memory");
    memcpy(h, b + hoff, hlen);
    h[hlen] = 0;
    size_t unicode_chars = 0;
    int rc = parse_header(h, out, &unicode_chars, err);
    free(h);
    if (rc) return rc;
    int64_t n = ig_tensor_numel(out);
    if (n < 0) return ig_error_set(err, IG_EOVERFLOW, ".npy shape overflows");
    const unsigned char *data = b + hoff + hlen;
    size_t avail = len - hoff - hlen;
    if (out->dtype == IG_DT_STRING) {
        if ((uint64_t)n > SIZE_MAX / 4 / unicode_chars || (size_t)n * 4 * unicode_chars > avail)
            return ig_error_set(err, IG_EFORMAT, ".npy data is shorter than its shape says");
        ig_string *s = ig_arena_array(arena, (size_t)n, sizeof(ig_string), 8);
        char *text = ig_arena_array(arena, (size_t)n * unicode_chars + 1, 4, 1);
        if (!s || !text) return ig_error_set(err, IG_ENOMEM, "out of memory");
        for (int64_t i = 0; i < n; i++) {
            s[i].ptr = text;
            for (size_t c = 0; c < unicode_chars; c++) {
                const unsigned char *q = data + ((size_t)i * unicode_chars + c) * 4;
                uint32_t cp = q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
                if (!cp) break;
                size_t k = utf8_encode(cp, text);
                if (!k) return ig_error_set(err, IG_EFORMAT, "invalid code point in .npy string");
                text += k;
            }
            s[i].len = (size_t)(text - s[i].ptr);
        }
        out->data = s;
        return 0;
    }
    size_t nb = ig_tensor_nbytes(out);
    if (nb == SIZE_MAX || nb > avail)
        return ig_error_set(err, IG_EFORMAT, ".npy data is shorter than its shape says");
    if (!(out->data = ig_arena_alloc(arena, nb, 64))) return ig_error_set(err, IG_ENOMEM, "out of memory");
    memcpy(out->data, data, nb);
    return 0;
}

int ig_npy_read(const char *path, ig_arena *arena, ig_tensor *out, ig_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ig_error_set(err, IG_EIO, "cannot open %s: %s", path, strerror(errno));
    int rc = 0;
    unsigned char *buf = NULL;
    long len;
    if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        rc = ig_error_set(err, IG_EIO, "cannot read %s", path);
        goto out;
    }
    if (!(buf = malloc((size_t)len + 1))) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        rc = ig_error_set(err, IG_EIO, "cannot read %s", path);
        goto out;
    }
    if ((rc = ig_npy_parse(buf, (size_t)len, arena, out, err))) ig_error_prefix(err, rc, "%s: ", path);
out:
    free(buf);
    fclose(f);
    return rc;
}

/* Decodes one UTF-8 sequence; invalid bytes become U+FFFD so any byte string can be written. */
static uint32_t utf8_next(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *s = *p;
    uint32_t c = *s++;
    int extra = c >= 0xf0 && c < 0xf8 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (c >= 0x80 && !extra) {
        *p = s;
        return 0xfffd;
    }
    if (extra) c &= 0x3f >> extra;
    for (int i = 0; i < extra; i++) {
        if (s >= end || (*s & 0xc0) != 0x80) {
            *p = s;
            return 0xfffd;
        }
        c = c << 6 | (*s++ & 0x3f);
    }
    *p = s;
    return c;
}

static size_t utf8_count(const ig_string *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s->ptr, *e = p + s->len; p < e; n++)
        utf8_next(&p, e);
    return n;
}

int ig_npy_write(const char *path, const ig_tensor *t, ig_error *err)
{
    char descr[32];
    int64_t n = ig_tensor_numel(t);
    if (n < 0) return ig_error_set(err, IG_EOVERFLOW, "tensor too large");
    size_t width = 0;
    if (t->dtype == IG_DT_STRING) {
        for (int64_t i = 0; i < n; i++) {
            size_t c = utf8_count((const ig_string *)t->data + i);
            if (c > width) width = c;
        }
        snprintf(descr, sizeof(descr), "<U%zu", width ? width : 1);
        if (!width) width = 1;
    } else {
        descr[0] = 0;
        for (size_t i = 0; i < sizeof(descrs) / sizeof(descrs[0]); i++)
            if (descrs[i].dt == t->dtype) snprintf(descr, sizeof(descr), "%s", descrs[i].descr);
        if (!descr[0])
            return ig_error_set(err, IG_EUNSUPPORTED, "%s tensors cannot be written as .npy",
                                ig_dtype_name(t->dtype));
    }
    char header[512], shape[400];
    size_t o = 0;
    for (int i = 0; i < t->ndim; i++)
        o += (size_t)snprintf(shape + o, sizeof(shape) - o, "%lld,%s", (long long)t->dims[i],
                              i + 1 < t->ndim ? " " : "");
    if (t->ndim == 0)
        shape[0] = 0;
    else if (t->ndim > 1)
        shape[o - 1] = 0; /* numpy writes (2, 3) but (2,) */
    int hl = snprintf(header, sizeof(header), "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                      descr, shape);
    /* Pad so data starts on a 64-byte boundary, header ends with a newline. */
    size_t total = 10 + (size_t)hl + 1;
    size_t pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return ig_error_set(err, IG_EIO, "cannot create %s: %s", path, strerror(errno));
    size_t hlen = (size_t)hl + pad + 1;
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    int bad = fwrite(pre, 1, 10, f) != 10 || fwrite(header, 1, (size_t)hl, f) != (size_t)hl;
    for (size_t i = 0; i < pad && !bad; i++) bad = fputc(' ', f) == EOF;
    bad = bad || fputc('\n', f) == EOF;
    if (t->dtype == IG_DT_STRING) {
        for (int64_t i = 0; i < n && !bad; i++) {
            const ig_string *s = (const ig_string *)t->data + i;
            const unsigned char *p = (const unsigned char *)s->ptr, *e = p + s->len;
            for (size_t c = 0; c < width && !bad; c++) {
                uint32_t cp = p < e ? utf8_next(&p, e) : 0;
                unsigned char q[4] = {(unsigned char)cp, (unsigned char)(cp >> 8), (unsigned char)(cp >> 16),
                                      (unsigned char)(cp >> 24)};
                bad = fwrite(q, 1, 4, f) != 4;
            }
        }
    } else {
        size_t nb = ig_tensor_nbytes(t);
        bad = bad || (nb && fwrite(t->data, 1, nb, f) != nb);
    }
    if (fclose(f) || bad) return ig_error_set(err, IG_EIO, "cannot write %s", path);
    return 0;
}
