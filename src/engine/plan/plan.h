/* Plans: a graph specialised to one set of input shapes. Building a plan chooses each node's kernel,
 * evaluates whatever is computable from constants and shapes alone (shape chains, folded weights),
 * defers nodes whose output shapes need run-time data, and lays out the remaining intermediates in
 * one buffer by lifetime. Executing a plan is one loop over its steps. */
#ifndef IG_ENGINE_PLAN_H
#define IG_ENGINE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "engine/graph/ir.h"
#include "engine/kernels/kernel.h"

typedef struct ig_plan ig_plan;

/* How a value gets its data. */
typedef enum ig_value_kind {
    IG_VAL_NONE = 0, /* unused */
    IG_VAL_CONST,    /* known at build: initializer, folded result, or outer-scope value */
    IG_VAL_INPUT,    /* a graph input bound at run */
    IG_VAL_BUFFER,   /* planned in the execution buffer */
    IG_VAL_DEFERRED, /* shaped and allocated at run */
    IG_VAL_ALIAS,    /* a view of another value's bytes (alias[v]), itself an input or a buffer */
} ig_value_kind;

typedef struct ig_plan_step {
    ig_kstep k;
    const ig_kernel_def *def; /* NULL while deferred */
    bool deferred;
    size_t scratch_offset; /* in the execution buffer */
} ig_plan_step;

struct ig_plan {
    const ig_graph *g;
    ig_arena *arena; /* the plan's own memory and its folded constants (owned unless borrowed) */
    bool owns_arena;
    ig_tensor *vals;     /* one per graph value */
    ig_value_kind *kind; /* one per graph value */
    size_t *offset;      /* buffer offset per IG_VAL_BUFFER value */
    int *alias;          /* for IG_VAL_ALIAS values: the input or buffer value they view */
    int n_steps;
    ig_plan_step *steps;
    size_t buffer_bytes;
    int n_threads;
};

/* One execution of a plan. Lives on the caller's stack for the duration of a run. */
typedef struct ig_exec {
    ig_plan *plan;
    unsigned char *buffer; /* plan->buffer_bytes, 64-byte aligned */
    ig_arena *dyn;         /* run-lifetime memory: deferred outputs, subgraph plans */
    struct ig_exec *outer; /* enclosing execution, for subgraphs */
    ig_kstep *current;     /* step being executed */
    /* Optional per-step timing hook (profiling). */
    void (*observe)(void *ctx, const ig_node *n, uint64_t ns);
    void *observe_ctx;
    ig_error *err;
} ig_exec;

/* Builds a plan for g. inputs[i] gives dtype and shape of g->inputs[i]; when its data is non-NULL the
 * input counts as known and everything depending only on known values is evaluated now. outer is
 * the enclosing execution for a subgraph (NULL for a model's main graph). When arena is NULL the plan
 * owns a new one; otherwise it is allocated in (and lives as long as) arena. */
int ig__plan_build(const ig_graph *g, const ig_tensor *inputs, ig_exec *outer, ig_arena *arena, int n_threads,
                   ig_plan **out, ig_error *err);
void ig__plan_free(ig_plan *p);

/* Runs the plan: binds inputs (data borrowed), executes all steps. x->plan, x->buffer and x->dyn must
 * be set by the caller. */
int ig__plan_execute(ig_exec *x, const ig_tensor *inputs, ig_error *err);

/* Lays out the plan's IG_VAL_BUFFER values and step scratch by lifetime; sets offsets and
 * buffer_bytes. */
int ig__plan_layout(ig_plan *p, ig_error *err);

#endif
