/* Internals of the gateway's data plane shared by its files: the worker, client and upstream
 * connection structs, the byte buffers they read into and write from, and the functions one file
 * calls in another. proxy.c: workers and client connections; proxy_request.c: what happens to a
 * request between its head and its first try (ids, routing, auth, limits, cache) and at its end;
 * proxy_upstream.c: upstream connections, tries, retries and the relay of responses; proxy_admin.c:
 * the admin listener's endpoints. Everything here belongs to one worker's thread. */
#ifndef IG_GATEWAY_PROXY_INT_H
#define IG_GATEWAY_PROXY_INT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/clock.h"
#include "gateway/http1.h"
#include "net/loop.h"
#include "gateway/mirror.h"
#include "gateway/proxy.h"
#include "gateway/response_cache.h"
#include "gateway/route_stats.h"
#include "gateway/tls.h"
#include "protocol/oip.h"
#include "protocol/status.h"

enum {
    IN_INITIAL = 16 * 1024,
    IN_KEEP = 256 * 1024,         /* larger buffers are given back between requests */
    OUT_HIGH_WATER = 1024 * 1024, /* stop reading the upstream while the client lags this much */
    UPSTREAM_IDLE_MS = 30 * 1000, /* below the upstreams' own keep-alive timeouts */
    MAX_IDLE_PER_ENDPOINT = 256,
};

#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

typedef struct gw_upstream gw_upstream;
typedef struct gw_client gw_client;

typedef struct {
    char *data;
    size_t len, cap, off; /* off: bytes already written (output) */
} gw_bytes;

/* Idle keep-alive connections to one address, opened with one set of TLS settings
 * (ig_gw_upstream_tls_fingerprint; 0 for plain connections). */
typedef struct idle_bucket {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint64_t tls_fingerprint;
    gw_upstream *head;
    int count;
    struct idle_bucket *next;
} idle_bucket;

struct ig_gw_worker {
    ig_gw_shared *sh;
    int id;
    ig_loop *loop;
    pthread_t thread;
    bool started;
    ig_watch listen_w, admin_w;
    uint64_t accept_resume_ns; /* listeners paused (out of descriptors) until then; 0 = none */
    ig_gw_config *cfg;         /* this worker's reference to the current snapshot */
    uint64_t cfg_gen;
    idle_bucket *idle;
    uint64_t rng;
    atomic_int_fast64_t in_flight;
};

enum { AWAIT_NONE, AWAIT_LIMITS, AWAIT_CACHE };

typedef struct {
    ig_gw_config *cfg;
    const ig_gw_route *route;
    ig_gw_pool *pool;
    ig_gw_endpoint *ep; /* the current try's endpoint */
    bool holds_request; /* circuit-breaker slot */
    bool holds_retry;   /* retry-budget slot */
    char model[256], version[64], request_id[40], traceparent[64];
    char principal[128];
    char rl_headers[384]; /* rate-limit headers for the response */
    int pool_index;       /* for the rollout's bookkeeping */
    int shadow_pool;      /* -1, or the pool a copy goes to once the response is complete */
    gw_bytes capture;     /* the primary's response body (dechunked), for the shadow comparison */
    size_t capture_json_len;
    bool capture_overflow;
    int awaiting; /* AWAIT_*: the request waits for its whole body before this step */
    bool cache_lookup, ig__gw_cache_store, has_cache_key;
    ig_cache_key cache_key;
    ig_gw_slice resp_ctype, resp_ihcl; /* copies in resp_hdrs, for the cache entry */
    char resp_hdrs[192];
    uint64_t start_ns, deadline_ns, try_start_ns;
    int tries;
    int status;
    bool response_started; /* a byte of the response head went to the client's buffer */
    gw_bytes up_head;      /* the head as sent upstream (kept for retries) */
    size_t bytes_out;
    const ig_gw_endpoint *prev_ep; /* excluded on retry */
    char prev_addr[64];
} gw_request;

struct gw_client {
    ig_watch w;
    ig_gw_worker *wk;
    bool admin;
    struct sockaddr_storage peer;
    char peer_ip[INET6_ADDRSTRLEN];
    gw_bytes in;
    ig_http1_msg req;
    size_t body_len; /* delimited body bytes of the current request */
    enum { C_IDLE, C_BUSY, C_DONE } state;
    gw_bytes out;
    bool close_after_write;
    gw_request rq;
    gw_upstream *up;
    SSL *ssl;              /* NULL: plain HTTP */
    bool tls_wants_out;    /* reading waits for the socket to be writable (handshake, alerts) */
    ig_ssl_identity *cert; /* the client certificate, read at the first request that needs it */
};

