/* Ops whose output size depends on the input values: Compress, NonZero and Unique. plan() needs the
 * data (IG_EDEFER without it) and computes the exact output shape from it; Unique keeps the
 * grouping it found in its state so run() only copies. */
#include "engine/kernels/ref/shape_common.h"

#include <stdlib.h>

typedef struct {
    int axis; /* -1: flattened */
} compress_state;

int ig__shape_compress_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *c = ig__shape_in(s, 1);
    if (!c || c->ndim != 1 || c->dtype != IG_DT_BOOL)
        return ig_kstep_fail(s, err, IG_EINVAL, "condition must be a 1-D bool tensor");
    const ig_attr *aa = ig_node_attr(s->node, "axis");
    int axis = -1;
    if (aa && (aa->type != IG_ATTR_INT || !ig__shape_axis(aa->i, x->ndim, &axis)))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    if (!c->data) return IG_EDEFER;
    int64_t lim = axis < 0 ? ig_tensor_numel(x) : x->dims[axis], n = c->dims[0], cnt = 0;
    if (n > lim) return ig_kstep_fail(s, err, IG_ESHAPE, "condition longer than the selected dim");
    for (int64_t i = 0; i < n; i++) cnt += ((const uint8_t *)c->data)[i] != 0;
    compress_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->axis = axis;
    s->state = st;
    if (axis < 0) {
        ig__shape_set_out(s, 0, x->dtype, 1, &cnt);
    } else {
        int64_t dims[IG_MAX_DIMS];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = cnt;
        ig__shape_set_out(s, 0, x->dtype, x->ndim, dims);
    }
    return 0;
}

int ig__shape_compress_run(ig_kstep *s)
{
    const compress_state *st = s->state;
    const ig_tensor *x = s->in[0], *c = s->in[1];
    const uint8_t *cond = c->data;
    size_t es = ig_dtype_size(x->dtype);
    int64_t outer = 1, d = ig_tensor_numel(x), inner = (int64_t)es, n = c->dims[0];
    if (st->axis >= 0) {
        outer = ig__shape_prod(x->dims, 0, st->axis);
        d = x->dims[st->axis];
        inner = ig__shape_prod(x->dims, st->axis + 1, x->ndim) * (int64_t)es;
    }
    const char *src = x->data;
    char *dst = s->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++)
            if (cond[i]) {
                memcpy(dst, src + (o * d + i) * inner, (size_t)inner);
                dst += inner;
            }
    return 0;
}

static bool is_nonzero(const ig_tensor *x, int64_t k, size_t es)
{
    switch (x->dtype) {
    case IG_DT_FLOAT:
    case IG_DT_DOUBLE:
    case IG_DT_FLOAT16:
    case IG_DT_BFLOAT16:
        return ig__shape_get_f64(x, k) != 0;
    case IG_DT_STRING:
        return ((const ig_string *)x->data)[k].len != 0;
    default: {
        const unsigned char *p = (const unsigned char *)x->data + k * (int64_t)es;
        for (size_t b = 0; b < es; b++)
            if (p[b]) return true;
        return false;
    }
    }
}

int ig__shape_nonzero_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    if (!x->data) return IG_EDEFER;
    int64_t n = ig_tensor_numel(x), cnt = 0;
    size_t es = ig_dtype_size(x->dtype);
    for (int64_t k = 0; k < n; k++) cnt += is_nonzero(x, k, es);
    int64_t dims[2] = {x->ndim, cnt};
    ig__shape_set_out(s, 0, IG_DT_INT64, 2, dims);
    return 0;
}

int ig__shape_nonzero_run(ig_kstep *s)
{
    const ig_tensor *x = s->in[0];
    int64_t *o = s->out[0]->data, n = ig_tensor_numel(x), cnt = s->out[0]->dims[1], j = 0;
    size_t es = ig_dtype_size(x->dtype);
    for (int64_t k = 0; k < n && j < cnt; k++) {
        if (!is_nonzero(x, k, es)) continue;
        int64_t rem = k;
        for (int d = x->ndim - 1; d >= 0; d--) {
            o[d * cnt + j] = rem % x->dims[d];
            rem /= x->dims[d];
        }
        j++;
    }
    return 0;
}

/* ---- Unique ---- */

typedef struct {
    int axis; /* -1: flattened */
    int64_t n_items, n_unique;
    int64_t *first;   /* [n_unique] item index of each unique value's first occurrence */
    int64_t *inverse; /* [n_items] */
    int64_t *counts;  /* [n_unique] */
} unique_state;

static void unique_destroy(void *p)
{
    unique_state *st = p;
    if (!st) return;
    free(st->first);
    free(st->inverse);
    free(st->counts);
    free(st);
}

typedef struct {
    const ig_tensor *x;
    int64_t outer, d, inner;
} item_view;

