/* The load-balancing policies: p2c least-outstanding, smooth weighted round robin, ketama-style ring
 * hash and Maglev, each built per endpoint set and picking among the usable endpoints of a ctx. */
#include "gateway/balancer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

uint64_t ig_gw_lb_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

bool ig_gw_lb_usable(const ig_gw_lb_ctx *c, size_t i)
{
    if (c->eps[i] == c->exclude) return false;
    return c->panic || ig_gw_endpoint_available(c->eps[i], c->now_ns);
}

double ig_gw_lb_load(const ig_gw_lb_ctx *c, size_t i)
{
    const ig_gw_endpoint *ep = c->eps[i];
    double load = (double)ig_gw_endpoint_outstanding(ep) + 1.0;
    if (c->weight_by_queue_depth) {
        int64_t q = ig_gw_endpoint_queue_depth(ep);
        if (q > 0) load += (double)q;
    }
    return load / ig_gw_endpoint_effective_weight(ep, c->slow_start_ns, c->now_ns);
}

/* First usable index at or after start (cyclic), skipping `not`; -1 when none. */
static long scan_usable(const ig_gw_lb_ctx *c, size_t start, long not )
{
    for (size_t k = 0; k < c->n; k++) {
        size_t i = (start + k) % c->n;
        if ((long)i != not &&ig_gw_lb_usable(c, i)) return (long)i;
    }
    return -1;
}

/* ---- p2c ---- */

static void *p2c_build(ig_gw_endpoint *const *eps, size_t n)
{
    (void)eps;
    (void)n;
    static char stateless;
    return &stateless;
}

static void p2c_destroy(void *state)
{
    (void)state;
}

/* Two distinct random usable candidates, then the one with the lower load per unit of weight. A few
 * random draws find candidates when most endpoints are usable; a scan covers the rest. */
static long p2c_pick(void *state, const ig_gw_lb_ctx *c, uint64_t hash_key, uint64_t rnd)
{
    (void)state;
    (void)hash_key;
    if (c->n == 0) return -1;
    long a = -1, b = -1;
    uint64_t s = rnd;
    for (size_t t = 0; t < 2 * c->n + 2 && b < 0; t++) {
        s = ig_gw_lb_mix(s);
        long i = (long)(s % c->n);
        if (i == a || !ig_gw_lb_usable(c, (size_t)i)) continue;
        if (a < 0)
            a = i;
        else
            b = i;
    }
    if (a < 0) a = scan_usable(c, (size_t)(ig_gw_lb_mix(s) % c->n), -1);
    if (a < 0) return -1;
    if (b < 0) b = scan_usable(c, (size_t)a + 1, a);
    if (b < 0) return a;
    return ig_gw_lb_load(c, (size_t)b) < ig_gw_lb_load(c, (size_t)a) ? b : a;
}

const ig_gw_lb_ops ig_gw_lb_p2c = {"p2c", p2c_build, p2c_destroy, p2c_pick};

/* ---- smooth weighted round robin ---- */

typedef struct {
    pthread_mutex_t mu;
    size_t n;
    double current[]; /* nginx's current_weight per endpoint */
} wrr_state;

static void *wrr_build(ig_gw_endpoint *const *eps, size_t n)
{
    (void)eps;
    wrr_state *w = calloc(1, sizeof(*w) + n * sizeof(double));
    if (!w) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->n = n;
    return w;
}

static void wrr_destroy(void *state)
{
    wrr_state *w = state;
    if (!w) return;
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static long wrr_pick(void *state, const ig_gw_lb_ctx *c, uint64_t hash_key, uint64_t rnd)
{
    (void)hash_key;
    (void)rnd;
    wrr_state *w = state;
    long best = -1;
    double total = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < c->n && i < w->n; i++) {
        if (!ig_gw_lb_usable(c, i)) continue;
        double wt = ig_gw_endpoint_effective_weight(c->eps[i], c->slow_start_ns, c->now_ns);
        w->current[i] += wt;
        total += wt;
        if (best < 0 || w->current[i] > w->current[best]) best = (long)i;
    }
    if (best >= 0) w->current[best] -= total;
    pthread_mutex_unlock(&w->mu);
    return best;
}

const ig_gw_lb_ops ig_gw_lb_round_robin = {"round_robin", wrr_build, wrr_destroy, wrr_pick};

/* ---- ring hash ---- */

#define RING_VNODES_PER_WEIGHT 100
#define RING_MAX_SIZE (1u << 20)

typedef struct {
    uint64_t hash;
    uint32_t idx;
} ring_entry;

typedef struct {
    size_t size;
    ring_entry e[];
} ring_state;

