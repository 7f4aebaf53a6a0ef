/* The dynamic batcher: per-priority request queues guarded by one lock, instance worker threads that
 * take turns forming a batch (one "former" at a time, waiting out max_queue_delay_us for more
 * requests), execute it on their own runner and complete its requests, optionally in submit order. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "serving/scheduler_int.h"

typedef struct sched_queue {
    ig__sched_item *head, *tail;
    size_t n;
} sched_queue;

typedef struct sched_worker {
    ig_sched *s;
    ig_runner *runner;
    pthread_t thread;
    bool started;
    ig__sched_gbuf gather;
    ig_tensor *inputs, *outputs;
    ig__sched_item **batch; /* [max rows]: every request brings at least one row */
} sched_worker;

/* Inline workers per scheduler: about the number of threads that submit (the HTTP and gRPC I/O
 * threads), so each can run cheap requests itself. */
#define IG_SCHED_INLINE 4

struct ig_sched {
    ig_model *model;
    const ig_model_config *cfg;
    ig_model_stats *stats;
    int threads_per_instance;
    bool batching; /* dynamic batching over a leading batch dim */
    int max_rows;  /* rows per execution (1 when not batching) */
    int max_pref;  /* largest preferred batch size; 0 = none */
    int n_levels;  /* queues; level index = priority level - 1 */
    int default_level;

    pthread_mutex_t mu;
    pthread_cond_t cv_turn; /* idle workers wait for requests and for the former to finish */
    pthread_cond_t cv_more; /* the former waits for more requests during the queue delay */
    sched_queue *queues;
    size_t n_queued;
    bool forming, stopping;
    uint64_t next_seq;
    atomic_size_t pending;

    /* preserve_ordering: completed entries wait here (sorted by seq) until every earlier one is out */
    pthread_mutex_t order_mu;
    ig__sched_item *done_head, *done_tail;
    uint64_t next_deliver;
    bool delivering;

    int n_workers;
    sched_worker *workers; /* n_workers instance threads, then n_inline inline workers (no thread) */
    bool drained;
    /* Cheap requests run on the submitting thread when nothing waits in the queue: for models of a
     * few microseconds the two thread hand-offs cost more than the model. Whoever holds inline_mu[i]
     * runs on inline worker i. */
    bool inline_allowed;
    int n_inline;
    pthread_mutex_t inline_mu[IG_SCHED_INLINE];
};

enum { inline_max_ns = 20 * 1000, inline_min_runs = 8 };

/* Whether this version's executions have been cheap so far. */
static bool cheap(const ig_sched *s)
{
    uint64_t n = atomic_load_explicit(&s->stats->compute_infer.count, memory_order_relaxed);
    uint64_t ns = atomic_load_explicit(&s->stats->compute_infer.ns, memory_order_relaxed);
    return n >= inline_min_runs && ns / n < inline_max_ns;
}



static const ig_queue_policy *level_policy(const ig_sched *s, int level)
{
    if (s->cfg->priority_queue_policy && s->cfg->priority_levels > 0)
        return &s->cfg->priority_queue_policy[level + 1];
    return &s->cfg->default_queue_policy;
}

/* ---- queues (caller holds mu) ---- */

static void q_push(sched_queue *q, ig__sched_item *it)
{
    it->next = NULL;
    it->prev = q->tail;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->n++;
}

static void q_unlink(sched_queue *q, ig__sched_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail = it->prev;
    it->prev = it->next = NULL;
    q->n--;
}

static void dequeued(ig_sched *s, ig__sched_item *it)
{
    q_unlink(&s->queues[it->level], it);
    s->n_queued--;
    atomic_fetch_sub(&s->pending, 1);
    atomic_fetch_sub_explicit(&s->stats->pending, 1, memory_order_relaxed);
}

/* ---- completion ---- */

static void fail_item(ig__sched_item *it, int code, ig_fail_reason reason, const char *msg)
{
    it->resp.status = code;
    it->reason = reason;
    snprintf(it->resp.error, sizeof(it->resp.error), "%s", msg);
}

static void record(ig_sched *s, ig__sched_item *it)
{
    ig_model_stats *st = s->stats;
    uint64_t t0 = it->req->t_received_ns ? it->req->t_received_ns : it->t_enqueue_ns;
    uint64_t now = ig_now_ns();
    uint64_t dur = now > t0 ? now - t0 : 0;
    if (it->resp.status == 0) {
        ig_duration_add(&st->success, dur);
        ig_histogram_observe(&st->request_us, (double)dur / 1e3);
    } else {
        ig_duration_add(&st->fail, dur);
        atomic_fetch_add_explicit(&st->failures[it->reason], 1, memory_order_relaxed);
    }
}

