/* The closed-loop load engine of `infergate bench`: C keep-alive HTTP/1.1 connections spread over a
 * few epoll threads, each connection with exactly one request outstanding, a warmup, then a
 * measured window. Failed requests (non-200, bad responses, connection failures) are counted as
 * errors and kept out of the latency histogram; a failed connection is reopened with backoff. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/bench_int.h"

#define RBUF (IG__BENCH_MAX_HEAD + 16384)

/* ---- histogram ---- */

static int bucket_of(uint64_t v)
{
    if (v < 128) return (int)v;
    int e = 63 - __builtin_clzll(v); /* >= 7 */
    if (e > 46) return IG__BENCH_HIST_BUCKETS - 1;
    int shift = e - 6;
    return 128 + (e - 7) * 64 + (int)((v >> shift) - 64);
}

static uint64_t bucket_mid(int b)
{
    if (b < 128) return (uint64_t)b;
    int e = (b - 128) / 64 + 7, shift = e - 6;
    uint64_t lo = (uint64_t)(64 + (b - 128) % 64) << shift;
    return lo + ((uint64_t)1 << shift) / 2;
}

void ig__bench_hist_add(ig__bench_hist *h, uint64_t ns)
{
    if (!h->count || ns < h->min_ns) h->min_ns = ns;
    if (ns > h->max_ns) h->max_ns = ns;
    h->count++;
    h->sum_ns += ns;
    h->b[bucket_of(ns)]++;
}

void ig__bench_hist_merge(ig__bench_hist *into, const ig__bench_hist *from)
{
    if (!from->count) return;
    if (!into->count || from->min_ns < into->min_ns) into->min_ns = from->min_ns;
    if (from->max_ns > into->max_ns) into->max_ns = from->max_ns;
    into->count += from->count;
    into->sum_ns += from->sum_ns;
    for (int i = 0; i < IG__BENCH_HIST_BUCKETS; i++) into->b[i] += from->b[i];
}

uint64_t ig__bench_hist_quantile(const ig__bench_hist *h, double q)
{
    if (!h->count) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (int i = 0; i < IG__BENCH_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = bucket_mid(i);
            return v < h->min_ns ? h->min_ns : v > h->max_ns ? h->max_ns : v;
        }
    }
    return h->max_ns;
}

/* ---- connections ---- */

enum { C_IDLE, C_CONNECTING, C_SENDING, C_RECV, C_RETRY };

/* Owned by one load thread. */
typedef struct conn {
    int fd;
    uint32_t gen; /* bumped per socket: epoll events of a closed socket are recognised and dropped */
    int state;
    size_t sent;
    const ig__bench_req *req;
    uint64_t start_ns;
    uint64_t retry_at_ns, backoff_ns;
    bool have_head;
    ig__bench_resp resp;
    uint64_t body_left;
    size_t rlen;
    char *rbuf;
} conn;

typedef struct worker {
    const ig__bench_target *t;
    const ig__bench_req *reqs;
    int n_reqs;
    uint64_t next_req;
    conn *conns;
    int n_conns;
    int ep;
    uint64_t t_measure, t_end; /* ns, CLOCK_MONOTONIC */
    ig__bench_level res;       /* this thread's share */
    int rc;
    ig_error err;
} worker;


static bool measuring(const worker *w, uint64_t now)
{
    return now >= w->t_measure && now < w->t_end;
}

static void open_conn(worker *w, conn *c);

/* A connection or protocol failure: count it, drop the connection and retry it after a backoff
 * (1 ms doubling to 200 ms) so that a refusing server is not hammered in a busy loop. */
static void fail(worker *w, conn *c, bool proto, const char *why)
{
    uint64_t now = ig_now_ns();
    if (measuring(w, now)) {
        w->res.errors++;
        if (proto)
            w->res.proto_errors++;
        else
            w->res.conn_errors++;
        snprintf(w->res.last_error, sizeof(w->res.last_error), "%s", why);
    }
    if (c->fd >= 0) close(c->fd); /* also removes it from epoll */
    c->fd = -1;
    c->backoff_ns = c->backoff_ns ? c->backoff_ns * 2 : 1000000;
    if (c->backoff_ns > 200000000) c->backoff_ns = 200000000;
    c->retry_at_ns = now + c->backoff_ns;
    c->state = C_RETRY;
}

