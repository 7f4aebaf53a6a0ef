/* Scan: runs body once per position along the scan axis of its scan inputs, carrying state values
 * and stacking per-iteration scan outputs. Opset 8 has a batch axis (each batch element scanned on
 * its own, up to sequence_lens) and scans axis 1; opset 9+ has no batch and per-input/output axes
 * and directions. */
#include <string.h>

#include "engine/kernels/control/control_ops.h"

typedef struct seq {
    ig_kstep *s;
    const ig_graph *body;
    int n_state, m, k;
    ig_tensor *bin, *bout; /* body inputs (n_state + m), outputs (n_state + k) */
    const ig_tensor *x;    /* m scan inputs: one sequence each, scanned along ax[j] */
    const int64_t *ax, *dir;
    int64_t len;
    /* Places scan output kk of iteration t. */
    int (*emit)(struct seq *q, int kk, const ig_tensor *elem, int64_t t);
    void *ctx;
} seq;

static int64_t prod(const int64_t *d, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= d[i];
    return p;
}

/* Slice t of x along axis into a fresh run-lifetime tensor. */
static int take(const seq *q, const ig_tensor *x, int axis, int64_t t, ig_tensor *out)
{
    size_t es = ig_dtype_size(x->dtype);
    int64_t outer = prod(x->dims, 0, axis), n = x->dims[axis];
    size_t inner = (size_t)prod(x->dims, axis + 1, x->ndim) * es;
    out->dtype = x->dtype;
    out->ndim = x->ndim - 1;
    memcpy(out->dims, x->dims, sizeof(int64_t) * (size_t)axis);
    memcpy(out->dims + axis, x->dims + axis + 1, sizeof(int64_t) * (size_t)(x->ndim - 1 - axis));
    char *dst = ig_kstep_alloc(q->s, (size_t)outer * inner);
    if (!dst) return IG_ENOMEM;
    const char *src = x->data;
    for (int64_t o = 0; o < outer; o++) memcpy(dst + o * inner, src + ((size_t)(o * n + t)) * inner, inner);
    out->data = dst;
    return 0;
}

/* Writes elem at position pos of an output whose dims are elem's with n inserted at axis. */
static void place(void *dst, const ig_tensor *elem, int axis, int64_t n, int64_t pos)
{
    size_t es = ig_dtype_size(elem->dtype);
    int64_t outer = prod(elem->dims, 0, axis);
    size_t inner = (size_t)prod(elem->dims, axis, elem->ndim) * es;
    const char *src = elem->data;
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)dst + ((size_t)(o * n + pos)) * inner, src + (size_t)o * inner, inner);
}

static int run_seq(seq *q)
{
    ig_error *err = ig_kstep_error(q->s);
    int r;
    for (int64_t t = 0; t < q->len; t++) {
        for (int j = 0; j < q->m; j++) {
            int64_t pos = q->dir && q->dir[j] ? q->len - 1 - t : t;
            if (take(q, &q->x[j], (int)q->ax[j], pos, &q->bin[q->n_state + j]))
                return ig_kstep_fail(q->s, err, IG_ENOMEM, "out of memory");
        }
        r = ig_kstep_run_subgraph(q->s, q->body, q->bin, q->n_state + q->m, q->bout, q->n_state + q->k, err);
        if (r) return r;
        for (int i = 0; i < q->n_state; i++) q->bin[i] = q->bout[i];
        for (int kk = 0; kk < q->k; kk++)
            if ((r = q->emit(q, kk, &q->bout[q->n_state + kk], t))) return r;
    }
    return 0;
}

static int same_shape(const ig_tensor *a, const ig_tensor *b)
{
    return a->dtype == b->dtype && a->ndim == b->ndim &&
           !memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->ndim);
}

/* Shape for a scan output no iteration produced: the body's declared element, n inserted at axis. */
static int alloc_empty(ig_kstep *s, int idx, const ig_graph *body, int body_out, int lead,
                       const int64_t *lead_dims)
{
    const ig_value_info *vi = &body->values[body->outputs[body_out]].info;
    int64_t d[IG_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < lead; i++) d[nd++] = lead_dims[i];
    for (int i = 0; i < vi->ndim && nd < IG_MAX_DIMS; i++) d[nd++] = vi->dims[i] > 0 ? vi->dims[i] : 0;
    return ig_kstep_alloc_output(s, idx, vi->dtype ? vi->dtype : IG_DT_FLOAT, nd, d);
}

