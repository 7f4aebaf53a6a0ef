/* MaxUnpool (opset 9+): scatters X into a zero tensor at the flat positions in I. Indices address
 * the default unpooled shape (what MaxPool saw); with an explicit output_shape each index is decoded
 * in that default shape and re-encoded in the requested one, so a larger output keeps the data at
 * the same coordinates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/nn_window.h"

typedef struct unpool_state {
    int ndim;
    int64_t def[IG_MAX_DIMS], out[IG_MAX_DIMS];
    int64_t numel_in, numel_out;
    int same; /* output shape equals the default: indices are used as they are */
} unpool_state;

int ig__maxunpool_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *ind = s->n_in > 1 ? s->in[1] : NULL;
    const ig_tensor *os = s->n_in > 2 ? s->in[2] : NULL;
    if (!ind || ind->dtype != IG_DT_INT64)
        return ig_kstep_fail(s, err, IG_EDTYPE, "I must be an int64 tensor");
    if (x->ndim < 3 || ind->ndim != x->ndim)
        return ig_kstep_fail(s, err, IG_ESHAPE, "X and I must have rank >= 3");
    for (int i = 0; i < x->ndim; i++)
        if (ind->dims[i] != x->dims[i]) return ig_kstep_fail(s, err, IG_ESHAPE, "I must have X's shape");
    unpool_state st;
    memset(&st, 0, sizeof(st));
    ig__window w;
    char why[128];
    int nsp = x->ndim - 2;
    if (ig__window_parse(s->node, nsp, NULL, &w, why)) return ig_kstep_fail(s, err, IG_EINVAL, "%s", why);
    st.ndim = x->ndim;
    st.def[0] = x->dims[0], st.def[1] = x->dims[1];
    for (int i = 0; i < nsp; i++) {
        st.def[2 + i] = (x->dims[2 + i] - 1) * w.stride[i] + w.kernel[i] - w.pad_b[i] - w.pad_e[i];
        if (st.def[2 + i] < 0) return ig_kstep_fail(s, err, IG_ESHAPE, "negative output size");
    }
    memcpy(st.out, st.def, sizeof(st.def));
    if (os) {
        if (!os->data) return IG_EDEFER;
        if (os->dtype != IG_DT_INT64 || os->ndim != 1 || os->dims[0] != x->ndim)
            return ig_kstep_fail(s, err, IG_ESHAPE, "output_shape must be an int64 vector of X's rank");
        memcpy(st.out, os->data, sizeof(int64_t) * x->ndim);
        for (int i = 0; i < x->ndim; i++)
            if (st.out[i] < 0) return ig_kstep_fail(s, err, IG_ESHAPE, "negative output_shape");
    }
    st.same = !memcmp(st.out, st.def, sizeof(int64_t) * x->ndim);
    st.numel_in = ig_tensor_numel(x);
    st.numel_out = 1;
    for (int i = 0; i < x->ndim; i++) st.numel_out *= st.out[i];
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, st.out);
    if (!(s->state = malloc(sizeof(st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, &st, sizeof(st));
    return 0;
}

int ig__maxunpool_run(ig_kstep *s)
{
    const unpool_state *st = s->state;
    size_t es = ig_dtype_size(s->in[0]->dtype);
    const char *x = s->in[0]->data;
    const int64_t *ind = s->in[1]->data;
    char *y = s->out[0]->data;
    memset(y, 0, (size_t)st->numel_out * es);
    int64_t def_numel = 1;
    for (int d = 0; d < st->ndim; d++) def_numel *= st->def[d];
    for (int64_t i = 0; i < st->numel_in; i++) {
        int64_t at = ind[i];
        if (at < 0 || at >= def_numel) return IG_EINVAL;
        if (!st->same) {
            int64_t rem = at, scale = 1, pos = 0;
            for (int d = st->ndim - 1; d >= 0; d--) {
                int64_t c = rem % st->def[d];
                rem /= st->def[d];
                if (c >= st->out[d]) return IG_EINVAL;
                pos += c * scale;
                scale *= st->out[d];
            }
            at = pos;
        }
        memcpy(y + at * es, x + i * es, es);
    }
    return 0;
}
