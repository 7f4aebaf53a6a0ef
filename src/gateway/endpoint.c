/* Upstream endpoints (refcounted, atomics for live state) and pools: endpoint snapshots swapped under
 * a two-slot epoch so picks never lock, circuit breakers, retry budget, slow start, outlier ejection
 * decisions, DNS re-resolution and state adoption across config reloads; `pools:` config parsing. */
#include "gateway/endpoint.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/balancer.h"

#define MS 1000000LL

struct ig_gw_endpoint {
    _Atomic uint32_t refs;
    uint32_t weight;
    int64_t added_ns;
    char address[128]; /* "host:port" as configured, or "ip:port" when resolved from DNS */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    /* Hot counters on their own cache line: every pick and finish writes them. */
    _Alignas(64) _Atomic int64_t outstanding;
    _Atomic int64_t queue_depth;
    _Atomic uint64_t picked;
    _Alignas(64) ig_gw_outlier_state out;
    ig_histogram latency_us; /* response times of tries on this endpoint (lock-free buckets) */
};

/* An immutable endpoint set with its balancer state. */
typedef struct ep_set {
    size_t n;
    ig_gw_endpoint **eps;
    void *lb;
} ep_set;

struct ig_gw_pool {
    char *name;
    ig_gw_lb_kind lb_kind;
    ig_gw_protocol protocol;
    const ig_gw_lb_ops *lb;
    bool weight_by_queue_depth;
    int64_t slow_start_ns;
    ig_gw_outlier_conf outlier;
    ig_gw_health_conf hc;
    int64_t max_connections, max_pending, max_requests;
    int64_t retry_percent, min_retries;
    char *dns_host, *dns_port;
    int64_t resolve_ns;
    ig_gw_upstream_tls *tls; /* NULL: plain connections */

    _Atomic(ep_set *) set;
    _Atomic uint64_t epoch;
    _Alignas(64) _Atomic uint64_t readers[2];
    pthread_mutex_t wlock; /* set swaps and ejection decisions */

    _Alignas(64) _Atomic int64_t connections, pending, requests, retries_active;
    _Atomic uint64_t overflows, retries, retry_overflows;
};

/* ---- endpoints ---- */

static ig_gw_endpoint *ep_alloc(uint32_t weight, int64_t added_ns)
{
    ig_gw_endpoint *ep = aligned_alloc(64, (sizeof(*ep) + 63) / 64 * 64);
    if (!ep) return NULL;
    memset(ep, 0, sizeof(*ep));
    atomic_init(&ep->refs, 1);
    ep->weight = weight ? weight : 1;
    ep->added_ns = added_ns;
    atomic_init(&ep->queue_depth, -1);
    ig_histogram_init_latency_us(&ep->latency_us);
    return ep;
}

bool ig_gw_split_host_port(const char *s, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *colon, *h = s;
    size_t hl;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':') return false;
        h = s + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return false;
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl)) return false; /* a bare IPv6 address needs brackets */
    }
    const char *p = colon + 1;
    if (hl == 0 || hl >= hostsz || !*p || strlen(p) >= portsz) return false;
    char *endp;
    long v = strtol(p, &endp, 10);
    if (*endp || v < 1 || v > 65535) return false;
    memcpy(host, h, hl);
    host[hl] = 0;
    snprintf(port, portsz, "%ld", v);
    return true;
}

