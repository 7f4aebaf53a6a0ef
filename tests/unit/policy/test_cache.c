/* The response cache: keys, hits and misses, LRU order, the byte bound, hash collisions answered by
 * the full key compare, refcounted entries outliving eviction, and a multi-threaded smoke test. */
#include "policy/cache.h"

#include <pthread.h>
#include <stdint.h>

#include "check.h"

/* A key for model m, version v, one FLOAT input "x" of shape [1,n] holding data. */
static void make_key(ig_cache_key *k, const char *m, const char *v, const float *data, int n)
{
    int64_t dims[2] = {1, n};
    CHECK_EQ_INT(ig_cache_key_begin(k, m, v), 0);
    CHECK_EQ_INT(ig_cache_key_add_input(k, "x", IG_DT_FLOAT, 2, dims, data, (size_t)n * sizeof(float)), 0);
    CHECK_EQ_INT(ig_cache_key_end(k), 0);
}

static int hit_is(ig_cache *c, const ig_cache_key *k, const char *want)
{
    ig_cache_entry *e = ig_cache_get(c, k);
    if (!e) return want == NULL;
    int ok =
        want && ig_cache_entry_len(e) == strlen(want) && !memcmp(ig_cache_entry_data(e), want, strlen(want));
    ig_cache_entry_release(e);
    return ok;
}

static void test_keys(void)
{
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 5};
    ig_cache_key k1, k2, k3, k4, k5, k6;
    make_key(&k1, "m", "1", a, 4);
    make_key(&k2, "m", "1", a, 4);
    make_key(&k3, "m", "1", b, 4);
    make_key(&k4, "m", "2", a, 4);
    make_key(&k5, "m", "1", a, 3);
    CHECK(k1.hash_lo == k2.hash_lo && k1.hash_hi == k2.hash_hi && k1.len == k2.len);
    CHECK(k1.hash_lo != k3.hash_lo || k1.hash_hi != k3.hash_hi);
    CHECK(k1.hash_lo != k4.hash_lo);
    CHECK(k1.hash_lo != k5.hash_lo);
    /* The same bytes under a different shape, dtype or name are different keys. */
    int64_t d4[1] = {4};
    ig_cache_key_begin(&k6, "m", "1");
    ig_cache_key_add_input(&k6, "x", IG_DT_FLOAT, 1, d4, a, sizeof(a));
    ig_cache_key_end(&k6);
    CHECK(k6.hash_lo != k1.hash_lo);
    ig_cache_key_free(&k6);
    ig_cache_key_begin(&k6, "m", "1");
    int64_t d2[2] = {1, 4};
    ig_cache_key_add_input(&k6, "x", IG_DT_INT32, 2, d2, a, sizeof(a));
    ig_cache_key_end(&k6);
    CHECK(k6.hash_lo != k1.hash_lo);
    ig_cache_key_free(&k6);
    /* Length prefixes: ("ab","c") differs from ("a","bc"). */
    ig_cache_key x, y;
    ig_cache_key_begin(&x, "ab", "c");
    ig_cache_key_end(&x);
    ig_cache_key_begin(&y, "a", "bc");
    ig_cache_key_end(&y);
    CHECK(x.hash_lo != y.hash_lo && x.len == y.len);
    ig_cache_key_free(&x);
    ig_cache_key_free(&y);
    /* Extra bytes (requested outputs) are part of the key. */
    ig_cache_key_begin(&x, "m", "1");
    ig_cache_key_add_bytes(&x, "out0", 4);
    ig_cache_key_end(&x);
    ig_cache_key_begin(&y, "m", "1");
    ig_cache_key_add_bytes(&y, "out1", 4);
    ig_cache_key_end(&y);
    CHECK(x.hash_lo != y.hash_lo);
    ig_cache_key_free(&x);
    ig_cache_key_free(&y);
    /* Bad input is refused and sticks to the key; such a key never hits nor stores. */
    ig_cache_key_begin(&x, "m", "1");
    CHECK_EQ_INT(ig_cache_key_add_input(&x, "x", IG_DT_FLOAT, IG_MAX_DIMS + 1, d2, a, 4), IG_EINVAL);
    CHECK_EQ_INT(ig_cache_key_end(&x), IG_EINVAL);
    ig_cache *c = ig_cache_create(1 << 20);
    CHECK_EQ_INT(ig_cache_put(c, &x, "v", 1), IG_EINVAL);
    CHECK(ig_cache_get(c, &x) == NULL);
    ig_cache_key_free(&x);
    ig_cache_key z = {0}; /* never begun */
    CHECK(ig_cache_get(c, &z) == NULL);
    ig_cache_free(c);
    /* Many inputs: the segment list grows. */
    ig_cache_key_begin(&x, "m", "1");
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof(name), "in%d", i);
        ig_cache_key_add_input(&x, name, IG_DT_FLOAT, 2, d2, a, sizeof(a));
    }
    CHECK_EQ_INT(ig_cache_key_end(&x), 0);
    c = ig_cache_create(1 << 20);
    CHECK_EQ_INT(ig_cache_put(c, &x, "many", 4), 0);
    CHECK(hit_is(c, &x, "many"));
    ig_cache_free(c);
    ig_cache_key_free(&x);

    ig_cache_key_free(&k1);
    ig_cache_key_free(&k2);
    ig_cache_key_free(&k3);
    ig_cache_key_free(&k4);
    ig_cache_key_free(&k5);
}