static void send_more(worker *w, conn *c)
{
    while (c->sent < c->req->len) {
        ssize_t n = send(c->fd, c->req->bytes + c->sent, c->req->len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return; /* EPOLLOUT (edge) resumes */
        } else {
            char why[128];
            snprintf(why, sizeof(why), "send: %s", strerror(errno));
            fail(w, c, false, why);
            return;
        }
    }
    c->state = C_RECV;
}

static void start_request(worker *w, conn *c)
{
    c->req = &w->reqs[w->next_req++ % (uint64_t)w->n_reqs];
    c->sent = 0;
    c->have_head = false;
    c->rlen = 0;
    c->state = C_SENDING;
    c->start_ns = ig_now_ns();
    send_more(w, c);
}

static void open_conn(worker *w, conn *c)
{
    ig_error err = {0};
    c->fd = ig__bench_connect(w->t, &err);
    if (c->fd < 0) {
        c->fd = -1;
        fail(w, c, false, err.msg);
        return;
    }
    c->gen++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)(c - w->conns) | (uint64_t)c->gen << 32};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev)) {
        char why[128];
        snprintf(why, sizeof(why), "epoll_ctl: %s", strerror(errno));
        fail(w, c, false, why);
        return;
    }
    c->state = C_CONNECTING;
}

/* A whole response arrived: record it and start the next request (or reconnect). */
static void complete(worker *w, conn *c)
{
    uint64_t now = ig_now_ns();
    if (measuring(w, now)) {
        if (c->resp.status == 200) {
            w->res.requests++;
            ig__bench_hist_add(&w->res.hist, now - c->start_ns);
        } else {
            w->res.errors++;
            w->res.status_errors++;
            w->res.last_status = c->resp.status;
        }
    }
    c->backoff_ns = 0;
    /* A response before the whole request was sent leaves the connection unusable. */
    if (!c->resp.keep_alive || c->sent < c->req->len) {
        close(c->fd);
        c->fd = -1;
        open_conn(w, c);
        return;
    }
    start_request(w, c);
}

static void on_readable(worker *w, conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            char why[128];
            snprintf(why, sizeof(why), "recv: %s", strerror(errno));
            fail(w, c, false, why);
            return;
        }
        if (n == 0) {
            fail(w, c, false, "server closed the connection before responding");
            return;
        }
        if (c->state != C_SENDING && c->state != C_RECV) {
            fail(w, c, true, "bytes from the server with no request outstanding");
            return;
        }
        c->rlen += (size_t)n;
        uint64_t avail;
        if (!c->have_head) {
            ig_error err = {0};
            int rc = ig__bench_parse_response(c->rbuf, c->rlen, &c->resp, &err);
            if (rc < 0) {
                fail(w, c, true, err.msg);
                return;
            }
            if (rc == 0) continue;
            c->have_head = true;
            c->body_left = c->resp.body_len;
            avail = c->rlen - c->resp.head_len;
        } else {
            avail = c->rlen;
        }
        if (avail > c->body_left) {
            fail(w, c, true, "more bytes than the response's Content-Length (pipelining is off)");
            return;
        }
        c->body_left -= avail;
        c->rlen = 0;
        if (c->body_left == 0) {
            /* The next request has just been sent, so its response cannot be here yet and its
             * arrival raises a new edge: skip the recv that would only say EAGAIN. */
            complete(w, c);
            return;
        }
    }
}