ig_gw_endpoint *ig_gw_endpoint_create(const char *address, uint32_t weight, int64_t added_ns, ig_error *err)
{
    char host[256], port[8];
    if (strlen(address) >= sizeof(((ig_gw_endpoint *)0)->address) ||
        !ig_gw_split_host_port(address, host, sizeof(host), port, sizeof(port))) {
        ig_error_set(err, IG_EINVAL, "bad address '%s': expected host:port", address);
        return NULL;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc || !res) {
        ig_error_set(err, IG_EUNAVAILABLE, "cannot resolve '%s': %s", address, gai_strerror(rc));
        if (res) freeaddrinfo(res);
        return NULL;
    }
    ig_gw_endpoint *ep = ep_alloc(weight, added_ns);
    if (!ep) {
        freeaddrinfo(res);
        ig_error_set(err, IG_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(&ep->addr, res->ai_addr, res->ai_addrlen);
    ep->addrlen = res->ai_addrlen;
    snprintf(ep->address, sizeof(ep->address), "%s", address);
    freeaddrinfo(res);
    return ep;
}

static void sockaddr_name(const struct sockaddr *sa, char *out, size_t outsz)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, outsz, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, outsz, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

ig_gw_endpoint *ig_gw_endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len, uint32_t weight,
                                             int64_t added_ns)
{
    if (len > sizeof(struct sockaddr_storage)) return NULL;
    ig_gw_endpoint *ep = ep_alloc(weight, added_ns);
    if (!ep) return NULL;
    memcpy(&ep->addr, sa, len);
    ep->addrlen = len;
    sockaddr_name(sa, ep->address, sizeof(ep->address));
    return ep;
}

ig_gw_endpoint *ig_gw_endpoint_ref(ig_gw_endpoint *ep)
{
    if (ep) atomic_fetch_add_explicit(&ep->refs, 1, memory_order_relaxed);
    return ep;
}

void ig_gw_endpoint_release(ig_gw_endpoint *ep)
{
    if (ep && atomic_fetch_sub_explicit(&ep->refs, 1, memory_order_acq_rel) == 1) free(ep);
}

void ig_gw_endpoint_finish(ig_gw_endpoint *ep)
{
    if (!ep) return;
    atomic_fetch_sub_explicit(&ep->outstanding, 1, memory_order_relaxed);
    ig_gw_endpoint_release(ep);
}

const char *ig_gw_endpoint_address(const ig_gw_endpoint *ep)
{
    return ep->address;
}

const struct sockaddr *ig_gw_endpoint_sockaddr(const ig_gw_endpoint *ep, socklen_t *len)
{
    if (len) *len = ep->addrlen;
    return (const struct sockaddr *)&ep->addr;
}

uint32_t ig_gw_endpoint_weight(const ig_gw_endpoint *ep)
{
    return ep->weight;
}

void ig_gw_endpoint_report_queue(ig_gw_endpoint *ep, int64_t depth)
{
    atomic_store_explicit(&ep->queue_depth, depth < 0 ? -1 : depth, memory_order_relaxed);
}

int64_t ig_gw_endpoint_queue_depth(const ig_gw_endpoint *ep)
{
    return atomic_load_explicit(&ep->queue_depth, memory_order_relaxed);
}

int64_t ig_gw_endpoint_outstanding(const ig_gw_endpoint *ep)
{
    return atomic_load_explicit(&ep->outstanding, memory_order_relaxed);
}

double ig_gw_endpoint_effective_weight(const ig_gw_endpoint *ep, int64_t slow_start_ns, int64_t now_ns)
{
    double w = (double)ep->weight;
    if (slow_start_ns <= 0 || ep->added_ns <= 0) return w;
    int64_t age = now_ns - ep->added_ns;
    if (age >= slow_start_ns) return w;
    if (age < 0) age = 0;
    return w * (0.1 + 0.9 * (double)age / (double)slow_start_ns);
}

bool ig_gw_endpoint_healthy(const ig_gw_endpoint *ep)
{
    return !atomic_load_explicit(&ep->out.unhealthy, memory_order_relaxed);
}

bool ig_gw_endpoint_ejected(const ig_gw_endpoint *ep, int64_t now_ns)
{
    return ig_gw_outlier_ejected(&ep->out, now_ns);
}

bool ig_gw_endpoint_available(const ig_gw_endpoint *ep, int64_t now_ns)
{
    return ig_gw_endpoint_healthy(ep) && !ig_gw_endpoint_ejected(ep, now_ns);
}

ig_gw_outlier_state *ig_gw_endpoint_outlier(ig_gw_endpoint *ep)
{
    return &ep->out;
}

void ig_gw_endpoint_observe_latency(ig_gw_endpoint *ep, double us)
{
    ig_histogram_observe(&ep->latency_us, us);
}

const ig_histogram *ig_gw_endpoint_latency(const ig_gw_endpoint *ep)
{
    return &ep->latency_us;
}

uint64_t ig_gw_endpoint_picked(const ig_gw_endpoint *ep)
{
    return atomic_load_explicit(&ep->picked, memory_order_relaxed);
}

uint64_t ig_gw_endpoint_ejections(const ig_gw_endpoint *ep)
{
    return atomic_load_explicit(&ep->out.ejections_total, memory_order_relaxed);
}

/* Copies the live state a replacement endpoint (same address, new weight) must keep. */
static void ep_copy_state(ig_gw_endpoint *dst, const ig_gw_endpoint *src)
{
    dst->added_ns = src->added_ns;
    atomic_store(&dst->queue_depth, atomic_load(&src->queue_depth));
    atomic_store(&dst->out.ejected_until_ns, atomic_load(&src->out.ejected_until_ns));
    atomic_store(&dst->out.times_ejected, atomic_load(&src->out.times_ejected));
    atomic_store(&dst->out.ejections_total, atomic_load(&src->out.ejections_total));
    atomic_store(&dst->out.unhealthy, atomic_load(&src->out.unhealthy));
}

/* ---- snapshots and the epoch ---- */

static void set_free(const ig_gw_lb_ops *lb, ep_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) ig_gw_endpoint_release(s->eps[i]);
    if (s->lb) lb->destroy(s->lb);
    free(s->eps);
    free(s);
}

