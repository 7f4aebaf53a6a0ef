/* The TLS front (see tls_front.h). A relay owns two watches on its loop: the TLS connection
 * (outer) and its end of the socketpair (inner). Every event runs one pump over both directions
 * until nothing moves, then the epoll interests are set from what each direction waits for, so
 * bytes OpenSSL has already decrypted are never left waiting for an event that will not come. */
#define _GNU_SOURCE /* accept4 */
#include "net/tls_front.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/clock.h"
#include "net/loop.h"

enum { RELAY_BUF = 16 * 1024, ACCEPTS_PER_EVENT = 16 };

#define container_of(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

typedef struct front_loop {
    ig_tls_front *f;
    ig_loop *loop;
    pthread_t thread;
    bool started, listening; /* listening: not yet dropped for quiesce */
    bool paused;             /* listener unregistered until resume_ns (out of descriptors, or full) */
    uint64_t resume_ns;
    ig_watch listen;
} front_loop;

/* Who holds the identity of the connection whose server end has this descriptor number. */
typedef struct fd_slot {
    const void *owner;
    ig_tls_peer *peer;
} fd_slot;

struct ig_tls_front {
    ig_tls_front_config cfg;
    struct sockaddr_storage addr;
    int listen_fd, port;
    front_loop *loops;
    int n_loops;
    atomic_bool quiescing;
    atomic_long relays;
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t changed;
    int n_listening;
    SSL_CTX *ctx;
    unsigned long ctx_gen;
    fd_slot *slots;
    size_t n_slots;
};

typedef struct relay {
    ig_watch outer, inner;
    front_loop *fl;
    SSL *ssl;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int server_fd; /* the end handed over, -1 before */
    bool handshaken, client_eof, server_eof, inner_shut;
    bool server_deaf; /* the server stopped reading: what the client sends is dropped */
    bool read_wants_write, write_wants_read; /* TLS waits for the other direction of the socket */
    size_t up_off, up_len, down_off, down_len;
    char up[RELAY_BUF];   /* decrypted, for the server */
    char down[RELAY_BUF]; /* from the server, to encrypt */
} relay;

void ig_tls_peer_unref(ig_tls_peer *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1) free(p);
}

/* The context for a new handshake (a reference), rebuilt after the store was reloaded; the old one
 * stays with the connections that use it. */
static SSL_CTX *current_ctx(ig_tls_front *f)
{
    pthread_mutex_lock(&f->lock);
    if (!f->ctx || f->ctx_gen != ig_tls_store_generation(f->cfg.tls)) {
        ig_tls_pem pem;
        unsigned long gen = ig_tls_store_get(f->cfg.tls, &pem);
        ig_ssl_bad bad;
        char why[256];
        SSL_CTX *fresh = gen ? ig_ssl_server_ctx(&pem, TLS1_2_VERSION, &bad, why, sizeof why) : NULL;
        if (gen) ig_tls_free(&pem);
        if (fresh) { /* else (out of memory) the current one serves on */
            SSL_CTX_free(f->ctx);
            f->ctx = fresh;
            f->ctx_gen = gen;
        }
    }
    SSL_CTX *ctx = f->ctx;
    if (ctx) SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&f->lock);
    return ctx;
}

static bool slot_set(ig_tls_front *f, int fd, const void *owner, ig_tls_peer *peer)
{
    pthread_mutex_lock(&f->lock);
    if ((size_t)fd >= f->n_slots) {
        size_t n = f->n_slots ? f->n_slots : 256;
        while (n <= (size_t)fd) n *= 2;
        fd_slot *s = realloc(f->slots, n * sizeof *s);
        if (!s) {
            pthread_mutex_unlock(&f->lock);
            return false;
        }
        memset(s + f->n_slots, 0, (n - f->n_slots) * sizeof *s);
        f->slots = s;
        f->n_slots = n;
    }
    ig_tls_peer *old = f->slots[fd].peer;
    f->slots[fd] = (fd_slot){owner, peer};
    pthread_mutex_unlock(&f->lock);
    ig_tls_peer_unref(old);
    return true;
}

