/* The event loop: readiness reaches the watch, deadlines fire from the sweep, a watch retired by an
 * earlier handler in the same batch is skipped and released after it, another thread's wake runs
 * the tick and its stop ends the run, and freeing the loop shuts down the watches left. */
#include "net/loop.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/clock.h"
#include "check.h"

typedef struct {
    ig_watch w;
    int fds[2];
    int ios, deadlines, shutdowns, released;
    ig_loop *loop;
    ig_watch *victim; /* retired by this watch's handler */
} pipe_watch;

static void release(ig_watch *w);

static void on_io(ig_watch *w, uint32_t events)
{
    pipe_watch *p = (pipe_watch *)w;
    char buf[16];
    if (events & EPOLLIN) p->ios++;
    if (read(w->fd, buf, sizeof buf) < 0) p->ios += 100;
    if (p->victim) {
        ig_loop_retire(p->loop, p->victim, release);
        p->victim = NULL;
    }
    if (p->ios >= 1 && p->deadlines >= 1) ig_loop_stop(p->loop);
}

static void on_deadline(ig_watch *w, uint64_t now_ns)
{
    pipe_watch *p = (pipe_watch *)w;
    p->deadlines++;
    CHECK(now_ns >= w->deadline_ns);
    if (p->ios >= 1) ig_loop_stop(p->loop);
}

static void on_shutdown(ig_watch *w)
{
    pipe_watch *p = (pipe_watch *)w;
    p->shutdowns++;
    ig_loop_del(p->loop, w);
}

static void release(ig_watch *w)
{
    ((pipe_watch *)w)->released++;
}

static int make(pipe_watch *p, ig_loop *l)
{
    *p = (pipe_watch){.loop = l};
    if (pipe(p->fds)) return -1;
    p->w =
        (ig_watch){.fd = p->fds[0], .on_io = on_io, .on_deadline = on_deadline, .on_shutdown = on_shutdown};
    return ig_loop_add(l, &p->w, EPOLLIN);
}

static void unmake(pipe_watch *p)
{
    close(p->fds[0]);
    close(p->fds[1]);
}

static int ticks;
static void on_tick(void *arg, uint64_t now_ns)
{
    ticks++;
}

static void *stop_later(void *arg)
{
    usleep(150 * 1000);
    ig_loop_wake(arg);
    ig_loop_stop(arg);
    return NULL;
}

int main(void)
{
    /* Readiness and a deadline: the run ends once both were seen. */
    ig_loop *l = ig_loop_create();
    CHECK(l != NULL);
    if (!l) return CHECK_DONE();
    pipe_watch a;
    CHECK_EQ_INT(make(&a, l), 0);
    a.w.deadline_ns = ig_now_ns() + 60 * 1000000ull;
    CHECK_EQ_INT(write(a.fds[1], "x", 1), 1);
    ig_loop_run(l, NULL, NULL);
    CHECK_EQ_INT(a.ios, 1);
    CHECK_EQ_INT(a.deadlines, 1);
    CHECK_EQ_INT(a.w.deadline_ns, 0); /* cleared before the handler ran: it fires once */
    ig_loop_free(l);                  /* a stopped loop stays stopped: each case has its own */
    CHECK_EQ_INT(a.shutdowns, 1);     /* still registered: shut down by the free */
    unmake(&a);

    /* Two watches ready in one batch; whichever runs first retires the other, which is then skipped
     * and released after the batch, exactly once. */
    l = ig_loop_create();
    pipe_watch b;
    CHECK_EQ_INT(make(&a, l), 0);
    CHECK_EQ_INT(make(&b, l), 0);
    a.victim = &b.w;
    b.victim = &a.w;
    a.deadlines = b.deadlines = 1; /* so the first handler stops the run */
    CHECK_EQ_INT(write(a.fds[1], "x", 1), 1);
    CHECK_EQ_INT(write(b.fds[1], "x", 1), 1);
    ig_loop_run(l, NULL, NULL);
    CHECK_EQ_INT(a.ios + b.ios, 1);
    CHECK_EQ_INT(a.released + b.released, 1);
    pipe_watch *live = a.released ? &b : &a;
    ig_loop_free(l);
    CHECK_EQ_INT(live->shutdowns, 1);
    CHECK_EQ_INT(a.shutdowns + b.shutdowns, 1); /* the retired one is not shut down again */
    unmake(&a);
    unmake(&b);

    /* Another thread's wake and stop: the tick runs, the run returns. */
    l = ig_loop_create();
    pthread_t t;
    pthread_create(&t, NULL, stop_later, l);
    ig_loop_run(l, on_tick, NULL);
    pthread_join(t, NULL);
    CHECK(ticks >= 1);
    ig_loop_free(l);
    return CHECK_DONE();
}
