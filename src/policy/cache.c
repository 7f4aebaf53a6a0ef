/* The response cache: one mutex over a chained hash table and an LRU list. The lock covers only
 * pointer work; copying values in and comparing keys (which can be as large as the request's
 * tensors) happen outside it, which the entries' refcounts make safe. */
#include "policy/cache.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* Owned by the cache's lock while linked; its bytes are immutable once published. */
struct ig_cache_entry {
    atomic_size_t refs;                 /* one for the cache while linked, one per reader */
    struct ig_cache_entry *prev, *next; /* LRU list, most recent first */
    struct ig_cache_entry *chain;       /* hash bucket */
    uint64_t hash_lo, hash_hi;
    size_t key_len, val_len, charge;
    alignas(max_align_t) unsigned char bytes[]; /* value (aligned for the reader), then key */
};

struct ig_cache {
    pthread_mutex_t mu;
    size_t max_bytes, bytes, n;
    ig_cache_entry **table;
    size_t table_size;                        /* a power of two */
    ig_cache_entry *lru; /* sentinel (allocated: the entry type ends in a flexible array): lru->next is the
                            most recent, lru->prev the least */
    uint64_t evictions, insertions, rejected; /* under mu */
    atomic_uint_fast64_t hits, misses, collisions;
};

/* ---- keys ---- */

static int key_fail(ig_cache_key *k, int code)
{
    if (!k->err) k->err = code;
    return k->err;
}

static int key_seg(ig_cache_key *k, const void *ext, size_t off, size_t n)
{
    if (!ext && k->n_segs && !k->segs[k->n_segs - 1].ext &&
        k->segs[k->n_segs - 1].off + k->segs[k->n_segs - 1].n == off) {
        k->segs[k->n_segs - 1].n += n; /* meta bytes written back to back share one segment */
        return 0;
    }
    if (k->n_segs == k->segs_cap) {
        size_t cap = k->segs_cap ? k->segs_cap * 2 : 8;
        void *p = realloc(k->segs, cap * sizeof(*k->segs));
        if (!p) return key_fail(k, IG_ENOMEM);
        k->segs = p;
        k->segs_cap = cap;
    }
    k->segs[k->n_segs++] = (struct ig__cache_seg){ext, off, n};
    return 0;
}

static int key_meta(ig_cache_key *k, const void *p, size_t n)
{
    if (k->err) return k->err;
    if (k->meta_len + n > k->meta_cap) {
        size_t cap = k->meta_cap ? k->meta_cap : 256;
        while (cap < k->meta_len + n) cap *= 2;
        unsigned char *m = realloc(k->meta, cap);
        if (!m) return key_fail(k, IG_ENOMEM);
        k->meta = m;
        k->meta_cap = cap;
    }
    memcpy(k->meta + k->meta_len, p, n);
    int rc = key_seg(k, NULL, k->meta_len, n);
    k->meta_len += n;
    k->len += n;
    return rc;
}

static int key_u64(ig_cache_key *k, uint64_t v)
{
    return key_meta(k, &v, sizeof(v));
}

/* Length-prefixed, so ("ab","c") and ("a","bc") serialize differently. */
static int key_str(ig_cache_key *k, const void *s, size_t n)
{
    key_u64(k, n);
    return key_meta(k, s, n);
}

int ig_cache_key_begin(ig_cache_key *k, const char *model, const char *version)
{
    memset(k, 0, sizeof(*k));
    key_meta(k, "K", 1);
    key_str(k, model ? model : "", model ? strlen(model) : 0);
    return key_str(k, version ? version : "", version ? strlen(version) : 0);
}

int ig_cache_key_add_input(ig_cache_key *k, const char *name, ig_dtype dtype, int ndim, const int64_t *dims,
                           const void *data, size_t nbytes)
{
    if (k->err) return k->err;
    if (ndim < 0 || ndim > IG_MAX_DIMS || (ndim && !dims) || (nbytes && !data)) return key_fail(k, IG_EINVAL);
    key_meta(k, "I", 1);
    key_str(k, name ? name : "", name ? strlen(name) : 0);
    key_u64(k, (uint64_t)dtype);
    key_u64(k, (uint64_t)ndim);
    if (ndim) key_meta(k, dims, (size_t)ndim * sizeof(int64_t));
    key_u64(k, nbytes);
    if (k->err || !nbytes) return k->err;
    if (key_seg(k, data, 0, nbytes)) return k->err;
    k->len += nbytes;
    return 0;
}

