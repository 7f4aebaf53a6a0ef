/* Helpers shared by the shape kernels: reading index-like tensors, axis normalisation, output
 * setting that tolerates omitted outputs, and a strided N-D copy most layout ops reduce to. */
#ifndef IG_SHAPE_COMMON_H
#define IG_SHAPE_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels/kernel.h"

/* Input i when present (not omitted, not past the trailing end). */
static inline ig_tensor *ig__shape_in(const ig_kstep *s, int i)
{
    return i < s->n_in ? s->in[i] : NULL;
}

static inline ig_tensor *ig__shape_out(const ig_kstep *s, int i)
{
    return i < s->n_out ? s->out[i] : NULL;
}

static inline void ig__shape_set_out(ig_kstep *s, int i, ig_dtype dt, int ndim, const int64_t *dims)
{
    static const int64_t none[1] = {0}; /* scalars: never hand the setter a NULL dims */
    if (ig__shape_out(s, i)) ig_kstep_set_output(s, i, dt, ndim, dims ? dims : none);
}

/* Normalises a possibly negative axis into [0, rank); false when out of range. */
static inline bool ig__shape_axis(int64_t axis, int rank, int *out)
{
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return false;
    *out = (int)axis;
    return true;
}

static inline bool ig__shape_is_int(ig_dtype dt)
{
    switch (dt) {
    case IG_DT_INT8:
    case IG_DT_INT16:
    case IG_DT_INT32:
    case IG_DT_INT64:
    case IG_DT_UINT8:
    case IG_DT_UINT16:
    case IG_DT_UINT32:
    case IG_DT_UINT64:
    case IG_DT_BOOL:
        return true;
    default:
        return false;
    }
}

float ig__shape_half_to_float(uint16_t h);
uint16_t ig__shape_float_to_half(float f);
float ig__shape_bf16_to_float(uint16_t h);

/* Element k of a numeric tensor as int64 (floats truncate). */
int64_t ig__shape_get_i64(const ig_tensor *t, int64_t k);
/* Element k of a numeric tensor as double. */
double ig__shape_get_f64(const ig_tensor *t, int64_t k);
/* Stores v into element k of a numeric tensor buffer of dtype dt. */
void ig__shape_put_f64(void *data, ig_dtype dt, int64_t k, double v);
/* Three-way compare of elements a[i] and b[j] of the same dtype (NaN sorts last, strings bytewise). */
int ig__shape_cmp(ig_dtype dt, const void *a, int64_t i, const void *b, int64_t j);

/* Reads a 1-D (or scalar) integer tensor into out[0..n); n must not exceed max. Returns the count
 * or -1 when the dtype is not an integer or there are too many elements. */
int ig__shape_read_ints(const ig_tensor *t, int64_t *out, int max);

/* Copies a strided view of src into contiguous dst: element (i0..in-1) of the view is at
 * src + sum(ik * strides[k]) elements (strides may be negative or 0). */
void ig__shape_copy_strided(void *dst, const void *src, size_t es, int ndim, const int64_t *dims,
                            const int64_t *strides, int n_threads);

/* Row-major element strides of dims. */
static inline void ig__shape_strides(const int64_t *dims, int ndim, int64_t *strides)
{
    int64_t st = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        strides[k] = st;
        st *= dims[k];
    }
}

static inline int64_t ig__shape_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int k = from; k < to; k++) p *= dims[k];
    return p;
}

/* Kernel entry points, one file per family, gathered by shape_table.c. */
int ig__shape_concat_plan(ig_kstep *s, ig_error *err);
int ig__shape_concat_run(ig_kstep *s);
int ig__shape_split_plan(ig_kstep *s, ig_error *err);
int ig__shape_split_run(ig_kstep *s);
int ig__shape_gather_plan(ig_kstep *s, ig_error *err);
int ig__shape_gather_run(ig_kstep *s);
int ig__shape_gather_elements_plan(ig_kstep *s, ig_error *err);
int ig__shape_gather_elements_run(ig_kstep *s);
int ig__shape_gathernd_plan(ig_kstep *s, ig_error *err);
int ig__shape_gathernd_run(ig_kstep *s);
int ig__shape_shape_plan(ig_kstep *s, ig_error *err);
int ig__shape_shape_run(ig_kstep *s);
int ig__shape_size_plan(ig_kstep *s, ig_error *err);
int ig__shape_size_run(ig_kstep *s);
int ig__shape_constant_plan(ig_kstep *s, ig_error *err);
int ig__shape_constant_run(ig_kstep *s);
int ig__shape_constant_of_shape_plan(ig_kstep *s, ig_error *err);
int ig__shape_constant_of_shape_run(ig_kstep *s);
int ig__shape_range_plan(ig_kstep *s, ig_error *err);
int ig__shape_range_run(ig_kstep *s);
int ig__shape_eyelike_plan(ig_kstep *s, ig_error *err);
int ig__shape_eyelike_run(ig_kstep *s);
int ig__shape_onehot_plan(ig_kstep *s, ig_error *err);
int ig__shape_onehot_run(ig_kstep *s);
int ig__shape_trilu_plan(ig_kstep *s, ig_error *err);
int ig__shape_trilu_run(ig_kstep *s);
int ig__shape_depth_to_space_plan(ig_kstep *s, ig_error *err);
int ig__shape_space_to_depth_plan(ig_kstep *s, ig_error *err);
int ig__shape_depth_to_space_run(ig_kstep *s);
int ig__shape_space_to_depth_run(ig_kstep *s);
int ig__shape_reverse_sequence_plan(ig_kstep *s, ig_error *err);
int ig__shape_reverse_sequence_run(ig_kstep *s);
int ig__shape_dropout_plan(ig_kstep *s, ig_error *err);
int ig__shape_dropout_run(ig_kstep *s);
int ig__shape_pad_plan(ig_kstep *s, ig_error *err);
int ig__shape_pad_run(ig_kstep *s);
int ig__shape_copy_run(ig_kstep *s);
int ig__shape_reshape_plan(ig_kstep *s, ig_error *err);
int ig__shape_flatten_plan(ig_kstep *s, ig_error *err);
int ig__shape_squeeze_plan(ig_kstep *s, ig_error *err);
int ig__shape_unsqueeze_plan(ig_kstep *s, ig_error *err);
int ig__shape_identity_plan(ig_kstep *s, ig_error *err);
int ig__shape_scatternd_plan(ig_kstep *s, ig_error *err);
int ig__shape_scatternd_run(ig_kstep *s);
int ig__shape_scatter_elements_plan(ig_kstep *s, ig_error *err);
int ig__shape_scatter_elements_run(ig_kstep *s);
int ig__shape_compress_plan(ig_kstep *s, ig_error *err);
int ig__shape_compress_run(ig_kstep *s);
int ig__shape_nonzero_plan(ig_kstep *s, ig_error *err);
int ig__shape_nonzero_run(ig_kstep *s);
int ig__shape_unique_plan(ig_kstep *s, ig_error *err);
int ig__shape_unique_run(ig_kstep *s);
void ig__shape_unique_destroy(void *state);
int ig__shape_slice_plan(ig_kstep *s, ig_error *err);
int ig__shape_slice_run(ig_kstep *s);
int ig__shape_tile_plan(ig_kstep *s, ig_error *err);
int ig__shape_tile_run(ig_kstep *s);
int ig__shape_transpose_plan(ig_kstep *s, ig_error *err);
int ig__shape_transpose_run(ig_kstep *s);

#endif
