/* Client address lists for auth: "ADDR/PREFIX" entries for IPv4 and IPv6. A v4-mapped IPv6 address
 * (::ffff:a.b.c.d), in a rule or a peer, is treated as the IPv4 address so one rule covers both
 * forms of a dual-stack listener's peers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy/auth_int.h"

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)bytes)) return false;
    if (!rest) return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

static bool parse_one(const ig_conf *c, const ig_conf_node *n, ig__auth_cidr *out, ig_error *err)
{
    if (!ig_conf_expect(c, n, IG_CONF_SCALAR, err)) return false;
    char buf[64];
    size_t len = strlen(n->value);
    if (len == 0 || len >= sizeof(buf))
        return ig_conf_fail(c, n, err, "'%s' is not an address/prefix", n->value);
    memcpy(buf, n->value, len + 1);
    char *slash = strchr(buf, '/');
    int prefix = -1;
    if (slash) {
        *slash = 0;
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || p < 0 || p > 128)
            return ig_conf_fail(c, n, err, "'%s': bad prefix length", n->value);
        prefix = (int)p;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        if (prefix < 0) prefix = 32;
        if (prefix > 32) return ig_conf_fail(c, n, err, "'%s': an IPv4 prefix is at most 32", n->value);
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        if (prefix < 0) prefix = 128;
        if (prefix >= 96 && !memcmp(out->addr, v4_mapped_prefix, 12)) {
            memmove(out->addr, out->addr + 12, 4);
            memset(out->addr + 4, 0, 12);
            out->family = AF_INET;
            prefix -= 96;
        }
    } else {
        return ig_conf_fail(c, n, err, "'%s' is not an IPv4 or IPv6 address", n->value);
    }
    out->prefix = prefix;
    /* Bits past the prefix are almost always a typo (10.1.2.3/8 meant for one host or for 10/8). */
    unsigned char masked[16];
    memset(masked, 0, sizeof(masked));
    memcpy(masked, out->addr, (size_t)((prefix + 7) / 8));
    if (prefix % 8) masked[prefix / 8] &= (unsigned char)(0xff << (8 - prefix % 8));
    if (memcmp(masked, out->addr, 16))
        return ig_conf_fail(c, n, err, "'%s': address has bits set past the /%d prefix", n->value,
                            prefix + (out->family == AF_INET && strchr(buf, ':') ? 96 : 0));
    return true;
}

bool ig__auth_cidrs_parse(const ig_conf *c, const ig_conf_node *seq, ig__auth_cidr **out, size_t *n,
                          ig_error *err)
{
    *out = NULL;
    *n = 0;
    if (seq->kind == IG_CONF_SCALAR) {
        *out = calloc(1, sizeof(**out));
        if (!*out) return ig_conf_fail(c, seq, err, "out of memory");
        if (!parse_one(c, seq, *out, err)) {
            free(*out);
            *out = NULL;
            return false;
        }
        *n = 1;
        return true;
    }
    if (!ig_conf_expect(c, seq, IG_CONF_SEQ, err)) return false;
    if (seq->count == 0) return ig_conf_fail(c, seq, err, "%s: empty list", seq->key ? seq->key : "list");
    *out = calloc(seq->count, sizeof(**out));
    if (!*out) return ig_conf_fail(c, seq, err, "out of memory");
    for (const ig_conf_node *it = seq->child; it; it = it->next) {
        if (!parse_one(c, it, &(*out)[*n], err)) {
            free(*out);
            *out = NULL;
            *n = 0;
            return false;
        }
        (*n)++;
    }
    return true;
}

bool ig__auth_cidrs_match(const ig__auth_cidr *v, size_t n, const struct sockaddr *peer)
{
    if (!peer) return false;
    unsigned char addr[16];
    int family;
    if (peer->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        family = AF_INET;
    } else if (peer->sa_family == AF_INET6) {
        memcpy(addr, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
        family = AF_INET6;
        if (!memcmp(addr, v4_mapped_prefix, 12)) {
            memmove(addr, addr + 12, 4);
            family = AF_INET;
        }
    } else {
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].family == family && prefix_equal(v[i].addr, addr, v[i].prefix)) return true;
    return false;
}