static void test_hit_miss_lru(void)
{
    float in[8][4];
    ig_cache_key k[8];
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 4; j++) in[i][j] = (float)(i * 10 + j);
        make_key(&k[i], "m", "1", in[i], 4);
    }
    /* Room for exactly three entries of this size. */
    size_t one = 0;
    {
        ig_cache *probe = ig_cache_create(1 << 20);
        ig_cache_put(probe, &k[0], "val0", 4);
        ig_cache_counters cc;
        ig_cache_counters_read(probe, &cc);
        one = cc.bytes;
        ig_cache_free(probe);
    }
    CHECK(one > 4 + k[0].len);
    ig_cache *c = ig_cache_create(3 * one);
    CHECK(hit_is(c, &k[0], NULL));
    CHECK_EQ_INT(ig_cache_put(c, &k[0], "val0", 4), 0);
    CHECK_EQ_INT(ig_cache_put(c, &k[1], "val1", 4), 0);
    CHECK_EQ_INT(ig_cache_put(c, &k[2], "val2", 4), 0);
    CHECK(hit_is(c, &k[0], "val0")); /* 0 becomes the most recent: 1 is now the LRU */
    CHECK_EQ_INT(ig_cache_put(c, &k[3], "val3", 4), 0);
    CHECK(hit_is(c, &k[1], NULL));
    CHECK(hit_is(c, &k[0], "val0"));
    CHECK(hit_is(c, &k[2], "val2"));
    CHECK(hit_is(c, &k[3], "val3"));
    ig_cache_counters cc;
    ig_cache_counters_read(c, &cc);
    CHECK_EQ_INT(cc.entries, 3);
    CHECK_EQ_INT(cc.bytes, 3 * one);
    CHECK_EQ_INT(cc.evictions, 1);
    CHECK_EQ_INT(cc.hits, 4);
    CHECK_EQ_INT(cc.misses, 2);
    CHECK_EQ_INT(cc.insertions, 4);

    /* Replacing a key keeps one entry with the new value. */
    CHECK_EQ_INT(ig_cache_put(c, &k[3], "VAL3", 4), 0);
    CHECK(hit_is(c, &k[3], "VAL3"));
    ig_cache_counters_read(c, &cc);
    CHECK_EQ_INT(cc.entries, 3);
    CHECK_EQ_INT(cc.evictions, 1);

    /* A bigger value evicts as many LRU entries as it needs; the bytes never exceed the budget. */
    char big[64];
    memset(big, 'b', sizeof(big));
    big[63] = 0;
    CHECK_EQ_INT(ig_cache_put(c, &k[4], big, 63), 0);
    ig_cache_counters_read(c, &cc);
    CHECK(cc.bytes <= 3 * one);
    CHECK(hit_is(c, &k[4], big));
    CHECK(hit_is(c, &k[3], "VAL3")); /* the most recent ones survive */
    CHECK(hit_is(c, &k[0], NULL));

    /* Larger than the whole budget: refused, nothing evicted. */
    size_t huge_len = 3 * one;
    char *huge = calloc(1, huge_len);
    ig_cache_counters_read(c, &cc);
    uint64_t before = cc.entries;
    CHECK_EQ_INT(ig_cache_put(c, &k[5], huge, huge_len), IG_EOVERFLOW);
    ig_cache_counters_read(c, &cc);
    CHECK_EQ_INT(cc.entries, before);
    CHECK_EQ_INT(cc.rejected, 1);
    CHECK(hit_is(c, &k[5], NULL));
    free(huge);
    /* Exactly the budget fits (alone). */
    size_t exact = 3 * one - (one - 4); /* one entry's overhead + key is one - 4 */
    char *ex = calloc(1, exact);
    CHECK_EQ_INT(ig_cache_put(c, &k[6], ex, exact), 0);
    ig_cache_counters_read(c, &cc);
    CHECK_EQ_INT(cc.entries, 1);
    CHECK_EQ_INT(cc.bytes, 3 * one);
    free(ex);

    ig_cache_clear(c);
    ig_cache_counters_read(c, &cc);
    CHECK_EQ_INT(cc.entries, 0);
    CHECK_EQ_INT(cc.bytes, 0);
    CHECK(hit_is(c, &k[6], NULL));
    CHECK_EQ_INT(ig_cache_put(c, &k[7], "after", 5), 0);
    CHECK(hit_is(c, &k[7], "after"));

    /* A zero budget stores nothing. */
    ig_cache *z = ig_cache_create(0);
    CHECK_EQ_INT(ig_cache_put(z, &k[0], "", 0), IG_EOVERFLOW);
    ig_cache_free(z);

    ig_cache_free(c);
    for (int i = 0; i < 8; i++) ig_cache_key_free(&k[i]);
}

