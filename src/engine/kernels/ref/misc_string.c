/* String and text-feature operators: StringNormalizer (opset 10) and TfIdfVectorizer (opset 9).
 * Case mapping and case-insensitive matching touch ASCII letters only; every other byte (UTF-8
 * included) passes through unchanged, whatever the locale attribute says. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

/* ---- StringNormalizer ---- */

enum { CASE_NONE, CASE_LOWER, CASE_UPPER };

typedef struct strnorm_state {
    int action;
    bool case_sensitive;
    int n_stop;
    const ig_string *stop; /* the node's attribute strings (model lifetime) */
} strnorm_state;

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char ascii_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool same_word(const ig_string *a, const ig_string *b, bool case_sensitive)
{
    if (a->len != b->len) return false;
    if (case_sensitive) return a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0;
    for (size_t i = 0; i < a->len; i++)
        if (ascii_lower(a->ptr[i]) != ascii_lower(b->ptr[i])) return false;
    return true;
}

static bool is_stopword(const strnorm_state *st, const ig_string *w)
{
    for (int i = 0; i < st->n_stop; i++)
        if (same_word(w, &st->stop[i], st->case_sensitive)) return true;
    return false;
}

static int64_t strnorm_kept(const strnorm_state *st, const ig_tensor *x)
{
    const ig_string *in = x->data;
    int64_t n = ig_tensor_numel(x), kept = 0;
    for (int64_t i = 0; i < n; i++) kept += !is_stopword(st, &in[i]);
    return kept;
}

int ig__misc_strnorm_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->n_in >= 1 ? s->in[0] : NULL;
    if (!x || x->dtype != IG_DT_STRING) return ig_kstep_fail(s, err, IG_EDTYPE, "X must be a string tensor");
    if (!(x->ndim == 1 || (x->ndim == 2 && x->dims[0] == 1)))
        return ig_kstep_fail(s, err, IG_ESHAPE, "X must have shape [C] or [1, C]");
    strnorm_state st = {CASE_NONE, ig_node_attr_int(s->node, "is_case_sensitive", 0) != 0, 0, NULL};
    const char *action = ig_node_attr_str(s->node, "case_change_action", "NONE");
    if (!strcmp(action, "LOWER"))
        st.action = CASE_LOWER;
    else if (!strcmp(action, "UPPER"))
        st.action = CASE_UPPER;
    else if (strcmp(action, "NONE"))
        return ig_kstep_fail(s, err, IG_EINVAL, "case_change_action '%s' is not NONE, LOWER or UPPER",
                             action);
    const ig_attr *sw = ig_node_attr(s->node, "stopwords");
    if (sw && sw->type == IG_ATTR_STRINGS) {
        st.n_stop = sw->n;
        st.stop = sw->strings;
    }
    int64_t kept = x->dims[x->ndim - 1];
    if (st.n_stop) {
        /* which words survive decides the output length */
        if (!x->data) return IG_EDEFER;
        kept = strnorm_kept(&st, x);
    }
    int64_t dims[2] = {1, kept ? kept : 1};
    if (x->ndim == 1)
        ig_kstep_set_output(s, 0, IG_DT_STRING, 1, &dims[1]);
    else
        ig_kstep_set_output(s, 0, IG_DT_STRING, 2, dims);
    strnorm_state *p = malloc(sizeof(*p));
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    return 0;
}

int ig__misc_strnorm_run(ig_kstep *s)
{
    const strnorm_state *st = s->state;
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    const ig_string *in = x->data;
    ig_string *out = y->data;
    int64_t n = ig_tensor_numel(x), n_out = ig_tensor_numel(y), kept = 0;
    size_t bytes = 0;
    for (int64_t i = 0; i < n; i++)
        if (!is_stopword(st, &in[i])) {
            kept++;
            bytes += in[i].len;
        }
    if (kept == 0) {
        if (n_out != 1) return IG_ERUNTIME;
        out[0] = (ig_string){"", 0};
        return 0;
    }
    if (kept != n_out) return IG_ERUNTIME; /* the plan saw other data */
    /* the strings must outlive this step, so their bytes live in run memory, not scratch */
    char *buf = ig_kstep_alloc(s, bytes);
    if (!buf) return IG_ENOMEM;
    int64_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_stopword(st, &in[i])) continue;
        const char *src = in[i].ptr;
        for (size_t k = 0; k < in[i].len; k++)
            buf[k] = st->action == CASE_LOWER   ? ascii_lower(src[k])
                     : st->action == CASE_UPPER ? ascii_upper(src[k])
                                                : src[k];
        out[o++] = (ig_string){buf, in[i].len};
        buf += in[i].len;
    }
    return 0;
}