static ep_set *set_new(const ig_gw_lb_ops *lb, ig_gw_endpoint *const *eps, size_t n)
{
    ep_set *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->eps = calloc(n ? n : 1, sizeof(*s->eps));
    if (!s->eps) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) s->eps[i] = ig_gw_endpoint_ref(eps[i]);
    s->n = n;
    s->lb = lb->build(s->eps, n);
    if (!s->lb) {
        set_free(lb, s);
        return NULL;
    }
    return s;
}

/* Readers register in the slot of the current epoch and re-check it, so a writer that advanced the
 * epoch knows every reader that may have seen the old set is counted in the old slot. */
static uint64_t epoch_enter(ig_gw_pool *p)
{
    for (;;) {
        uint64_t e = atomic_load(&p->epoch);
        atomic_fetch_add(&p->readers[e & 1], 1);
        if (atomic_load(&p->epoch) == e) return e;
        atomic_fetch_sub(&p->readers[e & 1], 1);
    }
}

static void epoch_exit(ig_gw_pool *p, uint64_t e)
{
    atomic_fetch_sub_explicit(&p->readers[e & 1], 1, memory_order_release);
}

/* Under wlock: publishes s and frees the old set once its readers left. */
static void set_swap_locked(ig_gw_pool *p, ep_set *s)
{
    ep_set *old = atomic_exchange(&p->set, s);
    uint64_t e = atomic_fetch_add(&p->epoch, 1);
    while (atomic_load(&p->readers[e & 1]) != 0) sched_yield();
    set_free(p->lb, old);
}

int ig_gw_pool_set_endpoints(ig_gw_pool *p, ig_gw_endpoint *const *eps, size_t n)
{
    ep_set *s = set_new(p->lb, eps, n);
    if (!s) return IG_ENOMEM;
    pthread_mutex_lock(&p->wlock);
    set_swap_locked(p, s);
    pthread_mutex_unlock(&p->wlock);
    return 0;
}

int ig_gw_pool_snapshot(ig_gw_pool *p, ig_gw_endpoint ***out, size_t *n)
{
    uint64_t e = epoch_enter(p);
    ep_set *s = atomic_load(&p->set);
    ig_gw_endpoint **copy = malloc((s->n ? s->n : 1) * sizeof(*copy));
    if (!copy) {
        epoch_exit(p, e);
        return IG_ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++) copy[i] = ig_gw_endpoint_ref(s->eps[i]);
    *n = s->n;
    epoch_exit(p, e);
    *out = copy;
    return 0;
}

