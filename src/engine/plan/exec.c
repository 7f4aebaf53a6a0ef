/* Plan execution: one loop over the steps. Deferred steps are planned here, with every input known,
 * and their outputs and scratch come from the run's arena. Also the helpers kernels call back into
 * (subgraphs, run-time outputs, error text). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "engine/plan/plan.h"

int ig__plan_choose_kernel(ig_plan_step *st, ig_error *err);

static const char *label(const ig_kstep *s)
{
    return ig_node_label(s->graph, s->node);
}

static int run_deferred(ig_exec *x, ig_plan_step *st, ig_error *err)
{
    ig_plan_step tmp = *st; /* the plan stays untouched; only this run's value table changes */
    int rc = ig__plan_choose_kernel(&tmp, err);
    bool allocs = rc == IG_EDEFER && tmp.def && (tmp.def->flags & IG_KF_ALLOCS_OUTPUTS);
    if (rc == IG_EDEFER && !allocs)
        return ig_error_set(err, IG_ERUNTIME, "node '%s' (%s): output shape unknown with all inputs known",
                            label(&st->k), st->k.node->op_type);
    if (rc && !allocs) return ig_error_prefix(err, rc, "while running: ");
    if (!allocs) {
        for (int i = 0; i < tmp.k.n_out; i++) {
            ig_tensor *t = tmp.k.out[i];
            if (!t) continue;
            size_t nb = ig_tensor_nbytes(t);
            if (nb == SIZE_MAX || !(t->data = ig_arena_alloc(x->dyn, nb, 64))) {
                rc = ig_error_set(err, IG_ENOMEM, "node '%s': cannot allocate output %d", label(&st->k), i);
                goto out;
            }
        }
    }
    if (tmp.k.scratch_bytes && !(tmp.k.scratch = ig_arena_alloc(x->dyn, tmp.k.scratch_bytes, 64))) {
        rc = ig_error_set(err, IG_ENOMEM, "node '%s': cannot allocate scratch", label(&st->k));
        goto out;
    }
    tmp.k.exec = x;
    x->current = &tmp.k;
    rc = tmp.def->run(&tmp.k);
    if (rc) rc = ig_error_set(err, rc, "node '%s' (%s): %s", label(&st->k), st->k.node->op_type, ig_strerror(rc));
out:
    if (tmp.def && tmp.def->destroy && tmp.k.state) tmp.def->destroy(tmp.k.state);
    return rc;
}

int ig__plan_execute(ig_exec *x, const ig_tensor *inputs, ig_error *err)
{
    ig_plan *p = x->plan;
    const ig_graph *g = p->g;
    x->err = err;
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        if (p->kind[v] == IG_VAL_INPUT) p->vals[v].data = inputs[i].data;
    }
    for (int v = 0; v < g->n_values; v++)
        if (p->kind[v] == IG_VAL_BUFFER) p->vals[v].data = x->buffer + p->offset[v];
    for (int v = 0; v < g->n_values; v++)
        if (p->kind[v] == IG_VAL_ALIAS) p->vals[v].data = p->vals[p->alias[v]].data;
    for (int s = 0; s < p->n_steps; s++) {
        ig_plan_step *st = &p->steps[s];
        int rc;
        uint64_t t0 = x->observe ? ig_now_ns() : 0;
        if (st->deferred) {
            rc = run_deferred(x, st, err);
        } else {
            st->k.scratch = st->k.scratch_bytes ? x->buffer + st->scratch_offset : NULL;
            st->k.exec = x;
            x->current = &st->k;
            rc = st->def->run(&st->k);
            if (rc)
                rc = ig_error_set(err, rc, "node '%s' (%s): %s", label(&st->k), st->k.node->op_type,
                                  ig_strerror(rc));
        }
        if (rc) return rc;
        if (x->observe) x->observe(x->observe_ctx, st->k.node, ig_now_ns() - t0);
    }
    return 0;
}

int ig_kstep_alloc_output(ig_kstep *s, int i, ig_dtype dt, int ndim, const int64_t *dims)
{
    if (i < 0 || i >= s->n_out || !s->out[i]) return IG_EINVAL;
    if (ndim < 0 || ndim > IG_MAX_DIMS) return IG_EINVAL;
    ig_kstep_set_output(s, i, dt, ndim, dims);
    size_t nb = ig_tensor_nbytes(s->out[i]);
    if (nb == SIZE_MAX) return IG_EOVERFLOW;
    s->out[i]->data = ig_arena_alloc(s->exec->dyn, nb, 64);
    return s->out[i]->data ? 0 : IG_ENOMEM;
}

ig_error *ig_kstep_error(const ig_kstep *s)
{
    return s->exec ? s->exec->err : NULL;
}

void *ig_kstep_alloc(const ig_kstep *s, size_t bytes)
{
    return s->exec ? ig_arena_alloc(s->exec->dyn, bytes ? bytes : 1, 64) : NULL;
}

void ig_kstep_set_output(ig_kstep *s, int i, ig_dtype dt, int ndim, const int64_t *dims)
{
    ig_tensor *t = s->out[i];
    if (!t) return;
    int64_t copy[IG_MAX_DIMS];
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim <= 0) return;
    memcpy(copy, dims, sizeof(int64_t) * (size_t)ndim); /* dims may alias an input's */
    memcpy(t->dims, copy, sizeof(int64_t) * (size_t)ndim);
}

int ig_kstep_fail(const ig_kstep *s, ig_error *err, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ig_error_set(err, code, "node '%s' (%s): %s", label(s), s->node->op_type, msg);
}

int ig_kstep_run_subgraph(ig_kstep *s, const ig_graph *g, const ig_tensor *inputs, int n_inputs,
                          ig_tensor *outputs, int n_outputs, ig_error *err)
{
    ig_exec *outer = s->exec;
    if (n_inputs != g->n_inputs)
        return ig_kstep_fail(s, err, IG_EINVAL, "subgraph '%s' takes %d inputs, given %d", g->name ? g->name : "",
                             g->n_inputs, n_inputs);
    if (n_outputs > g->n_outputs)
        return ig_kstep_fail(s, err, IG_EINVAL, "subgraph has %d outputs, %d asked", g->n_outputs, n_outputs);
    /* Every input is known, so building evaluates the whole subgraph; what remains (random or
     * deferred nodes) runs right after. All of it lives in the run's arena. */
    ig_plan *p;
    int rc = ig__plan_build(g, inputs, outer, outer->dyn, s->n_threads, &p, err);
    if (rc) return rc;
    ig_exec x = {.plan = p, .dyn = outer->dyn, .outer = outer, .err = err};
    if (p->buffer_bytes && !(x.buffer = ig_arena_alloc(outer->dyn, p->buffer_bytes, 64))) {
        ig__plan_free(p);
        return ig_error_set(err, IG_ENOMEM, "out of memory running a subgraph");
    }
    rc = ig__plan_execute(&x, inputs, err);
    outer->current = s;
    if (!rc)
        for (int i = 0; i < n_outputs; i++) outputs[i] = p->vals[g->outputs[i]];
    ig__plan_free(p);
    return rc;
}
