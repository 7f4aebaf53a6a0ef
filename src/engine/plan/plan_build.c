/* Plan construction: kernel choice per node, evaluation of everything known before run time, and
 * deferral of nodes whose shapes need run-time data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan/plan.h"

/* Scratch memory for steps evaluated while building: freed right after, never inside a kernel. */
static void *scratch_for(size_t bytes)
{
    return bytes ? aligned_alloc(64, (bytes + 63) & ~(size_t)63) : NULL;
}

static int bind_inputs(ig_plan *p, const ig_tensor *inputs, ig_exec *outer, ig_error *err)
{
    const ig_graph *g = p->g;
    for (int v = 0; v < g->n_values; v++) {
        const ig_value *val = &g->values[v];
        if (val->constant) {
            p->vals[v] = *val->constant;
            p->kind[v] = IG_VAL_CONST;
        } else if (val->outer >= 0) {
            if (!outer || val->outer >= outer->plan->g->n_values)
                return ig_error_set(err, IG_EFORMAT, "value '%s' refers to an enclosing scope that is missing",
                                    val->name);
            p->vals[v] = outer->plan->vals[val->outer];
            p->kind[v] = IG_VAL_CONST;
            if (!p->vals[v].data)
                return ig_error_set(err, IG_EFORMAT, "outer-scope value '%s' has no data", val->name);
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        p->vals[v] = inputs[i];
        p->kind[v] = inputs[i].data ? IG_VAL_CONST : IG_VAL_INPUT;
    }
    return 0;
}

/* Points the step's in/out arrays at the plan's value table. */
static int wire_step(ig_plan *p, ig_plan_step *st, const ig_node *n, ig_error *err)
{
    st->k.node = n;
    st->k.graph = p->g;
    st->k.n_in = n->n_inputs;
    st->k.n_out = n->n_outputs;
    st->k.in = ig_arena_array(p->arena, n->n_inputs + 1, sizeof(ig_tensor *), 8);
    st->k.out = ig_arena_array(p->arena, n->n_outputs + 1, sizeof(ig_tensor *), 8);
    if (!st->k.in || !st->k.out) return ig_error_set(err, IG_ENOMEM, "out of memory building a plan");
    for (int i = 0; i < n->n_inputs; i++) st->k.in[i] = n->inputs[i] >= 0 ? &p->vals[n->inputs[i]] : NULL;
    for (int i = 0; i < n->n_outputs; i++) st->k.out[i] = n->outputs[i] >= 0 ? &p->vals[n->outputs[i]] : NULL;
    st->k.n_threads = p->n_threads;
    return 0;
}


static void describe_inputs(const ig_kstep *s, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < s->n_in && o + 1 < len; i++) {
        const ig_tensor *t = s->in[i];
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", t ? ig_dtype_name(t->dtype) : "-");
    }
}

/* Chooses and plans a kernel for the step: tries matching table entries in order until one accepts.
 * Returns 0, IG_EDEFER, or an error. */
int ig__plan_choose_kernel(ig_plan_step *st, ig_error *err)
{
    const ig_node *n = st->k.node;
    const ig_kernel_def *def = NULL;
    int last = IG_EUNSUPPORTED;
    ig_error local = {0};
    while ((def = ig_kernel_next(def, n->domain, n->op_type, n->opset, st->k.in, st->k.n_in))) {
        if (def->flags & IG_KF_ALLOCS_OUTPUTS) {
            st->def = def;
            return IG_EDEFER;
        }
        st->k.state = NULL;
        st->k.scratch_bytes = 0;
        memset(&local, 0, sizeof(local));
        last = def->plan(&st->k, &local);
        if (last == 0) {
            st->def = def;
            return 0;
        }
        if (st->k.state && def->destroy) def->destroy(st->k.state);
        if (last == IG_EDEFER) {
            st->k.state = NULL;
            st->def = NULL;
            return last;
        }
        st->k.state = NULL;
        if (last != IG_EUNSUPPORTED) break;
    }
    if (local.code) {
        if (err && !err->code) *err = local;
        return local.code;
    }
    char types[256];
    describe_inputs(&st->k, types, sizeof(types));
    return ig_error_set(err, IG_EUNSUPPORTED, "node '%s': no kernel for %s%s%s (opset %d) with inputs (%s)",
                        ig_node_label(st->k.graph, n), n->domain[0] ? n->domain : "", n->domain[0] ? "." : "", n->op_type,
                        n->opset, types);
}

/* Runs a planned step whose inputs are all known, storing results as constants of the plan. */
static int fold_step(ig_plan *p, ig_plan_step *st, ig_exec *x, ig_error *err)
{
    for (int i = 0; i < st->k.n_out; i++) {
        ig_tensor *t = st->k.out[i];
        if (!t) continue;
        size_t nb = ig_tensor_nbytes(t);
        if (nb == SIZE_MAX)
            return ig_error_set(err, IG_EOVERFLOW, "node '%s': output %d is too large", ig_node_label(st->k.graph, st->k.node), i);
        t->data = ig_arena_alloc(p->arena, nb, 64);
        if (!t->data) return ig_error_set(err, IG_ENOMEM, "out of memory folding node '%s'", ig_node_label(st->k.graph, st->k.node));
    }
    st->k.scratch = scratch_for(st->k.scratch_bytes);
    if (st->k.scratch_bytes && !st->k.scratch) return ig_error_set(err, IG_ENOMEM, "out of memory");
    st->k.exec = x;
    x->current = &st->k;
    int rc = st->def->run(&st->k);
    free(st->k.scratch);
    st->k.scratch = NULL;
    if (st->def->destroy && st->k.state) st->def->destroy(st->k.state);
    st->k.state = NULL;
    if (rc)
        return ig_error_set(err, rc, "node '%s' (%s): %s", ig_node_label(st->k.graph, st->k.node), st->k.node->op_type,
                            ig_strerror(rc));
    for (int i = 0; i < st->k.n_out; i++)
        if (st->k.out[i]) p->kind[st->k.node->outputs[i]] = IG_VAL_CONST;
    return 0;
}