/* Clears the slot unless the descriptor number was already reused by a newer relay. */
static void slot_clear(ig_tls_front *f, int fd, const void *owner)
{
    ig_tls_peer *old = NULL;
    pthread_mutex_lock(&f->lock);
    if ((size_t)fd < f->n_slots && f->slots[fd].owner == owner) {
        old = f->slots[fd].peer;
        f->slots[fd] = (fd_slot){0};
    }
    pthread_mutex_unlock(&f->lock);
    ig_tls_peer_unref(old);
}

ig_tls_peer *ig_tls_front_peer(ig_tls_front *f, int fd)
{
    ig_tls_peer *p = NULL;
    pthread_mutex_lock(&f->lock);
    if (fd >= 0 && (size_t)fd < f->n_slots && (p = f->slots[fd].peer)) atomic_fetch_add(&p->refs, 1);
    pthread_mutex_unlock(&f->lock);
    return p;
}

static void release_relay(ig_watch *w)
{
    free(container_of(w, relay, outer));
}

static void close_inner(relay *r)
{
    if (r->inner.fd < 0) return;
    ig_loop_del(r->fl->loop, &r->inner);
    close(r->inner.fd);
    r->inner.fd = -1;
    if (r->server_fd >= 0) slot_clear(r->fl->f, r->server_fd, r);
}

/* graceful: everything was delivered, so the client gets a close_notify. */
static void relay_close(relay *r, bool graceful)
{
    close_inner(r);
    if (graceful)
        ig_ssl_close(r->ssl);
    else
        SSL_free(r->ssl);
    r->ssl = NULL;
    close(r->outer.fd);
    atomic_fetch_sub(&r->fl->f->relays, 1);
    ig_loop_retire(r->fl->loop, &r->outer, release_relay);
}

static void on_inner(ig_watch *w, uint32_t events);

/* The handshake is done: the server gets its end of a new socketpair, the certificate its slot. */
static bool hand_off(relay *r)
{
    ig_tls_front *f = r->fl->f;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) return false;
    ig_tls_peer *peer = NULL;
    if (ig_tls_store_client_auth(f->cfg.tls) && (peer = calloc(1, sizeof *peer))) {
        atomic_init(&peer->refs, 1);
        ig_ssl_identity_read(r->ssl, &peer->id);
    }
    bool kept = slot_set(f, sv[1], r, peer);
    if (!kept) ig_tls_peer_unref(peer);
    r->inner = (ig_watch){.fd = sv[0], .on_io = on_inner};
    if (!kept || ig_loop_add(r->fl->loop, &r->inner, EPOLLIN)) {
        slot_clear(f, sv[1], r);
        close(sv[0]);
        close(sv[1]);
        r->inner.fd = -1;
        return false;
    }
    r->server_fd = sv[1];
    if (f->cfg.handoff(f->cfg.ctx, sv[1], (const struct sockaddr *)&r->addr, r->addrlen)) {
        close_inner(r); /* the server closed its end */
        return false;
    }
    return true;
}