/* Hands completed entries to their callbacks; under preserve_ordering only once every entry
 * submitted before them is out. Whoever finds delivery idle delivers for everyone (so callbacks never
 * overtake each other); the others just leave their entries. */
static void complete(ig_sched *s, ig__sched_item *it)
{
    record(s, it);
    if (!s->cfg->preserve_ordering) {
        it->done(it->req, &it->resp, it->ctx);
        return;
    }
    pthread_mutex_lock(&s->order_mu);
    /* Completions arrive nearly in order, so search from the tail. */
    ig__sched_item *after = s->done_tail;
    while (after && after->seq > it->seq) after = after->prev;
    it->prev = after;
    it->next = after ? after->next : s->done_head;
    if (it->next)
        it->next->prev = it;
    else
        s->done_tail = it;
    if (after)
        after->next = it;
    else
        s->done_head = it;
    if (s->delivering) {
        pthread_mutex_unlock(&s->order_mu);
        return;
    }
    s->delivering = true;
    for (;;) {
        ig__sched_item *first = s->done_head, *last = NULL;
        for (ig__sched_item *p = first; p && p->seq == s->next_deliver; p = p->next) {
            last = p;
            s->next_deliver++;
        }
        if (!last) break;
        s->done_head = last->next;
        if (s->done_head)
            s->done_head->prev = NULL;
        else
            s->done_tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->order_mu);
        for (ig__sched_item *p = first, *nx; p; p = nx) {
            nx = p->next;
            p->done(p->req, &p->resp, p->ctx);
        }
        pthread_mutex_lock(&s->order_mu);
    }
    s->delivering = false;
    pthread_mutex_unlock(&s->order_mu);
}

static void complete_list(ig_sched *s, ig__sched_item *list)
{
    for (ig__sched_item *p = list, *nx; p; p = nx) {
        nx = p->next;
        p->next = NULL;
        complete(s, p);
    }
}

/* ---- batch forming (caller holds mu) ---- */

/* Drops cancelled entries and handles expired ones (refused, or moved behind everything). Dropped
 * entries are chained onto *dropped for completion outside the lock. */
static void sweep(ig_sched *s, uint64_t now, ig__sched_item **dropped)
{
    for (int l = 0; l < s->n_levels; l++) {
        for (ig__sched_item *it = s->queues[l].head, *nx; it; it = nx) {
            nx = it->next;
            bool cancelled = atomic_load_explicit(&it->req->cancelled, memory_order_relaxed);
            bool expired = it->deadline_ns && now >= it->deadline_ns;
            if (!cancelled && !expired) continue;
            if (!cancelled && level_policy(s, it->level)->timeout_delay) {
                /* DELAY: no second timeout; served after everything else. */
                it->deadline_ns = 0;
                q_unlink(&s->queues[l], it);
                it->level = s->n_levels - 1;
                q_push(&s->queues[it->level], it);
                continue;
            }
            dequeued(s, it);
            if (cancelled)
                fail_item(it, IG_ECANCELED, IG_FAIL_CANCELED, "Request was cancelled");
            else
                fail_item(it, IG_EUNAVAILABLE, IG_FAIL_REJECTED, "Request timeout expired");
            it->next = *dropped;
            *dropped = it;
        }
    }
}

static bool is_preferred(const ig_sched *s, int rows)
{
    for (int i = 0; i < s->cfg->n_preferred_batch_sizes; i++)
        if (s->cfg->preferred_batch_sizes[i] == rows) return true;
    return false;
}

/* Decides the next batch from the queue fronts in priority order: returns how many entries to take
 * (collected into batch), or 0 with *wait_until set when it is worth waiting for more. */
static int plan_batch(ig_sched *s, uint64_t now, ig__sched_item **batch, uint64_t *wait_until)
{
    int n = 0, rows = 0, pref_n = 0, pref_rows = 0;
    bool closed = false;
    ig__sched_item *first = NULL;
    for (int l = 0; l < s->n_levels && !closed; l++) {
        for (ig__sched_item *it = s->queues[l].head; it; it = it->next) {
            if (!first) {
                first = it;
            } else if (!s->batching || !ig__sched_same_shape(s->model, first, it) ||
                       rows + it->rows > s->max_rows) {
                /* Stopping at the first request that cannot join keeps the queue FIFO. */
                closed = true;
                break;
            }
            batch[n++] = it;
            rows += it->rows;
            if (is_preferred(s, rows)) {
                pref_n = n;
                pref_rows = rows;
            }
            if (rows >= s->max_rows) {
                closed = true;
                break;
            }
        }
    }
    if (!n) return 0;
    if (s->max_pref && pref_rows == s->max_pref) return pref_n;
    uint64_t delay_ns = s->cfg->max_queue_delay_us * 1000ull;
    uint64_t until = first->t_enqueue_ns + delay_ns;
    if (closed || !s->batching || delay_ns == 0 || s->stopping || now >= until) return pref_n ? pref_n : n;
    *wait_until = until;
    return 0;
}