int ig_cache_key_add_bytes(ig_cache_key *k, const void *data, size_t n)
{
    if (n && !data) return key_fail(k, IG_EINVAL);
    key_meta(k, "B", 1);
    return key_str(k, data, n);
}

static const void *seg_ptr(const ig_cache_key *k, const struct ig__cache_seg *s)
{
    return s->ext ? s->ext : k->meta + s->off;
}

int ig_cache_key_end(ig_cache_key *k)
{
    if (k->err) return k->err;
    if (!k->n_segs) return key_fail(k, IG_EINVAL); /* never begun */
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_128bits_reset(&st);
    for (size_t i = 0; i < k->n_segs; i++) XXH3_128bits_update(&st, seg_ptr(k, &k->segs[i]), k->segs[i].n);
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    k->hash_lo = h.low64;
    k->hash_hi = h.high64;
    return 0;
}

void ig_cache_key_free(ig_cache_key *k)
{
    free(k->meta);
    free(k->segs);
    memset(k, 0, sizeof(*k));
}

static int key_equal(const ig_cache_key *k, const unsigned char *stored, size_t len)
{
    if (len != k->len) return 0;
    size_t off = 0;
    for (size_t i = 0; i < k->n_segs; i++) {
        if (memcmp(stored + off, seg_ptr(k, &k->segs[i]), k->segs[i].n)) return 0;
        off += k->segs[i].n;
    }
    return 1;
}

/* ---- entries ---- */

const void *ig_cache_entry_data(const ig_cache_entry *e)
{
    return e->bytes;
}

size_t ig_cache_entry_len(const ig_cache_entry *e)
{
    return e->val_len;
}

void ig_cache_entry_release(ig_cache_entry *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) free(e);
}

/* ---- the cache (functions named locked_* run under c->mu) ---- */

ig_cache *ig_cache_create(size_t max_bytes)
{
    ig_cache *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->table_size = 64;
    c->table = calloc(c->table_size, sizeof(*c->table));
    c->lru = calloc(1, sizeof(*c->lru));
    if (!c->table || !c->lru || pthread_mutex_init(&c->mu, NULL)) {
        free(c->table);
        free(c->lru);
        free(c);
        return NULL;
    }
    c->max_bytes = max_bytes;
    c->lru->next = c->lru->prev = c->lru;
    return c;
}

static void locked_unlink(ig_cache *c, ig_cache_entry *e)
{
    ig_cache_entry **pp = &c->table[e->hash_lo & (c->table_size - 1)];
    while (*pp != e) pp = &(*pp)->chain;
    *pp = e->chain;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    c->bytes -= e->charge;
    c->n--;
}

static void locked_to_front(ig_cache *c, ig_cache_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = c->lru->next;
    e->prev = c->lru;
    c->lru->next->prev = e;
    c->lru->next = e;
}

static ig_cache_entry *locked_find(ig_cache *c, uint64_t lo, uint64_t hi)
{
    for (ig_cache_entry *e = c->table[lo & (c->table_size - 1)]; e; e = e->chain)
        if (e->hash_lo == lo && e->hash_hi == hi) return e;
    return NULL;
}

/* Doubles the table when it holds more entries than slots; on OOM keeps the longer chains. */
static void locked_grow(ig_cache *c)
{
    if (c->n <= c->table_size || c->table_size > SIZE_MAX / 2 / sizeof(*c->table)) return;
    size_t size = c->table_size * 2;
    ig_cache_entry **t = calloc(size, sizeof(*t));
    if (!t) return;
    for (size_t i = 0; i < c->table_size; i++) {
        for (ig_cache_entry *e = c->table[i], *next; e; e = next) {
            next = e->chain;
            e->chain = t[e->hash_lo & (size - 1)];
            t[e->hash_lo & (size - 1)] = e;
        }
    }
    free(c->table);
    c->table = t;
    c->table_size = size;
}