static void on_event(worker *w, conn *c, uint32_t ev)
{
    if (c->state == C_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
            char why[160];
            snprintf(why, sizeof(why), "connect to %s:%s: %s", w->t->host, w->t->port, strerror(soerr));
            fail(w, c, false, why);
            return;
        }
        start_request(w, c);
        if (c->state == C_RETRY) return;
    }
    if ((ev & EPOLLOUT) && c->state == C_SENDING) send_more(w, c);
    if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) on_readable(w, c);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[256];
    for (int i = 0; i < w->n_conns; i++) open_conn(w, &w->conns[i]);
    for (;;) {
        uint64_t now = ig_now_ns();
        if (now >= w->t_end) break;
        uint64_t wake = w->t_end;
        for (int i = 0; i < w->n_conns; i++) {
            conn *c = &w->conns[i];
            if (c->state != C_RETRY) continue;
            if (c->retry_at_ns <= now)
                open_conn(w, c);
            else if (c->retry_at_ns < wake)
                wake = c->retry_at_ns;
        }
        int timeout = (int)((wake - now + 999999) / 1000000);
        if (timeout > 100) timeout = 100;
        int n = epoll_wait(w->ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) {
            w->rc = ig_error_set(&w->err, IG_EIO, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            conn *c = &w->conns[(uint32_t)evs[i].data.u64];
            if (c->fd >= 0 && c->gen == (uint32_t)(evs[i].data.u64 >> 32)) on_event(w, c, evs[i].events);
        }
    }
    for (int i = 0; i < w->n_conns; i++)
        if (w->conns[i].fd >= 0) close(w->conns[i].fd);
    return NULL;
}

int ig__bench_run_level(const ig__bench_target *t, const ig__bench_req *reqs, int n_reqs,
                        const ig__bench_load_opts *o, ig__bench_level *out, ig_error *err)
{
    int nt = o->threads < 1 ? 1 : o->threads > o->concurrency ? o->concurrency : o->threads;
    int rc = 0, started = 0;
    worker *ws = calloc((size_t)nt, sizeof(*ws));
    conn *conns = calloc((size_t)o->concurrency, sizeof(*conns));
    char *bufs = malloc((size_t)o->concurrency * RBUF);
    pthread_t *tids = calloc((size_t)nt, sizeof(*tids));
    if (!ws || !conns || !bufs || !tids) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory for %d connections", o->concurrency);
        goto out;
    }
    for (int i = 0; i < o->concurrency; i++) {
        conns[i].fd = -1;
        conns[i].rbuf = bufs + (size_t)i * RBUF;
    }
    uint64_t t0 = ig_now_ns();
    uint64_t t_measure = t0 + (uint64_t)(o->warmup_s * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(o->duration_s * 1e9);
    for (int i = 0; i < nt; i++) {
        worker *w = &ws[i];
        int lo = (int)((long)o->concurrency * i / nt), hi = (int)((long)o->concurrency * (i + 1) / nt);
        w->t = t;
        w->reqs = reqs;
        w->n_reqs = n_reqs;
        w->next_req = (uint64_t)lo;
        w->conns = conns + lo;
        w->n_conns = hi - lo;
        w->t_measure = t_measure;
        w->t_end = t_end;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        if (w->ep < 0) {
            rc = ig_error_set(err, IG_EIO, "epoll_create1: %s", strerror(errno));
            goto join;
        }
    }
    for (; started < nt; started++) {
        if (pthread_create(&tids[started], NULL, worker_main, &ws[started])) {
            rc = ig_error_set(err, IG_EIO, "cannot start a load thread");
            break;
        }
    }
join:
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    memset(out, 0, sizeof(*out));
    out->concurrency = o->concurrency;
    out->window_s = o->duration_s;
    for (int i = 0; i < nt; i++) {
        worker *w = &ws[i];
        if (w->ep > 0) close(w->ep);
        if (w->rc && !rc) rc = ig_error_set(err, w->rc, "%s", w->err.msg);
        out->requests += w->res.requests;
        out->errors += w->res.errors;
        out->status_errors += w->res.status_errors;
        out->conn_errors += w->res.conn_errors;
        out->proto_errors += w->res.proto_errors;
        if (w->res.last_status) out->last_status = w->res.last_status;
        if (w->res.last_error[0]) memcpy(out->last_error, w->res.last_error, sizeof(out->last_error));
        ig__bench_hist_merge(&out->hist, &w->res.hist);
    }
out:
    free(ws);
    free(conns);
    free(bufs);
    free(tids);
    return rc;
}