static void test_refcount_outlives_eviction(void)
{
    float a[2] = {1, 2}, b[2] = {3, 4};
    ig_cache_key ka, kb;
    make_key(&ka, "m", "1", a, 2);
    make_key(&kb, "m", "1", b, 2);
    ig_cache *c = ig_cache_create(1 << 20);
    ig_cache_put(c, &ka, "first", 5);
    ig_cache_entry *held = ig_cache_get(c, &ka);
    CHECK(held != NULL);
    ig_cache_put(c, &ka, "second", 6); /* replaced while held */
    ig_cache_clear(c);
    ig_cache_put(c, &kb, "other", 5);
    ig_cache_free(c); /* the cache goes; the held entry stays readable */
    CHECK_EQ_INT(ig_cache_entry_len(held), 5);
    CHECK(!memcmp(ig_cache_entry_data(held), "first", 5));
    CHECK(((uintptr_t)ig_cache_entry_data(held) & 15) == 0);
    ig_cache_entry_release(held);
    ig_cache_key_free(&ka);
    ig_cache_key_free(&kb);
}

static void test_collision(void)
{
    /* Force two different keys onto one 128-bit hash: a lookup must compare the stored key. */
    float a[2] = {1, 2}, b[2] = {3, 4}, a2[3] = {1, 2, 9};
    ig_cache_key ka, kb, kc;
    make_key(&ka, "m", "1", a, 2);
    make_key(&kb, "m", "1", b, 2);  /* same length, different bytes */
    make_key(&kc, "m", "1", a2, 3); /* different length */
    kb.hash_lo = kc.hash_lo = ka.hash_lo;
    kb.hash_hi = kc.hash_hi = ka.hash_hi;
    ig_cache *c = ig_cache_create(1 << 20);
    CHECK_EQ_INT(ig_cache_put(c, &ka, "A", 1), 0);
    CHECK(hit_is(c, &ka, "A"));
    CHECK(hit_is(c, &kb, NULL));
    CHECK(hit_is(c, &kc, NULL));
    ig_cache_counters cc;
    ig_cache_counters_read(c, &cc);
    CHECK_EQ_INT(cc.collisions, 2); /* both matched the hash and failed the key compare */
    CHECK_EQ_INT(cc.misses, 2);
    CHECK_EQ_INT(cc.hits, 1);
    /* The colliding key's put supersedes; the first key then misses instead of reading B. */
    CHECK_EQ_INT(ig_cache_put(c, &kb, "B", 1), 0);
    CHECK(hit_is(c, &kb, "B"));
    CHECK(hit_is(c, &ka, NULL));
    ig_cache_counters_read(c, &cc);
    CHECK_EQ_INT(cc.entries, 1);
    ig_cache_free(c);
    ig_cache_key_free(&ka);
    ig_cache_key_free(&kb);
    ig_cache_key_free(&kc);
}