void ig__misc_strnorm_destroy(void *state)
{
    free(state);
}

/* ---- TfIdfVectorizer ---- */

enum { TF_TF, TF_IDF, TF_TFIDF };

typedef struct tfidf_state {
    int mode;
    int min_n, max_n, max_skip;
    int64_t out_dim;
    /* pool n-grams, as token sequences: n-gram g has ng_len[g] tokens at pool[ng_off[g]] */
    int64_t n_grams;
    int64_t *pool;
    int *ng_len;
    int64_t *ng_off;
    int64_t *ng_out; /* output coordinate of each n-gram */
    float *weight;   /* per output coordinate; 1 where no weight applies */
    /* open-addressing table of n-gram ids keyed by token sequence */
    uint64_t mask;
    int64_t *table; /* -1 = empty */
    /* string pools: distinct pool strings get token ids 0..n_vocab-1 */
    bool strings;
    int64_t n_vocab;
    const ig_string **vocab;
    uint64_t vmask;
    int64_t *vtable;
} tfidf_state;

void ig__misc_tfidf_destroy(void *state)
{
    tfidf_state *t = state;
    if (!t) return;
    free(t->pool);
    free(t->ng_len);
    free(t->ng_off);
    free(t->ng_out);
    free(t->weight);
    free(t->table);
    free(t->vocab);
    free(t->vtable);
    free(t);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static uint64_t str_hash(const ig_string *s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < s->len; i++) h = (h ^ (unsigned char)s->ptr[i]) * 1099511628211ull;
    return h;
}

static uint64_t table_size(int64_t n)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    return cap;
}

/* Token id of a string (-1 when it is not in the pool, so it never matches). */
static int64_t vocab_find(const tfidf_state *t, const ig_string *w)
{
    for (uint64_t h = str_hash(w) & t->vmask;; h = (h + 1) & t->vmask) {
        int64_t id = t->vtable[h];
        if (id < 0) return -1;
        const ig_string *v = t->vocab[id];
        if (v->len == w->len && (w->len == 0 || !memcmp(v->ptr, w->ptr, w->len))) return id;
    }
}

static int64_t vocab_add(tfidf_state *t, const ig_string *w)
{
    uint64_t h = str_hash(w) & t->vmask;
    for (;; h = (h + 1) & t->vmask) {
        int64_t id = t->vtable[h];
        if (id < 0) break;
        const ig_string *v = t->vocab[id];
        if (v->len == w->len && (w->len == 0 || !memcmp(v->ptr, w->ptr, w->len))) return id;
    }
    t->vocab[t->n_vocab] = w;
    t->vtable[h] = t->n_vocab;
    return t->n_vocab++;
}

static uint64_t gram_hash(const int64_t *tok, int n, int64_t stride)
{
    uint64_t h = 0;
    for (int k = 0; k < n; k++) h = mix(h, (uint64_t)tok[k * stride]);
    return mix(h, (uint64_t)n);
}

static bool gram_equal(const tfidf_state *t, int64_t g, const int64_t *tok, int n, int64_t stride)
{
    if (t->ng_len[g] != n) return false;
    const int64_t *p = t->pool + t->ng_off[g];
    for (int k = 0; k < n; k++)
        if (p[k] != tok[k * stride]) return false;
    return true;
}

static int64_t gram_find(const tfidf_state *t, uint64_t h, const int64_t *tok, int n, int64_t stride)
{
    for (h &= t->mask;; h = (h + 1) & t->mask) {
        int64_t g = t->table[h];
        if (g < 0 || gram_equal(t, g, tok, n, stride)) return g;
    }
}

static int tfidf_fail(ig_kstep *s, ig_error *err, tfidf_state *t, int code, const char *msg)
{
    ig__misc_tfidf_destroy(t);
    return ig_kstep_fail(s, err, code, "%s", msg);
}

