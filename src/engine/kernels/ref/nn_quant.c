/* QuantizeLinear / DequantizeLinear (per-tensor and per-axis, round-half-to-even with saturation)
 * and DynamicQuantizeLinear (uint8 with scale and zero point derived from the data's range). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/quant.h"

typedef struct q_state {
    int64_t numel, axis_len, inner; /* per-axis: parameter index = (i / inner) % axis_len */
    int per_axis;
} q_state;

static int q_common(ig_kstep *s, ig_error *err, q_state *st)
{
    const ig_tensor *x = s->in[0], *sc = s->n_in > 1 ? s->in[1] : NULL, *zp = s->n_in > 2 ? s->in[2] : NULL;
    if (!sc) return ig_kstep_fail(s, err, IG_EINVAL, "scale is required");
    memset(st, 0, sizeof(*st));
    st->numel = ig_tensor_numel(x);
    int64_t sn = ig_tensor_numel(sc);
    if (zp && ig_tensor_numel(zp) != sn)
        return ig_kstep_fail(s, err, IG_ESHAPE, "scale and zero point differ in size");
    if (sc->ndim == 0 || (sc->ndim == 1 && sn == 1 && s->node->opset < 13)) return 0;
    if (sc->ndim == 1 && sn == 1 && x->ndim == 0) return 0;
    int64_t axis = ig_node_attr_int(s->node, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (sc->ndim != 1 || axis < 0 || axis >= x->ndim || x->dims[axis] != sn) {
        if (sn == 1) return 0;
        return ig_kstep_fail(s, err, IG_ESHAPE, "scale must be a scalar or a vector of the axis length");
    }
    st->per_axis = 1;
    st->axis_len = sn;
    st->inner = 1;
    for (int i = (int)axis + 1; i < x->ndim; i++) st->inner *= x->dims[i];
    return 0;
}

static int finish(ig_kstep *s, ig_error *err, const q_state *st)
{
    if (!(s->state = malloc(sizeof(*st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, st, sizeof(*st));
    return 0;
}

int ig__quantize_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *zp = s->n_in > 2 ? s->in[2] : NULL;
    if (x->dtype != IG_DT_FLOAT && x->dtype != IG_DT_DOUBLE && x->dtype != IG_DT_INT32)
        return ig_kstep_fail(s, err, IG_EDTYPE, "x must be float, double or int32");
    if (s->in[1] && s->in[1]->dtype != IG_DT_FLOAT && s->in[1]->dtype != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "y_scale must be floating point");
    ig_dtype ydt = zp ? zp->dtype : IG_DT_UINT8;
    if (ydt != IG_DT_UINT8 && ydt != IG_DT_INT8)
        return ig_kstep_fail(s, err, IG_EDTYPE, "unsupported output dtype %s", ig_dtype_name(ydt));
    q_state st;
    int rc = q_common(s, err, &st);
    if (rc) return rc;
    ig_kstep_set_output(s, 0, ydt, x->ndim, x->dims);
    return finish(s, err, &st);
}

int ig__quantize_run(ig_kstep *s)
{
    const q_state *st = s->state;
    const ig_tensor *x = s->in[0], *sc = s->in[1], *zp = s->n_in > 2 ? s->in[2] : NULL;
    ig_tensor *y = s->out[0];
    for (int64_t i = 0; i < st->numel; i++) {
        int64_t p = st->per_axis ? (i / st->inner) % st->axis_len : 0;
        double scale = ig__load_f64(sc->data, sc->dtype, p),
               z = zp ? ig__load_f64(zp->data, zp->dtype, p) : 0;
        /* Divide in the scale's precision, as the reference does, so ties round the same way. */
        double q = sc->dtype == IG_DT_FLOAT
                       ? (double)((float)ig__load_f64(x->data, x->dtype, i) / (float)scale)
                       : ig__load_f64(x->data, x->dtype, i) / scale;
        ig__q_store_sat(y->data, y->dtype, i, ig__q_round(q) + z);
    }
    return 0;
}

int ig__dequantize_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *zp = s->n_in > 2 ? s->in[2] : NULL;
    if (x->dtype != IG_DT_UINT8 && x->dtype != IG_DT_INT8 && x->dtype != IG_DT_INT32)
        return ig_kstep_fail(s, err, IG_EDTYPE, "x must be int8, uint8 or int32");
    if (zp && zp->dtype != x->dtype)
        return ig_kstep_fail(s, err, IG_EDTYPE, "x_zero_point must have x's dtype");
    const ig_tensor *sc = s->n_in > 1 ? s->in[1] : NULL;
    if (sc && sc->dtype != IG_DT_FLOAT && sc->dtype != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "x_scale must be floating point");
    q_state st;
    int rc = q_common(s, err, &st);
    if (rc) return rc;
    ig_kstep_set_output(s, 0, sc->dtype, x->ndim, x->dims);
    return finish(s, err, &st);
}

int ig__dequantize_run(ig_kstep *s)
{
    const q_state *st = s->state;
    const ig_tensor *x = s->in[0], *sc = s->in[1], *zp = s->n_in > 2 ? s->in[2] : NULL;
    ig_tensor *y = s->out[0];
    for (int64_t i = 0; i < st->numel; i++) {
        int64_t p = st->per_axis ? (i / st->inner) % st->axis_len : 0;
        double z = zp ? ig__load_f64(zp->data, zp->dtype, p) : 0;
        double v = ig__load_f64(x->data, x->dtype, i) - z;
        if (y->dtype == IG_DT_FLOAT)
            ((float *)y->data)[i] = (float)v * ((const float *)sc->data)[p];
        else
            ((double *)y->data)[i] = v * ((const double *)sc->data)[p];
    }
    return 0;
}

int ig__dynquant_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    if (x->dtype != IG_DT_FLOAT) return ig_kstep_fail(s, err, IG_EDTYPE, "x must be float");
    q_state st;
    memset(&st, 0, sizeof(st));
    st.numel = ig_tensor_numel(x);
    ig_kstep_set_output(s, 0, IG_DT_UINT8, x->ndim, x->dims);
    static const int64_t scalar[1] = {1}; /* never read for rank 0, but must not be NULL */
    if (s->n_out > 1 && s->out[1]) ig_kstep_set_output(s, 1, IG_DT_FLOAT, 0, scalar);
    if (s->n_out > 2 && s->out[2]) ig_kstep_set_output(s, 2, IG_DT_UINT8, 0, scalar);
    return finish(s, err, &st);
}

int ig__dynquant_run(ig_kstep *s)
{
    const q_state *st = s->state;
    const float *x = s->in[0]->data;
    uint8_t *y = s->out[0]->data;
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < st->numel; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    float scale = (hi - lo) / 255.0f;
    double zp = scale != 0 ? ig__q_saturate(ig__q_round((0 - lo) / scale), IG_DT_UINT8) : 0;
    for (int64_t i = 0; i < st->numel; i++)
        y[i] =
            scale != 0 ? (uint8_t)ig__q_saturate(ig__q_round(x[i] / scale) + zp, IG_DT_UINT8) : (uint8_t)zp;
    if (s->n_out > 1 && s->out[1]) *(float *)s->out[1]->data = scale;
    if (s->n_out > 2 && s->out[2]) *(uint8_t *)s->out[2]->data = (uint8_t)zp;
    return 0;
}
