/* Response cache shared by serve and the gateway: a byte-bounded LRU of opaque values (encoded
 * responses or serialized outputs) keyed by the request's model, version and inputs. Lookups go by
 * XXH3-128 of the key and then compare the whole stored key, so a hash collision is a miss, never a
 * wrong answer. Entries are refcounted: a reader keeps using a hit while another thread evicts it.
 * All functions are thread-safe; a key object belongs to the one thread that builds it. */
#ifndef IG_POLICY_CACHE_H
#define IG_POLICY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "infergate/error.h"
#include "infergate/tensor.h"

typedef struct ig_cache ig_cache;
typedef struct ig_cache_entry ig_cache_entry;

/* A cache key under construction, then built. The key's serialization is length-prefixed pieces so
 * distinct requests never serialize alike. Small pieces (names, dtype, shape) are copied; tensor
 * bytes are borrowed and must stay valid until the last ig_cache_get/put with this key. */
typedef struct ig_cache_key {
    uint64_t hash_lo, hash_hi; /* XXH3-128, set by ig_cache_key_end */
    size_t len;                /* total serialized bytes */
    int err;                   /* first failure while building (IG_ENOMEM); the key then never hits */
    /* private */
    unsigned char *meta;
    size_t meta_len, meta_cap;
    struct ig__cache_seg {
        const void *ext; /* borrowed bytes, or NULL: meta[off .. off+n) */
        size_t off, n;
    } * segs;
    size_t n_segs, segs_cap;
} ig_cache_key;

/* Starts a key for one model version. Returns 0 or IG_ENOMEM (also kept in k->err). */
int ig_cache_key_begin(ig_cache_key *k, const char *model, const char *version);
/* Adds one input tensor: its name, dtype, shape and nbytes of data in wire form (for STRING tensors
 * the length-prefixed serialization). data is borrowed (see above). */
int ig_cache_key_add_input(ig_cache_key *k, const char *name, ig_dtype dtype, int ndim, const int64_t *dims,
                           const void *data, size_t nbytes);
/* Adds anything else the response depends on (requested outputs, parameters), copied. */
int ig_cache_key_add_bytes(ig_cache_key *k, const void *data, size_t n);
/* Finishes the hash. Returns k->err (0 on success). */
int ig_cache_key_end(ig_cache_key *k);
void ig_cache_key_free(ig_cache_key *k);

typedef struct ig_cache_counters {
    uint64_t hits, misses, evictions, insertions;
    uint64_t collisions; /* lookups whose 128-bit hash matched but whose key did not */
    uint64_t rejected;   /* puts refused: larger than the whole budget, or out of memory */
    uint64_t bytes;      /* charged now: keys + values + per-entry overhead */
    uint64_t entries;
    uint64_t max_bytes;
} ig_cache_counters;

/* A cache holding at most max_bytes (keys, values and bookkeeping all count). NULL on OOM. */
ig_cache *ig_cache_create(size_t max_bytes);
/* Frees the cache; entries still held by readers live on until released. */
void ig_cache_free(ig_cache *c);

/* Looks k up; on a hit returns the entry with a reference the caller must release, else NULL. */
ig_cache_entry *ig_cache_get(ig_cache *c, const ig_cache_key *k);
/* Stores a copy of value under k, replacing any entry with that key and evicting least recently used
 * entries to fit. Returns 0, IG_EOVERFLOW when the entry alone exceeds the budget (not stored), or
 * IG_ENOMEM / IG_EINVAL (a key that failed to build). */
int ig_cache_put(ig_cache *c, const ig_cache_key *k, const void *value, size_t len);

/* Borrowed; valid until ig_cache_entry_release. */
const void *ig_cache_entry_data(const ig_cache_entry *e);
size_t ig_cache_entry_len(const ig_cache_entry *e);
void ig_cache_entry_release(ig_cache_entry *e);

/* Drops every entry (held ones live on until released). */
void ig_cache_clear(ig_cache *c);
void ig_cache_counters_read(ig_cache *c, ig_cache_counters *out);

#endif
