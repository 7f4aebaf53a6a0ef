/* Det (opset 11): determinant of each trailing M x M matrix of [..., M, M], by LU decomposition
 * with partial pivoting in double. */
#include <stdlib.h>

#include "engine/kernels/ref/reduce_util.h"

typedef struct {
    int64_t batch, m;
} det_state;

int ig__rd_det_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    if (!x) return ig_kstep_fail(s, err, IG_EINVAL, "missing input");
    int r = x->ndim;
    if (r < 2 || x->dims[r - 1] != x->dims[r - 2])
        return ig_kstep_fail(s, err, IG_ESHAPE, "input must be [..., M, M]");
    det_state *st = ig__rd_state(s, sizeof(det_state));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->batch = rd_prod(x->dims, 0, r - 2);
    st->m = x->dims[r - 1];
    s->scratch_bytes = (size_t)(st->m * st->m + 1) * 8;
    ig_kstep_set_output(s, 0, x->dtype, r - 2, x->dims);
    return 0;
}

static double det_lu(double *a, int64_t m)
{
    double det = 1.0;
    for (int64_t c = 0; c < m; c++) {
        int64_t p = c;
        for (int64_t r = c + 1; r < m; r++)
            if (fabs(a[r * m + c]) > fabs(a[p * m + c])) p = r;
        if (a[p * m + c] == 0.0) return 0.0;
        if (p != c) {
            for (int64_t k = 0; k < m; k++) {
                double t = a[c * m + k];
                a[c * m + k] = a[p * m + k];
                a[p * m + k] = t;
            }
            det = -det;
        }
        double piv = a[c * m + c];
        det *= piv;
        for (int64_t r = c + 1; r < m; r++) {
            double f = a[r * m + c] / piv;
            for (int64_t k = c + 1; k < m; k++) a[r * m + k] -= f * a[c * m + k];
        }
    }
    return det;
}

int ig__rd_det_run(ig_kstep *s)
{
    const det_state *st = s->state;
    const ig_tensor *x = s->in[0];
    double *a = s->scratch;
    int64_t mm = st->m * st->m;
    for (int64_t b = 0; b < st->batch; b++) {
        ig__rd_load_d(x->data, x->dtype, b * mm, mm, 1, a);
        double d = det_lu(a, st->m);
        ig__rd_store_d(s->out[0]->data, x->dtype, b, 1, 1, &d);
    }
    return 0;
}
