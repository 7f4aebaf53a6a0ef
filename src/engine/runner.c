/* Runners: check inputs against the model, find or build the plan for their shapes, execute it.
 * Plans are cached per exact input-shape key (dtype, rank, dims of every input) in least-recently
 * used order, so a server cycling through batch sizes 1..64 builds each plan once. */
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model_int.h"
#include "engine/plan/plan.h"

enum { MAX_PLANS = 128 };

typedef struct cached_plan {
    int64_t *key;
    int key_len;
    ig_plan *plan;
    uint64_t used;
} cached_plan;

struct ig_runner {
    ig_model *m;
    cached_plan plans[MAX_PLANS];
    int n_plans;
    uint64_t clock;
    unsigned char *buffer;
    size_t buffer_bytes;
    ig_arena *dyn; /* memory of the last run's deferred outputs: freed when the next run starts */
    bool profiling;
    struct op_time {
        const char *op;
        long long calls;
        uint64_t ns;
    } *times;
    int n_times;
};

int ig_runner_create(ig_model *m, ig_runner **out, ig_error *err)
{
    ig_runner *r = calloc(1, sizeof(*r));
    if (!r) return ig_error_set(err, IG_ENOMEM, "out of memory");
    r->m = m;
    *out = r;
    return 0;
}

void ig_runner_free(ig_runner *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_plans; i++) {
        ig__plan_free(r->plans[i].plan);
        free(r->plans[i].key);
    }
    free(r->buffer);
    ig_arena_free(r->dyn);
    free(r->times);
    free(r);
}

/* Checks every input against its declaration; symbolic dims with the same name must agree. */
static int check_inputs(const ig_model *m, const ig_tensor *in, ig_error *err)
{
    int n = ig_model_num_inputs(m);
    for (int i = 0; i < n; i++) {
        const ig_io_info *io = &m->inputs[i];
        const ig_tensor *t = &in[i];
        if (io->dtype != IG_DT_UNDEFINED && t->dtype != io->dtype)
            return ig_error_set(err, IG_EDTYPE, "input '%s': expected %s, got %s", io->name, ig_dtype_name(io->dtype),
                                ig_dtype_name(t->dtype));
        if (t->ndim < 0 || t->ndim > IG_MAX_DIMS)
            return ig_error_set(err, IG_ESHAPE, "input '%s': rank %d is not supported", io->name, t->ndim);
        if (io->ndim >= 0 && t->ndim != io->ndim)
            return ig_error_set(err, IG_ESHAPE, "input '%s': expected rank %d, got %d", io->name, io->ndim, t->ndim);
        for (int k = 0; k < t->ndim; k++) {
            if (t->dims[k] < 0)
                return ig_error_set(err, IG_ESHAPE, "input '%s': dimension %d is negative", io->name, k);
            if (io->ndim < 0) continue;
            if (io->dims[k] >= 0 && t->dims[k] != io->dims[k])
                return ig_error_set(err, IG_ESHAPE, "input '%s': dimension %d must be %lld, got %lld", io->name, k,
                                    (long long)io->dims[k], (long long)t->dims[k]);
            if (!io->dim_params[k]) continue;
            for (int j = 0; j <= i; j++) {
                const ig_io_info *o = &m->inputs[j];
                for (int q = 0; q < o->ndim && q < in[j].ndim && (j < i || q < k); q++)
                    if (o->dim_params[q] && !strcmp(o->dim_params[q], io->dim_params[k]) &&
                        in[j].dims[q] != t->dims[k])
                        return ig_error_set(err, IG_ESHAPE,
                                            "input '%s': dimension %d ('%s') is %lld, but %lld in input '%s'",
                                            io->name, k, io->dim_params[k], (long long)t->dims[k],
                                            (long long)in[j].dims[q], o->name);
            }
        }
        if (ig_tensor_nbytes(t) == SIZE_MAX)
            return ig_error_set(err, IG_EOVERFLOW, "input '%s': too many elements", io->name);
        if (!t->data && ig_tensor_numel(t) > 0)
            return ig_error_set(err, IG_EINVAL, "input '%s': no data", io->name);
    }
    return 0;
}

static int make_key(const ig_tensor *in, int n, int64_t *key)
{
    int len = 0;
    for (int i = 0; i < n; i++) {
        key[len++] = in[i].dtype;
        key[len++] = in[i].ndim;
        for (int k = 0; k < in[i].ndim; k++) key[len++] = in[i].dims[k];
    }
    return len;
}

