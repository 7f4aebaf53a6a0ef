/* Sliding-window geometry shared by Conv, ConvTranspose and the pooling kernels: parses kernel_shape,
 * strides, dilations, pads, auto_pad and ceil_mode once, and derives output sizes and effective pads. */
#ifndef IG_KERNELS_REF_NN_WINDOW_H
#define IG_KERNELS_REF_NN_WINDOW_H

#include <stdint.h>

#include "engine/graph/ir.h"

enum { IG__PAD_NOTSET, IG__PAD_SAME_UPPER, IG__PAD_SAME_LOWER, IG__PAD_VALID };

typedef struct ig__window {
    int nsp; /* spatial rank */
    int64_t kernel[IG_MAX_DIMS], stride[IG_MAX_DIMS], dil[IG_MAX_DIMS];
    int64_t pad_b[IG_MAX_DIMS], pad_e[IG_MAX_DIMS];
    int auto_pad;
    int ceil_mode;
} ig__window;

/* Reads the attributes for nsp spatial dims. kernel (may be NULL) supplies kernel_shape when the
 * attribute is absent (Conv takes it from W). Returns 0, or -1 with a reason in why[128]. */
int ig__window_parse(const ig_node *n, int nsp, const int64_t *kernel, ig__window *w, char *why);

/* Output spatial sizes for input spatial sizes `in`; resolves auto_pad into pad_b/pad_e.
 * Returns 0, or -1 (why filled) when the window does not fit. */
int ig__window_output(ig__window *w, const int64_t *in, int64_t *out, char *why);

#endif

/* Convolution geometry (Conv, ConvInteger, QLinearConv): X [N, C, in...] with W [M, C/group, k...]. */
typedef struct ig__conv {
    ig__window w;
    int64_t n, c, m, group, cg, mg;
    int64_t in_sp[IG_MAX_DIMS], out_sp[IG_MAX_DIMS];
    int64_t in_size, out_size, kprod; /* spatial element counts */
    int64_t krows;                    /* cg * kprod: the gemm's K */
    int direct;                       /* 1x1, unit stride, no pad: X is already the im2col matrix */
} ig__conv;

/* Validates X/W shapes and attributes; fills c. Returns 0 or -1 with why[128]. */
int ig__conv_setup(const ig_node *node, const ig_tensor *x, const ig_tensor *w, ig__conv *c, char *why);

/* Unfolds one image's group of cg channels (x points at its first channel) into col [krows, out_size];
 * positions in the padding get pad_value. */
void ig__im2col_f32(const ig__conv *c, const float *x, float *col, float pad_value, int n_threads);
void ig__im2col_f64(const ig__conv *c, const double *x, double *col, double pad_value, int n_threads);