void ig_gw_endpoints_release(ig_gw_endpoint **eps, size_t n)
{
    if (!eps) return;
    for (size_t i = 0; i < n; i++) ig_gw_endpoint_release(eps[i]);
    free(eps);
}

size_t ig_gw_pool_size(ig_gw_pool *p)
{
    uint64_t e = epoch_enter(p);
    size_t n = atomic_load(&p->set)->n;
    epoch_exit(p, e);
    return n;
}

/* ---- pick and record ---- */

ig_gw_endpoint *ig_gw_pool_pick(ig_gw_pool *p, uint64_t hash_key, uint64_t rnd, const ig_gw_endpoint *exclude,
                                int64_t now_ns)
{
    uint64_t e = epoch_enter(p);
    ep_set *s = atomic_load(&p->set);
    ig_gw_endpoint *ep = NULL;
    if (s->n) {
        size_t avail = 0;
        for (size_t i = 0; i < s->n; i++) avail += ig_gw_endpoint_available(s->eps[i], now_ns);
        ig_gw_lb_ctx c = {.eps = s->eps,
                          .n = s->n,
                          .exclude = exclude,
                          .now_ns = now_ns,
                          .slow_start_ns = p->slow_start_ns,
                          .panic = avail * 2 < s->n,
                          .weight_by_queue_depth = p->weight_by_queue_depth};
        long i = p->lb->pick(s->lb, &c, hash_key, rnd);
        if (i < 0 && exclude) {
            c.exclude = NULL;
            i = p->lb->pick(s->lb, &c, hash_key, rnd);
        }
        if (i >= 0) {
            ep = ig_gw_endpoint_ref(s->eps[i]);
            atomic_fetch_add_explicit(&ep->outstanding, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&ep->picked, 1, memory_order_relaxed);
        }
    }
    epoch_exit(p, e);
    return ep;
}

bool ig_gw_pool_record(ig_gw_pool *p, ig_gw_endpoint *ep, int status, int64_t now_ns)
{
    if (!ig_gw_outlier_record(&ep->out, &p->outlier, status, now_ns)) return false;
    /* Rare path: count the ejected under the lock so two workers cannot both take the last slot. */
    bool ejected = false;
    pthread_mutex_lock(&p->wlock);
    ep_set *s = atomic_load(&p->set); /* stable: swaps take wlock */
    size_t n_ejected = 0;
    bool member = false;
    for (size_t i = 0; i < s->n; i++) {
        n_ejected += ig_gw_endpoint_ejected(s->eps[i], now_ns);
        member |= s->eps[i] == ep;
    }
    if (member && !ig_gw_endpoint_ejected(ep, now_ns) &&
        n_ejected < ig_gw_outlier_max_ejected(&p->outlier, s->n)) {
        ig_gw_outlier_eject(&ep->out, &p->outlier, now_ns);
        ejected = true;
    }
    pthread_mutex_unlock(&p->wlock);
    return ejected;
}

/* ---- circuit breakers and retry budget ---- */

static bool acquire(ig_gw_pool *p, _Atomic int64_t *ctr, int64_t limit)
{
    if (atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed) >= limit) {
        atomic_fetch_sub_explicit(ctr, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->overflows, 1, memory_order_relaxed);
        return false;
    }
    return true;
}

bool ig_gw_pool_acquire_request(ig_gw_pool *p)
{
    return acquire(p, &p->requests, p->max_requests);
}

void ig_gw_pool_release_request(ig_gw_pool *p)
{
    atomic_fetch_sub_explicit(&p->requests, 1, memory_order_relaxed);
}

bool ig_gw_pool_acquire_connection(ig_gw_pool *p)
{
    return acquire(p, &p->connections, p->max_connections);
}

void ig_gw_pool_release_connection(ig_gw_pool *p)
{
    atomic_fetch_sub_explicit(&p->connections, 1, memory_order_relaxed);
}

