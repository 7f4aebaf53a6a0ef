/* The serve access policy (see access.h): one immutable policy (conf tree, auth, rate limiter) behind
 * an atomic pointer. Checks enter a two-slot read-side counter (as SRCU) instead of taking a lock; a
 * reload swaps the pointer, then waits until both slots have drained once, after which no check can
 * still hold the old policy, and frees it. */
#include "policy/access.h"

#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct policy {
    ig_conf *conf;
    ig_auth *auth; /* NULL: no auth section, every request is anonymous */
    ig_ratelimit *rl;
} policy;

struct ig_access {
    _Atomic(policy *) cur;
    atomic_uint epoch;
    atomic_long readers[2];
    pthread_mutex_t reload; /* one reload at a time */
    atomic_ulong denied_401, denied_403, reload_ok, reload_failed;
};

static void policy_free(policy *p)
{
    if (!p) return;
    ig_auth_free(p->auth);
    ig_ratelimit_free(p->rl);
    ig_conf_free(p->conf);
    free(p);
}

/* Builds a policy from a parsed tree (taken over, freed on failure). */
static policy *policy_build(ig_conf *c, const char *base_dir, ig_error *err)
{
    policy *p = calloc(1, sizeof(*p));
    if (!p) {
        ig_conf_free(c);
        ig_error_set(err, IG_ENOMEM, "out of memory");
        return NULL;
    }
    p->conf = c;
    const ig_conf_node *root = ig_conf_root(c);
    if (root && root->kind != IG_CONF_MAP) {
        ig_conf_fail(c, root, err, "a policy file is a map with optional 'auth' and 'rate_limits'");
        goto fail;
    }
    const ig_conf_node *auth = ig_conf_get(root, "auth");
    if (auth && !(p->auth = ig_auth_from_conf(c, auth, base_dir, err))) goto fail;
    if (!(p->rl = ig_ratelimit_from_conf(c, ig_conf_get(root, "rate_limits"), err))) goto fail;
    if (root && !ig_conf_no_unknown(c, root, err)) goto fail;
    return p;
fail:
    policy_free(p);
    return NULL;
}

ig_access *ig_access_create(void)
{
    ig_access *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    pthread_mutex_init(&a->reload, NULL);
    return a;
}

void ig_access_free(ig_access *a)
{
    if (!a) return;
    policy_free(atomic_load(&a->cur));
    pthread_mutex_destroy(&a->reload);
    free(a);
}

bool ig_access_enabled(const ig_access *a)
{
    return a && atomic_load(&((ig_access *)a)->cur) != NULL;
}

/* Read side: the slot entered must be left with read_leave. */
static unsigned read_enter(ig_access *a)
{
    unsigned slot = atomic_load(&a->epoch) & 1u;
    atomic_fetch_add(&a->readers[slot], 1);
    return slot;
}

static void read_leave(ig_access *a, unsigned slot)
{
    atomic_fetch_sub(&a->readers[slot], 1);
}

/* After the pointer swap: every check that loaded the old pointer entered a slot before the swap.
 * Flipping twice and waiting for the slot left behind each time covers both slots, whichever epoch
 * such a check read; new checks go to the other slot, so each wait ends. */
static void synchronize(ig_access *a)
{
    for (int k = 0; k < 2; k++) {
        unsigned old = atomic_fetch_add(&a->epoch, 1) & 1u;
        while (atomic_load(&a->readers[old]) > 0) usleep(50);
    }
}