enum { N_THREADS = 4, N_KEYS = 64, N_OPS = 20000 };
typedef struct worker {
    ig_cache *c;
    unsigned seed;
    int bad;
    uint64_t hits;
} worker;

/* Values are derived from the key id so every hit can be checked for belonging to its key. */
static void *work(void *arg)
{
    worker *w = arg;
    for (int op = 0; op < N_OPS; op++) {
        w->seed = w->seed * 1103515245u + 12345u;
        int id = (int)((w->seed >> 8) % N_KEYS);
        float in[3] = {(float)id, (float)(id * 7), 1};
        ig_cache_key k;
        int64_t dims[1] = {3};
        ig_cache_key_begin(&k, "model", "1");
        ig_cache_key_add_input(&k, "x", IG_DT_FLOAT, 1, dims, in, sizeof(in));
        ig_cache_key_end(&k);
        size_t len = 16 + (size_t)id * 8;
        unsigned char val[16 + N_KEYS * 8];
        memset(val, id, len);
        ig_cache_entry *e = ig_cache_get(w->c, &k);
        if (e) {
            w->hits++;
            const unsigned char *d = ig_cache_entry_data(e);
            if (ig_cache_entry_len(e) != len) w->bad++;
            for (size_t i = 0; i < ig_cache_entry_len(e) && i < len; i++)
                if (d[i] != (unsigned char)id) w->bad++;
            ig_cache_entry_release(e);
        } else {
            ig_cache_put(w->c, &k, val, len);
        }
        if (op % 5000 == 4999 && w->seed % 2) ig_cache_clear(w->c);
        ig_cache_key_free(&k);
    }
    return NULL;
}

static void test_threads(void)
{
    ig_cache *c = ig_cache_create(8 * 1024); /* small: constant eviction */
    pthread_t t[N_THREADS];
    worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){c, (unsigned)i * 7919u + 1, 0, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    uint64_t hits = 0;
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(w[i].bad, 0);
        hits += w[i].hits;
    }
    ig_cache_counters cc;
    ig_cache_counters_read(c, &cc);
    CHECK_EQ_INT(cc.hits, hits);
    CHECK_EQ_INT(cc.hits + cc.misses, N_THREADS * N_OPS);
    CHECK(cc.bytes <= 8 * 1024);
    CHECK(cc.evictions > 0);
    CHECK(hits > 0);
    printf("threads: %llu hits, %llu misses, %llu evictions\n", (unsigned long long)cc.hits,
           (unsigned long long)cc.misses, (unsigned long long)cc.evictions);
    ig_cache_free(c);
}

int main(void)
{
    test_keys();
    test_hit_miss_lru();
    test_refcount_outlives_eviction();
    test_collision();
    test_threads();
    return CHECK_DONE();
}
