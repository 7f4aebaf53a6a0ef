/* Slice: starts/ends/axes as attributes (opset 1-9) or inputs with steps (10+). Starts and ends
 * clamp numpy-style, negative steps walk backwards; the result is a strided view copied out. */
#include "engine/kernels/ref/shape_common.h"

#include <stdlib.h>

typedef struct {
    int64_t start[IG_MAX_DIMS], step[IG_MAX_DIMS];
} slice_state;

/* Reads a parameter list from attribute `name` (opset < 10) or input `idx`; *n = -1 when absent. */
static int slice_param(ig_kstep *s, ig_error *err, const char *name, int idx, int64_t *v, int *n)
{
    *n = -1;
    if (s->node->opset < 10) {
        const ig_attr *a = ig_node_attr(s->node, name);
        if (!a) return 0;
        if (a->type != IG_ATTR_INTS || a->n > IG_MAX_DIMS)
            return ig_kstep_fail(s, err, IG_EINVAL, "%s must be a list of at most 8 ints", name);
        memcpy(v, a->ints, sizeof(int64_t) * a->n);
        *n = a->n;
        return 0;
    }
    const ig_tensor *t = ig__shape_in(s, idx);
    if (!t) return 0;
    if (!t->data) return IG_EDEFER;
    *n = ig__shape_read_ints(t, v, IG_MAX_DIMS);
    if (*n < 0) return ig_kstep_fail(s, err, IG_EINVAL, "%s must be an integer list of at most 8", name);
    return 0;
}

int ig__shape_slice_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int64_t starts[IG_MAX_DIMS], ends[IG_MAX_DIMS], axes[IG_MAX_DIMS], steps[IG_MAX_DIMS];
    int ns, ne, na, nst, rc;
    if ((rc = slice_param(s, err, "starts", 1, starts, &ns)) ||
        (rc = slice_param(s, err, "ends", 2, ends, &ne)) ||
        (rc = slice_param(s, err, "axes", 3, axes, &na)) ||
        (rc = slice_param(s, err, "steps", 4, steps, &nst)))
        return rc;
    if (ns < 0 || ne != ns) return ig_kstep_fail(s, err, IG_EINVAL, "starts and ends must have equal length");
    if ((na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return ig_kstep_fail(s, err, IG_EINVAL, "axes and steps must match starts in length");
    slice_state st;
    int64_t dims[IG_MAX_DIMS];
    bool seen[IG_MAX_DIMS] = {0};
    for (int k = 0; k < x->ndim; k++) {
        st.start[k] = 0;
        st.step[k] = 1;
        dims[k] = x->dims[k];
    }
    for (int i = 0; i < ns; i++) {
        int a;
        if (!ig__shape_axis(na >= 0 ? axes[i] : i, x->ndim, &a) || seen[a])
            return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range or repeated");
        seen[a] = true;
        int64_t d = x->dims[a], step = nst >= 0 ? steps[i] : 1, b = starts[i], e = ends[i];
        if (step == 0) return ig_kstep_fail(s, err, IG_EINVAL, "step is 0");
        if (b < 0) b += d;
        if (e < 0) e += d;
        int64_t count;
        if (step > 0) {
            b = b < 0 ? 0 : b > d ? d : b;
            e = e < 0 ? 0 : e > d ? d : e;
            count = e > b ? (e - b + step - 1) / step : 0;
        } else {
            b = b < 0 ? -1 : b > d - 1 ? d - 1 : b;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            count = b > e ? (b - e + (-step) - 1) / (-step) : 0;
        }
        st.start[a] = count ? b : 0;
        st.step[a] = step;
        dims[a] = count;
    }
    slice_state *p = malloc(sizeof *p);
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    ig__shape_set_out(s, 0, x->dtype, x->ndim, dims);
    return 0;
}

int ig__shape_slice_run(ig_kstep *s)
{
    const slice_state *st = s->state;
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    if (ig_tensor_numel(y) == 0) return 0;
    size_t es = ig_dtype_size(x->dtype);
    int64_t istr[IG_MAX_DIMS], str[IG_MAX_DIMS], off = 0;
    ig__shape_strides(x->dims, x->ndim, istr);
    for (int k = 0; k < x->ndim; k++) {
        off += st->start[k] * istr[k];
        str[k] = st->step[k] * istr[k];
    }
    ig__shape_copy_strided(y->data, (const char *)x->data + off * (int64_t)es, es, y->ndim, y->dims, str,
                           s->n_threads);
    return 0;
}
