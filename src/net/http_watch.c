/* Disconnect watcher: libmicrohttpd does not poll suspended connections, so a deferred request's
 * socket is watched here (epoll, EPOLLRDHUP) until it is answered. A peer close or reset marks the
 * request gone, runs its close callback and resumes the connection so libmicrohttpd closes it. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "net/http_int.h"

static void wake(ig_http_server *srv)
{
    uint64_t one = 1;
    ssize_t n = write(srv->wakefd, &one, sizeof one);
    (void)n; /* EAGAIN: a wake-up is already pending */
}

typedef struct {
    ig_http_req *r;
    ig_http_close_cb cb;
    void *arg;
} pending_cb;

static void *watch_main(void *arg)
{
    ig_http_server *srv = arg;
    struct epoll_event ev[64];
    pending_cb cbs[64];
    for (;;) {
        int n = epoll_wait(srv->epfd, ev, 64, -1);
        if (n < 0 && errno != EINTR) n = 0;
        int ncb = 0;
        pthread_mutex_lock(&srv->lock);
        for (int i = 0; i < n; i++) {
            ig_http_req *r = ev[i].data.ptr;
            if (!r) {
                uint64_t v;
                ssize_t k = read(srv->wakefd, &v, sizeof v);
                (void)k;
                continue;
            }
            /* Still allocated even if answered since epoll_wait returned: the watcher's
             * reference is only dropped below. */
            if (!r->watched) continue;
            void *cb_arg = NULL;
            ig_http_close_cb cb = ig__http_mark_gone(r, &cb_arg);
            if (r->conn && r->state == IG__REQ_SUSPENDED) {
                r->state = IG__REQ_RESUMED;
                MHD_resume_connection(r->conn); /* the access callback then closes it */
            }
            if (cb) cbs[ncb++] = (pending_cb){r, cb, cb_arg};
        }
        ig_http_req *unref = srv->unref_head;
        srv->unref_head = NULL;
        bool quit = srv->watch_quit;
        pthread_mutex_unlock(&srv->lock);
        /* The owed reply keeps each r alive here: a callback runs only while no reply was made. */
        for (int i = 0; i < ncb; i++) cbs[i].cb(cbs[i].r, cbs[i].arg);
        while (unref) {
            ig_http_req *next = unref->next_unref;
            ig__http_req_release(unref);
            unref = next;
        }
        if (quit) return NULL;
    }
}

int ig__http_watch_start(ig_http_server *srv, ig_error *err)
{
    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (srv->epfd < 0 || srv->wakefd < 0 || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->wakefd, &ev)) {
        int e = errno;
        ig__http_watch_stop(srv);
        return ig_error_set(err, IG_EIO, "http server: disconnect watcher: %s", strerror(e));
    }
    srv->watch_quit = false;
    if (pthread_create(&srv->watch_thread, NULL, watch_main, srv)) {
        ig__http_watch_stop(srv);
        return ig_error_set(err, IG_EIO, "http server: cannot start the disconnect watcher thread");
    }
    srv->watch_running = true;
    return 0;
}

void ig__http_watch_stop(ig_http_server *srv)
{
    if (srv->watch_running) {
        pthread_mutex_lock(&srv->lock);
        srv->watch_quit = true;
        pthread_mutex_unlock(&srv->lock);
        wake(srv);
        pthread_join(srv->watch_thread, NULL);
        srv->watch_running = false;
    }
    /* References queued after the thread's last pass. */
    pthread_mutex_lock(&srv->lock);
    ig_http_req *unref = srv->unref_head;
    srv->unref_head = NULL;
    pthread_mutex_unlock(&srv->lock);
    while (unref) {
        ig_http_req *next = unref->next_unref;
        ig__http_req_release(unref);
        unref = next;
    }
    if (srv->epfd >= 0) close(srv->epfd);
    if (srv->wakefd >= 0) close(srv->wakefd);
    srv->epfd = srv->wakefd = -1;
}

void ig__http_watch_add(ig_http_server *srv, ig_http_req *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || srv->epfd < 0) return; /* unwatched: a disconnect is then seen only at reply time */
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = r};
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, ci->connect_fd, &ev)) return;
    r->watched = true;
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void ig__http_watch_del(ig_http_server *srv, ig_http_req *r)
{
    if (!r->watched) return;
    r->watched = false;
    /* The connection (and so its fd) is still open: it is suspended, or being closed right now. */
    const union MHD_ConnectionInfo *ci =
        r->conn ? MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
    if (ci) epoll_ctl(srv->epfd, EPOLL_CTL_DEL, ci->connect_fd, NULL);
    r->next_unref = srv->unref_head;
    srv->unref_head = r;
    wake(srv);
}
