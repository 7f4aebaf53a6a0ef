/* The gateway's response cache: the server's byte-bounded LRU (policy/cache.h) keyed by what an
 * inference response depends on as it crosses the gateway (model, version, path, content type, the
 * binary-extension header length and the exact body), holding the 200 response's body and the two
 * headers a client needs to read it. Cache-Control: no-cache or no-store on the request skips the
 * lookup (no-store also the store); no-store or private on the response is never stored. */
#ifndef IG_GATEWAY_RESPONSE_CACHE_H
#define IG_GATEWAY_RESPONSE_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/cache.h"

typedef struct {
    const char *ptr;
    size_t len;
} ig_gw_slice;

typedef struct {
    ig_gw_slice content_type, header_length, body; /* header_length: Inference-Header-Content-Length */
} ig_gw_cached;

/* Builds k (begin .. end) from the request's parts. Returns 0 or IG_ENOMEM. */
int ig_gw_cache_key(ig_cache_key *k, const char *model, const char *version, ig_gw_slice path,
                    ig_gw_slice content_type, ig_gw_slice header_length, ig_gw_slice body);
/* Stores a response under k. Returns ig_cache_put's code. */
int ig_gw_cache_store(ig_cache *c, const ig_cache_key *k, const ig_gw_cached *r);
/* Reads an entry back (slices point into the entry, valid until it is released). */
bool ig_gw_cache_decode(const ig_cache_entry *e, ig_gw_cached *out);
/* Cache-Control directives: true when the value lists `directive` (case-insensitive). */
bool ig_gw_cache_control_has(const char *value, size_t len, const char *directive);

#endif