/* Turns a reshape-like step over a run-time value into a view of that value's bytes. */
static bool make_view(ig_plan *p, ig_plan_step *st)
{
    const ig_node *n = st->k.node;
    if (!(st->def->flags & IG_KF_ALIAS) || n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs < 1 ||
        n->outputs[0] < 0)
        return false;
    for (int i = 1; i < n->n_outputs; i++)
        if (n->outputs[i] >= 0) return false;
    int src = n->inputs[0];
    if (p->kind[src] == IG_VAL_ALIAS) src = p->alias[src];
    if (p->kind[src] != IG_VAL_BUFFER && p->kind[src] != IG_VAL_INPUT) return false;
    if (st->def->destroy && st->k.state) st->def->destroy(st->k.state);
    st->k.state = NULL;
    p->kind[n->outputs[0]] = IG_VAL_ALIAS;
    p->alias[n->outputs[0]] = src;
    return true;
}

static bool inputs_known(const ig_plan *p, const ig_node *n, bool *any_deferred)
{
    bool known = true;
    *any_deferred = false;
    for (int i = 0; i < n->n_inputs; i++) {
        int v = n->inputs[i];
        if (v < 0) continue;
        if (p->kind[v] == IG_VAL_DEFERRED) *any_deferred = true;
        if (p->kind[v] != IG_VAL_CONST) known = false;
    }
    return known;
}

static void mark_outputs(ig_plan *p, const ig_node *n, ig_value_kind kind)
{
    for (int i = 0; i < n->n_outputs; i++)
        if (n->outputs[i] >= 0) p->kind[n->outputs[i]] = kind;
}

int ig__plan_build(const ig_graph *g, const ig_tensor *inputs, ig_exec *outer, ig_arena *arena, int n_threads,
                   ig_plan **out, ig_error *err)
{
    bool owns = arena == NULL;
    if (owns && !(arena = ig_arena_create(256 * 1024))) return ig_error_set(err, IG_ENOMEM, "out of memory");
    ig_plan *p = ig_arena_alloc(arena, sizeof(*p), 8);
    int rc = IG_ENOMEM;
    if (!p) goto fail_arena;
    p->g = g;
    p->arena = arena;
    p->owns_arena = owns;
    p->n_threads = n_threads > 0 ? n_threads : 1;
    p->vals = ig_arena_array(arena, g->n_values + 1, sizeof(ig_tensor), 64);
    p->kind = ig_arena_array(arena, g->n_values + 1, sizeof(ig_value_kind), 8);
    p->offset = ig_arena_array(arena, g->n_values + 1, sizeof(size_t), 8);
    p->alias = ig_arena_array(arena, g->n_values + 1, sizeof(int), 8);
    p->steps = ig_arena_array(arena, g->n_nodes + 1, sizeof(ig_plan_step), 8);
    if (!p->vals || !p->kind || !p->offset || !p->alias || !p->steps) goto fail_arena;
    if ((rc = bind_inputs(p, inputs, outer, err))) goto fail_plan;

    /* A build-time execution context, so folded kernels can run subgraphs. */
    ig_exec x = {.plan = p, .dyn = arena, .outer = outer, .err = err};
    for (int ni = 0; ni < g->n_nodes; ni++) {
        const ig_node *n = &g->nodes[ni];
        ig_plan_step *st = &p->steps[p->n_steps];
        memset(st, 0, sizeof(*st));
        if ((rc = wire_step(p, st, n, err))) goto fail_plan;
        bool any_deferred, known = inputs_known(p, n, &any_deferred);
        if (any_deferred) {
            st->deferred = true;
            mark_outputs(p, n, IG_VAL_DEFERRED);
            p->n_steps++;
            continue;
        }
        rc = ig__plan_choose_kernel(st, err);
        if (rc == IG_EDEFER) {
            st->deferred = true;
            st->def = NULL;
            mark_outputs(p, n, IG_VAL_DEFERRED);
            p->n_steps++;
            continue;
        }
        if (rc) {
            ig_error_prefix(err, rc, "while planning: ");
            goto fail_plan;
        }
        if ((known || (st->def->flags & IG_KF_SHAPE_ONLY)) && !(st->def->flags & IG_KF_NO_FOLD)) {
            if ((rc = fold_step(p, st, &x, err))) goto fail_plan;
            continue; /* folded: no step at run time */
        }
        if (make_view(p, st)) continue; /* no step at run time */
        mark_outputs(p, n, IG_VAL_BUFFER);
        p->n_steps++;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (v < 0 || p->kind[v] == IG_VAL_NONE) {
            rc = ig_error_set(err, IG_EFORMAT, "graph output %d is never produced", i);
            goto fail_plan;
        }
    }
    if ((rc = ig__plan_layout(p, err))) goto fail_plan;
    *out = p;
    return 0;

fail_plan:
    ig__plan_free(p);
    return rc;
fail_arena:
    if (owns) ig_arena_free(arena);
    return ig_error_set(err, rc, "out of memory building a plan");
}

void ig__plan_free(ig_plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_steps; i++) {
        ig_plan_step *st = &p->steps[i];
        if (!st->deferred && st->def && st->def->destroy && st->k.state) st->def->destroy(st->k.state);
        st->k.state = NULL;
    }
    if (p->owns_arena) ig_arena_free(p->arena);
}