/* Moves bytes both ways until nothing moves; false when the relay was closed. */
static bool pump_once(relay *r, bool *moved)
{
    /* client -> server (once the server has closed, nothing more is read for it) */
    while (!r->client_eof && !r->server_eof && !r->server_deaf && r->up_len < RELAY_BUF) {
        ssize_t n = ig_ssl_read(r->ssl, r->up + r->up_len, RELAY_BUF - r->up_len, &r->read_wants_write);
        if (n > 0) {
            r->up_len += (size_t)n;
            *moved = true;
        } else if (n == 0) {
            r->client_eof = *moved = true;
        } else if (errno == EAGAIN) {
            break;
        } else {
            relay_close(r, false);
            return false;
        }
    }
    if (r->up_off < r->up_len && r->inner.fd >= 0) {
        ssize_t n = send(r->inner.fd, r->up + r->up_off, r->up_len - r->up_off, MSG_NOSIGNAL);
        if (n > 0) {
            r->up_off += (size_t)n;
            *moved = true;
            if (r->up_off == r->up_len) r->up_off = r->up_len = 0;
        } else if (errno != EAGAIN) {
            /* The server closed; what it wrote before is still to be read and delivered. */
            r->server_deaf = *moved = true;
            r->up_off = r->up_len = 0;
        }
    }
    if (r->client_eof && r->up_len == 0 && !r->inner_shut && r->inner.fd >= 0) {
        shutdown(r->inner.fd, SHUT_WR);
        r->inner_shut = true;
    }
    /* server -> client */
    if (!r->server_eof && r->down_len < RELAY_BUF) {
        ssize_t n = recv(r->inner.fd, r->down + r->down_len, RELAY_BUF - r->down_len, 0);
        if (n > 0) {
            r->down_len += (size_t)n;
            *moved = true;
        } else if (n == 0 || errno != EAGAIN) {
            r->server_eof = *moved = true;
        }
    }
    if (r->server_eof) close_inner(r); /* nothing more comes; an idle inner end would only hang up */
    if (r->down_off < r->down_len) {
        ssize_t n =
            ig_ssl_write(r->ssl, r->down + r->down_off, r->down_len - r->down_off, &r->write_wants_read);
        if (n > 0) {
            r->down_off += (size_t)n;
            *moved = true;
            if (r->down_off == r->down_len) r->down_off = r->down_len = 0;
        } else if (errno != EAGAIN) {
            relay_close(r, false);
            return false;
        }
    }
    if (r->server_eof && r->down_len == 0) {
        relay_close(r, true);
        return false;
    }
    return true;
}

static void pump(relay *r)
{
    if (!r->handshaken) {
        bool want_write;
        if (ig_ssl_handshake(r->ssl, &want_write) < 0) {
            if (errno == EAGAIN)
                ig_loop_set(r->fl->loop, &r->outer, want_write ? EPOLLOUT : EPOLLIN);
            else
                relay_close(r, false);
            return;
        }
        r->handshaken = true;
        r->outer.deadline_ns = 0;
        if (!hand_off(r)) {
            relay_close(r, false);
            return;
        }
    }
    bool moved;
    do {
        moved = false;
        if (!pump_once(r, &moved)) return;
    } while (moved);
    uint32_t outer = 0, inner = 0;
    if (!r->client_eof && !r->server_eof && !r->server_deaf && r->up_len < RELAY_BUF)
        outer |= r->read_wants_write ? EPOLLOUT : EPOLLIN;
    if (r->down_off < r->down_len) outer |= r->write_wants_read ? EPOLLIN : EPOLLOUT;
    if (r->up_off < r->up_len) inner |= EPOLLOUT;
    if (!r->server_eof && r->down_len < RELAY_BUF) inner |= EPOLLIN;
    ig_loop_set(r->fl->loop, &r->outer, outer);
    if (r->inner.fd >= 0) ig_loop_set(r->fl->loop, &r->inner, inner);
}

static void on_outer(ig_watch *w, uint32_t events)
{
    relay *r = container_of(w, relay, outer);
    /* A hang-up on TCP means the client is gone both ways: nothing it could still read. */
    if (events & (EPOLLHUP | EPOLLERR))
        relay_close(r, false);
    else
        pump(r);
}

static void on_inner(ig_watch *w, uint32_t events)
{
    relay *r = container_of(w, relay, inner);
    if (r->inner.fd >= 0) pump(r); /* else closed earlier in this batch of events */
}

