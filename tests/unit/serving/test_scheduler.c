/* Scheduler on a real model (iris MLP): batched rows equal direct runs, preferred sizes and the queue
 * delay, queue limits, timeouts (REJECT and DELAY), cancellation, priorities, preserve_ordering,
 * parallel instances, drain and input checks. Instances are held busy by a completion callback that
 * blocks until the test opens a gate. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "serving/scheduler.h"

static const char *MODEL = "examples/models/iris_mlp/1/model.onnx";
static ig_model *model;

typedef struct treq {
    ig_infer_request req;
    ig_infer_tensor in;
    float x[8 * 8];
    int rows;
    bool gate; /* the callback blocks until the gate opens */
    /* filled by the callback */
    bool done, cb_ok; /* cb_ok: the response looked right to the callback */
    int status;
    char error[384];
    float y[8 * 8];
    const char *out_name; /* expected output and its columns */
    int cols;
    int batch_size;
    int order;
    uint64_t t_done;
} treq;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int n_done, in_gate, order_next;
static bool gate_open;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void reset(void)
{
    pthread_mutex_lock(&mu);
    n_done = in_gate = order_next = 0;
    gate_open = false;
    pthread_mutex_unlock(&mu);
}

static void on_done(ig_infer_request *req, ig_infer_response *resp, void *ctx)
{
    treq *t = ctx;
    /* Callbacks run on instance threads while the main thread checks too, and the check counters are
     * plain ints: note what is wrong here and check it on the main thread in treq_free. */
    pthread_mutex_lock(&mu);
    t->cb_ok = req == &t->req;
    t->status = resp->status;
    snprintf(t->error, sizeof(t->error), "%s", resp->error);
    t->batch_size = resp->timing.batch_size;
    if (resp->status == 0) {
        const ig_infer_tensor *o = &resp->outputs[0];
        t->cb_ok = t->cb_ok && resp->n_outputs == 1 && !strcmp(o->name, t->out_name) && o->t.ndim == 2 &&
                   o->t.dims[0] == t->rows && o->t.dims[1] == t->cols;
        if (t->cb_ok) memcpy(t->y, o->t.data, sizeof(float) * t->cols * t->rows);
    }
    t->order = order_next++;
    t->t_done = now_ns();
    if (t->gate) {
        in_gate++;
        pthread_cond_broadcast(&cv);
        while (!gate_open) pthread_cond_wait(&cv, &mu);
    }
    t->done = true;
    n_done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/* Waits (at most 10 s) until pred holds; returns whether it did. */
static bool wait_for(int *counter, int target)
{
    uint64_t end = now_ns() + 10000000000ull;
    pthread_mutex_lock(&mu);
    while (*counter < target && now_ns() < end) {
        pthread_mutex_unlock(&mu);
        sleep_ms(1);
        pthread_mutex_lock(&mu);
    }
    bool ok = *counter >= target;
    pthread_mutex_unlock(&mu);
    return ok;
}

static void open_gate(void)
{
    pthread_mutex_lock(&mu);
    gate_open = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void treq_init(treq *t, int rows, unsigned *seed)
{
    memset(t, 0, sizeof(*t));
    t->rows = rows;
    t->out_name = "probabilities";
    t->cols = 3;
    for (int i = 0; i < rows * 4; i++) t->x[i] = (float)(rand_r(seed) % 2000) / 500.0f - 2.0f;
    t->req.arena = ig_arena_create(4096);
    t->req.id = "";
    t->req.model_version = "";
    t->in.name = "features";
    t->in.t = (ig_tensor){.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {rows, 4}, .data = t->x};
    t->req.n_inputs = 1;
    t->req.inputs = &t->in;
    t->req.t_received_ns = now_ns();
}

static void treq_free(treq *t)
{
    CHECK(t->done && t->cb_ok);
    ig_arena_free(t->req.arena);
    t->req.arena = NULL;
}

static ig_model_config config(int max_batch, int instances, uint64_t delay_us)
{
    ig_model_config c = {0};
    c.name = "iris";
    c.max_batch_size = max_batch;
    c.dynamic_batching = max_batch > 0;
    c.instance_count = instances;
    c.max_queue_delay_us = delay_us;
    return c;
}

static ig_sched *start(const ig_model_config *c, ig_model_stats *st)
{
    memset(st, 0, sizeof(*st));
    ig_sched *s = NULL;
    ig_error err = {0};
    CHECK_EQ_INT(ig_sched_create(model, c, st, 1, &s, &err), 0);
    if (!s) {
        fprintf(stderr, "ig_sched_create: %s\n", err.msg);
        exit(1);
    }
    reset();
    return s;
}

/* Submits a gate request and waits until it holds the (only free) instance. */
static void hold_instance(ig_sched *s, treq *g, unsigned *seed, int already_in_gate)
{
    treq_init(g, 1, seed);
    g->gate = true;
    CHECK_EQ_INT(ig_sched_submit(s, &g->req, on_done, g), 0);
    CHECK(wait_for(&in_gate, already_in_gate + 1));
}

/* ---- batched == unbatched ---- */

typedef struct submitter {
    ig_sched *s;
    treq *reqs;
    int n, refused;
    unsigned seed;
} submitter;

static void *submit_many(void *arg)
{
    submitter *sb = arg;
    for (int i = 0; i < sb->n; i++) {
        treq_init(&sb->reqs[i], 1 + rand_r(&sb->seed) % 4, &sb->seed);
        sb->refused += ig_sched_submit(sb->s, &sb->reqs[i].req, on_done, &sb->reqs[i]) != 0;
        if (rand_r(&sb->seed) % 4 == 0) sleep_ms(1);
    }
    return NULL;
}

static void batched_equals_unbatched(void)
{
    enum { THREADS = 4, PER = 60 };
    ig_model_config c = config(8, 2, 500);
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    static treq reqs[THREADS][PER];
    submitter sb[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        sb[i] = (submitter){s, reqs[i], PER, 0, 1234u + i};
        pthread_create(&th[i], NULL, submit_many, &sb[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(sb[i].refused, 0);
    }
    CHECK(wait_for(&n_done, THREADS * PER));

    ig_runner *r;
    ig_error err = {0};
    CHECK_EQ_INT(ig_runner_create(model, &r, &err), 0);
    int mismatches = 0, failures = 0, shared = 0;
    long rows = 0;
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER; j++) {
            treq *t = &reqs[i][j];
            rows += t->rows;
            if (t->status) {
                failures++;
                fprintf(stderr, "request failed: %s\n", t->error);
                treq_free(t);
                continue;
            }
            if (t->batch_size > t->rows) shared++;
            CHECK(t->batch_size >= t->rows && t->batch_size <= 8);
            ig_tensor out;
            CHECK_EQ_INT(ig_runner_run(r, &t->in.t, &out, &err), 0);
            const float *y = out.data;
            for (int k = 0; k < t->rows * 3; k++)
                if (fabsf(y[k] - t->y[k]) > 1e-5f * (1 + fabsf(y[k]))) mismatches++;
            treq_free(t);
        }
    CHECK_EQ_INT(failures, 0);
    CHECK_EQ_INT(mismatches, 0);
    CHECK(shared > 0); /* concurrent submitters did share executions */
    CHECK_EQ_INT(st.inference_count, rows);
    CHECK_EQ_INT(st.success.count, THREADS * PER);
    CHECK_EQ_INT(st.queue.count, THREADS * PER);
    CHECK_EQ_INT(st.compute_infer.count, THREADS * PER);
    CHECK(st.execution_count < THREADS * PER);
    uint64_t batches = 0;
    for (int b = 1; b <= 8; b++) batches += st.batch_compute_infer[b].count;
    CHECK_EQ_INT(batches, st.execution_count);
    CHECK(st.last_inference_ms > 0);
    CHECK_EQ_INT(st.pending, 0);
    printf("batched: %d requests, %ld rows in %llu executions\n", THREADS * PER, rows,
           (unsigned long long)st.execution_count);
    ig_runner_free(r);
    ig_sched_free(s);
}

/* ---- preferred sizes and the queue delay ---- */

static void preferred_and_delay(void)
{
    unsigned seed = 7;
    int32_t pref4[] = {4};
    ig_model_config c = config(8, 1, 300000);
    c.n_preferred_batch_sizes = 1;
    c.preferred_batch_sizes = pref4;
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    treq t[5];
    uint64_t t0 = now_ns();
    for (int i = 0; i < 4; i++) {
        treq_init(&t[i], 1, &seed);
        CHECK_EQ_INT(ig_sched_submit(s, &t[i].req, on_done, &t[i]), 0);
    }
    CHECK(wait_for(&n_done, 4));
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(t[i].status, 0);
        CHECK_EQ_INT(t[i].batch_size, 4);
        CHECK(t[i].t_done - t0 < 250000000ull); /* the preferred size went at once, not after 300 ms */
    }
    /* A lone request waits out the delay, then goes alone. */
    treq_init(&t[4], 1, &seed);
    t0 = now_ns();
    CHECK_EQ_INT(ig_sched_submit(s, &t[4].req, on_done, &t[4]), 0);
    CHECK(wait_for(&n_done, 5));
    CHECK_EQ_INT(t[4].batch_size, 1);
    uint64_t waited = t[4].t_done - t0;
    CHECK(waited >= 295000000ull && waited < 2000000000ull);
    printf("delay: lone request completed after %.1f ms (max_queue_delay 300 ms)\n", waited / 1e6);
    ig_sched_free(s);
    for (int i = 0; i < 5; i++) treq_free(&t[i]);

    /* No delay: the largest formable preferred size goes first, the rest after. */
    int32_t pref2[] = {2};
    c = config(8, 1, 0);
    c.n_preferred_batch_sizes = 1;
    c.preferred_batch_sizes = pref2;
    s = start(&c, &st);
    treq g, u[3];
    hold_instance(s, &g, &seed, 0);
    for (int i = 0; i < 3; i++) {
        treq_init(&u[i], 1, &seed);
        CHECK_EQ_INT(ig_sched_submit(s, &u[i].req, on_done, &u[i]), 0);
    }
    CHECK_EQ_INT(ig_sched_pending(s), 3);
    open_gate();
    CHECK(wait_for(&n_done, 4));
    CHECK_EQ_INT(u[0].batch_size, 2);
    CHECK_EQ_INT(u[1].batch_size, 2);
    CHECK_EQ_INT(u[2].batch_size, 1);
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 3; i++) treq_free(&u[i]);

    /* Without preferred sizes everything queued goes in one execution, up to max_batch_size rows. */
    c = config(4, 1, 0);
    s = start(&c, &st);
    treq v[3];
    hold_instance(s, &g, &seed, 0);
    int rows[3] = {2, 1, 2};
    for (int i = 0; i < 3; i++) {
        treq_init(&v[i], rows[i], &seed);
        CHECK_EQ_INT(ig_sched_submit(s, &v[i].req, on_done, &v[i]), 0);
    }
    open_gate();
    CHECK(wait_for(&n_done, 4));
    CHECK_EQ_INT(v[0].batch_size, 3);
    CHECK_EQ_INT(v[1].batch_size, 3);
    CHECK_EQ_INT(v[2].batch_size, 2); /* 3 + 2 rows would exceed 4 */
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 3; i++) treq_free(&v[i]);
}

