/* One worker's event loop: epoll over non-blocking sockets, a coarse deadline sweep, and a wakeup
 * other threads can trigger. Everything registered on a loop belongs to the loop's thread; only
 * ig_loop_wake and ig_loop_stop may be called from elsewhere. */
#ifndef IG_NET_LOOP_H
#define IG_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ig_loop ig_loop;
typedef struct ig_watch ig_watch;

/* Called with the epoll events that fired (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP...). */
typedef void (*ig_io_fn)(ig_watch *w, uint32_t events);
/* Called when a watch's deadline has passed (checked every sweep interval). */
typedef void (*ig_deadline_fn)(ig_watch *w, uint64_t now_ns);

/* Embedded in the connection it watches; the loop links them for the deadline sweep. */
struct ig_watch {
    int fd;
    uint32_t events; /* what is registered now */
    ig_io_fn on_io;
    ig_deadline_fn on_deadline;
    uint64_t deadline_ns; /* 0 = none */
    ig_watch *prev, *next;
    bool linked, retired;
    void (*release)(ig_watch *w); /* set by ig_loop_retire */
    /* Called by ig_loop_free for a watch still registered then (it should retire itself). */
    void (*on_shutdown)(ig_watch *w);
};

ig_loop *ig_loop_create(void);
/* Calls on_shutdown of every watch still registered, releases what they retired, frees the loop. */
void ig_loop_free(ig_loop *l);
/* Registers w->fd for events; links w for the deadline sweep. Returns 0 or -errno. */
int ig_loop_add(ig_loop *l, ig_watch *w, uint32_t events);
/* Changes the registered events (no syscall when they are the same). */
int ig_loop_set(ig_loop *l, ig_watch *w, uint32_t events);
/* Unregisters and unlinks w (it does not close the fd). Safe on a watch that was never added. */
void ig_loop_del(ig_loop *l, ig_watch *w);
/* Unregisters w now and calls release(w) once the current batch of events is handled, so an event
 * already fetched for w in this batch finds it still allocated (and skips it). */
void ig_loop_retire(ig_loop *l, ig_watch *w, void (*release)(ig_watch *w));
/* Runs until ig_loop_stop; on_tick (may be NULL) runs after every sweep, on the loop's thread. */
void ig_loop_run(ig_loop *l, void (*on_tick)(void *arg, uint64_t now_ns), void *arg);
/* From any thread: makes the loop run on_tick soon / return from ig_loop_run. */
void ig_loop_wake(ig_loop *l);
void ig_loop_stop(ig_loop *l);
/* The loop's cached clock, refreshed after every epoll_wait. */
uint64_t ig_loop_now(const ig_loop *l);

#endif
