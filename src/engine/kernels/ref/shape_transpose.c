/* Transpose: dims that stay neighbours under the permutation are merged first; a batched 2-D
 * transpose (NCHW<->NHWC and friends) then goes through cache-sized tiles, anything else through
 * the generic strided copy. */
#include "engine/kernels/ref/shape_common.h"

#include <stdlib.h>

typedef struct {
    int perm[IG_MAX_DIMS];
} transpose_state;

int ig__shape_transpose_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    transpose_state st;
    int n;
    const int64_t *perm = ig_node_attr_ints(s->node, "perm", &n);
    if (!perm) {
        for (int k = 0; k < x->ndim; k++) st.perm[k] = x->ndim - 1 - k;
    } else {
        if (n != x->ndim)
            return ig_kstep_fail(s, err, IG_EINVAL, "perm has %d entries, rank is %d", n, x->ndim);
        bool seen[IG_MAX_DIMS] = {0};
        for (int k = 0; k < n; k++) {
            int a;
            if (!ig__shape_axis(perm[k], n, &a) || seen[a])
                return ig_kstep_fail(s, err, IG_EINVAL, "perm is not a permutation");
            seen[a] = true;
            st.perm[k] = a;
        }
    }
    int64_t dims[IG_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++) dims[k] = x->dims[st.perm[k]];
    transpose_state *p = malloc(sizeof *p);
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    ig__shape_set_out(s, 0, x->dtype, x->ndim, dims);
    return 0;
}

#define TILE 32

#define IG__TRANSPOSE_TILES(T)                                                                               \
    do {                                                                                                     \
        const T *src_ = src;                                                                                 \
        T *dst_ = dst;                                                                                       \
        _Pragma("omp parallel for num_threads(n_threads) if (work > (1 << 15) && n_threads > 1)") for (      \
            int64_t t = 0; t < ntiles; t++)                                                                  \
        {                                                                                                    \
            int64_t b = t / (tr * tc), i0 = (t / tc) % tr * TILE, j0 = t % tc * TILE;                        \
            int64_t i1 = i0 + TILE < R ? i0 + TILE : R, j1 = j0 + TILE < C ? j0 + TILE : C;                  \
            const T *sb = src_ + b * R * C;                                                                  \
            T *db = dst_ + b * R * C;                                                                        \
            for (int64_t i = i0; i < i1; i++)                                                                \
                for (int64_t j = j0; j < j1; j++) db[i * C + j] = sb[j * R + i];                             \
        }                                                                                                    \
    } while (0)

#ifdef __SSE2__
#include <emmintrin.h>

/* One tile of 4-byte elements in 4x4 register blocks; edges fall back to scalar copies. */
static void tile_4x4(uint32_t *db, const uint32_t *sb, int64_t R, int64_t C, int64_t i0, int64_t i1,
                     int64_t j0, int64_t j1)
{
    int64_t i = i0;
    for (; i + 4 <= i1; i += 4) {
        int64_t j = j0;
        for (; j + 4 <= j1; j += 4) {
            __m128 r0 = _mm_loadu_ps((const float *)(sb + (j + 0) * R + i));
            __m128 r1 = _mm_loadu_ps((const float *)(sb + (j + 1) * R + i));
            __m128 r2 = _mm_loadu_ps((const float *)(sb + (j + 2) * R + i));
            __m128 r3 = _mm_loadu_ps((const float *)(sb + (j + 3) * R + i));
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps((float *)(db + (i + 0) * C + j), r0);
            _mm_storeu_ps((float *)(db + (i + 1) * C + j), r1);
            _mm_storeu_ps((float *)(db + (i + 2) * C + j), r2);
            _mm_storeu_ps((float *)(db + (i + 3) * C + j), r3);
        }
        for (; j < j1; j++)
            for (int64_t k = 0; k < 4; k++) db[(i + k) * C + j] = sb[j * R + i + k];
    }
    for (; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) db[i * C + j] = sb[j * R + i];
}

static void transpose_2d_f32(uint32_t *dst, const uint32_t *src, int64_t batch, int64_t R, int64_t C,
                             int n_threads)
{
    int64_t tr = (R + TILE - 1) / TILE, tc = (C + TILE - 1) / TILE, ntiles = batch * tr * tc;
    int64_t work = batch * R * C;
#pragma omp parallel for num_threads(n_threads) if (work > (1 << 15) && n_threads > 1)
    for (int64_t t = 0; t < ntiles; t++) {
        int64_t b = t / (tr * tc), i0 = (t / tc) % tr * TILE, j0 = t % tc * TILE;
        int64_t i1 = i0 + TILE < R ? i0 + TILE : R, j1 = j0 + TILE < C ? j0 + TILE : C;
        tile_4x4(dst + b * R * C, src + b * R * C, R, C, i0, i1, j0, j1);
    }
}
#endif

/* dst[b][i][j] = src[b][j][i] for an output of batch x R x C. */
static void transpose_2d(void *dst, const void *src, size_t es, int64_t batch, int64_t R, int64_t C,
                         int n_threads)
{
    int64_t tr = (R + TILE - 1) / TILE, tc = (C + TILE - 1) / TILE, ntiles = batch * tr * tc;
    int64_t work = batch * R * C;
    switch (es) {
    case 1:
        IG__TRANSPOSE_TILES(uint8_t);
        break;
    case 2:
        IG__TRANSPOSE_TILES(uint16_t);
        break;
    case 4:
#ifdef __SSE2__
        transpose_2d_f32(dst, src, batch, R, C, n_threads);
#else
        IG__TRANSPOSE_TILES(uint32_t);
#endif
        break;
    case 8:
        IG__TRANSPOSE_TILES(uint64_t);
        break;
    default: {
        int64_t dims[3] = {batch, R, C}, strides[3] = {R * C, 1, R};
        ig__shape_copy_strided(dst, src, es, 3, dims, strides, n_threads);
    }
    }
}

int ig__shape_transpose_run(ig_kstep *s)
{
    const transpose_state *st = s->state;
    const ig_tensor *x = s->in[0];
    size_t es = ig_dtype_size(x->dtype);
    if (ig_tensor_numel(x) == 0) return 0;
    int64_t istr[IG_MAX_DIMS], d[IG_MAX_DIMS], str[IG_MAX_DIMS];
    ig__shape_strides(x->dims, x->ndim, istr);
    int nd = 0;
    for (int k = 0; k < x->ndim; k++) {
        int a = st->perm[k];
        if (x->dims[a] == 1) continue;
        if (nd && str[nd - 1] == istr[a] * x->dims[a]) {
            d[nd - 1] *= x->dims[a];
            str[nd - 1] = istr[a];
        } else {
            d[nd] = x->dims[a];
            str[nd] = istr[a];
            nd++;
        }
    }
    if (nd >= 2 && nd <= 3 && str[nd - 2] == 1 && str[nd - 1] == d[nd - 2] &&
        (nd == 2 || str[0] == d[1] * d[2])) {
        transpose_2d(s->out[0]->data, x->data, es, nd == 3 ? d[0] : 1, d[nd - 2], d[nd - 1], s->n_threads);
        return 0;
    }
    ig__shape_copy_strided(s->out[0]->data, x->data, es, nd, d, str, s->n_threads);
    return 0;
}
