/* Gateway response cache entries (see response_cache.h). An entry is three length-prefixed parts:
 * content type, header length, body. */
#include "gateway/response_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ig_gw_cache_key(ig_cache_key *k, const char *model, const char *version, ig_gw_slice path,
                    ig_gw_slice content_type, ig_gw_slice header_length, ig_gw_slice body)
{
    ig_cache_key_begin(k, model, version ? version : "");
    const ig_gw_slice parts[] = {path, content_type, header_length, body};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        uint64_t n = parts[i].len;
        ig_cache_key_add_bytes(k, &n, sizeof n);
        if (n) ig_cache_key_add_bytes(k, parts[i].ptr, parts[i].len);
    }
    return ig_cache_key_end(k);
}

int ig_gw_cache_store(ig_cache *c, const ig_cache_key *k, const ig_gw_cached *r)
{
    const ig_gw_slice *parts[] = {&r->content_type, &r->header_length, &r->body};
    size_t n = 0;
    for (size_t i = 0; i < 3; i++) n += sizeof(uint64_t) + parts[i]->len;
    char *v = malloc(n ? n : 1);
    if (!v) return -1;
    size_t o = 0;
    for (size_t i = 0; i < 3; i++) {
        uint64_t len = parts[i]->len;
        memcpy(v + o, &len, sizeof len);
        o += sizeof len;
        if (len) memcpy(v + o, parts[i]->ptr, len);
        o += len;
    }
    int rc = ig_cache_put(c, k, v, n);
    free(v);
    return rc;
}

bool ig_gw_cache_decode(const ig_cache_entry *e, ig_gw_cached *out)
{
    const char *p = ig_cache_entry_data(e);
    size_t left = ig_cache_entry_len(e);
    ig_gw_slice *parts[] = {&out->content_type, &out->header_length, &out->body};
    for (size_t i = 0; i < 3; i++) {
        uint64_t len;
        if (left < sizeof len) return false;
        memcpy(&len, p, sizeof len);
        p += sizeof len;
        left -= sizeof len;
        if (len > left) return false;
        *parts[i] = (ig_gw_slice){p, (size_t)len};
        p += len;
        left -= (size_t)len;
    }
    return left == 0;
}

bool ig_gw_cache_control_has(const char *value, size_t len, const char *directive)
{
    size_t d = strlen(directive);
    for (size_t i = 0; value && i < len;) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ',')) i++;
        size_t s = i;
        while (i < len && value[i] != ',' && value[i] != '=' && value[i] != ' ') i++;
        if (i - s == d && !strncasecmp(value + s, directive, d)) return true;
        while (i < len && value[i] != ',') i++; /* skip a directive's argument */
    }
    return false;
}