bool ig_gw_pool_acquire_pending(ig_gw_pool *p)
{
    return acquire(p, &p->pending, p->max_pending);
}

void ig_gw_pool_release_pending(ig_gw_pool *p)
{
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_relaxed);
}

bool ig_gw_pool_may_retry(ig_gw_pool *p)
{
    int64_t active = atomic_load_explicit(&p->requests, memory_order_relaxed);
    int64_t budget = active * p->retry_percent / 100;
    if (budget < p->min_retries) budget = p->min_retries;
    if (atomic_fetch_add_explicit(&p->retries_active, 1, memory_order_relaxed) >= budget) {
        atomic_fetch_sub_explicit(&p->retries_active, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->retry_overflows, 1, memory_order_relaxed);
        return false;
    }
    atomic_fetch_add_explicit(&p->retries, 1, memory_order_relaxed);
    return true;
}

void ig_gw_pool_retry_done(ig_gw_pool *p)
{
    atomic_fetch_sub_explicit(&p->retries_active, 1, memory_order_relaxed);
}

/* ---- accessors ---- */

const ig_gw_upstream_tls *ig_gw_pool_tls(const ig_gw_pool *p)
{
    return p->tls;
}

const char *ig_gw_pool_name(const ig_gw_pool *p)
{
    return p->name;
}

ig_gw_protocol ig_gw_pool_protocol(const ig_gw_pool *p)
{
    return p->protocol;
}

ig_gw_lb_kind ig_gw_pool_lb(const ig_gw_pool *p)
{
    return p->lb_kind;
}

const ig_gw_health_conf *ig_gw_pool_health_conf(const ig_gw_pool *p)
{
    return &p->hc;
}

bool ig_gw_pool_dns(const ig_gw_pool *p, const char **host, const char **port, int64_t *resolve_ns)
{
    if (!p->dns_host) return false;
    if (host) *host = p->dns_host;
    if (port) *port = p->dns_port;
    if (resolve_ns) *resolve_ns = p->resolve_ns;
    return true;
}

uint64_t ig_gw_pool_overflows(const ig_gw_pool *p)
{
    return atomic_load(&p->overflows);
}

uint64_t ig_gw_pool_retries(const ig_gw_pool *p)
{
    return atomic_load(&p->retries);
}

uint64_t ig_gw_pool_retry_overflows(const ig_gw_pool *p)
{
    return atomic_load(&p->retry_overflows);
}

int64_t ig_gw_pool_requests_active(const ig_gw_pool *p)
{
    return atomic_load(&p->requests);
}

int64_t ig_gw_pool_connections_active(const ig_gw_pool *p)
{
    return atomic_load(&p->connections);
}

int64_t ig_gw_pool_pending_active(const ig_gw_pool *p)
{
    return atomic_load(&p->pending);
}

/* ---- DNS ---- */

static int addr_cmp(const void *a, const void *b)
{
    return strcmp(ig_gw_endpoint_address(*(ig_gw_endpoint *const *)a),
                  ig_gw_endpoint_address(*(ig_gw_endpoint *const *)b));
}

/* Builds the endpoint list for the resolved records, reusing cur's objects for addresses that stay.
 * Sorted by address so the comparison with the current set is one pass. */