int ig_access_load(ig_access *a, const char *path, ig_error *err)
{
    ig_conf *c = ig_conf_load_file(path, err);
    if (!c) {
        atomic_fetch_add(&a->reload_failed, 1);
        return err->code ? err->code : IG_EINVAL;
    }
    char *copy = strdup(path);
    char *dir = copy ? strdup(dirname(copy)) : NULL;
    free(copy);
    policy *p = dir ? policy_build(c, dir, err) : NULL;
    if (!dir) {
        ig_conf_free(c);
        ig_error_set(err, IG_ENOMEM, "out of memory");
    }
    free(dir);
    if (!p) {
        atomic_fetch_add(&a->reload_failed, 1);
        return err->code ? err->code : IG_EINVAL;
    }
    pthread_mutex_lock(&a->reload);
    policy *old = atomic_load(&a->cur);
    if (old) ig_ratelimit_adopt(p->rl, old->rl);
    atomic_store(&a->cur, p);
    if (old) {
        synchronize(a);
        policy_free(old);
    }
    pthread_mutex_unlock(&a->reload);
    atomic_fetch_add(&a->reload_ok, 1);
    return 0;
}

int ig_access_validate(const char *text, size_t len, const char *name, ig_error *err)
{
    ig_conf *c = ig_conf_load_string(text, len, name, err);
    if (!c) return err->code ? err->code : IG_EINVAL;
    policy *p = policy_build(c, NULL, err);
    if (!p) return err->code ? err->code : IG_EINVAL;
    policy_free(p);
    return 0;
}

void ig_access_ip_string(const struct sockaddr *addr, char *out, size_t len)
{
    if (!len) return;
    out[0] = 0;
    if (!addr) return;
    if (addr->sa_family == AF_INET) {
        if (!inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, out,
                       (socklen_t)len))
            out[0] = 0;
    } else if (addr->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
        /* An IPv4 client on a dual-stack socket: show (and limit) it as the IPv4 address. */
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            if (!inet_ntop(AF_INET, &a6->s6_addr[12], out, (socklen_t)len)) out[0] = 0;
        } else if (!inet_ntop(AF_INET6, a6, out, (socklen_t)len)) {
            out[0] = 0;
        }
    }
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

bool ig_access_parse_grpc_peer(const char *peer, struct sockaddr_storage *ss)
{
    if (!peer || !ss) return false;
    memset(ss, 0, sizeof(*ss));
    char buf[128];
    size_t o = 0;
    /* gRPC percent-encodes some characters of the URI (IPv6 brackets and zone ids among them). */
    for (const char *p = peer; *p; p++) {
        if (o + 1 >= sizeof(buf)) return false;
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            buf[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = 0;
    char host[INET6_ADDRSTRLEN + 16];
    if (!strncmp(buf, "ipv4:", 5)) {
        const char *h = buf + 5, *colon = strrchr(h, ':');
        size_t n = colon ? (size_t)(colon - h) : strlen(h);
        if (n == 0 || n >= sizeof(host)) return false;
        memcpy(host, h, n);
        host[n] = 0;
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1) return false;
        in->sin_family = AF_INET;
        if (colon) in->sin_port = htons((uint16_t)atoi(colon + 1));
        return true;
    }
    if (!strncmp(buf, "ipv6:", 5)) {
        const char *h = buf + 5, *end;
        if (*h == '[') {
            h++;
            end = strchr(h, ']');
            if (!end) return false;
        } else {
            end = h + strlen(h);
        }
        size_t n = (size_t)(end - h);
        const char *zone = memchr(h, '%', n);
        if (zone) n = (size_t)(zone - h); /* fe80::1%eth0: the zone does not change the address */
        if (n == 0 || n >= sizeof(host)) return false;
        memcpy(host, h, n);
        host[n] = 0;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) return false;
        in6->sin6_family = AF_INET6;
        if (*end == ']' && end[1] == ':') in6->sin6_port = htons((uint16_t)atoi(end + 2));
        return true;
    }
    return false;
}

