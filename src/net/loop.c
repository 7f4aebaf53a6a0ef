/* epoll loop with an eventfd for wakeups. Deadlines are swept every 50 ms over the list of watches,
 * which costs little for thousands of connections and needs no timer structure. */
#include "net/loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"

enum { SWEEP_MS = 50, MAX_EVENTS = 256 };

struct ig_loop {
    int epfd, wakefd;
    atomic_bool stop;
    uint64_t now_ns, last_sweep_ns;
    ig_watch *head;    /* every added watch */
    ig_watch *retired; /* released after the current batch (linked through next) */
};

ig_loop *ig_loop_create(void)
{
    ig_loop *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
        ig_loop_free(l);
        return NULL;
    }
    l->now_ns = ig_now_ns();
    return l;
}

static void release_retired(ig_loop *l);

void ig_loop_free(ig_loop *l)
{
    if (!l) return;
    /* A shutdown handler may retire other watches too, so the walk starts over after each call. */
    for (ig_watch *w = l->head; w;) {
        if (w->on_shutdown) {
            void (*fn)(ig_watch *) = w->on_shutdown;
            w->on_shutdown = NULL;
            fn(w);
            w = l->head;
        } else {
            w = w->next;
        }
    }
    release_retired(l);
    if (l->epfd >= 0) close(l->epfd);
    if (l->wakefd >= 0) close(l->wakefd);
    free(l);
}

int ig_loop_add(ig_loop *l, ig_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0) return -errno;
    w->events = events;
    w->prev = NULL;
    w->next = l->head;
    if (l->head) l->head->prev = w;
    l->head = w;
    w->linked = true;
    return 0;
}

int ig_loop_set(ig_loop *l, ig_watch *w, uint32_t events)
{
    if (!w->linked || w->events == events) return 0;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0) return -errno;
    w->events = events;
    return 0;
}

void ig_loop_del(ig_loop *l, ig_watch *w)
{
    if (!w->linked) return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->linked = false;
}

void ig_loop_retire(ig_loop *l, ig_watch *w, void (*release)(ig_watch *w))
{
    ig_loop_del(l, w);
    w->retired = true;
    w->release = release;
    w->next = l->retired;
    l->retired = w;
}

static void release_retired(ig_loop *l)
{
    while (l->retired) {
        ig_watch *w = l->retired;
        l->retired = w->next;
        w->release(w);
    }
}

static void sweep(ig_loop *l)
{
    /* A deadline handler may retire any watch, so the walk starts over after each call; expiries
     * are rare and each one clears its deadline first. */
    for (ig_watch *w = l->head; w;) {
        if (w->deadline_ns && w->deadline_ns <= l->now_ns && w->on_deadline) {
            w->deadline_ns = 0;
            w->on_deadline(w, l->now_ns);
            w = l->head;
        } else {
            w = w->next;
        }
    }
}

void ig_loop_run(ig_loop *l, void (*on_tick)(void *arg, uint64_t now_ns), void *arg)
{
    struct epoll_event evs[MAX_EVENTS];
    while (!atomic_load_explicit(&l->stop, memory_order_acquire)) {
        int n = epoll_wait(l->epfd, evs, MAX_EVENTS, SWEEP_MS);
        l->now_ns = ig_now_ns();
        for (int i = 0; i < n; i++) {
            ig_watch *w = evs[i].data.ptr;
            if (!w) {
                uint64_t v;
                while (read(l->wakefd, &v, sizeof v) > 0) {
                }
                continue;
            }
            if (!w->retired) w->on_io(w, evs[i].events);
        }
        release_retired(l);
        if (l->now_ns - l->last_sweep_ns >= SWEEP_MS * 1000000ull) {
            l->last_sweep_ns = l->now_ns;
            sweep(l);
            if (on_tick) on_tick(arg, l->now_ns);
            release_retired(l);
        }
    }
}

void ig_loop_wake(ig_loop *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->wakefd, &one, sizeof one);
    (void)r;
}

void ig_loop_stop(ig_loop *l)
{
    atomic_store_explicit(&l->stop, true, memory_order_release);
    ig_loop_wake(l);
}

uint64_t ig_loop_now(const ig_loop *l)
{
    return l->now_ns;
}