static int resolve_list(ig_gw_pool *p, int64_t added_ns, ig_gw_endpoint *const *cur, size_t ncur,
                        ig_gw_endpoint ***out, size_t *nout, ig_error *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int rc = getaddrinfo(p->dns_host, p->dns_port, &hints, &res);
    if (rc || !res) {
        if (res) freeaddrinfo(res);
        return ig_error_set(err, IG_EUNAVAILABLE, "pool '%s': cannot resolve '%s': %s", p->name, p->dns_host,
                            gai_strerror(rc));
    }
    size_t cap = 0, n = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) cap++;
    ig_gw_endpoint **list = calloc(cap, sizeof(*list));
    if (!list) {
        freeaddrinfo(res);
        return ig_error_set(err, IG_ENOMEM, "out of memory");
    }
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        char name[128];
        sockaddr_name(a->ai_addr, name, sizeof(name));
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++) dup = !strcmp(list[i]->address, name);
        if (dup) continue;
        ig_gw_endpoint *ep = NULL;
        for (size_t i = 0; i < ncur && !ep; i++)
            if (!strcmp(cur[i]->address, name)) ep = ig_gw_endpoint_ref(cur[i]);
        if (!ep) ep = ig_gw_endpoint_from_sockaddr(a->ai_addr, a->ai_addrlen, 1, added_ns);
        if (!ep) {
            freeaddrinfo(res);
            ig_gw_endpoints_release(list, n);
            return ig_error_set(err, IG_ENOMEM, "out of memory");
        }
        list[n++] = ep;
    }
    freeaddrinfo(res);
    qsort(list, n, sizeof(*list), addr_cmp);
    *out = list;
    *nout = n;
    return 0;
}

int ig_gw_pool_resolve(ig_gw_pool *p, int64_t now_ns, ig_error *err)
{
    if (!p->dns_host) return ig_error_set(err, IG_EINVAL, "pool '%s' has no dns name", p->name);
    ig_gw_endpoint **cur, **list = NULL;
    size_t ncur, n = 0;
    int rc = ig_gw_pool_snapshot(p, &cur, &ncur);
    if (rc) return ig_error_set(err, rc, "out of memory");
    rc = resolve_list(p, now_ns, cur, ncur, &list, &n, err);
    if (!rc) {
        bool same = n == ncur;
        for (size_t i = 0; i < n && same; i++) same = list[i] == cur[i];
        if (!same) rc = ig_gw_pool_set_endpoints(p, list, n);
        if (rc) ig_error_set(err, rc, "out of memory");
        ig_gw_endpoints_release(list, n);
    }
    ig_gw_endpoints_release(cur, ncur);
    return rc;
}

/* ---- config ---- */

static ig_gw_pool *pool_new(void)
{
    ig_gw_pool *p = aligned_alloc(64, (sizeof(ig_gw_pool) + 63) / 64 * 64);
    if (!p) return NULL;
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->wlock, NULL);
    p->lb = &ig_gw_lb_p2c;
    return p;
}

void ig_gw_pool_free(ig_gw_pool *p)
{
    if (!p) return;
    set_free(p->lb, atomic_load(&p->set));
    pthread_mutex_destroy(&p->wlock);
    free(p->name);
    free(p->dns_host);
    free(p->dns_port);
    ig_gw_upstream_tls_free(p->tls);
    free(p);
}

static bool parse_endpoints(const ig_conf *c, const ig_conf_node *seq, ig_gw_endpoint ***out, size_t *nout,
                            ig_error *err)
{
    if (!ig_conf_expect(c, seq, IG_CONF_SEQ, err)) return false;
    if (seq->count == 0) return ig_conf_fail(c, seq, err, "endpoints: expected at least one");
    ig_gw_endpoint **list = calloc(seq->count, sizeof(*list));
    size_t n = 0;
    if (!list) return ig_conf_fail(c, seq, err, "out of memory");
    for (const ig_conf_node *it = seq->child; it; it = it->next) {
        const char *addr = NULL;
        int64_t weight = 1;
        if (it->kind == IG_CONF_SCALAR) {
            addr = it->value;
        } else if (it->kind == IG_CONF_MAP) {
            const ig_conf_node *a = ig_conf_require(c, it, "address", IG_CONF_SCALAR, err);
            if (!a || !ig_conf_int(c, it, "weight", 1, 1000, 1, &weight, err) ||
                !ig_conf_no_unknown(c, it, err))
                goto fail;
            addr = a->value;
        } else {
            ig_conf_fail(c, it, err, "endpoints: expected \"host:port\" or {address, weight}");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            if (!strcmp(list[i]->address, addr)) {
                ig_conf_fail(c, it, err, "endpoint '%s' listed twice", addr);
                goto fail;
            }
        }
        ig_error e2 = {0};
        ig_gw_endpoint *ep = ig_gw_endpoint_create(addr, (uint32_t)weight, 0, &e2);
        if (!ep) {
            ig_conf_fail(c, it, err, "%s", e2.msg);
            goto fail;
        }
        list[n++] = ep;
    }
    *out = list;
    *nout = n;
    return true;
fail:
    ig_gw_endpoints_release(list, n);
    return false;
}