/* Items compare lexicographically over their elements, ties broken by position (a stable sort). */
static int item_cmp(const item_view *v, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < v->outer; o++) {
        for (int64_t e = 0; e < v->inner; e++) {
            int64_t base = o * v->d * v->inner + e;
            int c =
                ig__shape_cmp(v->x->dtype, v->x->data, base + a * v->inner, v->x->data, base + b * v->inner);
            if (c) return c;
        }
    }
    return 0;
}

static void sort_items(const item_view *v, int64_t *idx, int64_t *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = item_cmp(v, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, sizeof(int64_t) * n);
    }
}

int ig__shape_unique_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    const ig_attr *aa = ig_node_attr(s->node, "axis");
    int axis = -1;
    if (aa && (aa->type != IG_ATTR_INT || !ig__shape_axis(aa->i, x->ndim, &axis)))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    if (!x->data) return IG_EDEFER;
    bool sorted = ig_node_attr_int(s->node, "sorted", 1) != 0;
    item_view v = {x, 1, ig_tensor_numel(x), 1};
    if (axis >= 0) {
        v.outer = ig__shape_prod(x->dims, 0, axis);
        v.d = x->dims[axis];
        v.inner = ig__shape_prod(x->dims, axis + 1, x->ndim);
    }
    int64_t n = v.d;
    unique_state *st = calloc(1, sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    s->state = st;
    st->axis = axis;
    st->n_items = n;
    size_t nb = sizeof(int64_t) * (size_t)(n ? n : 1);
    int64_t *idx = malloc(nb), *tmp = malloc(nb), *gid = malloc(nb);
    st->first = malloc(nb);
    st->inverse = malloc(nb);
    st->counts = malloc(nb);
    if (!idx || !tmp || !gid || !st->first || !st->inverse || !st->counts) {
        free(idx), free(tmp), free(gid);
        return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    sort_items(&v, idx, tmp, n);
    /* Groups in sorted order; stable sort puts each group's first occurrence first. */
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || item_cmp(&v, idx[i - 1], idx[i])) {
            st->first[u] = idx[i];
            st->counts[u] = 0;
            u++;
        }
        st->counts[u - 1]++;
        gid[idx[i]] = u - 1;
    }
    st->n_unique = u;
    if (!sorted) {
        /* Renumber groups by first occurrence: walk items in order, new groups get the next id. */
        int64_t *newid = tmp, *cnt = idx, next = 0;
        for (int64_t g = 0; g < u; g++) newid[g] = -1;
        for (int64_t i = 0; i < n; i++) {
            int64_t g = gid[i];
            if (newid[g] < 0) {
                newid[g] = next;
                st->first[next] = i;
                next++;
            }
        }
        for (int64_t g = 0; g < u; g++) cnt[newid[g]] = st->counts[g];
        memcpy(st->counts, cnt, sizeof(int64_t) * u);
        for (int64_t i = 0; i < n; i++) gid[i] = newid[gid[i]];
    }
    memcpy(st->inverse, gid, sizeof(int64_t) * n);
    free(idx), free(tmp), free(gid);
    if (axis < 0) {
        ig__shape_set_out(s, 0, x->dtype, 1, &u);
    } else {
        int64_t dims[IG_MAX_DIMS];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = u;
        ig__shape_set_out(s, 0, x->dtype, x->ndim, dims);
    }
    ig__shape_set_out(s, 1, IG_DT_INT64, 1, &u);
    ig__shape_set_out(s, 2, IG_DT_INT64, 1, &n);
    ig__shape_set_out(s, 3, IG_DT_INT64, 1, &u);
    return 0;
}

int ig__shape_unique_run(ig_kstep *s)
{
    const unique_state *st = s->state;
    const ig_tensor *x = s->in[0];
    size_t es = ig_dtype_size(x->dtype);
    ig_tensor *y = ig__shape_out(s, 0), *ind = ig__shape_out(s, 1), *inv = ig__shape_out(s, 2),
              *cnt = ig__shape_out(s, 3);
    int64_t u = st->n_unique;
    if (y) {
        int64_t outer = 1, d = st->n_items, inner = (int64_t)es;
        if (st->axis >= 0) {
            outer = ig__shape_prod(x->dims, 0, st->axis);
            inner = ig__shape_prod(x->dims, st->axis + 1, x->ndim) * (int64_t)es;
        }
        const char *src = x->data;
        char *dst = y->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t g = 0; g < u; g++)
                memcpy(dst + (o * u + g) * inner, src + (o * d + st->first[g]) * inner, (size_t)inner);
    }
    if (ind && u) memcpy(ind->data, st->first, sizeof(int64_t) * u);
    if (inv && st->n_items) memcpy(inv->data, st->inverse, sizeof(int64_t) * st->n_items);
    if (cnt && u) memcpy(cnt->data, st->counts, sizeof(int64_t) * u);
    return 0;
}

void ig__shape_unique_destroy(void *p)
{
    unique_destroy(p);
}
