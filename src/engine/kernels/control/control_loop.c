/* Loop: runs body while the trip count and the condition allow, threading loop-carried values
 * through and stacking each iteration's scan outputs along a new first axis. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/control/control_ops.h"

/* Stacks the k-th scan output of every iteration into out[idx]; with no iterations the element
 * shape comes from the body's declared output (unknown dims as 0). */
static int stack_out(ig_kstep *s, int idx, const ig_graph *body, int body_out, const ig_tensor *iters,
                     int64_t n_iter, int stride)
{
    if (idx >= s->n_out || !s->out[idx]) return 0;
    ig_error *err = ig_kstep_error(s);
    int64_t d[IG_MAX_DIMS];
    int nd;
    ig_dtype dt;
    if (n_iter) {
        const ig_tensor *t0 = &iters[0];
        if (t0->ndim >= IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_ESHAPE, "scan output rank too large");
        for (int64_t i = 1; i < n_iter; i++) {
            const ig_tensor *t = &iters[i * stride];
            if (t->dtype != t0->dtype || t->ndim != t0->ndim ||
                memcmp(t->dims, t0->dims, sizeof(int64_t) * (size_t)t0->ndim))
                return ig_kstep_fail(s, err, IG_ESHAPE,
                                     "scan output %d changes shape or type between iterations", idx);
        }
        dt = t0->dtype;
        nd = t0->ndim + 1;
        memcpy(d + 1, t0->dims, sizeof(int64_t) * (size_t)t0->ndim);
    } else {
        const ig_value_info *vi = &body->values[body->outputs[body_out]].info;
        dt = vi->dtype ? vi->dtype : IG_DT_FLOAT;
        nd = vi->ndim > 0 && vi->ndim < IG_MAX_DIMS ? vi->ndim + 1 : 1;
        for (int k = 1; k < nd; k++) d[k] = vi->dims[k - 1] > 0 ? vi->dims[k - 1] : 0;
    }
    d[0] = n_iter;
    int r = ig_kstep_alloc_output(s, idx, dt, nd, d);
    if (r) return ig_kstep_fail(s, err, r, "cannot allocate scan output %d", idx);
    size_t each = n_iter ? ig_tensor_nbytes(&iters[0]) : 0;
    char *dst = s->out[idx]->data;
    for (int64_t i = 0; i < n_iter && each; i++) memcpy(dst + (size_t)i * each, iters[i * stride].data, each);
    return 0;
}

int ig__ctl_loop_run(ig_kstep *s)
{
    ig_error *err = ig_kstep_error(s);
    const ig_graph *body = ig__ctl_graph(s->node, "body");
    if (!body) return ig_kstep_fail(s, err, IG_EINVAL, "missing body");
    int n_carried = s->n_in - 2;
    if (n_carried < 0)
        return ig_kstep_fail(s, err, IG_EINVAL, "Loop needs M and cond inputs (possibly empty)");
    int n_scan = body->n_outputs - 1 - n_carried;
    if (body->n_inputs != n_carried + 2 || n_scan < 0)
        return ig_kstep_fail(s, err, IG_EINVAL,
                             "body takes %d inputs and gives %d outputs for %d carried values",
                             body->n_inputs, body->n_outputs, n_carried);
    if (s->n_out > n_carried + n_scan)
        return ig_kstep_fail(s, err, IG_EINVAL, "node has %d outputs, body gives %d", s->n_out,
                             n_carried + n_scan);
    int r = ig__ctl_tensor_outputs(s, body, 0);
    if (r) return r;
    for (int i = 0; i < n_carried; i++)
        if (!s->in[i + 2]) return ig_kstep_fail(s, err, IG_EINVAL, "loop-carried input %d is missing", i);

    int64_t max_trip = -1;
    const ig_tensor *m = s->in[0], *c = s->in[1];
    if (m) {
        if (ig_tensor_numel(m) != 1 || m->dtype != IG_DT_INT64)
            return ig_kstep_fail(s, err, IG_EINVAL, "M must be a single int64");
        max_trip = *(const int64_t *)m->data;
        if (max_trip < 0) max_trip = 0; /* -1 stands for "no limit" only when M is absent */
    }
    bool cond = true;
    if (c) {
        if (ig_tensor_numel(c) != 1 || c->dtype != IG_DT_BOOL)
            return ig_kstep_fail(s, err, IG_EINVAL, "cond must be a single bool");
        cond = *(const unsigned char *)c->data != 0;
    }

    /* in: [iter, cond, carried...]; out: [cond, carried..., scan...] per iteration. */
    int n_bin = n_carried + 2, n_bout = body->n_outputs;
    ig_tensor *bin = ig_kstep_alloc(s, sizeof(ig_tensor) * (size_t)n_bin);
    ig_tensor *bout = ig_kstep_alloc(s, sizeof(ig_tensor) * (size_t)n_bout);
    if (!bin || !bout) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    for (int i = 0; i < n_carried; i++) bin[i + 2] = *s->in[i + 2];
    ig_tensor *scans = NULL; /* n_scan tensors per iteration */
    int64_t n_iter = 0, cap = 0;
    r = 0;
    while ((max_trip < 0 || n_iter < max_trip) && cond) {
        /* Fresh cells each iteration: a body output may be its own input, and scans keep them. */
        int64_t *it = ig_kstep_alloc(s, sizeof(int64_t));
        unsigned char *cv = ig_kstep_alloc(s, 1);
        if (!it || !cv) {
            r = ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
            break;
        }
        *it = n_iter;
        *cv = cond;
        bin[0] = (ig_tensor){.dtype = IG_DT_INT64, .ndim = 0, .data = it};
        bin[1] = (ig_tensor){.dtype = IG_DT_BOOL, .ndim = 0, .data = cv};
        if ((r = ig_kstep_run_subgraph(s, body, bin, n_bin, bout, n_bout, err))) break;
        if (ig_tensor_numel(&bout[0]) != 1 || bout[0].dtype != IG_DT_BOOL) {
            r = ig_kstep_fail(s, err, IG_EINVAL, "body's condition output must be a single bool");
            break;
        }
        cond = *(const unsigned char *)bout[0].data != 0;
        for (int i = 0; i < n_carried; i++) bin[i + 2] = bout[1 + i];
        if (n_scan) {
            if (n_iter == cap) {
                cap = cap ? cap * 2 : 16;
                ig_tensor *ns = realloc(scans, sizeof(ig_tensor) * (size_t)(cap * n_scan));
                if (!ns) {
                    r = ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
                    break;
                }
                scans = ns;
            }
            memcpy(&scans[n_iter * n_scan], &bout[1 + n_carried], sizeof(ig_tensor) * (size_t)n_scan);
        }
        n_iter++;
    }
    for (int i = 0; i < n_carried && !r; i++) r = ig__ctl_copy_out(s, i, &bin[i + 2]);
    for (int k = 0; k < n_scan && !r; k++)
        r = stack_out(s, n_carried + k, body, 1 + n_carried + k, scans ? scans + k : NULL, n_iter, n_scan);
    free(scans);
    return r;
}