static int ring_cmp(const void *a, const void *b)
{
    const ring_entry *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Virtual nodes hash the endpoint's address with the node number as seed, so a node's position
 * depends only on its own endpoint: adding one endpoint moves only the keys it takes. */
static void *ring_build(ig_gw_endpoint *const *eps, size_t n)
{
    uint64_t total_w = 0;
    for (size_t i = 0; i < n; i++) total_w += ig_gw_endpoint_weight(eps[i]);
    uint64_t per = RING_VNODES_PER_WEIGHT;
    while (per > 1 && total_w * per > RING_MAX_SIZE) per--;
    size_t size = (size_t)(total_w * per);
    ring_state *r = malloc(sizeof(*r) + size * sizeof(ring_entry));
    if (!r) return NULL;
    r->size = 0;
    for (size_t i = 0; i < n; i++) {
        const char *a = ig_gw_endpoint_address(eps[i]);
        size_t len = strlen(a), nodes = (size_t)(ig_gw_endpoint_weight(eps[i]) * per);
        for (size_t k = 0; k < nodes; k++) r->e[r->size++] = (ring_entry){XXH64(a, len, k), (uint32_t)i};
    }
    qsort(r->e, r->size, sizeof(ring_entry), ring_cmp);
    return r;
}

static void ring_destroy(void *state)
{
    free(state);
}

static long ring_pick(void *state, const ig_gw_lb_ctx *c, uint64_t hash_key, uint64_t rnd)
{
    (void)rnd;
    ring_state *r = state;
    if (!r || r->size == 0) return -1;
    uint64_t h = ig_gw_lb_mix(hash_key);
    size_t lo = 0, hi = r->size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->e[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Clockwise to the first usable endpoint; bounded by the ring (each endpoint checked a few times
     * at most in practice since its nodes are spread). */
    for (size_t k = 0; k < r->size; k++) {
        uint32_t i = r->e[(lo + k) % r->size].idx;
        if (i < c->n && ig_gw_lb_usable(c, i)) return (long)i;
    }
    return -1;
}

const ig_gw_lb_ops ig_gw_lb_ring_hash = {"ring_hash", ring_build, ring_destroy, ring_pick};

/* ---- Maglev ---- */

typedef struct {
    size_t n;
    uint32_t table[IG_GW_MAGLEV_SIZE];
} maglev_state;

/* Eisenbud et al., "Maglev", NSDI 2016, section 3.4, with weights: each round an endpoint earns
 * weight/max_weight of a slot and claims its next preferred free slot per whole slot earned. */
static void *maglev_build(ig_gw_endpoint *const *eps, size_t n)
{
    const uint32_t M = IG_GW_MAGLEV_SIZE;
    maglev_state *m = malloc(sizeof(*m));
    if (!m) return NULL;
    m->n = n;
    if (n == 0) return m;
    uint64_t *offset = malloc(n * sizeof(uint64_t)), *skip = malloc(n * sizeof(uint64_t)),
             *next = calloc(n, sizeof(uint64_t));
    double *credit = calloc(n, sizeof(double));
    if (!offset || !skip || !next || !credit) {
        free(offset);
        free(skip);
        free(next);
        free(credit);
        free(m);
        return NULL;
    }
    uint32_t maxw = 1;
    for (size_t i = 0; i < n; i++) {
        const char *a = ig_gw_endpoint_address(eps[i]);
        size_t len = strlen(a);
        offset[i] = XXH64(a, len, 0x6d61676c) % M;
        skip[i] = XXH64(a, len, 0x65763121) % (M - 1) + 1;
        if (ig_gw_endpoint_weight(eps[i]) > maxw) maxw = ig_gw_endpoint_weight(eps[i]);
    }
    for (uint32_t j = 0; j < M; j++) m->table[j] = UINT32_MAX;
    uint32_t filled = 0;
    while (filled < M) {
        for (size_t i = 0; i < n && filled < M; i++) {
            credit[i] += (double)ig_gw_endpoint_weight(eps[i]) / maxw;
            while (credit[i] >= 1.0 && filled < M) {
                credit[i] -= 1.0;
                uint64_t slot;
                do {
                    slot = (offset[i] + next[i] * skip[i]) % M;
                    next[i]++;
                } while (m->table[slot] != UINT32_MAX);
                m->table[slot] = (uint32_t)i;
                filled++;
            }
        }
    }
    free(offset);
    free(skip);
    free(next);
    free(credit);
    return m;
}

static void maglev_destroy(void *state)
{
    free(state);
}

/* An unusable endpoint's keys go to a few rehashed slots (so they spread over the others, each key
 * consistently), then to the next usable endpoint in set order. */
static long maglev_pick(void *state, const ig_gw_lb_ctx *c, uint64_t hash_key, uint64_t rnd)
{
    (void)rnd;
    maglev_state *m = state;
    if (!m || m->n == 0 || c->n == 0) return -1;
    uint64_t h = ig_gw_lb_mix(hash_key);
    uint32_t i = m->table[h % IG_GW_MAGLEV_SIZE];
    if (i < c->n && ig_gw_lb_usable(c, i)) return (long)i;
    uint32_t first = i;
    for (int t = 0; t < 8; t++) {
        h = ig_gw_lb_mix(h);
        i = m->table[h % IG_GW_MAGLEV_SIZE];
        if (i < c->n && ig_gw_lb_usable(c, i)) return (long)i;
    }
    return scan_usable(c, (size_t)first + 1, -1);
}

const uint32_t *ig_gw_lb_maglev_table(const void *state)
{
    const maglev_state *m = state;
    return m && m->n ? m->table : NULL;
}

const ig_gw_lb_ops ig_gw_lb_maglev = {"maglev", maglev_build, maglev_destroy, maglev_pick};

const ig_gw_lb_ops *ig_gw_lb_ops_of(ig_gw_lb_kind kind)
{
    switch (kind) {
    case IG_GW_LB_ROUND_ROBIN:
        return &ig_gw_lb_round_robin;
    case IG_GW_LB_RING_HASH:
        return &ig_gw_lb_ring_hash;
    case IG_GW_LB_MAGLEV:
        return &ig_gw_lb_maglev;
    case IG_GW_LB_P2C:
    default:
        return &ig_gw_lb_p2c;
    }
}

bool ig_gw_lb_parse(const char *name, ig_gw_lb_kind *out)
{
    static const struct {
        const char *name;
        ig_gw_lb_kind kind;
    } names[] = {{"p2c", IG_GW_LB_P2C},
                 {"round_robin", IG_GW_LB_ROUND_ROBIN},
                 {"ring_hash", IG_GW_LB_RING_HASH},
                 {"maglev", IG_GW_LB_MAGLEV}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strcmp(name, names[i].name)) {
            *out = names[i].kind;
            return true;
        }
    }
    return false;
}