/* Reads the pool into token sequences and indexes them. */
static int tfidf_build_pool(ig_kstep *s, ig_error *err, tfidf_state *t)
{
    int n_counts = 0, n_idx = 0, n_int = 0;
    const int64_t *counts = ig_node_attr_ints(s->node, "ngram_counts", &n_counts);
    const int64_t *idx = ig_node_attr_ints(s->node, "ngram_indexes", &n_idx);
    const int64_t *pool_i = ig_node_attr_ints(s->node, "pool_int64s", &n_int);
    const ig_attr *ps = ig_node_attr(s->node, "pool_strings");
    int n_str = ps && ps->type == IG_ATTR_STRINGS ? ps->n : 0;
    if (n_int && n_str)
        return tfidf_fail(s, err, t, IG_EINVAL, "only one of pool_int64s and pool_strings may be set");
    t->strings = n_str > 0;
    int64_t n_pool = t->strings ? n_str : n_int;
    t->n_grams = 0;
    for (int i = 0; i < n_counts; i++) {
        int64_t end = i + 1 < n_counts ? counts[i + 1] : n_pool;
        if (counts[i] < 0 || end < counts[i] || end > n_pool || (end - counts[i]) % (i + 1))
            return tfidf_fail(s, err, t, IG_EINVAL,
                              "ngram_counts does not split the pool into whole n-grams");
        t->n_grams += (end - counts[i]) / (i + 1);
    }
    if (n_counts && counts[0] != 0) return tfidf_fail(s, err, t, IG_EINVAL, "ngram_counts must start at 0");
    if (n_idx != t->n_grams)
        return tfidf_fail(s, err, t, IG_EINVAL, "ngram_indexes must have one entry per pool n-gram");
    int n_w = 0;
    const float *w = ig_node_attr_floats(s->node, "weights", &n_w);
    if (n_w && n_w != t->n_grams)
        return tfidf_fail(s, err, t, IG_EINVAL, "weights must have one entry per pool n-gram");
    int64_t out_dim = 0;
    for (int i = 0; i < n_idx; i++) {
        if (idx[i] < 0 || idx[i] > (int64_t)1 << 40)
            return tfidf_fail(s, err, t, IG_EINVAL, "ngram_indexes out of range");
        if (idx[i] + 1 > out_dim) out_dim = idx[i] + 1;
    }
    t->out_dim = out_dim;
    size_t ng = (size_t)t->n_grams + 1;
    t->pool = malloc(sizeof(int64_t) * (size_t)(n_pool + 1));
    t->ng_len = malloc(sizeof(int) * ng);
    t->ng_off = malloc(sizeof(int64_t) * ng);
    t->ng_out = malloc(sizeof(int64_t) * ng);
    t->weight = malloc(sizeof(float) * (size_t)(out_dim + 1));
    t->mask = table_size(t->n_grams) - 1;
    t->table = malloc(sizeof(int64_t) * (t->mask + 1));
    if (t->strings) {
        t->vmask = table_size(n_pool) - 1;
        t->vocab = malloc(sizeof(*t->vocab) * (size_t)(n_pool + 1));
        t->vtable = malloc(sizeof(int64_t) * (t->vmask + 1));
    }
    if (!t->pool || !t->ng_len || !t->ng_off || !t->ng_out || !t->weight || !t->table ||
        (t->strings && (!t->vocab || !t->vtable)))
        return tfidf_fail(s, err, t, IG_ENOMEM, "out of memory");
    memset(t->table, 0xff, sizeof(int64_t) * (t->mask + 1));
    if (t->strings) {
        memset(t->vtable, 0xff, sizeof(int64_t) * (t->vmask + 1));
        for (int64_t i = 0; i < n_pool; i++) t->pool[i] = vocab_add(t, &ps->strings[i]);
    } else if (n_pool) {
        memcpy(t->pool, pool_i, sizeof(int64_t) * (size_t)n_pool);
    }
    for (int64_t o = 0; o < out_dim; o++) t->weight[o] = 1.0f;
    int64_t g = 0;
    for (int i = 0; i < n_counts; i++) {
        int64_t end = i + 1 < n_counts ? counts[i + 1] : n_pool;
        for (int64_t off = counts[i]; off < end; off += i + 1, g++) {
            t->ng_len[g] = i + 1;
            t->ng_off[g] = off;
            t->ng_out[g] = idx[g];
            if (n_w && t->mode != TF_TF) t->weight[idx[g]] = w[g];
            uint64_t h = gram_hash(t->pool + off, i + 1, 1) & t->mask;
            /* a repeated pool n-gram keeps its first position */
            for (;; h = (h + 1) & t->mask) {
                int64_t e = t->table[h];
                if (e < 0) {
                    t->table[h] = g;
                    break;
                }
                if (gram_equal(t, e, t->pool + off, i + 1, 1)) break;
            }
        }
    }
    return 0;
}

