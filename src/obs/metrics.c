/* Histograms, the growable text buffer and the Prometheus text exposition format (version 0.0.4):
 * HELP/TYPE lines, escaped label values, cumulative histogram buckets with +Inf, _sum and _count. */
#include "obs/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ig_histogram_init(ig_histogram *h, const double *bounds, int n)
{
    if (n < 0) n = 0;
    if (n > IG_HIST_MAX_BUCKETS) n = IG_HIST_MAX_BUCKETS;
    int k = 0;
    for (int i = 0; i < n; i++) {
        /* Bounds must be finite and strictly ascending; drop any that are not rather than fail. */
        if (!isfinite(bounds[i]) || (k > 0 && bounds[i] <= h->bounds[k - 1])) continue;
        h->bounds[k++] = bounds[i];
    }
    h->n_bounds = k;
    for (int i = k; i < IG_HIST_MAX_BUCKETS; i++) h->bounds[i] = 0;
    for (int i = 0; i <= IG_HIST_MAX_BUCKETS; i++) atomic_init(&h->counts[i], 0);
    atomic_init(&h->sum_milli, 0);
}

void ig_histogram_observe(ig_histogram *h, double value)
{
    if (isnan(value)) return;
    int i = 0;
    while (i < h->n_bounds && value > h->bounds[i]) i++; /* "le": a value equal to a bound counts in it */
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    /* The sum is kept in fixed point so it can be one atomic add; negative values (clock steps) add 0. */
    double milli = value * 1000.0 + 0.5;
    uint64_t m = milli <= 0 ? 0 : milli >= 1.8e19 ? UINT64_MAX / 2 : (uint64_t)milli;
    atomic_fetch_add_explicit(&h->sum_milli, m, memory_order_relaxed);
}

void ig_histogram_init_latency_us(ig_histogram *h)
{
    static const double b[] = {100,    250,    500,    1000,    2500,    5000,    10000, 25000, 50000,
                               100000, 250000, 500000, 1000000, 2500000, 5000000, 1e7,   3e7,   6e7};
    ig_histogram_init(h, b, (int)(sizeof(b) / sizeof(b[0])));
}

void ig_histogram_init_batch(ig_histogram *h)
{
    static const double b[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    ig_histogram_init(h, b, (int)(sizeof(b) / sizeof(b[0])));
}

/* ---- buffer ---- */

static int buf_reserve(ig_buf *b, size_t extra)
{
    if (b->oom) return -1;
    if (extra > SIZE_MAX / 2 - b->len) goto oom;
    size_t need = b->len + extra + 1; /* always room for a terminating NUL */
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) goto oom;
    b->data = p;
    b->cap = cap;
    return 0;
oom:
    b->oom = 1;
    return -1;
}

void ig_buf_append(ig_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void ig_buf_printf(ig_buf *b, const char *fmt, ...)
{
    if (buf_reserve(b, 64)) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= b->cap - b->len) {
        if (buf_reserve(b, (size_t)n)) {
            b->data[b->len] = 0; /* drop the partial text */
            return;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void ig_buf_free(ig_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

/* ---- Prometheus text format ---- */

/* Shortest text that reads back as the same double, the way Prometheus' own clients print. Integral
 * values print without an exponent up to 2^53 so counters stay readable. */
static void fmt_double(char *out, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, len, "%.0f", v);
        return;
    }
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(out, len, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void help_escaped(ig_buf *b, const char *s)
{
    /* HELP text escapes only backslash and newline. */
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            ig_buf_append(b, "\\\\", 2);
        else if (*p == '\n')
            ig_buf_append(b, "\\n", 2);
        else
            ig_buf_append(b, p, 1);
    }
}

void ig_prom_family(ig_buf *b, const char *name, const char *type, const char *help)
{
    ig_buf_printf(b, "# HELP %s ", name);
    help_escaped(b, help ? help : "");
    ig_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void ig_prom_value(ig_buf *b, const char *name, const char *labels, double value)
{
    char v[40];
    fmt_double(v, sizeof(v), value);
    if (labels && *labels)
        ig_buf_printf(b, "%s{%s} %s\n", name, labels, v);
    else
        ig_buf_printf(b, "%s %s\n", name, v);
}

void ig_prom_histogram(ig_buf *b, const char *name, const char *labels, const ig_histogram *h)
{
    /* One pass over a snapshot of the counts, so buckets are monotone and +Inf equals _count even
     * while other threads observe. */
    uint64_t cum = 0;
    const char *sep = labels && *labels ? "," : "";
    const char *lab = labels ? labels : "";
    char le[40];
    for (int i = 0; i <= h->n_bounds; i++) {
        cum += atomic_load_explicit((atomic_uint_fast64_t *)&h->counts[i], memory_order_relaxed);
        if (i < h->n_bounds)
            fmt_double(le, sizeof(le), h->bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        ig_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, lab, sep, le, (unsigned long long)cum);
    }
    char sum[40];
    uint64_t milli = atomic_load_explicit((atomic_uint_fast64_t *)&h->sum_milli, memory_order_relaxed);
    fmt_double(sum, sizeof(sum), (double)milli / 1000.0);
    if (*lab) {
        ig_buf_printf(b, "%s_sum{%s} %s\n", name, lab, sum);
        ig_buf_printf(b, "%s_count{%s} %llu\n", name, lab, (unsigned long long)cum);
    } else {
        ig_buf_printf(b, "%s_sum %s\n", name, sum);
        ig_buf_printf(b, "%s_count %llu\n", name, (unsigned long long)cum);
    }
}

/* Length of the well-formed UTF-8 sequence at p (1..4), or 0 if the bytes there are not one.
 * Prometheus refuses a scrape whose label values are not valid UTF-8, and model names come from
 * directory names, which may be any bytes. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!n || c == 0xC0 || c == 0xC1 || c > 0xF4) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    uint32_t cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) cp = cp << 6 | (p[i] & 0x3F);
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void ig_prom_escape(const char *in, char *out, size_t len)
{
    if (!len) return;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p) {
        char esc = *p == '\\' ? '\\' : *p == '"' ? '"' : *p == '\n' ? 'n' : 0;
        size_t n = esc ? 1 : utf8_len(p);
        const char *src = (const char *)p;
        size_t need = esc ? 2 : n;
        if (!n) {
            src = "\xEF\xBF\xBD"; /* U+FFFD for a byte that is not UTF-8 */
            need = 3;
            n = 1;
        }
        if (o + need >= len) break; /* never split an escape or a character when truncating */
        if (esc) {
            out[o++] = '\\';
            out[o++] = esc;
        } else {
            memcpy(out + o, src, need);
            o += need;
        }
        p += n;
    }
    out[o] = 0;
}