/* ---- queue policy: size limit, timeouts ---- */

static void queue_full(void)
{
    unsigned seed = 11;
    ig_model_config c = config(0, 1, 0);
    c.default_queue_policy.max_queue_size = 2;
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    treq g, t[3];
    hold_instance(s, &g, &seed, 0);
    for (int i = 0; i < 3; i++) treq_init(&t[i], 1, &seed);
    CHECK_EQ_INT(ig_sched_submit(s, &t[0].req, on_done, &t[0]), 0);
    CHECK_EQ_INT(ig_sched_submit(s, &t[1].req, on_done, &t[1]), 0);
    CHECK_EQ_INT(ig_sched_submit(s, &t[2].req, on_done, &t[2]), IG_EUNAVAILABLE);
    CHECK(t[2].done);
    CHECK_EQ_INT(t[2].status, IG_EUNAVAILABLE);
    CHECK_STR(t[2].error, "Exceeds maximum queue size");
    CHECK_EQ_INT(ig_sched_pending(s), 2);
    CHECK_EQ_INT(st.pending, 2);
    open_gate();
    CHECK(wait_for(&n_done, 4));
    CHECK_EQ_INT(t[0].status, 0);
    CHECK_EQ_INT(t[1].status, 0);
    CHECK_EQ_INT(st.failures[IG_FAIL_REJECTED], 1);
    CHECK_EQ_INT(st.fail.count, 1);
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 3; i++) treq_free(&t[i]);
}

