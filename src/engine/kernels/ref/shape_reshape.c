/* Ops that only reinterpret a tensor's shape, so run() is one copy of the bytes: Reshape, Flatten,
 * Squeeze, Unsqueeze, Identity. */
#include "engine/kernels/ref/shape_common.h"

int ig__shape_copy_run(ig_kstep *s)
{
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    size_t n = ig_tensor_nbytes(x);
    if (n && n != SIZE_MAX) memcpy(y->data, x->data, n);
    return 0;
}

int ig__shape_reshape_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int64_t shape[IG_MAX_DIMS];
    int n;
    if (s->node->opset < 5) {
        const int64_t *a = ig_node_attr_ints(s->node, "shape", &n);
        if (n > IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "rank %d too large", n);
        if (n) memcpy(shape, a, sizeof(int64_t) * n);
    } else {
        const ig_tensor *sh = ig__shape_in(s, 1);
        if (!sh) return ig_kstep_fail(s, err, IG_EINVAL, "missing shape input");
        if (!sh->data) return IG_EDEFER;
        if (sh->ndim != 1) return ig_kstep_fail(s, err, IG_ESHAPE, "shape must be 1-D");
        n = ig__shape_read_ints(sh, shape, IG_MAX_DIMS);
        if (n < 0) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "shape must be int64 with at most 8 dims");
    }
    bool allowzero = ig_node_attr_int(s->node, "allowzero", 0) != 0;
    int infer = -1;
    int64_t known = 1, total = ig_tensor_numel(x);
    for (int k = 0; k < n; k++) {
        if (shape[k] == 0 && !allowzero) {
            if (k >= x->ndim) return ig_kstep_fail(s, err, IG_ESHAPE, "0 at dim %d beyond input rank", k);
            shape[k] = x->dims[k];
        }
        if (shape[k] == -1) {
            if (infer >= 0) return ig_kstep_fail(s, err, IG_ESHAPE, "more than one -1 in shape");
            infer = k;
        } else if (shape[k] < 0) {
            return ig_kstep_fail(s, err, IG_ESHAPE, "negative dim %lld", (long long)shape[k]);
        } else {
            known *= shape[k];
        }
    }
    if (infer >= 0) {
        if (known == 0 || total % known)
            return ig_kstep_fail(s, err, IG_ESHAPE, "cannot infer -1: %lld elements", (long long)total);
        shape[infer] = total / known;
    } else if (known != total) {
        return ig_kstep_fail(s, err, IG_ESHAPE, "shape has %lld elements, input %lld", (long long)known,
                             (long long)total);
    }
    ig__shape_set_out(s, 0, x->dtype, n, shape);
    return 0;
}

int ig__shape_flatten_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int64_t axis = ig_node_attr_int(s->node, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim) return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    int64_t dims[2] = {ig__shape_prod(x->dims, 0, (int)axis), ig__shape_prod(x->dims, (int)axis, x->ndim)};
    ig__shape_set_out(s, 0, x->dtype, 2, dims);
    return 0;
}

/* Axes from the attribute (opset < 13) or input 1; *n = -1 when none were given. */
static int read_axes(ig_kstep *s, ig_error *err, int64_t *axes, int *n)
{
    *n = -1;
    if (s->node->opset < 13) {
        const ig_attr *a = ig_node_attr(s->node, "axes");
        if (!a) return 0;
        if (a->type != IG_ATTR_INTS || a->n > IG_MAX_DIMS)
            return ig_kstep_fail(s, err, IG_EINVAL, "axes must be a list of at most 8 ints");
        memcpy(axes, a->ints, sizeof(int64_t) * a->n);
        *n = a->n;
        return 0;
    }
    const ig_tensor *t = ig__shape_in(s, 1);
    if (!t) return 0;
    if (!t->data) return IG_EDEFER;
    *n = ig__shape_read_ints(t, axes, IG_MAX_DIMS);
    if (*n < 0) return ig_kstep_fail(s, err, IG_EINVAL, "axes must be int64 with at most 8 entries");
    return 0;
}

int ig__shape_squeeze_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int64_t axes[IG_MAX_DIMS], dims[IG_MAX_DIMS];
    int n, rc = read_axes(s, err, axes, &n);
    if (rc) return rc;
    bool drop[IG_MAX_DIMS] = {0};
    if (n < 0) {
        for (int k = 0; k < x->ndim; k++) drop[k] = x->dims[k] == 1;
    }
    for (int k = 0; k < n; k++) {
        int a;
        if (!ig__shape_axis(axes[k], x->ndim, &a))
            return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
        if (x->dims[a] != 1)
            return ig_kstep_fail(s, err, IG_ESHAPE, "cannot squeeze dim %d of size %lld", a,
                                 (long long)x->dims[a]);
        drop[a] = true;
    }
    int nd = 0;
    for (int k = 0; k < x->ndim; k++)
        if (!drop[k]) dims[nd++] = x->dims[k];
    ig__shape_set_out(s, 0, x->dtype, nd, dims);
    return 0;
}

int ig__shape_unsqueeze_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int64_t axes[IG_MAX_DIMS], dims[IG_MAX_DIMS];
    int n, rc = read_axes(s, err, axes, &n);
    if (rc) return rc;
    if (n < 0) return ig_kstep_fail(s, err, IG_EINVAL, "missing axes");
    int nd = x->ndim + n;
    if (nd > IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "output rank %d too large", nd);
    bool ins[IG_MAX_DIMS] = {0};
    for (int k = 0; k < n; k++) {
        int a;
        if (!ig__shape_axis(axes[k], nd, &a) || ins[a])
            return ig_kstep_fail(s, err, IG_EINVAL, "axis %lld out of range or repeated", (long long)axes[k]);
        ins[a] = true;
    }
    for (int k = 0, j = 0; k < nd; k++) dims[k] = ins[k] ? 1 : x->dims[j++];
    ig__shape_set_out(s, 0, x->dtype, nd, dims);
    return 0;
}

int ig__shape_identity_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    if (!x) return ig_kstep_fail(s, err, IG_EINVAL, "missing input");
    ig__shape_set_out(s, 0, x->dtype, x->ndim, x->dims);
    return 0;
}
