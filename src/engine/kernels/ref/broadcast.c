/* Multidirectional broadcasting: shape inference, dim coalescing and the threaded row walk that
 * every elementwise kernel runs on. */
#include "engine/kernels/ref/broadcast.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "infergate/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int ig__bcast_shape(const ig_tensor *const *in, int n, int *ndim, int64_t *dims, char *why, size_t len)
{
    int nd = 0;
    for (int k = 0; k < n; k++)
        if (in[k] && in[k]->ndim > nd) nd = in[k]->ndim;
    for (int d = 0; d < nd; d++) dims[d] = 1;
    for (int k = 0; k < n; k++) {
        if (!in[k]) continue;
        int off = nd - in[k]->ndim;
        for (int d = 0; d < in[k]->ndim; d++) {
            int64_t v = in[k]->dims[d], *o = &dims[off + d];
            if (v == *o || v == 1) continue;
            if (*o == 1) {
                *o = v;
                continue;
            }
            if (why) {
                char a[128], b[128];
                ig_tensor t = {.ndim = nd};
                memcpy(t.dims, dims, sizeof(int64_t) * (size_t)nd);
                snprintf(why, len,
                         "cannot broadcast input %d of shape %s with shape %s (dim %d: %lld vs %lld)", k,
                         ig_shape_str(in[k], a, sizeof a), ig_shape_str(&t, b, sizeof b), off + d,
                         (long long)v, (long long)*o);
            }
            return IG_ESHAPE;
        }
    }
    *ndim = nd;
    return 0;
}

int ig__bcast_init(ig__bcast *b, const ig_tensor *const *in, int n, int ndim, const int64_t *dims)
{
    int64_t str[IG_BCAST_MAX_IN][IG_MAX_DIMS];
    memset(b, 0, sizeof *b);
    if (n > IG_BCAST_MAX_IN || ndim > IG_MAX_DIMS) return IG_ESHAPE;
    b->n_in = n;
    b->numel = 1;
    for (int d = 0; d < ndim; d++) b->numel *= dims[d];
    for (int k = 0; k < n; k++) {
        int off = ndim - in[k]->ndim;
        int64_t s = 1;
        if (off < 0) return IG_ESHAPE;
        for (int d = ndim - 1; d >= 0; d--) {
            int64_t v = d >= off ? in[k]->dims[d - off] : 1;
            if (v != dims[d] && v != 1) return IG_ESHAPE;
            str[k][d] = v == 1 ? 0 : s;
            s *= v;
        }
    }
    /* Drop size-1 output dims, then merge a dim into the next inner one when every operand steps
     * through both as one (both broadcast, or outer stride = inner stride * inner size). */
    int c = 0;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] == 1) continue;
        if (c > 0) {
            bool merge = true;
            for (int k = 0; k < n && merge; k++) merge = b->cstr[k][c - 1] == str[k][d] * dims[d];
            if (merge) {
                b->cdims[c - 1] *= dims[d];
                for (int k = 0; k < n; k++) b->cstr[k][c - 1] = str[k][d];
                continue;
            }
        }
        b->cdims[c] = dims[d];
        for (int k = 0; k < n; k++) b->cstr[k][c] = str[k][d];
        c++;
    }
    if (c == 0) { /* scalar output */
        b->cdims[0] = 1;
        for (int k = 0; k < n; k++) b->cstr[k][0] = 0;
        c = 1;
    }
    b->cdim = c;
    return 0;
}

enum { CHUNK = 1 << 14 };

void ig__bcast_run(const ig__bcast *b, void *out, size_t out_es, const void *const *in, const size_t *in_es,
                   ig__bcast_fn fn, const void *ctx, int n_threads)
{
    if (b->numel <= 0) return;
    const int nd = b->cdim, n = b->n_in;
    const int64_t inner = b->cdims[nd - 1];
    const int64_t rows = b->numel / inner;
    const int64_t nchunk = (inner + CHUNK - 1) / CHUNK;
    const int64_t tiles = rows * nchunk;
    int nt = n_threads > 1 && b->numel > (1 << 15) ? n_threads : 1;
    if (nt > tiles) nt = (int)tiles;

#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = 0, tn = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        tn = omp_get_num_threads();
#endif
        int64_t lo = tiles * t / tn, hi = tiles * (t + 1) / tn;
        int64_t idx[IG_MAX_DIMS] = {0}, off[IG_BCAST_MAX_IN] = {0};
        int64_t row = lo / nchunk, ck = lo % nchunk;
        /* odometer over the outer dims, started at `row` */
        int64_t r = row;
        for (int d = nd - 2; d >= 0; d--) {
            idx[d] = r % b->cdims[d];
            r /= b->cdims[d];
        }
        for (int k = 0; k < n; k++)
            for (int d = 0; d < nd - 1; d++) off[k] += idx[d] * b->cstr[k][d];
        int64_t is[IG_BCAST_MAX_IN];
        for (int k = 0; k < n; k++) is[k] = b->cstr[k][nd - 1];
        for (int64_t tile = lo; tile < hi; tile++) {
            int64_t c0 = ck * CHUNK, len = inner - c0 < CHUNK ? inner - c0 : CHUNK;
            const void *ip[IG_BCAST_MAX_IN];
            for (int k = 0; k < n; k++)
                ip[k] = (const char *)in[k] + (size_t)(off[k] + c0 * is[k]) * in_es[k];
            fn((char *)out + (size_t)(row * inner + c0) * out_es, ip, is, len, ctx);
            if (++ck == nchunk) {
                ck = 0;
                row++;
                for (int d = nd - 2; d >= 0; d--) {
                    for (int k = 0; k < n; k++) off[k] += b->cstr[k][d];
                    if (++idx[d] < b->cdims[d]) break;
                    for (int k = 0; k < n; k++) off[k] -= idx[d] * b->cstr[k][d];
                    idx[d] = 0;
                }
            }
        }
    }
}