static void timeouts(void)
{
    unsigned seed = 13;
    /* REJECT with the level's default timeout. */
    ig_model_config c = config(4, 1, 0);
    c.default_queue_policy.default_timeout_us = 50000;
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    treq g, a;
    hold_instance(s, &g, &seed, 0);
    treq_init(&a, 1, &seed);
    CHECK_EQ_INT(ig_sched_submit(s, &a.req, on_done, &a), 0);
    sleep_ms(100);
    open_gate();
    CHECK(wait_for(&n_done, 2));
    CHECK_EQ_INT(a.status, IG_EUNAVAILABLE);
    CHECK_STR(a.error, "Request timeout expired");
    CHECK_EQ_INT(st.failures[IG_FAIL_REJECTED], 1);
    CHECK_EQ_INT(st.pending, 0);
    ig_sched_free(s);
    treq_free(&g);
    treq_free(&a);

    /* A request may lower the timeout when the policy allows it, never raise it or set one alone. */
    c = config(0, 1, 0);
    c.default_queue_policy.default_timeout_us = 10000000;
    c.default_queue_policy.allow_timeout_override = true;
    s = start(&c, &st);
    treq b[3];
    hold_instance(s, &g, &seed, 0);
    for (int i = 0; i < 3; i++) treq_init(&b[i], 1, &seed);
    b[0].req.timeout_us = 50000;    /* lowers: expires */
    b[1].req.timeout_us = 0;        /* default 10 s */
    b[2].req.timeout_us = 20000000; /* cannot raise: still 10 s */
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(ig_sched_submit(s, &b[i].req, on_done, &b[i]), 0);
    sleep_ms(100);
    open_gate();
    CHECK(wait_for(&n_done, 4));
    CHECK_EQ_INT(b[0].status, IG_EUNAVAILABLE);
    CHECK_EQ_INT(b[1].status, 0);
    CHECK_EQ_INT(b[2].status, 0);
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 3; i++) treq_free(&b[i]);

    /* DELAY: an expired request goes behind everything in the lowest level and still runs. */
    ig_queue_policy pol[3] = {{0}, {.timeout_delay = true, .default_timeout_us = 50000}, {0}};
    c = config(0, 1, 0);
    c.priority_levels = 2;
    c.default_priority_level = 1;
    c.priority_queue_policy = pol;
    s = start(&c, &st);
    treq d[2];
    hold_instance(s, &g, &seed, 0);
    treq_init(&d[0], 1, &seed);
    CHECK_EQ_INT(ig_sched_submit(s, &d[0].req, on_done, &d[0]), 0); /* level 1, expires */
    sleep_ms(100);
    treq_init(&d[1], 1, &seed);
    d[1].req.priority = 2;
    CHECK_EQ_INT(ig_sched_submit(s, &d[1].req, on_done, &d[1]), 0);
    open_gate();
    CHECK(wait_for(&n_done, 3));
    CHECK_EQ_INT(d[0].status, 0);
    CHECK_EQ_INT(d[1].status, 0);
    CHECK(d[1].order < d[0].order);
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 2; i++) treq_free(&d[i]);
}

