/* Drives one kernel from the table outside any model, as the planner and executor would: builds
 * the node and step, chooses a row, plans, allocates outputs and scratch, runs and frees the state.
 * Header-only so each unit test executable includes it without extra build wiring. */
#ifndef IG_TESTS_UNIT_KERNEL_HARNESS_H
#define IG_TESTS_UNIT_KERNEL_HARNESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

static inline ig_attr ig_test_attr_int(const char *name, int64_t v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_INT, .i = v};
}

static inline ig_attr ig_test_attr_float(const char *name, float v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_FLOAT, .f = v};
}

static inline ig_attr ig_test_attr_str(const char *name, const char *v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_STRING, .s = {v, strlen(v)}};
}

static inline ig_attr ig_test_attr_ints(const char *name, const int64_t *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_INTS, .ints = (int64_t *)v, .n = n};
}

static inline ig_attr ig_test_attr_floats(const char *name, const float *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_FLOATS, .floats = (float *)v, .n = n};
}

/* A tensor over caller-owned data (NULL dims for a scalar). */
static inline ig_tensor ig_test_tensor(ig_dtype dt, int ndim, const int64_t *dims, void *data)
{
    ig_tensor t = {.dtype = dt, .ndim = ndim, .data = data};
    if (ndim) memcpy(t.dims, dims, sizeof(int64_t) * (size_t)ndim);
    return t;
}

/* Plans and runs op (domain "" for ai.onnx) on in[0..n_in), filling out[0..n_out) (NULL entries are
 * omitted outputs). backend NULL takes the table's rows in order and, like the planner, moves on to
 * the next row while plan() answers IG_EUNSUPPORTED; a name such as "ref" pins that backend's rows.
 * Once plan() succeeds each non-NULL out[i]->data is a zeroed, padded malloc block the caller frees
 * (also when run() fails); when planning fails none is allocated. Returns 0 or plan's or run's code
 * (IG_EUNSUPPORTED when no row applies), with plan's reason in err (may be NULL). Rows whose run()
 * allocates its outputs are not driven here. */
static inline int ig_test_run_kernel(const char *domain, const char *op, int opset, const char *backend,
                                     int n_threads, ig_attr *attrs, int n_attrs, ig_tensor **in, int n_in,
                                     ig_tensor **out, int n_out, ig_error *err)
{
    int ids[16];
    for (int i = 0; i < 16; i++) ids[i] = i;
    if (n_in > 16 || n_out > 16) return IG_EINVAL;
    ig_node node = {.name = "t",
                    .op_type = op,
                    .domain = domain,
                    .opset = opset,
                    .n_inputs = n_in,
                    .inputs = ids,
                    .n_outputs = n_out,
                    .outputs = ids,
                    .n_attrs = n_attrs,
                    .attrs = attrs};
    ig_kstep s = {.node = &node, .n_in = n_in, .n_out = n_out, .in = in, .out = out, .n_threads = n_threads};
    ig_error local = {0};
    if (!err) err = &local;
    memset(err, 0, sizeof(*err));
    const ig_kernel_def *k = NULL;
    int rc = IG_EUNSUPPORTED;
    while ((k = ig_kernel_next(k, domain, op, opset, in, n_in))) {
        if (backend && strcmp(k->backend, backend)) continue;
        if (k->flags & IG_KF_ALLOCS_OUTPUTS) return IG_EUNSUPPORTED;
        memset(err, 0, sizeof(*err));
        s.state = NULL;
        s.scratch_bytes = 0;
        rc = k->plan(&s, err);
        if (rc == 0) break;
        if (s.state && k->destroy) k->destroy(s.state);
        if (rc != IG_EUNSUPPORTED) return rc;
    }
    if (!k) return rc;
    for (int i = 0; i < n_out; i++)
        if (out[i]) out[i]->data = calloc(1, ig_tensor_nbytes(out[i]) + 64);
    s.scratch = s.scratch_bytes ? aligned_alloc(64, (s.scratch_bytes + 63) / 64 * 64) : NULL;
    rc = k->run(&s);
    free(s.scratch);
    if (s.state && k->destroy) k->destroy(s.state);
    return rc;
}

#endif