static int find_plan(ig_runner *r, const ig_tensor *in, ig_plan **out, ig_error *err)
{
    int n = ig_model_num_inputs(r->m);
    int64_t key[(IG_MAX_DIMS + 2) * 64];
    int64_t *k = n <= 64 ? key : malloc(sizeof(int64_t) * (size_t)(IG_MAX_DIMS + 2) * (size_t)n);
    if (!k) return ig_error_set(err, IG_ENOMEM, "out of memory");
    int len = make_key(in, n, k), rc = 0;
    for (int i = 0; i < r->n_plans; i++) {
        cached_plan *c = &r->plans[i];
        if (c->key_len == len && !memcmp(c->key, k, sizeof(int64_t) * (size_t)len)) {
            c->used = ++r->clock;
            *out = c->plan;
            goto done;
        }
    }
    /* Build with shapes only: the data is bound when the plan executes. */
    ig_tensor *shapes = malloc(sizeof(ig_tensor) * (size_t)(n + 1));
    if (!shapes) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        shapes[i] = in[i];
        shapes[i].data = NULL;
    }
    ig_plan *p;
    rc = ig__plan_build(r->m->onnx->graph, shapes, NULL, NULL, r->m->n_threads, &p, err);
    free(shapes);
    if (rc) goto done;
    int slot = r->n_plans;
    if (slot == MAX_PLANS) {
        slot = 0;
        for (int i = 1; i < MAX_PLANS; i++)
            if (r->plans[i].used < r->plans[slot].used) slot = i;
        ig__plan_free(r->plans[slot].plan);
        free(r->plans[slot].key);
    } else {
        r->n_plans++;
    }
    cached_plan *c = &r->plans[slot];
    c->key = malloc(sizeof(int64_t) * (size_t)(len + 1));
    if (!c->key) {
        ig__plan_free(p);
        r->plans[slot] = r->plans[--r->n_plans];
        rc = ig_error_set(err, IG_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(c->key, k, sizeof(int64_t) * (size_t)len);
    c->key_len = len;
    c->plan = p;
    c->used = ++r->clock;
    *out = p;
done:
    if (k != key) free(k);
    return rc;
}

static void observe_step(void *ctx, const ig_node *n, uint64_t ns)
{
    ig_runner *r = ctx;
    int i = 0;
    while (i < r->n_times && strcmp(r->times[i].op, n->op_type)) i++;
    if (i == r->n_times) {
        struct op_time *grown = realloc(r->times, sizeof(*grown) * (size_t)(r->n_times + 1));
        if (!grown) return;
        r->times = grown;
        r->times[r->n_times++] = (struct op_time){n->op_type, 0, 0};
    }
    r->times[i].calls++;
    r->times[i].ns += ns;
}

size_t ig_runner_activation_bytes(const ig_runner *r)
{
    return r->buffer_bytes;
}

void ig_runner_set_profiling(ig_runner *r, int on)
{
    r->profiling = on;
}

static int by_time(const void *a, const void *b)
{
    const struct op_time *x = a, *y = b;
    return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : 0;
}

void ig_runner_profile(const ig_runner *r, void (*f)(const char *op, long long calls, double total_ms, void *ctx),
                       void *ctx)
{
    struct op_time *sorted = malloc(sizeof(*sorted) * (size_t)(r->n_times + 1));
    if (!sorted) return;
    memcpy(sorted, r->times, sizeof(*sorted) * (size_t)r->n_times);
    qsort(sorted, (size_t)r->n_times, sizeof(*sorted), by_time);
    for (int i = 0; i < r->n_times; i++) f(sorted[i].op, sorted[i].calls, (double)sorted[i].ns / 1e6, ctx);
    free(sorted);
}

int ig_runner_run(ig_runner *r, const ig_tensor *inputs, ig_tensor *outputs, ig_error *err)
{
    int rc = check_inputs(r->m, inputs, err);
    if (rc) return rc;
    omp_set_num_threads(r->m->n_threads);
    ig_plan *p;
    if ((rc = find_plan(r, inputs, &p, err))) return rc;
    if (p->buffer_bytes > r->buffer_bytes) {
        free(r->buffer);
        r->buffer_bytes = 0;
        if (!(r->buffer = aligned_alloc(64, (p->buffer_bytes + 63) & ~(size_t)63)))
            return ig_error_set(err, IG_ENOMEM, "out of memory for %zu bytes of activations", p->buffer_bytes);
        r->buffer_bytes = p->buffer_bytes;
    }
    ig_arena_free(r->dyn);
    if (!(r->dyn = ig_arena_create(64 * 1024))) return ig_error_set(err, IG_ENOMEM, "out of memory");
    ig_exec x = {.plan = p, .buffer = r->buffer, .dyn = r->dyn};
    if (r->profiling) {
        x.observe = observe_step;
        x.observe_ctx = r;
    }
    if ((rc = ig__plan_execute(&x, inputs, err))) return rc;
    const ig_graph *g = r->m->onnx->graph;
    for (int i = 0; i < g->n_outputs; i++) outputs[i] = p->vals[g->outputs[i]];
    return 0;
}
