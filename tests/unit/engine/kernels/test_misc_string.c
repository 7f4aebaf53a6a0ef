/* StringNormalizer and TfIdfVectorizer reference kernels driven directly: hand-built nodes, plan,
 * run, and outputs checked against values worked out by hand. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/kernel.h"
#include "engine/plan/plan.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static ig_string str_pool[256];
static int str_used;

static ig_string *strs(const char *const *v, int n)
{
    ig_string *p = &str_pool[str_used];
    for (int i = 0; i < n; i++) p[i] = (ig_string){v[i], strlen(v[i])};
    str_used += n;
    return p;
}

static ig_attr a_int(const char *name, int64_t v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_INT, .i = v};
}

static ig_attr a_str(const char *name, const char *v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_STRING, .s = {v, strlen(v)}};
}

static ig_attr a_strs(const char *name, const char *const *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_STRINGS, .strings = strs(v, n), .n = n};
}

static ig_attr a_ints(const char *name, const int64_t *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_INTS, .ints = (int64_t *)v, .n = n};
}

static ig_attr a_floats(const char *name, const float *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_FLOATS, .floats = (float *)v, .n = n};
}

static ig_tensor tens(ig_dtype dt, void *data, int ndim, int64_t d0, int64_t d1)
{
    ig_tensor t = {.dtype = dt, .ndim = ndim, .data = data};
    t.dims[0] = d0;
    t.dims[1] = d1;
    return t;
}

/* Plans and runs one node with a run-memory arena (kernels allocate string bytes there). The
 * output's data is malloc'd; the caller frees it and the arena. */
static int run_node(const char *op, int opset, ig_attr *attrs, int n_attrs, ig_tensor *x, ig_tensor *y,
                    ig_arena *dyn)
{
    ig_node node = {
        .name = "n", .op_type = op, .domain = "", .opset = opset, .n_attrs = n_attrs, .attrs = attrs};
    ig_tensor *in[1] = {x}, *out[1] = {y};
    ig_exec x_ctx = {.dyn = dyn};
    ig_kstep s = {.node = &node, .n_in = 1, .n_out = 1, .in = in, .out = out, .n_threads = 1, .exec = &x_ctx};
    const ig_kernel_def *k = ig_kernel_next(NULL, "", op, opset, in, 1);
    if (!k) return -1000;
    ig_error err = {0};
    int rc = k->plan(&s, &err);
    if (rc) return rc;
    y->data = calloc(ig_tensor_nbytes(y) + 1, 1);
    s.scratch = s.scratch_bytes ? calloc(1, s.scratch_bytes) : NULL;
    rc = k->run(&s);
    free(s.scratch);
    if (k->destroy) k->destroy(s.state);
    return rc;
}

static bool str_is(const ig_string *s, const char *v)
{
    return s->len == strlen(v) && !memcmp(s->ptr, v, s->len);
}

static void test_strnorm(void)
{
    ig_arena *dyn = ig_arena_create(4096);
    const char *words[] = {"Monday", "tuesday", "wednesday", "MONDAY", "Tuesday", "caf\xc3\xa9"};
    const char *stop[] = {"monday"};
    ig_tensor x = tens(IG_DT_STRING, strs(words, 6), 2, 1, 6), y = {0};

    /* case-insensitive stopwords, upper-cased output, [1, C] stays 2-D */
    ig_attr a1[] = {a_str("case_change_action", "UPPER"), a_strs("stopwords", stop, 1)};
    CHECK_EQ_INT(run_node("StringNormalizer", 10, a1, N_OF(a1), &x, &y, dyn), 0);
    CHECK_EQ_INT(y.ndim, 2);
    CHECK_EQ_INT(y.dims[0], 1);
    CHECK_EQ_INT(y.dims[1], 4);
    const ig_string *o = y.data;
    CHECK(str_is(&o[0], "TUESDAY") && str_is(&o[1], "WEDNESDAY") && str_is(&o[2], "TUESDAY"));
    CHECK(str_is(&o[3], "CAF\xc3\xa9")); /* non-ASCII bytes are left alone */
    free(y.data);

    /* case-sensitive: only the exact "monday" would go, and there is none */
    ig_attr a2[] = {a_str("case_change_action", "LOWER"), a_int("is_case_sensitive", 1),
                    a_strs("stopwords", stop, 1)};
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(run_node("StringNormalizer", 10, a2, N_OF(a2), &x, &y, dyn), 0);
    CHECK_EQ_INT(y.dims[1], 6);
    o = y.data;
    CHECK(str_is(&o[0], "monday") && str_is(&o[3], "monday") && str_is(&o[4], "tuesday"));
    free(y.data);

    /* everything removed: one empty string, shape [1] for 1-D input */
    const char *mondays[] = {"monday", "Monday"};
    ig_tensor x1 = tens(IG_DT_STRING, strs(mondays, 2), 1, 2, 0);
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(run_node("StringNormalizer", 10, a1, N_OF(a1), &x1, &y, dyn), 0);
    CHECK_EQ_INT(y.ndim, 1);
    CHECK_EQ_INT(y.dims[0], 1);
    CHECK_EQ_INT(((const ig_string *)y.data)[0].len, 0);
    free(y.data);

    /* ... and [1, 1] for [1, C] input */
    x1 = tens(IG_DT_STRING, x1.data, 2, 1, 2);
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(run_node("StringNormalizer", 10, a1, N_OF(a1), &x1, &y, dyn), 0);
    CHECK(y.ndim == 2 && y.dims[0] == 1 && y.dims[1] == 1);
    free(y.data);

    /* no stopwords: the shape is known without data, nothing changes */
    ig_tensor xu = tens(IG_DT_STRING, strs(words, 2), 1, 2, 0);
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(run_node("StringNormalizer", 10, NULL, 0, &xu, &y, dyn), 0);
    CHECK(str_is(&((const ig_string *)y.data)[0], "Monday"));
    free(y.data);

    /* stopwords with unknown data: defer */
    ig_tensor xd = tens(IG_DT_STRING, NULL, 1, 2, 0);
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(run_node("StringNormalizer", 10, a1, N_OF(a1), &xd, &y, dyn), IG_EDEFER);

    /* only [C] and [1, C] are accepted */
    ig_tensor xb = tens(IG_DT_STRING, strs(words, 6), 2, 2, 3);
    CHECK_EQ_INT(run_node("StringNormalizer", 10, a1, N_OF(a1), &xb, &y, dyn), IG_ESHAPE);
    ig_attr bad[] = {a_str("case_change_action", "TITLE")};
    CHECK_EQ_INT(run_node("StringNormalizer", 10, bad, N_OF(bad), &xu, &y, dyn), IG_EINVAL);
    ig_arena_free(dyn);
}