ig_cache_entry *ig_cache_get(ig_cache *c, const ig_cache_key *k)
{
    if (!c || k->err || !k->n_segs) return NULL;
    pthread_mutex_lock(&c->mu);
    ig_cache_entry *e = locked_find(c, k->hash_lo, k->hash_hi);
    if (e) {
        locked_to_front(c, e);
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&c->mu);
    if (e && !key_equal(k, e->bytes + e->val_len, e->key_len)) {
        atomic_fetch_add_explicit(&c->collisions, 1, memory_order_relaxed);
        ig_cache_entry_release(e);
        e = NULL;
    }
    atomic_fetch_add_explicit(e ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return e;
}

int ig_cache_put(ig_cache *c, const ig_cache_key *k, const void *value, size_t len)
{
    if (!c || k->err || !k->n_segs || (len && !value)) return IG_EINVAL;
    size_t head = offsetof(ig_cache_entry, bytes);
    if (len > c->max_bytes || k->len > c->max_bytes - len || head > c->max_bytes - len - k->len) {
        pthread_mutex_lock(&c->mu);
        c->rejected++;
        pthread_mutex_unlock(&c->mu);
        return IG_EOVERFLOW;
    }
    ig_cache_entry *e = malloc(head + len + k->len);
    if (!e) {
        pthread_mutex_lock(&c->mu);
        c->rejected++;
        pthread_mutex_unlock(&c->mu);
        return IG_ENOMEM;
    }
    atomic_init(&e->refs, 1);
    e->hash_lo = k->hash_lo;
    e->hash_hi = k->hash_hi;
    e->key_len = k->len;
    e->val_len = len;
    e->charge = head + len + k->len;
    if (len) memcpy(e->bytes, value, len);
    size_t off = len;
    for (size_t i = 0; i < k->n_segs; i++) {
        memcpy(e->bytes + off, seg_ptr(k, &k->segs[i]), k->segs[i].n);
        off += k->segs[i].n;
    }

    ig_cache_entry *victims = NULL; /* released after unlocking: freeing is not lock work */
    pthread_mutex_lock(&c->mu);
    /* Same hash: the same key (a racing put) or a collision; either way the newer value wins, and
     * get's full compare keeps a collision from ever answering the wrong key. */
    ig_cache_entry *old = locked_find(c, e->hash_lo, e->hash_hi);
    if (old) {
        locked_unlink(c, old);
        old->chain = victims;
        victims = old;
    }
    size_t slot = e->hash_lo & (c->table_size - 1);
    e->chain = c->table[slot];
    c->table[slot] = e;
    e->next = c->lru->next;
    e->prev = c->lru;
    c->lru->next->prev = e;
    c->lru->next = e;
    c->bytes += e->charge;
    c->n++;
    c->insertions++;
    while (c->bytes > c->max_bytes) { /* e itself fits, so this stops before reaching it */
        ig_cache_entry *lru = c->lru->prev;
        locked_unlink(c, lru);
        lru->chain = victims;
        victims = lru;
        c->evictions++;
    }
    locked_grow(c);
    pthread_mutex_unlock(&c->mu);
    while (victims) {
        ig_cache_entry *next = victims->chain;
        ig_cache_entry_release(victims);
        victims = next;
    }
    return 0;
}

void ig_cache_clear(ig_cache *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    ig_cache_entry *all = c->lru->next;
    c->lru->prev->next = NULL; /* detach the list whole */
    c->lru->next = c->lru->prev = c->lru;
    memset(c->table, 0, c->table_size * sizeof(*c->table));
    c->bytes = c->n = 0;
    pthread_mutex_unlock(&c->mu);
    while (all && all != c->lru) {
        ig_cache_entry *next = all->next;
        ig_cache_entry_release(all);
        all = next;
    }
}

void ig_cache_free(ig_cache *c)
{
    if (!c) return;
    ig_cache_clear(c);
    pthread_mutex_destroy(&c->mu);
    free(c->table);
    free(c->lru);
    free(c);
}

void ig_cache_counters_read(ig_cache *c, ig_cache_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    out->evictions = c->evictions;
    out->insertions = c->insertions;
    out->rejected = c->rejected;
    out->bytes = c->bytes;
    out->entries = c->n;
    out->max_bytes = c->max_bytes;
    pthread_mutex_unlock(&c->mu);
    out->hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
    out->misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
    out->collisions = atomic_load_explicit(&c->collisions, memory_order_relaxed);
}