static void cancellation(void)
{
    unsigned seed = 17;
    ig_model_config c = config(4, 1, 0);
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    treq g, t[2];
    hold_instance(s, &g, &seed, 0);
    for (int i = 0; i < 2; i++) {
        treq_init(&t[i], 1, &seed);
        CHECK_EQ_INT(ig_sched_submit(s, &t[i].req, on_done, &t[i]), 0);
    }
    atomic_store(&t[0].req.cancelled, true);
    open_gate();
    CHECK(wait_for(&n_done, 3));
    CHECK_EQ_INT(t[0].status, IG_ECANCELED);
    CHECK_EQ_INT(t[1].status, 0);
    CHECK_EQ_INT(t[1].batch_size, 1); /* the cancelled one did not execute */
    CHECK_EQ_INT(st.failures[IG_FAIL_CANCELED], 1);
    CHECK_EQ_INT(st.pending, 0);
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 2; i++) treq_free(&t[i]);
}

static void priorities(void)
{
    unsigned seed = 19;
    ig_model_config c = config(0, 1, 0);
    c.priority_levels = 3;
    c.default_priority_level = 2;
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    treq g, t[5];
    hold_instance(s, &g, &seed, 0);
    int64_t prio[5] = {3, 3, 0, 1, 99}; /* 0 and out-of-range = default level 2 */
    for (int i = 0; i < 5; i++) {
        treq_init(&t[i], 1, &seed);
        t[i].req.priority = prio[i];
        CHECK_EQ_INT(ig_sched_submit(s, &t[i].req, on_done, &t[i]), 0);
    }
    open_gate();
    CHECK(wait_for(&n_done, 6));
    /* g was first; then level 1, level 2 in FIFO order, level 3 in FIFO order */
    CHECK_EQ_INT(t[3].order, 1);
    CHECK_EQ_INT(t[2].order, 2);
    CHECK_EQ_INT(t[4].order, 3);
    CHECK_EQ_INT(t[0].order, 4);
    CHECK_EQ_INT(t[1].order, 5);
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 5; i++) treq_free(&t[i]);
}