ig_gw_pool *ig_gw_pool_from_conf(const ig_conf *c, const ig_conf_node *m, const char *base_dir, ig_error *err)
{
    if (!ig_conf_expect(c, m, IG_CONF_MAP, err)) return NULL;
    ig_gw_pool *p = pool_new();
    ig_gw_endpoint **eps = NULL;
    size_t n = 0;
    if (!p) {
        ig_conf_fail(c, m, err, "out of memory");
        return NULL;
    }
    const char *name, *lb, *dns, *proto;
    int64_t slow, resolve;
    if (!ig_conf_require(c, m, "name", IG_CONF_SCALAR, err) || !ig_conf_str(c, m, "name", NULL, &name, err) ||
        !ig_conf_str(c, m, "lb", "p2c", &lb, err) || !ig_conf_str(c, m, "protocol", "http", &proto, err) ||
        !ig_conf_bool(c, m, "weight_by_queue_depth", false, &p->weight_by_queue_depth, err) ||
        !ig_conf_duration_ms(c, m, "slow_start", 0, &slow, err) ||
        !ig_conf_str(c, m, "dns", NULL, &dns, err) ||
        !ig_conf_duration_ms(c, m, "resolve", 5000, &resolve, err))
        goto fail;
    if (!*name) {
        ig_conf_fail(c, ig_conf_get(m, "name"), err, "name must not be empty");
        goto fail;
    }
    p->name = strdup(name);
    if (!ig_gw_lb_parse(lb, &p->lb_kind)) {
        ig_conf_fail(c, ig_conf_get(m, "lb"), err,
                     "lb: unknown policy '%s' (p2c, round_robin, ring_hash, maglev)", lb);
        goto fail;
    }
    p->lb = ig_gw_lb_ops_of(p->lb_kind);
    if (strcmp(proto, "http") && strcmp(proto, "grpc")) {
        ig_conf_fail(c, ig_conf_get(m, "protocol"), err, "protocol: unknown '%s' (http, grpc)", proto);
        goto fail;
    }
    p->protocol = !strcmp(proto, "grpc") ? IG_GW_PROTO_GRPC : IG_GW_PROTO_HTTP;
    if (p->protocol == IG_GW_PROTO_GRPC && ig_conf_get(m, "health_check")) {
        /* Active checks probe the REST health paths, which a gRPC port does not serve. */
        ig_conf_fail(c, ig_conf_get(m, "health_check"), err,
                     "health_check: probes speak REST; a grpc pool relies on outlier ejection");
        goto fail;
    }
    if (slow < 0 || resolve <= 0) {
        ig_conf_fail(c, ig_conf_get(m, slow < 0 ? "slow_start" : "resolve"), err, "duration must be > 0");
        goto fail;
    }
    p->slow_start_ns = slow * MS;
    p->resolve_ns = resolve * MS;

    const ig_conf_node *cb = ig_conf_get(m, "circuit_breaker"), *rb = ig_conf_get(m, "retry_budget");
    if (!ig_gw_outlier_conf_parse(c, ig_conf_get(m, "outlier"), &p->outlier, err) ||
        !ig_gw_health_conf_parse(c, ig_conf_get(m, "health_check"), &p->hc, err))
        goto fail;
    if (cb && !ig_conf_expect(c, cb, IG_CONF_MAP, err)) goto fail;
    if (rb && !ig_conf_expect(c, rb, IG_CONF_MAP, err)) goto fail;
    if (!ig_conf_int(c, cb, "max_connections", 1, INT32_MAX, 1024, &p->max_connections, err) ||
        !ig_conf_int(c, cb, "max_pending", 1, INT32_MAX, 1024, &p->max_pending, err) ||
        !ig_conf_int(c, cb, "max_requests", 1, INT32_MAX, 1024, &p->max_requests, err) ||
        (cb && !ig_conf_no_unknown(c, cb, err)) ||
        !ig_conf_int(c, rb, "percent", 0, 100, 20, &p->retry_percent, err) ||
        !ig_conf_int(c, rb, "min_retries", 0, INT32_MAX, 3, &p->min_retries, err) ||
        (rb && !ig_conf_no_unknown(c, rb, err)))
        goto fail;

    const ig_conf_node *en = ig_conf_get(m, "endpoints"), *tls = ig_conf_get(m, "tls");
    if (!!en == !!dns) {
        ig_conf_fail(c, m, err, "pool '%s': give exactly one of 'endpoints' or 'dns'", name);
        goto fail;
    }
    if (!dns && ig_conf_get(m, "resolve")) {
        ig_conf_fail(c, ig_conf_get(m, "resolve"), err, "resolve: only with 'dns'");
        goto fail;
    }
    if (!ig_conf_no_unknown(c, m, err)) goto fail;
    if (en) {
        if (!parse_endpoints(c, en, &eps, &n, err)) goto fail;
    } else {
        char host[256], port[8];
        if (!ig_gw_split_host_port(dns, host, sizeof(host), port, sizeof(port))) {
            ig_conf_fail(c, ig_conf_get(m, "dns"), err, "dns: expected \"host:port\", got '%s'", dns);
            goto fail;
        }
        p->dns_host = strdup(host);
        p->dns_port = strdup(port);
        if (!p->dns_host || !p->dns_port) {
            ig_conf_fail(c, m, err, "out of memory");
            goto fail;
        }
    }
    if (tls && !(p->tls = ig_gw_upstream_tls_from_conf(c, tls, base_dir, p->dns_host, err))) goto fail;
    ep_set *s = set_new(p->lb, eps, n);
    ig_gw_endpoints_release(eps, n);
    eps = NULL;
    if (!s) {
        ig_conf_fail(c, m, err, "out of memory");
        goto fail;
    }
    atomic_store(&p->set, s);
    /* The first resolution: endpoints present from the start do not slow-start. A failure leaves the
     * pool empty until the health thread's next try. */
    if (p->dns_host) ig_gw_pool_resolve(p, 0, NULL);
    return p;
fail:
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);
    return NULL;
}

