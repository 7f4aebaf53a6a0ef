/* Shared plumbing of the oneDNN kernels: the process-wide engine, a stream per thread, memory
 * descriptors for our dense tensors, post-op chains, execution with user scratchpads, and the
 * cache of constant weights reordered once into the layout a primitive prefers. */
#ifndef IG_ENGINE_KERNELS_DNNL_COMMON_H
#define IG_ENGINE_KERNELS_DNNL_COMMON_H

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>

#include "engine/kernels/kernel.h"

/* The CPU engine, created once; NULL when oneDNN could not create it (kernels then decline). */
dnnl_engine_t ig__dnnl_engine(void);

/* True when input i of the step is an initializer of its graph (data stable for the model's life),
 * the condition for packing it once through the weights cache. */
bool ig__dnnl_is_initializer(const ig_kstep *s, int i);

/* Dense row-major f32 descriptor of ndim dims (ndim 0 is treated as [1]). */
void ig__dnnl_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims);
/* f32 descriptor with explicit strides (in elements). */
void ig__dnnl_md_strided(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, const int64_t *strides);
/* Channels-last f32 descriptor of logical NC[D]HW dims: the layout the fusion pass lets dnnl nodes
 * exchange (attributes nhwc_in, one flag per input, and nhwc_out). */
void ig__dnnl_md_nhwc(dnnl_memory_desc_t *md, int ndim, const int64_t *dims);
/* Layout flag of input i / the output of the step's node: 0 row-major, 1 channels-last, 2 channels-last
 * or blocked (see ig__dnnl_md_user). */
int ig__dnnl_nhwc_in(const ig_node *n, int i);
int ig__dnnl_nhwc_out(const ig_node *n);
/* User descriptor of a value with that layout flag: row-major, channels-last, or for flag 2 at
 * batch >= 8 with channels a multiple of 8, nChw8c. */
void ig__dnnl_md_user(dnnl_memory_desc_t *md, int layout, int ndim, const int64_t *dims);

/* f32 descriptor letting the primitive choose the layout. */
void ig__dnnl_md_any(dnnl_memory_desc_t *md, int ndim, const int64_t *dims);

/* Post-op kinds a fused node carries in its "post_ops" attribute (values are part of the IR). */
enum {
    IG_PO_RELU = 1, /* alpha: negative slope (0 for Relu, LeakyRelu's alpha) */
    IG_PO_CLIP = 2, /* alpha: min, beta: max */
    IG_PO_SIGMOID = 3,
    IG_PO_TANH = 4,
    IG_PO_GELU_ERF = 5,
    IG_PO_SUM = 6, /* adds the next extra input (same shape as the output) */
};
#define IG_MAX_POST_OPS 8

typedef struct ig__dnnl_postops {
    int n;
    int kind[IG_MAX_POST_OPS];
    float alpha[IG_MAX_POST_OPS], beta[IG_MAX_POST_OPS];
    int n_sum;
} ig__dnnl_postops;

/* Reads post_ops / post_alpha / post_beta from a node (none when absent). IG_EINVAL on a bad list. */
int ig__dnnl_postops_parse(const ig_node *n, ig__dnnl_postops *po);

/* A primitive attribute with a user scratchpad and the given post-ops (po may be NULL). The j-th
 * IG_PO_SUM becomes a dnnl sum post-op when bin_mds[j] is NULL (the residual is then copied into
 * dst before execution), else a binary add of a tensor described by bin_mds[j] (a broadcast). */
dnnl_primitive_attr_t ig__dnnl_attr(const ig__dnnl_postops *po, const dnnl_memory_desc_t *const *bin_mds);

/* A primitive plus what running it needs beyond its arguments. */
typedef struct ig__dnnl_prim {
    dnnl_primitive_t p;
    dnnl_memory_desc_t scratch_md;
    size_t scratch_bytes;
} ig__dnnl_prim;

/* Creates the primitive of pd (which it takes ownership of and destroys). 0 or IG_EUNSUPPORTED. */
int ig__dnnl_prim_from_pd(ig__dnnl_prim *out, dnnl_primitive_desc_t pd);
void ig__dnnl_prim_destroy(ig__dnnl_prim *p);

/* A reorder between two descriptors of the same logical tensor (p.p NULL when none is needed). */
int ig__dnnl_reorder_make(ig__dnnl_prim *out, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst);

typedef struct ig__dnnl_arg {
    int arg;
    const dnnl_memory_desc_t *md;
    void *ptr;
} ig__dnnl_arg;

/* Executes p on this thread's stream and waits; scratch (of p's scratch size) may be NULL when 0. */
int ig__dnnl_execute(const ig__dnnl_prim *p, const ig__dnnl_arg *args, int n_args, void *scratch);
/* Executes a reorder made by ig__dnnl_reorder_make. */
int ig__dnnl_reorder_run(const ig__dnnl_prim *r, const dnnl_memory_desc_t *src_md, const void *src,
                         const dnnl_memory_desc_t *dst_md, void *dst, void *scratch);

/* Scratch layout helper: reserves bytes (64-aligned) and returns the offset. */
size_t ig__dnnl_scratch_take(size_t *total, size_t bytes);

/* Constant weights reordered into `want`: shared by every plan that asks for the same
 * (data pointer, user layout, wanted layout) and reference counted by plans. An entry no plan holds
 * stays cached until ig__dnnl_release_weights covers it (a sample of the contents is checked on
 * every hit, so a reused address never returns stale weights). */
typedef struct ig__dnnl_wentry ig__dnnl_wentry;
ig__dnnl_wentry *ig__dnnl_weights_acquire(const void *data, const dnnl_memory_desc_t *user,
                                          const dnnl_memory_desc_t *want);
void *ig__dnnl_weights_data(const ig__dnnl_wentry *e);
void ig__dnnl_weights_release(ig__dnnl_wentry *e);
/* Frees the cached weights no plan holds whose source data lies in [begin, end); NULL begin frees
 * every idle entry. The model calls this when it is freed (after its plans). */
void ig__dnnl_release_weights(const void *begin, const void *end);
/* Entries and bytes currently held (for tests and reports). */
void ig__dnnl_weights_stats(int *entries, size_t *bytes);

#endif