static void wait_until_ns(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- execution (no lock held) ---- */

static void execute(sched_worker *w, int n)
{
    ig_sched *s = w->s;
    ig_model_stats *st = s->stats;
    ig__sched_item **batch = w->batch;
    uint64_t t_start = ig_now_ns();
    /* A request cancelled after it was taken but before it runs is still dropped. */
    int kept = 0;
    ig__sched_item *dropped = NULL;
    for (int i = 0; i < n; i++) {
        ig__sched_item *it = batch[i];
        uint64_t q = t_start > it->t_enqueue_ns ? t_start - it->t_enqueue_ns : 0;
        it->resp.timing.queue_ns = q;
        ig_duration_add(&st->queue, q);
        ig_histogram_observe(&st->queue_us, (double)q / 1e3);
        if (atomic_load_explicit(&it->req->cancelled, memory_order_relaxed)) {
            fail_item(it, IG_ECANCELED, IG_FAIL_CANCELED, "Request was cancelled");
            it->next = dropped;
            dropped = it;
            continue;
        }
        batch[kept++] = it;
    }
    complete_list(s, dropped);
    n = kept;
    if (!n) return;

    int rows = 0;
    for (int i = 0; i < n; i++) rows += batch[i]->rows;
    ig_error err = {0};
    int rc = ig__sched_gather(s->model, &w->gather, batch, n, s->batching, w->inputs, &err);
    uint64_t t_in = ig_now_ns();
    if (rc == 0) rc = ig_runner_run(w->runner, w->inputs, w->outputs, &err);
    uint64_t t_run = ig_now_ns();
    if (rc) {
        char msg[sizeof(batch[0]->resp.error)];
        snprintf(msg, sizeof(msg), "%s", err.msg[0] ? err.msg : ig_strerror(rc));
        for (int i = 0; i < n; i++)
            fail_item(batch[i], rc, rc == IG_ENOMEM ? IG_FAIL_OTHER : IG_FAIL_BACKEND, msg);
    } else {
        int64_t row0 = 0;
        for (int i = 0; i < n; i++) {
            ig_error e = {0};
            int r = ig__sched_scatter(s->model, w->outputs, rows, s->batching, row0, batch[i], &e);
            if (r) fail_item(batch[i], r, r == IG_ENOMEM ? IG_FAIL_OTHER : IG_FAIL_BACKEND, e.msg);
            row0 += batch[i]->rows;
        }
    }
    uint64_t t_out = ig_now_ns();
    uint64_t in_ns = t_in - t_start, infer_ns = t_run - t_in, out_ns = t_out - t_run;
    if (rc == 0) {
        atomic_fetch_add_explicit(&st->inference_count, (uint64_t)rows, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->execution_count, 1, memory_order_relaxed);
        atomic_store_explicit(&st->last_inference_ms, ig_wall_ms(), memory_order_relaxed);
        if (rows < IG_STATS_MAX_BATCH) {
            ig_duration_add(&st->batch_compute_input[rows], in_ns);
            ig_duration_add(&st->batch_compute_infer[rows], infer_ns);
            ig_duration_add(&st->batch_compute_output[rows], out_ns);
        }
        ig_histogram_observe(&st->batch_size, rows);
    }
    for (int i = 0; i < n; i++) {
        ig__sched_item *it = batch[i];
        it->resp.timing.compute_input_ns = in_ns;
        it->resp.timing.compute_infer_ns = infer_ns;
        it->resp.timing.compute_output_ns = out_ns;
        it->resp.timing.batch_size = rows;
        if (rc == 0) {
            ig_duration_add(&st->compute_input, in_ns);
            ig_duration_add(&st->compute_infer, infer_ns);
            ig_duration_add(&st->compute_output, out_ns);
            ig_histogram_observe(&st->compute_infer_us, (double)infer_ns / 1e3);
        }
        complete(s, it);
    }
}

static void *worker_main(void *arg)
{
    sched_worker *w = arg;
    ig_sched *s = w->s;
    if (s->threads_per_instance > 0) omp_set_num_threads(s->threads_per_instance);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->forming || (s->n_queued == 0 && !s->stopping)) pthread_cond_wait(&s->cv_turn, &s->mu);
        if (s->n_queued == 0) break; /* stopping and nothing left */
        s->forming = true;
        int n = 0;
        for (;;) {
            ig__sched_item *dropped = NULL;
            uint64_t now = ig_now_ns(), until = 0;
            sweep(s, now, &dropped);
            if (dropped) {
                /* Complete them without holding the lock; nobody else forms meanwhile. */
                pthread_mutex_unlock(&s->mu);
                complete_list(s, dropped);
                pthread_mutex_lock(&s->mu);
                continue;
            }
            if (s->n_queued == 0) break;
            n = plan_batch(s, now, w->batch, &until);
            if (n) break;
            wait_until_ns(&s->cv_more, &s->mu, until);
        }
        for (int i = 0; i < n; i++) dequeued(s, w->batch[i]);
        s->forming = false;
        if (s->stopping)
            pthread_cond_broadcast(&s->cv_turn);
        else if (s->n_queued)
            pthread_cond_signal(&s->cv_turn);
        if (!n) continue;
        pthread_mutex_unlock(&s->mu);
        execute(w, n);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public API ---- */

int ig_sched_create(ig_model *model, const ig_model_config *cfg, ig_model_stats *stats,
                    int threads_per_instance, ig_sched **out, ig_error *err)
{
    *out = NULL;
    if (!model || !cfg || !stats)
        return ig_error_set(err, IG_EINVAL, "scheduler needs a model, config and stats");
    if (cfg->max_batch_size < 0) return ig_error_set(err, IG_EINVAL, "negative max_batch_size");
    if (cfg->priority_levels > 0 && (cfg->default_priority_level > cfg->priority_levels))
        return ig_error_set(err, IG_EINVAL, "default_priority_level %u is above priority_levels %u",
                            cfg->default_priority_level, cfg->priority_levels);
    ig_sched *s = calloc(1, sizeof(*s));
    if (!s) return ig_error_set(err, IG_ENOMEM, "out of memory");
    s->model = model;
    s->cfg = cfg;
    s->stats = stats;
    s->threads_per_instance = threads_per_instance;
    s->batching = cfg->max_batch_size > 0 && cfg->dynamic_batching;
    s->max_rows = s->batching ? cfg->max_batch_size : 1;
    for (int i = 0; i < cfg->n_preferred_batch_sizes; i++)
        if (cfg->preferred_batch_sizes[i] <= cfg->max_batch_size &&
            cfg->preferred_batch_sizes[i] > s->max_pref)
            s->max_pref = cfg->preferred_batch_sizes[i];
    s->n_levels = cfg->priority_levels > 0 ? (int)cfg->priority_levels : 1;
    s->default_level = cfg->priority_levels > 0 && cfg->default_priority_level > 0
                           ? (int)cfg->default_priority_level - 1
                           : 0;
    s->queues = calloc(s->n_levels, sizeof(*s->queues));
    s->n_workers = cfg->instance_count > 0 ? cfg->instance_count : 1;
    s->inline_allowed = !cfg->preserve_ordering && cfg->max_queue_delay_us == 0;
    s->n_inline = s->inline_allowed ? IG_SCHED_INLINE : 0;
    s->workers = calloc(s->n_workers + s->n_inline, sizeof(*s->workers));
    int rc = 0;
    if (!s->queues || !s->workers) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory");
        goto fail_alloc;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->order_mu, NULL);
    for (int i = 0; i < IG_SCHED_INLINE; i++) pthread_mutex_init(&s->inline_mu[i], NULL);
    pthread_cond_init(&s->cv_turn, &ca);
    pthread_cond_init(&s->cv_more, &ca);
    pthread_condattr_destroy(&ca);

    int nin = ig_model_num_inputs(model), nout = ig_model_num_outputs(model);
    for (int i = 0; i < s->n_workers + s->n_inline; i++) {
        sched_worker *w = &s->workers[i];
        w->s = s;
        w->inputs = calloc(nin > 0 ? nin : 1, sizeof(*w->inputs));
        w->outputs = calloc(nout > 0 ? nout : 1, sizeof(*w->outputs));
        w->batch = calloc(s->max_rows, sizeof(*w->batch));
        if (!w->inputs || !w->outputs || !w->batch || ig__sched_gather_init(&w->gather, nin)) {
            rc = ig_error_set(err, IG_ENOMEM, "out of memory");
            goto fail;
        }
        rc = ig_runner_create(model, &w->runner, err);
        if (rc) goto fail;
    }
    for (int i = 0; i < s->n_workers; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i])) {
            rc = ig_error_set(err, IG_ENOMEM, "cannot start instance thread %d", i);
            goto fail;
        }
        s->workers[i].started = true;
    }
    *out = s;
    return 0;