int ig__misc_tfidf_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->n_in >= 1 ? s->in[0] : NULL;
    if (!x) return ig_kstep_fail(s, err, IG_EINVAL, "X is required");
    if (x->dtype != IG_DT_INT32 && x->dtype != IG_DT_INT64 && x->dtype != IG_DT_STRING)
        return ig_kstep_fail(s, err, IG_EDTYPE, "X must be int32, int64 or string");
    if (x->ndim != 1 && x->ndim != 2) return ig_kstep_fail(s, err, IG_ESHAPE, "X must be 1-D or 2-D");
    tfidf_state *t = calloc(1, sizeof(*t));
    if (!t) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    const char *mode = ig_node_attr_str(s->node, "mode", "");
    if (!strcmp(mode, "TF"))
        t->mode = TF_TF;
    else if (!strcmp(mode, "IDF"))
        t->mode = TF_IDF;
    else if (!strcmp(mode, "TFIDF"))
        t->mode = TF_TFIDF;
    else
        return tfidf_fail(s, err, t, IG_EINVAL, "mode must be TF, IDF or TFIDF");
    int64_t mn = ig_node_attr_int(s->node, "min_gram_length", 0);
    int64_t mx = ig_node_attr_int(s->node, "max_gram_length", 0);
    int64_t sk = ig_node_attr_int(s->node, "max_skip_count", 0);
    if (mn < 1 || mx < mn || mx > 1 << 16) return tfidf_fail(s, err, t, IG_EINVAL, "bad min/max_gram_length");
    if (sk < 0 || sk > (int64_t)1 << 30) return tfidf_fail(s, err, t, IG_EINVAL, "bad max_skip_count");
    t->min_n = (int)mn;
    t->max_n = (int)mx;
    t->max_skip = (int)sk;
    int rc = tfidf_build_pool(s, err, t);
    if (rc) return rc;
    if (t->strings != (x->dtype == IG_DT_STRING))
        return tfidf_fail(s, err, t, IG_EDTYPE,
                          t->strings ? "pool_strings needs a string input"
                                     : "pool_int64s needs an integer input");
    int64_t dims[2] = {x->dims[0], t->out_dim};
    if (x->ndim == 1)
        ig_kstep_set_output(s, 0, IG_DT_FLOAT, 1, &dims[1]);
    else
        ig_kstep_set_output(s, 0, IG_DT_FLOAT, 2, dims);
    if (x->dtype != IG_DT_INT64) s->scratch_bytes = sizeof(int64_t) * (size_t)ig_tensor_numel(x);
    s->state = t;
    return 0;
}

/* Counts the pool n-grams of one row of tokens into y (out_dim floats, zeroed). */
static void tfidf_row(const tfidf_state *t, const int64_t *tok, int64_t c, float *y)
{
    for (int64_t i = 0; i < c; i++) {
        for (int64_t skip = 0; skip <= t->max_skip; skip++) {
            /* unigrams do not depend on the skip, so only the first pass counts them */
            if (skip > 0 && t->max_n == 1) break;
            if (skip > 0 && i + skip + 1 >= c) break;
            uint64_t h = 0;
            for (int n = 1; n <= t->max_n; n++) {
                int64_t pos = i + (int64_t)(n - 1) * (skip + 1);
                if (pos >= c) break;
                h = mix(h, (uint64_t)tok[pos]);
                if (n < t->min_n || (n == 1 && skip > 0)) continue;
                int64_t g = gram_find(t, mix(h, (uint64_t)n), tok + i, n, skip + 1);
                if (g >= 0) y[t->ng_out[g]] += 1.0f;
            }
        }
    }
    if (t->mode == TF_IDF)
        for (int64_t o = 0; o < t->out_dim; o++) y[o] = y[o] > 0 ? t->weight[o] : 0.0f;
    else if (t->mode == TF_TFIDF)
        for (int64_t o = 0; o < t->out_dim; o++) y[o] *= t->weight[o];
}

int ig__misc_tfidf_run(ig_kstep *s)
{
    const tfidf_state *t = s->state;
    const ig_tensor *x = s->in[0];
    int64_t numel = ig_tensor_numel(x);
    int64_t rows = x->ndim == 2 ? x->dims[0] : 1, c = x->dims[x->ndim - 1];
    const int64_t *tok = x->data;
    if (x->dtype != IG_DT_INT64) {
        int64_t *conv = s->scratch;
        if (x->dtype == IG_DT_INT32)
            for (int64_t i = 0; i < numel; i++) conv[i] = ((const int32_t *)x->data)[i];
        else
            for (int64_t i = 0; i < numel; i++) conv[i] = vocab_find(t, &((const ig_string *)x->data)[i]);
        tok = conv;
    }
    float *y = s->out[0]->data;
    memset(y, 0, sizeof(float) * (size_t)(rows * t->out_dim));
#pragma omp parallel for num_threads(s->n_threads) if (numel * (t->max_skip + 1) > 1 << 15)
    for (int64_t r = 0; r < rows; r++) tfidf_row(t, tok + r * c, c, y + r * t->out_dim);
    return 0;
}