static void preserve_ordering(void)
{
    enum { N = 200 };
    unsigned seed = 23;
    ig_model_config c = config(4, 2, 0);
    c.preserve_ordering = true;
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    static treq t[N];
    for (int i = 0; i < N; i++) {
        treq_init(&t[i], 1 + rand_r(&seed) % 4, &seed);
        if (i % 7 == 3) t[i].in.name = "nope"; /* refused at once: not part of the order */
        ig_sched_submit(s, &t[i].req, on_done, &t[i]);
    }
    CHECK(wait_for(&n_done, N));
    int prev = -1, out_of_order = 0;
    for (int i = 0; i < N; i++) {
        if (i % 7 == 3) {
            CHECK_EQ_INT(t[i].status, IG_EINVAL);
            continue;
        }
        CHECK_EQ_INT(t[i].status, 0);
        if (t[i].order < prev) out_of_order++;
        prev = t[i].order;
    }
    CHECK_EQ_INT(out_of_order, 0);
    ig_sched_free(s);
    for (int i = 0; i < N; i++) treq_free(&t[i]);
}

static void parallel_instances(void)
{
    unsigned seed = 29;
    ig_model_config c = config(4, 2, 0);
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    treq g[2];
    hold_instance(s, &g[0], &seed, 0);
    hold_instance(s, &g[1], &seed, 1); /* only possible if the second instance runs meanwhile */
    open_gate();
    CHECK(wait_for(&n_done, 2));
    ig_sched_free(s);
    treq_free(&g[0]);
    treq_free(&g[1]);
}

static void drain(void)
{
    enum { N = 100 };
    unsigned seed = 31;
    ig_model_config c = config(4, 2, 1000);
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    static treq t[N];
    for (int i = 0; i < N; i++) {
        treq_init(&t[i], 1 + i % 3, &seed);
        CHECK_EQ_INT(ig_sched_submit(s, &t[i].req, on_done, &t[i]), 0);
    }
    ig_sched_drain(s);
    CHECK_EQ_INT(n_done, N);
    int ok = 0;
    for (int i = 0; i < N; i++) ok += t[i].done && t[i].status == 0;
    CHECK_EQ_INT(ok, N);
    CHECK_EQ_INT(ig_sched_pending(s), 0);
    treq late;
    treq_init(&late, 1, &seed);
    CHECK_EQ_INT(ig_sched_submit(s, &late.req, on_done, &late), IG_EUNAVAILABLE);
    CHECK(late.done);
    ig_sched_free(s);
    treq_free(&late);
    for (int i = 0; i < N; i++) treq_free(&t[i]);
}