static void test_tfidf_int(void)
{
    /* the ONNX example: unigrams 2,3,5,4 and bigrams (5,6),(7,8),(6,7), skips up to 5 */
    int32_t in[] = {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8};
    int64_t counts[] = {0, 4}, idx[] = {0, 1, 2, 3, 4, 5, 6}, pool[] = {2, 3, 5, 4, 5, 6, 7, 8, 6, 7};
    ig_attr a[] = {a_str("mode", "TF"),
                   a_int("min_gram_length", 1),
                   a_int("max_gram_length", 2),
                   a_int("max_skip_count", 5),
                   a_ints("ngram_counts", counts, 2),
                   a_ints("ngram_indexes", idx, 7),
                   a_ints("pool_int64s", pool, 10)};
    ig_tensor x = tens(IG_DT_INT32, in, 1, 12, 0), y = {0};
    CHECK_EQ_INT(run_node("TfIdfVectorizer", 9, a, N_OF(a), &x, &y, NULL), 0);
    CHECK_EQ_INT(y.dtype, IG_DT_FLOAT);
    CHECK_EQ_INT(y.dims[0], 7);
    const float want[] = {0, 3, 1, 0, 1, 3, 1};
    for (int i = 0; i < 7; i++) CHECK(((const float *)y.data)[i] == want[i]);
    free(y.data);

    /* batched int64 rows, bigrams only, no skips: n-grams never cross rows */
    int64_t in2[] = {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8};
    a[1] = a_int("min_gram_length", 2);
    a[3] = a_int("max_skip_count", 0);
    x = tens(IG_DT_INT64, in2, 2, 2, 6);
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(run_node("TfIdfVectorizer", 9, a, N_OF(a), &x, &y, NULL), 0);
    CHECK(y.ndim == 2 && y.dims[0] == 2 && y.dims[1] == 7);
    const float want2[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1};
    for (int i = 0; i < 14; i++) CHECK(((const float *)y.data)[i] == want2[i]);
    free(y.data);

    /* a pool that does not split into whole bigrams */
    a[6] = a_ints("pool_int64s", pool, 9);
    CHECK_EQ_INT(run_node("TfIdfVectorizer", 9, a, N_OF(a), &x, &y, NULL), IG_EINVAL);
}

static void test_tfidf_strings(void)
{
    const char *words[] = {"a", "b", "a", "zz", "a", "b"};
    const char *pool[] = {"a", "b", "zz", "a", "b"};
    int64_t counts[] = {0, 3}, idx[] = {2, 1, 0, 3};
    float w[] = {0.5f, 2.0f, 4.0f, 10.0f};
    ig_attr a[] = {
        a_str("mode", "TFIDF"),          a_int("min_gram_length", 1),       a_int("max_gram_length", 2),
        a_int("max_skip_count", 0),      a_ints("ngram_counts", counts, 2), a_ints("ngram_indexes", idx, 4),
        a_strs("pool_strings", pool, 5), a_floats("weights", w, 4)};
    ig_tensor x = tens(IG_DT_STRING, strs(words, 6), 1, 6, 0), y = {0};
    CHECK_EQ_INT(run_node("TfIdfVectorizer", 9, a, N_OF(a), &x, &y, NULL), 0);
    CHECK_EQ_INT(y.dims[0], 4);
    /* counts: a 3, b 2, zz 1, (a,b) 2; output slot idx[g] gets count * w[g] */
    const float want[] = {4.0f, 4.0f, 1.5f, 20.0f};
    for (int i = 0; i < 4; i++) CHECK(((const float *)y.data)[i] == want[i]);
    free(y.data);

    a[0] = a_str("mode", "IDF");
    memset(&y, 0, sizeof(y));
    CHECK_EQ_INT(run_node("TfIdfVectorizer", 9, a, N_OF(a), &x, &y, NULL), 0);
    const float want_idf[] = {4.0f, 2.0f, 0.5f, 10.0f};
    for (int i = 0; i < 4; i++) CHECK(((const float *)y.data)[i] == want_idf[i]);
    free(y.data);

    /* string pools need string input */
    int64_t ints[] = {1, 2};
    ig_tensor xi = tens(IG_DT_INT64, ints, 1, 2, 0);
    CHECK_EQ_INT(run_node("TfIdfVectorizer", 9, a, N_OF(a), &xi, &y, NULL), IG_EDTYPE);
    a[0] = a_str("mode", "BM25");
    CHECK_EQ_INT(run_node("TfIdfVectorizer", 9, a, N_OF(a), &x, &y, NULL), IG_EINVAL);
}

int main(void)
{
    test_strnorm();
    test_tfidf_int();
    test_tfidf_strings();
    return CHECK_DONE();
}
