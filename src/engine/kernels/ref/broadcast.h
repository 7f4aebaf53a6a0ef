/* Multidirectional (numpy) broadcasting: the output shape of several operands, and an iteration
 * plan that walks the output row by row with each operand's inner stride 0 or 1, so typed loops
 * only ever see contiguous or scalar operands. */
#ifndef IG_ENGINE_KERNELS_REF_BROADCAST_H
#define IG_ENGINE_KERNELS_REF_BROADCAST_H

#include <stddef.h>
#include <stdint.h>

#include "infergate/tensor.h"

#define IG_BCAST_MAX_IN 3

/* Inner loop: out[0..n) = f(in[k][i * inner_stride[k]]...). ctx is the op's parameters. */
typedef void (*ig__bcast_fn)(void *out, const void *const *in, const int64_t *inner_stride, int64_t n,
                             const void *ctx);

typedef struct ig__bcast {
    int n_in;
    int64_t numel;
    /* Dims of the output after dropping 1s and merging dims every operand walks contiguously;
     * the last one is the inner loop. */
    int cdim;
    int64_t cdims[IG_MAX_DIMS];
    int64_t cstr[IG_BCAST_MAX_IN][IG_MAX_DIMS]; /* element strides, 0 where broadcast */
} ig__bcast;

/* Broadcast shape of n operands (numpy rules) into *ndim/dims. Returns 0, or IG_ESHAPE with a
 * reason naming the clashing dims written to why. */
int ig__bcast_shape(const ig_tensor *const *in, int n, int *ndim, int64_t *dims, char *why, size_t len);

/* Plans the walk of n (<= IG_BCAST_MAX_IN) operands, each broadcastable to (ndim, dims). Returns 0
 * or IG_ESHAPE. */
int ig__bcast_init(ig__bcast *b, const ig_tensor *const *in, int n, int ndim, const int64_t *dims);

/* Runs fn over the whole output, splitting rows (and long rows) across up to n_threads threads.
 * out and in[k] are the base pointers; out_es and in_es[k] the element sizes in bytes. out may
 * equal an operand that has the output's shape (elementwise in place). */
void ig__bcast_run(const ig__bcast *b, void *out, size_t out_es, const void *const *in, const size_t *in_es,
                   ig__bcast_fn fn, const void *ctx, int n_threads);

#endif