/* ---- opset 9+ ---- */

typedef struct out9 {
    int64_t axes[IG_MAX_DIMS * 4], dirs[IG_MAX_DIMS * 4];
    int64_t n;
    ig_tensor first[IG_MAX_DIMS * 4]; /* element shape of the first iteration */
} out9;

static int emit9(seq *q, int kk, const ig_tensor *elem, int64_t t)
{
    out9 *o = q->ctx;
    ig_kstep *s = q->s;
    int idx = q->n_state + kk;
    if (idx >= s->n_out || !s->out[idx]) return 0;
    if (t == 0) {
        int r = elem->ndim;
        int64_t ax = o->axes[kk] < 0 ? o->axes[kk] + r + 1 : o->axes[kk];
        if (ax < 0 || ax > r || r + 1 > IG_MAX_DIMS)
            return ig_kstep_fail(s, ig_kstep_error(s), IG_EINVAL, "scan_output_axes[%d] out of range", kk);
        o->axes[kk] = ax;
        o->first[kk] = *elem;
        int64_t d[IG_MAX_DIMS];
        memcpy(d, elem->dims, sizeof(int64_t) * (size_t)ax);
        d[ax] = o->n;
        memcpy(d + ax + 1, elem->dims + ax, sizeof(int64_t) * (size_t)(r - ax));
        int rc = ig_kstep_alloc_output(s, idx, elem->dtype, r + 1, d);
        if (rc) return ig_kstep_fail(s, ig_kstep_error(s), rc, "cannot allocate output %d", idx);
    } else if (!same_shape(elem, &o->first[kk])) {
        return ig_kstep_fail(s, ig_kstep_error(s), IG_ESHAPE, "scan output %d changes shape between iterations",
                             kk);
    }
    place(s->out[idx]->data, elem, (int)o->axes[kk], o->n, o->dirs[kk] ? o->n - 1 - t : t);
    return 0;
}

static int attr_list(ig_kstep *s, const char *name, int want, int64_t *dst, int64_t dflt)
{
    int n = 0;
    const int64_t *v = ig_node_attr_ints(s->node, name, &n);
    if (v && n != want)
        return ig_kstep_fail(s, ig_kstep_error(s), IG_EINVAL, "%s has %d values, expected %d", name, n, want);
    for (int i = 0; i < want; i++) dst[i] = v ? v[i] : dflt;
    return 0;
}

static int scan9(ig_kstep *s, const ig_graph *body, int m)
{
    ig_error *err = ig_kstep_error(s);
    int n_state = s->n_in - m, k = body->n_outputs - n_state;
    if (n_state < 0 || k < 0 || body->n_inputs != n_state + m || s->n_out > n_state + k)
        return ig_kstep_fail(s, err, IG_EINVAL,
                             "body signature does not match the node's inputs and outputs");
    if (m > IG_MAX_DIMS * 4 || k > IG_MAX_DIMS * 4)
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "too many scan inputs or outputs");
    int64_t in_ax[IG_MAX_DIMS * 4], in_dir[IG_MAX_DIMS * 4];
    out9 o;
    int r;
    if ((r = attr_list(s, "scan_input_axes", m, in_ax, 0)) ||
        (r = attr_list(s, "scan_input_directions", m, in_dir, 0)) ||
        (r = attr_list(s, "scan_output_axes", k, o.axes, 0)) ||
        (r = attr_list(s, "scan_output_directions", k, o.dirs, 0)))
        return r;
    int64_t len = -1;
    for (int j = 0; j < m; j++) {
        const ig_tensor *x = s->in[n_state + j];
        if (!x) return ig_kstep_fail(s, err, IG_EINVAL, "scan input %d is missing", j);
        if (in_ax[j] < 0) in_ax[j] += x->ndim;
        if (in_ax[j] < 0 || in_ax[j] >= x->ndim)
            return ig_kstep_fail(s, err, IG_EINVAL, "scan_input_axes[%d] out of range for rank %d", j,
                                 x->ndim);
        if (len >= 0 && x->dims[in_ax[j]] != len)
            return ig_kstep_fail(s, err, IG_ESHAPE, "scan inputs differ in sequence length");
        len = x->dims[in_ax[j]];
    }
    if (len < 0) return ig_kstep_fail(s, err, IG_EINVAL, "Scan needs at least one scan input");
    ig_tensor *bin = ig_kstep_alloc(s, sizeof(ig_tensor) * (size_t)(n_state + m));
    ig_tensor *bout = ig_kstep_alloc(s, sizeof(ig_tensor) * (size_t)(n_state + k));
    ig_tensor *xs = ig_kstep_alloc(s, sizeof(ig_tensor) * (size_t)(m ? m : 1));
    if (!bin || !bout || !xs) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    for (int i = 0; i < n_state; i++) {
        if (!s->in[i]) return ig_kstep_fail(s, err, IG_EINVAL, "state input %d is missing", i);
        bin[i] = *s->in[i];
    }
    for (int j = 0; j < m; j++) xs[j] = *s->in[n_state + j];
    o.n = len;
    seq q = {s, body, n_state, m, k, bin, bout, xs, in_ax, in_dir, len, emit9, &o};
    if ((r = run_seq(&q))) return r;
    for (int i = 0; i < n_state; i++)
        if ((r = ig__ctl_copy_out(s, i, &bin[i]))) return r;
    if (len == 0)
        for (int kk = 0; kk < k; kk++) {
            int idx = n_state + kk;
            if (idx < s->n_out && s->out[idx] && (r = alloc_empty(s, idx, body, idx, 1, &len)))
                return ig_kstep_fail(s, err, r, "cannot allocate output %d", idx);
        }
    return 0;
}