static void on_handshake_deadline(ig_watch *w, uint64_t now_ns)
{
    relay *r = container_of(w, relay, outer);
    if (!r->handshaken) relay_close(r, false);
}

static void on_loop_shutdown(ig_watch *w)
{
    relay_close(container_of(w, relay, outer), false);
}

static void relay_start(front_loop *fl, int fd, const struct sockaddr_storage *ss, socklen_t len)
{
    relay *r = malloc(sizeof *r);
    SSL_CTX *ctx = r ? current_ctx(fl->f) : NULL;
    SSL *ssl = ctx ? ig_ssl_accept(ctx, fd) : NULL;
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    if (!ssl) {
        free(r);
        close(fd);
        return;
    }
    memset(r, 0, offsetof(relay, up));
    r->fl = fl;
    r->ssl = ssl;
    r->addr = *ss;
    r->addrlen = len;
    r->server_fd = -1;
    r->inner.fd = -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    r->outer =
        (ig_watch){.fd = fd,
                   .on_io = on_outer,
                   .on_deadline = on_handshake_deadline,
                   .on_shutdown = on_loop_shutdown,
                   .deadline_ns = ig_loop_now(fl->loop) + fl->f->cfg.handshake_timeout_ms * 1000000ull};
    if (ig_loop_add(fl->loop, &r->outer, EPOLLIN)) {
        SSL_free(ssl);
        close(fd);
        free(r);
        return;
    }
    atomic_fetch_add(&fl->f->relays, 1);
}

/* Stops taking connections for a while: a listener left registered while accept cannot succeed (no
 * descriptors left) or must not (the connection limit) would wake the loop again at once, forever. */
static void pause_accepting(front_loop *fl, unsigned ms)
{
    ig_loop_del(fl->loop, &fl->listen);
    fl->paused = true;
    fl->resume_ns = ig_loop_now(fl->loop) + ms * 1000000ull;
}

static void on_listen(ig_watch *w, uint32_t events)
{
    front_loop *fl = container_of(w, front_loop, listen);
    unsigned max = fl->f->cfg.max_connections;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        if (max && atomic_load(&fl->f->relays) >= (long)max) return pause_accepting(fl, 10);
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(w->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting(fl, 100);
            return; /* EAGAIN: another thread took it */
        }
        relay_start(fl, fd, &ss, len);
    }
}

/* Drops the listener once quiesce asked for it; takes it back after a pause. */
static void on_tick(void *arg, uint64_t now_ns)
{
    front_loop *fl = arg;
    if (fl->listening && atomic_load(&fl->f->quiescing)) {
        ig_loop_del(fl->loop, &fl->listen);
        fl->listening = fl->paused = false;
        pthread_mutex_lock(&fl->f->lock);
        fl->f->n_listening--;
        pthread_cond_broadcast(&fl->f->changed);
        pthread_mutex_unlock(&fl->f->lock);
    } else if (fl->paused && now_ns >= fl->resume_ns) {
        if (ig_loop_add(fl->loop, &fl->listen, EPOLLIN | EPOLLEXCLUSIVE) == 0)
            fl->paused = false;
        else
            fl->resume_ns = now_ns + 100 * 1000000ull;
    }
}

static void *run(void *arg)
{
    front_loop *fl = arg;
    ig_loop_run(fl->loop, on_tick, fl);
    return NULL;
}

static int listen_on(ig_tls_front *f, ig_error *err)
{
    const struct sockaddr *a = (const struct sockaddr *)&f->addr;
    int fd = socket(a->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) || bind(fd, a, f->cfg.addrlen) ||
        listen(fd, 1024) || getsockname(fd, (struct sockaddr *)&bound, &len)) {
        int e = errno;
        if (fd >= 0) close(fd);
        return ig_error_set(err, IG_EIO, "%s", strerror(e));
    }
    f->listen_fd = fd;
    f->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

