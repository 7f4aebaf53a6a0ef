/* The kernel interface: what every operator implementation provides, and the declarative table the
 * planner picks from. A kernel is chosen per node when a plan is built (after shapes are known);
 * its plan() checks dtypes and attributes, computes output shapes and prepares state once, so run()
 * is only arithmetic over buffers the planner laid out. */
#ifndef IG_ENGINE_KERNEL_H
#define IG_ENGINE_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/graph/ir.h"
#include "infergate/error.h"
#include "infergate/tensor.h"

typedef struct ig_kstep ig_kstep;

/* One planned node. Owned by the plan; read-only during run except scratch and outputs' data. */
struct ig_kstep {
    const ig_node *node;
    const ig_graph *graph; /* the graph holding node, for names in messages */
    int n_in, n_out;
    /* in[i] is NULL for an omitted optional input. At plan time in[i]->data is non-NULL only when
     * the value is already known (an initializer or a folded constant); at run time always. */
    ig_tensor **in;
    /* plan() sets dtype, ndim and dims of every out[i] that is not NULL (omitted optional outputs
     * are NULL); the planner then assigns out[i]->data. */
    ig_tensor **out;
    void *state;          /* kernel-owned, created by plan(), released by def->destroy */
    size_t scratch_bytes; /* plan() may ask for scratch memory ... */
    void *scratch;        /* ... which run() finds here, 64-byte aligned */
    int n_threads;        /* intra-op threads this step may use */
    struct ig_exec *exec; /* executor context, for kernels that run subgraphs or allocate outputs */
};

/* Kernel flags. */
enum {
    /* Never evaluate at plan time even with constant inputs (random ops). */
    IG_KF_NO_FOLD = 1u << 0,
    /* Output shapes depend on data in a way plan() cannot express: the step always runs deferred and
     * run() allocates each output with ig_kstep_alloc_output (If, Loop, Scan). */
    IG_KF_ALLOCS_OUTPUTS = 1u << 1,
    /* Reads only its inputs' shapes, never their data (Shape, Size): evaluated at plan time whenever
     * the shapes are known, which turns the shape arithmetic of exported models into constants. */
    IG_KF_SHAPE_ONLY = 1u << 2,
    /* Output 0 holds exactly input 0's bytes under another shape (Reshape, Squeeze, Identity...):
     * the planner makes it a view of the input instead of running the copy. run() must still copy,
     * for the cases the planner leaves to it (folding, deferred steps). */
    IG_KF_ALIAS = 1u << 3,
};

typedef struct ig_kernel_def {
    const char *domain; /* "" for ai.onnx, "ai.onnx.ml", or "com.infergate" for fused ops */
    const char *op;
    int since, until;   /* opset versions this implementation covers, inclusive; until 0 = open */
    uint64_t types;     /* bitmask of IG_TYPE(dtype) accepted for input type_input; 0 = any */
    int type_input;
    const char *backend; /* "ref", "x86", "dnnl" */
    /* Returns 0, a negative IG_E* with err filled, IG_EDEFER when a needed input value is not
     * known yet (the step then plans again at run time, when all values are), or IG_EUNSUPPORTED to
     * let the next matching table entry try (a fast backend declining an attribute combination). */
    int (*plan)(ig_kstep *s, ig_error *err);
    int (*run)(ig_kstep *s);
    void (*destroy)(void *state);
    unsigned flags;
} ig_kernel_def;

#define IG_TYPE(dt) (1ull << (dt))
#define IG_TYPES_FLOAT (IG_TYPE(IG_DT_FLOAT) | IG_TYPE(IG_DT_DOUBLE) | IG_TYPE(IG_DT_FLOAT16))
#define IG_TYPES_INT                                                                                         \
    (IG_TYPE(IG_DT_INT8) | IG_TYPE(IG_DT_INT16) | IG_TYPE(IG_DT_INT32) | IG_TYPE(IG_DT_INT64) |             \
     IG_TYPE(IG_DT_UINT8) | IG_TYPE(IG_DT_UINT16) | IG_TYPE(IG_DT_UINT32) | IG_TYPE(IG_DT_UINT64))
#define IG_TYPES_NUMERIC (IG_TYPES_FLOAT | IG_TYPES_INT)

/* Kernel groups: each kernels file defines `const ig_kernel_def ig__kernels_<group>[]`, ended by an
 * entry whose op is NULL. The table searches groups in this order, so faster backends come first
 * and fall back to the reference kernels by returning IG_EUNSUPPORTED. */
#define IG_KERNEL_GROUPS(X)                                                                                  \
    X(dnnl)                                                                                                  \
    X(fused)                                                                                                 \
    X(elementwise)                                                                                           \
    X(shape)                                                                                                 \
    X(nn)                                                                                                    \
    X(reduce)                                                                                                \
    X(misc)                                                                                                  \
    X(control)                                                                                               \
    X(ml)

#define IG__KERNEL_GROUP_DECL(g) extern const ig_kernel_def ig__kernels_##g[];
IG_KERNEL_GROUPS(IG__KERNEL_GROUP_DECL)
#undef IG__KERNEL_GROUP_DECL

/* True when some kernel implements (domain, op) at this opset, whatever the dtypes: the load-time
 * check that every node can run. */
bool ig_kernel_exists(const char *domain, const char *op, int opset);

/* Next table entry after `prev` (NULL to start) matching domain, op, opset and the dtype of the
 * entry's type input among `in`; NULL when none is left. */
const ig_kernel_def *ig_kernel_next(const ig_kernel_def *prev, const char *domain, const char *op, int opset,
                                    ig_tensor *const *in, int n_in);

/* Calls f for every distinct op the table knows (for listings). */
void ig_kernel_foreach_op(void (*f)(const char *domain, const char *op, void *ctx), void *ctx);

/* ---- helpers for kernels (implemented by the executor) ---- */

/* For IG_KF_ALLOCS_OUTPUTS kernels at run time: shapes out[i] and gives it zeroed memory that lives
 * until the end of the current run. */
int ig_kstep_alloc_output(ig_kstep *s, int i, ig_dtype dt, int ndim, const int64_t *dims);

/* The current run's error record, so a kernel that runs subgraphs can pass their reasons on; NULL
 * outside a run. */
ig_error *ig_kstep_error(const ig_kstep *s);
/* Zeroed memory that lives until the end of the current run (64-byte aligned), or NULL. For kernels
 * whose working memory depends on data, such as the bodies of loops. */
void *ig_kstep_alloc(const ig_kstep *s, size_t bytes);

/* Runs subgraph g (an attribute of s->node) once. inputs bind g's inputs in order; names g takes
 * from enclosing scopes resolve through s. On success outputs[0..n_outputs) describe g's outputs;
 * their data lives until the end of the current run. */
int ig_kstep_run_subgraph(ig_kstep *s, const ig_graph *g, const ig_tensor *inputs, int n_inputs,
                          ig_tensor *outputs, int n_outputs, ig_error *err);

/* Shorthand for the common error "node X (Op): reason". */
int ig_kstep_fail(const ig_kstep *s, ig_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets out[i] to the given dtype and shape (dims may alias in[...]->dims). */
void ig_kstep_set_output(ig_kstep *s, int i, ig_dtype dt, int ndim, const int64_t *dims);

#endif