/* ---- opset 8 ---- */

typedef struct out8 {
    int64_t batch, b, n;
    ig_tensor first[IG_MAX_DIMS * 4];
    bool have[IG_MAX_DIMS * 4];
} out8;

static int emit8(seq *q, int kk, const ig_tensor *elem, int64_t t)
{
    out8 *o = q->ctx;
    ig_kstep *s = q->s;
    int idx = q->n_state + kk;
    if (idx >= s->n_out || !s->out[idx]) return 0;
    if (!o->have[kk]) {
        if (elem->ndim + 2 > IG_MAX_DIMS)
            return ig_kstep_fail(s, ig_kstep_error(s), IG_ESHAPE, "output rank too large");
        int64_t d[IG_MAX_DIMS] = {o->batch, o->n};
        memcpy(d + 2, elem->dims, sizeof(int64_t) * (size_t)elem->ndim);
        int rc = ig_kstep_alloc_output(s, idx, elem->dtype, elem->ndim + 2, d);
        if (rc) return ig_kstep_fail(s, ig_kstep_error(s), rc, "cannot allocate output %d", idx);
        o->first[kk] = *elem;
        o->have[kk] = true;
    } else if (!same_shape(elem, &o->first[kk])) {
        return ig_kstep_fail(s, ig_kstep_error(s), IG_ESHAPE, "scan output %d changes shape between iterations",
                             kk);
    }
    size_t each = ig_tensor_nbytes(elem);
    memcpy((char *)s->out[idx]->data + ((size_t)(o->b * o->n + t)) * each, elem->data, each);
    return 0;
}

/* Batch element b of a [B, ...] tensor. */
static ig_tensor batch_view(const ig_tensor *t, int64_t b)
{
    ig_tensor v = {.dtype = t->dtype, .ndim = t->ndim - 1};
    memcpy(v.dims, t->dims + 1, sizeof(int64_t) * (size_t)v.ndim);
    v.data = (char *)t->data + (size_t)b * ig_tensor_nbytes(&v);
    return v;
}