static void refuses(treq *t, ig_sched *s, const char *words)
{
    CHECK_EQ_INT(ig_sched_submit(s, &t->req, on_done, t), IG_EINVAL);
    CHECK(t->done);
    CHECK_EQ_INT(t->status, IG_EINVAL);
    if (!strstr(t->error, words)) {
        fprintf(stderr, "expected '%s' in '%s'\n", words, t->error);
        CHECK(0);
    }
    treq_free(t);
}

/* ---- requests of different shapes ---- */

/* A minimal protobuf writer, enough for an ONNX model Y = Relu(X) with X, Y FLOAT [batch, n]: a model
 * whose non-batch dim varies, which none of the example models has. */
typedef struct pb {
    unsigned char b[512];
    size_t n;
} pb;

static void pb_varint(pb *p, uint64_t v)
{
    do {
        p->b[p->n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void pb_int(pb *p, int field, uint64_t v)
{
    pb_varint(p, (uint64_t)field << 3);
    pb_varint(p, v);
}

static void pb_bytes(pb *p, int field, const void *data, size_t len)
{
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, len);
    memcpy(p->b + p->n, data, len);
    p->n += len;
}

static void pb_str(pb *p, int field, const char *s)
{
    pb_bytes(p, field, s, strlen(s));
}

static void pb_msg(pb *p, int field, const pb *m)
{
    pb_bytes(p, field, m->b, m->n);
}

static void value_info(pb *out, int field, const char *name)
{
    pb d0 = {0}, d1 = {0}, shape = {0}, tt = {0}, type = {0}, vi = {0};
    pb_str(&d0, 2, "batch"); /* Dimension.dim_param */
    pb_str(&d1, 2, "n");
    pb_msg(&shape, 1, &d0); /* TensorShapeProto.dim */
    pb_msg(&shape, 1, &d1);
    pb_int(&tt, 1, 1); /* TypeProto.Tensor.elem_type FLOAT */
    pb_msg(&tt, 2, &shape);
    pb_msg(&type, 1, &tt); /* TypeProto.tensor_type */
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(out, field, &vi);
}

static ig_model *relu_model(void)
{
    pb node = {0}, graph = {0}, opset = {0}, m = {0};
    pb_str(&node, 1, "X");
    pb_str(&node, 2, "Y");
    pb_str(&node, 4, "Relu");
    pb_msg(&graph, 1, &node);
    pb_str(&graph, 2, "g");
    value_info(&graph, 11, "X");
    value_info(&graph, 12, "Y");
    pb_int(&opset, 2, 13);
    pb_int(&m, 1, 8); /* ir_version */
    pb_msg(&m, 7, &graph);
    pb_msg(&m, 8, &opset);
    char path[] = "/tmp/ig_test_scheduler_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "wb");
    fwrite(m.b, 1, m.n, f);
    fclose(f);
    ig_model *model = NULL;
    ig_error err = {0};
    if (ig_model_load(path, &(ig_model_options){.n_threads = 1}, &model, &err))
        fprintf(stderr, "relu model: %s\n", err.msg);
    unlink(path);
    return model;
}

static void relu_req(treq *t, int rows, int cols, unsigned *seed)
{
    treq_init(t, rows, seed);
    for (int i = 0; i < rows * cols; i++) t->x[i] = (float)(rand_r(seed) % 200) / 50.0f - 2.0f;
    t->in.name = "X";
    t->in.t.dims[1] = cols;
    t->out_name = "Y";
    t->cols = cols;
}

static void shapes(void)
{
    unsigned seed = 41;
    ig_model *relu = relu_model();
    CHECK(relu != NULL);
    if (!relu) return;
    ig_model_config c = config(8, 1, 0);
    ig_model_stats st;
    memset(&st, 0, sizeof(st));
    ig_sched *s = NULL;
    ig_error err = {0};
    CHECK_EQ_INT(ig_sched_create(relu, &c, &st, 1, &s, &err), 0);
    reset();
    treq g, t[4];
    relu_req(&g, 1, 3, &seed);
    g.gate = true;
    CHECK_EQ_INT(ig_sched_submit(s, &g.req, on_done, &g), 0);
    CHECK(wait_for(&in_gate, 1));
    int rows[4] = {1, 2, 1, 1}, cols[4] = {3, 3, 5, 3};
    for (int i = 0; i < 4; i++) {
        relu_req(&t[i], rows[i], cols[i], &seed);
        CHECK_EQ_INT(ig_sched_submit(s, &t[i].req, on_done, &t[i]), 0);
    }
    open_gate();
    CHECK(wait_for(&n_done, 5));
    /* [1,3] and [2,3] share; [1,5] cannot, and [1,3] behind it does not jump the queue. */
    CHECK_EQ_INT(t[0].batch_size, 3);
    CHECK_EQ_INT(t[1].batch_size, 3);
    CHECK_EQ_INT(t[2].batch_size, 1);
    CHECK_EQ_INT(t[3].batch_size, 1);
    CHECK(t[2].order < t[3].order);
    int wrong = 0;
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(t[i].status, 0);
        for (int k = 0; k < rows[i] * cols[i]; k++) wrong += t[i].y[k] != (t[i].x[k] > 0 ? t[i].x[k] : 0);
    }
    CHECK_EQ_INT(wrong, 0);
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 4; i++) treq_free(&t[i]);
    ig_model_free(relu);
}