void ig_access_check(ig_access *a, const ig_access_request *rq, int64_t now_ns, int64_t now_s,
                     ig_access_decision *out)
{
    memset(out, 0, sizeof(*out));
    if (!a) return;
    unsigned slot = read_enter(a);
    policy *p = atomic_load(&a->cur);
    if (!p) {
        read_leave(a, slot);
        return;
    }
    ig_access_ip_string(rq->peer, out->principal, sizeof(out->principal));
    if (!out->principal[0]) snprintf(out->principal, sizeof(out->principal), "unknown");
    if (p->auth) {
        ig_auth_request ar = {.authorization = rq->authorization,
                              .api_key = rq->api_key,
                              .peer = rq->peer,
                              .cert_subject = rq->cert_subject,
                              .cert_sans = rq->cert_sans,
                              .n_cert_sans = rq->n_cert_sans,
                              .now_s = now_s};
        ig_auth_identity id;
        ig_auth_result r =
            ig_auth_check(p->auth, &ar, rq->model, rq->need_admin, &id, out->why, sizeof(out->why));
        if (r != IG_AUTH_ALLOW) {
            out->code = (int)r;
            atomic_fetch_add(r == IG_AUTH_UNAUTHENTICATED ? &a->denied_401 : &a->denied_403, 1);
            read_leave(a, slot);
            return;
        }
        out->admin = id.admin;
        if (strcmp(id.method, "none")) snprintf(out->principal, sizeof(out->principal), "%s", id.principal);
    }
    ig_rl_request lr = {.key = out->principal, .model = rq->model, .elements = rq->elements};
    ig_rl_decision d;
    ig_ratelimit_check(p->rl, &lr, now_ns, &d);
    snprintf(out->headers, sizeof(out->headers), "%s", d.headers);
    if (!d.allowed) {
        out->code = 429;
        if (d.retry_after_ms < 0)
            snprintf(out->why, sizeof(out->why), "rate limit exceeded: request larger than the burst of '%s'",
                     d.rule ? d.rule : "?");
        else
            snprintf(out->why, sizeof(out->why), "rate limit exceeded");
    }
    read_leave(a, slot);
}

void ig_access_prometheus(ig_access *a, ig_buf *b)
{
    if (!a) return;
    ig_buf_printf(b,
                  "# HELP infergate_auth_denied_total Requests refused by the auth policy, by HTTP status.\n"
                  "# TYPE infergate_auth_denied_total counter\n"
                  "infergate_auth_denied_total{code=\"401\"} %lu\n"
                  "infergate_auth_denied_total{code=\"403\"} %lu\n",
                  atomic_load(&a->denied_401), atomic_load(&a->denied_403));
    ig_buf_printf(b, "# HELP infergate_rate_limited_total Requests refused by a rate-limit rule.\n"
                     "# TYPE infergate_rate_limited_total counter\n");
    unsigned slot = read_enter(a);
    policy *p = atomic_load(&a->cur);
    for (size_t i = 0; p && i < ig_ratelimit_rule_count(p->rl); i++) {
        ig_rl_stats st;
        if (!ig_ratelimit_stats(p->rl, i, &st)) continue;
        char name[160];
        ig_prom_escape(st.name, name, sizeof(name));
        ig_buf_printf(b, "infergate_rate_limited_total{rule=\"%s\"} %llu\n", name,
                      (unsigned long long)st.denied);
    }
    read_leave(a, slot);
    ig_buf_printf(b,
                  "# HELP infergate_policy_reloads_total Policy file loads, by result.\n"
                  "# TYPE infergate_policy_reloads_total counter\n"
                  "infergate_policy_reloads_total{result=\"ok\"} %lu\n"
                  "infergate_policy_reloads_total{result=\"failed\"} %lu\n",
                  atomic_load(&a->reload_ok), atomic_load(&a->reload_failed));
}

int ig_access_split_headers(char *buf, const char **names, const char **values, int max)
{
    int n = 0;
    char *p = buf;
    while (p && *p && n < max) {
        char *eol = strstr(p, "\r\n");
        if (eol) *eol = 0;
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ') v++;
            names[n] = p;
            values[n] = v;
            n++;
        }
        p = eol ? eol + 2 : NULL;
    }
    return n;
}