static int scan8(ig_kstep *s, const ig_graph *body, int m)
{
    ig_error *err = ig_kstep_error(s);
    int n_state = s->n_in - 1 - m, k = body->n_outputs - n_state;
    if (n_state < 0 || k < 0 || body->n_inputs != n_state + m || s->n_out > n_state + k)
        return ig_kstep_fail(s, err, IG_EINVAL,
                             "body signature does not match the node's inputs and outputs");
    if (m > IG_MAX_DIMS * 4 || k > IG_MAX_DIMS * 4)
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "too many scan inputs or outputs");
    int64_t ax[IG_MAX_DIMS * 4], dir[IG_MAX_DIMS * 4];
    int r = attr_list(s, "directions", m, dir, 0);
    if (r) return r;
    int64_t batch = -1, n = -1;
    for (int i = 1; i < s->n_in; i++) {
        const ig_tensor *t = s->in[i];
        if (!t) return ig_kstep_fail(s, err, IG_EINVAL, "input %d is missing", i);
        bool is_scan = i > n_state;
        if (t->ndim < (is_scan ? 2 : 1))
            return ig_kstep_fail(s, err, IG_ESHAPE, "input %d lacks the batch%s axis", i,
                                 is_scan ? "/sequence" : "");
        if (batch >= 0 && t->dims[0] != batch)
            return ig_kstep_fail(s, err, IG_ESHAPE, "inputs differ in batch size");
        batch = t->dims[0];
        if (is_scan) {
            if (n >= 0 && t->dims[1] != n)
                return ig_kstep_fail(s, err, IG_ESHAPE, "scan inputs differ in length");
            n = t->dims[1];
        }
    }
    if (n < 0) return ig_kstep_fail(s, err, IG_EINVAL, "Scan needs at least one scan input");
    const ig_tensor *sl = s->in[0];
    if (sl && (sl->dtype != IG_DT_INT32 || ig_tensor_numel(sl) != batch))
        return ig_kstep_fail(s, err, IG_EINVAL, "sequence_lens must be int32 [batch]");
    for (int i = 0; i < n_state; i++)
        if (i < s->n_out && s->out[i] &&
            (r = ig_kstep_alloc_output(s, i, s->in[1 + i]->dtype, s->in[1 + i]->ndim, s->in[1 + i]->dims)))
            return ig_kstep_fail(s, err, r, "cannot allocate output %d", i);
    ig_tensor *bin = ig_kstep_alloc(s, sizeof(ig_tensor) * (size_t)(n_state + m));
    ig_tensor *bout = ig_kstep_alloc(s, sizeof(ig_tensor) * (size_t)(n_state + k));
    ig_tensor *xs = ig_kstep_alloc(s, sizeof(ig_tensor) * (size_t)(m ? m : 1));
    if (!bin || !bout || !xs) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    for (int j = 0; j < m; j++) ax[j] = 0;
    out8 o = {.batch = batch, .n = n};
    for (int64_t b = 0; b < batch; b++) {
        int64_t len = sl ? ((const int32_t *)sl->data)[b] : n;
        if (len < 0 || len > n)
            return ig_kstep_fail(s, err, IG_EINVAL, "sequence_lens[%lld] out of range", (long long)b);
        for (int i = 0; i < n_state; i++) bin[i] = batch_view(s->in[1 + i], b);
        for (int j = 0; j < m; j++) xs[j] = batch_view(s->in[1 + n_state + j], b);
        o.b = b;
        seq q = {s, body, n_state, m, k, bin, bout, xs, ax, dir, len, emit8, &o};
        if ((r = run_seq(&q))) return r;
        for (int i = 0; i < n_state; i++) {
            if (i >= s->n_out || !s->out[i]) continue;
            ig_tensor dst = batch_view(s->out[i], b);
            if (!same_shape(&dst, &bin[i]))
                return ig_kstep_fail(s, err, IG_ESHAPE, "state %d changes shape in the body", i);
            memcpy(dst.data, bin[i].data, ig_tensor_nbytes(&dst));
        }
    }
    for (int kk = 0; kk < k; kk++) {
        int idx = n_state + kk;
        int64_t lead[2] = {batch, n};
        if (!o.have[kk] && idx < s->n_out && s->out[idx] && (r = alloc_empty(s, idx, body, idx, 2, lead)))
            return ig_kstep_fail(s, err, r, "cannot allocate output %d", idx);
    }
    return 0;
}

int ig__ctl_scan_run(ig_kstep *s)
{
    const ig_graph *body = ig__ctl_graph(s->node, "body");
    if (!body) return ig_kstep_fail(s, ig_kstep_error(s), IG_EINVAL, "missing body");
    int64_t m = ig_node_attr_int(s->node, "num_scan_inputs", -1);
    if (m < 1 || m > s->n_in)
        return ig_kstep_fail(s, ig_kstep_error(s), IG_EINVAL, "bad num_scan_inputs %lld", (long long)m);
    int r = ig__ctl_tensor_outputs(s, body, 0);
    if (r) return r;
    return s->node->opset < 9 ? scan8(s, body, (int)m) : scan9(s, body, (int)m);
}