fail:
    ig_sched_free(s);
    return rc;
fail_alloc:
    free(s->queues);
    free(s->workers);
    free(s);
    return rc;
}

static int refuse(ig_sched *s, ig__sched_item *it, int code, ig_fail_reason reason, const char *msg)
{
    fail_item(it, code, reason, msg);
    record(s, it);
    it->done(it->req, &it->resp, it->ctx);
    return code;
}

int ig_sched_submit(ig_sched *s, ig_infer_request *req, ig_infer_done done, void *ctx)
{
    if (!s || !req || !req->arena || !done) return IG_EINVAL;
    uint64_t now = ig_now_ns();
    ig__sched_item *it = ig_arena_alloc(req->arena, sizeof(*it), _Alignof(ig__sched_item));
    if (!it) return IG_ENOMEM;
    it->req = req;
    it->done = done;
    it->ctx = ctx;
    it->t_enqueue_ns = now;

    ig_error err = {0};
    if (ig__sched_bind(s->model, s->cfg->max_batch_size, it, &err)) {
        char msg[sizeof(err.msg)];
        snprintf(msg, sizeof(msg), "%s", err.msg);
        return refuse(s, it, err.code, IG_FAIL_OTHER, msg);
    }

    /* Triton: priority 0 or beyond the configured levels means the default level. */
    int level = s->default_level;
    if (req->priority > 0 && req->priority <= s->n_levels && s->cfg->priority_levels > 0)
        level = (int)req->priority - 1;
    it->level = level;
    const ig_queue_policy *pol = level_policy(s, level);
    uint64_t timeout = pol->default_timeout_us;
    if (pol->allow_timeout_override && req->timeout_us && req->timeout_us < timeout)
        timeout = req->timeout_us;
    it->deadline_ns = timeout ? now + timeout * 1000ull : 0;

    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return refuse(s, it, IG_EUNAVAILABLE, IG_FAIL_REJECTED,
                      "Server is draining: the model is not accepting requests");
    }
    if (pol->max_queue_size && s->queues[level].n >= pol->max_queue_size) {
        pthread_mutex_unlock(&s->mu);
        return refuse(s, it, IG_EUNAVAILABLE, IG_FAIL_REJECTED, "Exceeds maximum queue size");
    }
    it->seq = s->next_seq++;
    int slot = -1;
    if (s->n_inline && s->n_queued == 0 && cheap(s))
        for (int i = 0; i < s->n_inline && slot < 0; i++)
            if (pthread_mutex_trylock(&s->inline_mu[i]) == 0) slot = i;
    if (slot >= 0) {
        pthread_mutex_unlock(&s->mu);
        sched_worker *w = &s->workers[s->n_workers + slot];
        w->batch[0] = it;
        execute(w, 1); /* completes it, on this thread */
        pthread_mutex_unlock(&s->inline_mu[slot]);
        return 0;
    }
    q_push(&s->queues[level], it);
    s->n_queued++;
    atomic_fetch_add(&s->pending, 1);
    atomic_fetch_add_explicit(&s->stats->pending, 1, memory_order_relaxed);
    pthread_cond_signal(s->forming ? &s->cv_more : &s->cv_turn);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

size_t ig_sched_pending(const ig_sched *s)
{
    return atomic_load(&((ig_sched *)s)->pending);
}

void ig_sched_drain(ig_sched *s)
{
    if (!s || s->drained) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv_turn);
    pthread_cond_broadcast(&s->cv_more);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_workers; i++)
        if (s->workers[i].started) pthread_join(s->workers[i].thread, NULL);
    s->drained = true;
}

void ig_sched_free(ig_sched *s)
{
    if (!s) return;
    ig_sched_drain(s);
    for (int i = 0; i < s->n_workers + s->n_inline; i++) {
        sched_worker *w = &s->workers[i];
        ig_runner_free(w->runner);
        ig__sched_gather_free(&w->gather);
        free(w->inputs);
        free(w->outputs);
        free(w->batch);
    }
    pthread_cond_destroy(&s->cv_turn);
    pthread_cond_destroy(&s->cv_more);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->order_mu);
    for (int i = 0; i < IG_SCHED_INLINE; i++) pthread_mutex_destroy(&s->inline_mu[i]);
    free(s->workers);
    free(s->queues);
    free(s);
}