void ig_gw_pool_adopt(ig_gw_pool *np, ig_gw_pool *old, int64_t now_ns)
{
    if (!np || !old) return;
    ig_gw_endpoint **ocur, **ncur;
    size_t on, nn;
    if (ig_gw_pool_snapshot(old, &ocur, &on)) return;
    if (ig_gw_pool_snapshot(np, &ncur, &nn)) {
        ig_gw_endpoints_release(ocur, on);
        return;
    }
    if (np->dns_host && old->dns_host && !strcmp(np->dns_host, old->dns_host) &&
        !strcmp(np->dns_port, old->dns_port)) {
        ig_gw_pool_set_endpoints(np, ocur, on);
    } else {
        bool changed = false;
        for (size_t i = 0; i < nn; i++) {
            ig_gw_endpoint *o = NULL;
            for (size_t j = 0; j < on && !o; j++)
                if (!strcmp(ocur[j]->address, ncur[i]->address)) o = ocur[j];
            if (o && o->weight == ncur[i]->weight) {
                ig_gw_endpoint_release(ncur[i]);
                ncur[i] = ig_gw_endpoint_ref(o);
                changed = true;
            } else if (o) {
                ep_copy_state(ncur[i], o);
            } else if (on > 0) {
                ncur[i]->added_ns = now_ns; /* not yet published: no reader sees this write */
            }
        }
        if (changed) ig_gw_pool_set_endpoints(np, ncur, nn);
    }
    ig_gw_endpoints_release(ocur, on);
    ig_gw_endpoints_release(ncur, nn);
}