static void bad_requests(void)
{
    unsigned seed = 37;
    ig_model_config c = config(4, 1, 0);
    ig_model_stats st;
    ig_sched *s = start(&c, &st);
    treq t;
    treq_init(&t, 1, &seed);
    t.in.name = "nope";
    refuses(&t, s, "'nope'");
    treq_init(&t, 1, &seed);
    t.req.n_inputs = 0;
    refuses(&t, s, "missing");
    treq_init(&t, 1, &seed);
    t.in.t.dtype = IG_DT_INT32;
    refuses(&t, s, "datatype");
    treq_init(&t, 1, &seed);
    t.in.t.dims[1] = 5;
    refuses(&t, s, "dim 1 must be 4");
    treq_init(&t, 5, &seed);
    refuses(&t, s, "must be <= 4");
    treq_init(&t, 1, &seed);
    t.in.t.ndim = 1;
    refuses(&t, s, "dims");
    treq_init(&t, 1, &seed);
    t.in.t.data = NULL;
    refuses(&t, s, "no data");
    CHECK_EQ_INT(st.failures[IG_FAIL_OTHER], 7);
    CHECK_EQ_INT(ig_sched_submit(s, NULL, on_done, NULL), IG_EINVAL);
    ig_sched_free(s);

    /* Without batching the request's shape is the model's, batch dim included. */
    c = config(0, 1, 0);
    s = start(&c, &st);
    treq_init(&t, 3, &seed);
    CHECK_EQ_INT(ig_sched_submit(s, &t.req, on_done, &t), 0);
    CHECK(wait_for(&n_done, 1));
    CHECK_EQ_INT(t.status, 0);
    CHECK_EQ_INT(t.batch_size, 1);
    ig_sched_free(s);
    treq_free(&t);

    /* A batching model without dynamic batching runs each request alone, whatever its rows. */
    c = config(4, 1, 0);
    c.dynamic_batching = false;
    s = start(&c, &st);
    treq g, u[2];
    hold_instance(s, &g, &seed, 0);
    for (int i = 0; i < 2; i++) {
        treq_init(&u[i], 2 + i, &seed);
        CHECK_EQ_INT(ig_sched_submit(s, &u[i].req, on_done, &u[i]), 0);
    }
    open_gate();
    CHECK(wait_for(&n_done, 3));
    CHECK_EQ_INT(u[0].batch_size, 2);
    CHECK_EQ_INT(u[1].batch_size, 3);
    CHECK_EQ_INT(st.inference_count, 6);
    CHECK_EQ_INT(st.execution_count, 3);
    ig_sched_free(s);
    treq_free(&g);
    for (int i = 0; i < 2; i++) treq_free(&u[i]);
}

int main(void)
{
    ig_error err = {0};
    if (ig_model_load(MODEL, &(ig_model_options){.n_threads = 1}, &model, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    batched_equals_unbatched();
    preferred_and_delay();
    queue_full();
    timeouts();
    cancellation();
    priorities();
    preserve_ordering();
    parallel_instances();
    drain();
    bad_requests();
    shapes();
    ig_model_free(model);
    return CHECK_DONE();
}