int ig_tls_front_start(const ig_tls_front_config *cfg, ig_tls_front **out, ig_error *err)
{
    *out = NULL;
    if (cfg->addrlen > sizeof(struct sockaddr_storage))
        return ig_error_set(err, IG_EINVAL, "TLS front: address too long");
    ig_tls_front *f = calloc(1, sizeof *f);
    if (!f) return ig_error_set(err, IG_ENOMEM, "TLS front: out of memory");
    f->cfg = *cfg;
    memcpy(&f->addr, cfg->addr, cfg->addrlen);
    f->cfg.addr = (const struct sockaddr *)&f->addr;
    f->n_loops = cfg->threads > 0 ? cfg->threads : 1;
    f->listen_fd = -1;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->changed, NULL);
    SSL_CTX *ctx = current_ctx(f);
    SSL_CTX_free(ctx);
    int rc =
        ctx ? listen_on(f, err) : ig_error_set(err, IG_ENOMEM, "TLS front: cannot build the TLS context");
    if (!rc && !(f->loops = calloc((size_t)f->n_loops, sizeof *f->loops)))
        rc = ig_error_set(err, IG_ENOMEM, "TLS front: out of memory");
    for (int i = 0; !rc && i < f->n_loops; i++) {
        front_loop *fl = &f->loops[i];
        fl->f = f;
        fl->listen = (ig_watch){.fd = f->listen_fd, .on_io = on_listen};
        /* EPOLLEXCLUSIVE: a new connection wakes one thread, not all of them. */
        if (!(fl->loop = ig_loop_create()) || ig_loop_add(fl->loop, &fl->listen, EPOLLIN | EPOLLEXCLUSIVE)) {
            rc = ig_error_set(err, IG_ENOMEM, "TLS front: cannot create an event loop");
            break;
        }
        fl->listening = true;
        f->n_listening++;
        if (pthread_create(&fl->thread, NULL, run, fl)) {
            rc = ig_error_set(err, IG_ENOMEM, "TLS front: cannot start a thread");
            break;
        }
        fl->started = true;
    }
    if (rc) {
        ig_tls_front_free(f, 0);
        return rc;
    }
    *out = f;
    return 0;
}

int ig_tls_front_port(const ig_tls_front *f)
{
    return f->port;
}

void ig_tls_front_quiesce(ig_tls_front *f)
{
    if (atomic_exchange(&f->quiescing, true)) return;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 2; /* a loop drops its listener within one sweep (50 ms) */
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->n_loops; i++)
        if (f->loops && f->loops[i].started) ig_loop_wake(f->loops[i].loop);
    while (f->n_listening > 0)
        if (pthread_cond_timedwait(&f->changed, &f->lock, &dl)) break;
    /* New connections are refused from now on (a loop that did not answer keeps it until free). */
    if (f->n_listening == 0 && f->listen_fd >= 0) {
        close(f->listen_fd);
        f->listen_fd = -1;
    }
    pthread_mutex_unlock(&f->lock);
}

void ig_tls_front_free(ig_tls_front *f, unsigned linger_ms)
{
    if (!f) return;
    ig_tls_front_quiesce(f);
    for (unsigned waited = 0; waited < linger_ms && atomic_load(&f->relays) > 0; waited += 5) usleep(5000);
    for (int i = 0; f->loops && i < f->n_loops; i++) {
        front_loop *fl = &f->loops[i];
        if (fl->started) {
            ig_loop_stop(fl->loop);
            pthread_join(fl->thread, NULL);
        }
        if (fl->listening) ig_loop_del(fl->loop, &fl->listen);
        ig_loop_free(fl->loop); /* closes the relays still open */
    }
    if (f->listen_fd >= 0) close(f->listen_fd);
    for (size_t i = 0; i < f->n_slots; i++) ig_tls_peer_unref(f->slots[i].peer);
    free(f->slots);
    free(f->loops);
    SSL_CTX_free(f->ctx);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->changed);
    free(f);
}