struct gw_upstream {
    ig_watch w;
    ig_gw_worker *wk;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    gw_client *client; /* NULL while idle */
    bool connecting, reused, got_bytes, paused;
    SSL *ssl;                                /* NULL: plain */
    uint64_t tls_fingerprint;                /* of the settings ssl was made with */
    bool handshaking;                        /* TLS: the connect deadline still runs */
    bool write_waits_read, read_waits_write; /* TLS waits for the other direction of the socket */
    /* The pool whose connection limit this connection counts against (with a reference on its
     * snapshot, so a reload cannot free the pool under it), and whose pending limit while connecting. */
    ig_gw_config *charged_cfg;
    ig_gw_pool *charged_pool;
    bool pending;
    size_t head_off, body_off;
    gw_bytes in;
    ig_http1_msg resp;
    gw_upstream *idle_next;
};

/* ---- byte buffers ---- */

static inline bool bytes_reserve(gw_bytes *b, size_t extra)
{
    if (b->cap - b->len >= extra) return true;
    size_t cap = b->cap ? b->cap : IN_INITIAL;
    while (cap - b->len < extra) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return false;
    b->data = d;
    b->cap = cap;
    return true;
}

static inline bool bytes_append(gw_bytes *b, const void *p, size_t n)
{
    if (!bytes_reserve(b, n)) return false;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

__attribute__((format(printf, 2, 3))) static inline bool bytes_printf(gw_bytes *b, const char *fmt, ...)
{
    for (int pass = 0; pass < 2; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return false;
        if (b->data && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return true;
        }
        if (!bytes_reserve(b, (size_t)n + 1)) return false;
    }
    return false;
}

/* Drops the first n bytes. */
static inline void bytes_consume(gw_bytes *b, size_t n)
{
    if (n >= b->len) {
        b->len = b->off = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static inline void bytes_free(gw_bytes *b)
{
    free(b->data);
    *b = (gw_bytes){0};
}

/* ---- proxy.c: workers and client connections ---- */

uint64_t ig__gw_next_rand(ig_gw_worker *w);
/* The worker's current config snapshot (refreshed when the gateway published a new one). */
ig_gw_config *ig__gw_worker_config(ig_gw_worker *w);
int ig__gw_set_nonblocking_socket_opts(int fd);
/* Writes what is pending to the client. false when that closed the connection. */
bool ig__gw_client_flush(gw_client *c);
/* Queues a whole local response; extra: header lines each ending CRLF, or "". */
void ig__gw_client_local_response(gw_client *c, int status, const char *ctype, const char *body,
                                  size_t body_len, const char *extra, bool close);
/* Queues an Open Inference Protocol error: {"error":"msg"}. */
void ig__gw_client_error(gw_client *c, int status, const char *msg, const char *extra, bool close);
void ig__gw_client_close(gw_client *c);
/* Goes on with the bytes the client sent: the next request's head, or the current one's body. */
void ig__gw_client_process(gw_client *c);

/* ---- proxy_request.c: from the head to the first try, and the end ---- */

/* A request head is complete: route it and send it on its way. */
void ig__gw_request_start(gw_client *c);
/* The body of a request that waited for it (limits that count elements, the cache) is whole. */
void ig__gw_request_resume(gw_client *c);
/* Ends the current request: stats, log, slots; the connection goes on with the next one. */
void ig__gw_request_end(gw_client *c);
/* Ends a request answered here, flushes, and goes on with pipelined bytes. */
void ig__gw_request_local_end(gw_client *c);
/* Authentication and authorization. false: a 401/403 is queued. */
bool ig__gw_request_authenticated(gw_client *c, bool need_admin);
ig_gw_slice ig__gw_header_slice(const ig_http1_msg *m, const char *name);
/* Stores a complete 200 response of a cached route. */
void ig__gw_cache_store(gw_client *c, const ig_http1_msg *resp);

/* ---- proxy_upstream.c: tries and the relay ---- */

/* Picks an endpoint and sends the request (a first try or a retry). */
void ig__gw_try_upstream(gw_client *c);
void ig__gw_upstream_write(gw_upstream *u);
void ig__gw_upstream_read(gw_upstream *u);
void ig__gw_upstream_close(gw_upstream *u);

/* ---- proxy_admin.c ---- */

void ig__gw_handle_admin(gw_client *c);

#endif
