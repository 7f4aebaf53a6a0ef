/* TopK (opset 1: k attribute; 10: k input; 11: largest, sorted): the k largest (or smallest)
 * elements along axis with their int64 indices, equal values ordered by lower index first. Keys
 * are encoded as order-preserving uint64 and stably merge-sorted, so one sort serves every dtype
 * and ties keep index order; values are copied bytewise from the input, exact for all dtypes. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/reduce_util.h"

typedef struct {
    int64_t outer, n, inner, k;
    bool largest;
} tk_state;

typedef struct {
    uint64_t key;
    int64_t idx;
} tk_item;

int ig__rd_topk_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    if (!x) return ig_kstep_fail(s, err, IG_EINVAL, "missing input");
    int r = x->ndim;
    if (r == 0) return ig_kstep_fail(s, err, IG_ESHAPE, "input must have rank >= 1");
    int64_t axis = ig_node_attr_int(s->node, "axis", -1), k;
    if (!rd_norm_axis(&axis, r)) return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    if (s->node->opset < 10) {
        k = ig_node_attr_int(s->node, "k", -1);
    } else {
        const ig_tensor *kt = s->n_in > 1 ? s->in[1] : NULL;
        if (!kt) return ig_kstep_fail(s, err, IG_EINVAL, "missing K input");
        if (kt->dtype != IG_DT_INT64 || ig_tensor_numel(kt) != 1)
            return ig_kstep_fail(s, err, IG_EINVAL, "K must be a single int64");
        if (!kt->data) return IG_EDEFER;
        k = *(const int64_t *)kt->data;
    }
    if (k < 0 || k > x->dims[axis])
        return ig_kstep_fail(s, err, IG_EINVAL, "k=%lld out of range for axis of %lld", (long long)k,
                             (long long)x->dims[axis]);
    tk_state *st = ig__rd_state(s, sizeof(tk_state));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->outer = rd_prod(x->dims, 0, (int)axis);
    st->n = x->dims[axis];
    st->inner = rd_prod(x->dims, (int)axis + 1, r);
    st->k = k;
    st->largest = s->node->opset < 11 || ig_node_attr_int(s->node, "largest", 1) != 0;
    s->scratch_bytes = (size_t)st->n * (2 * sizeof(tk_item) + 8);
    int64_t od[IG_MAX_DIMS];
    memcpy(od, x->dims, sizeof(int64_t) * r);
    od[axis] = k;
    ig_kstep_set_output(s, 0, x->dtype, r, od);
    if (s->n_out > 1 && s->out[1]) ig_kstep_set_output(s, 1, IG_DT_INT64, r, od);
    return 0;
}

static uint64_t key_of_double(double d)
{
    if (d == 0) d = 0.0; /* -0 and +0 tie */
    uint64_t u;
    memcpy(&u, &d, 8);
    return (u >> 63) ? ~u : u | (1ull << 63);
}

/* Stable merge sort of a[0..n) ascending by key, using tmp of n items. */
static void merge_sort(tk_item *a, tk_item *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) tmp[o++] = a[j].key < a[i].key ? a[j++] : a[i++];
            while (i < mid) tmp[o++] = a[i++];
            while (j < hi) tmp[o++] = a[j++];
        }
        memcpy(a, tmp, sizeof(*a) * n);
    }
}

int ig__rd_topk_run(ig_kstep *s)
{
    const tk_state *st = s->state;
    const ig_tensor *x = s->in[0];
    int64_t n = st->n, k = st->k;
    tk_item *items = s->scratch, *tmp = items + n;
    void *raw = tmp + n;
    size_t esz = ig_dtype_size(x->dtype);
    const char *xb = x->data;
    char *yb = s->out[0]->data;
    int64_t *yi = s->n_out > 1 && s->out[1] ? s->out[1]->data : NULL;
    bool real = rd_is_float(x->dtype);
    if (k == 0) return 0;
    for (int64_t o = 0; o < st->outer; o++) {
        for (int64_t i = 0; i < st->inner; i++) {
            int64_t off = o * n * st->inner + i;
            if (real) {
                double *v = raw;
                ig__rd_load_d(xb, x->dtype, off, n, st->inner, v);
                for (int64_t j = 0; j < n; j++) items[j].key = key_of_double(v[j]);
            } else {
                int64_t *v = raw;
                ig__rd_load_i(xb, x->dtype, off, n, st->inner, v);
                bool uns = x->dtype == IG_DT_UINT64;
                for (int64_t j = 0; j < n; j++)
                    items[j].key = uns ? (uint64_t)v[j] : (uint64_t)v[j] ^ (1ull << 63);
            }
            for (int64_t j = 0; j < n; j++) {
                items[j].idx = j;
                if (st->largest) items[j].key = ~items[j].key;
            }
            merge_sort(items, tmp, n);
            int64_t ooff = o * k * st->inner + i;
            for (int64_t j = 0; j < k; j++) {
                int64_t src = off + items[j].idx * st->inner, dst = ooff + j * st->inner;
                memcpy(yb + dst * esz, xb + src * esz, esz);
                if (yi) yi[dst] = items[j].idx;
            }
        }
    }
    return 0;
}
