/* Feature transforms of ai.onnx.ml: Scaler, Normalizer, Binarizer, Imputer, FeatureVectorizer and
 * ArrayFeatureExtractor. Features are always the last axis. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ml/ml_ops.h"

static int64_t last_dim(const ig_tensor *t)
{
    return t->ndim ? t->dims[t->ndim - 1] : 1;
}

/* ---- Scaler: Y = (X - offset) * scale, both of length 1 or C ---- */

int ig__ml_scaler_plan(ig_kstep *s, ig_error *err)
{
    int no = 0, ns = 0;
    ig_node_attr_floats(s->node, "offset", &no);
    ig_node_attr_floats(s->node, "scale", &ns);
    int64_t c = last_dim(s->in[0]);
    if ((no > 1 && no != c) || (ns > 1 && ns != c))
        return ig_kstep_fail(s, err, IG_ESHAPE, "offset (%d) and scale (%d) must have 1 or %lld values", no,
                             ns, (long long)c);
    ig_kstep_set_output(s, 0, IG_DT_FLOAT, s->in[0]->ndim, s->in[0]->dims);
    s->scratch_bytes = (size_t)ig_tensor_numel(s->in[0]) * sizeof(double);
    return 0;
}

int ig__ml_scaler_run(ig_kstep *s)
{
    int no = 0, ns = 0;
    const float *off = ig_node_attr_floats(s->node, "offset", &no);
    const float *sc = ig_node_attr_floats(s->node, "scale", &ns);
    int64_t n = ig_tensor_numel(s->in[0]), c = last_dim(s->in[0]);
    double *x = s->scratch;
    float *y = s->out[0]->data;
    ig__ml_to_double(s->in[0], x, n);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = c ? i % c : 0;
        double o = no ? off[no == 1 ? 0 : k] : 0, m = ns ? sc[ns == 1 ? 0 : k] : 1;
        y[i] = (float)((x[i] - o) * m);
    }
    return 0;
}

/* ---- Normalizer: each row divided by its max, L1 or L2 norm ---- */

int ig__ml_normalizer_plan(ig_kstep *s, ig_error *err)
{
    int64_t n, c;
    int r = ig__ml_rows(s, err, s->in[0], &n, &c);
    if (r) return r;
    const char *norm = ig_node_attr_str(s->node, "norm", "MAX");
    if (strcmp(norm, "MAX") && strcmp(norm, "L1") && strcmp(norm, "L2"))
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown norm '%s'", norm);
    ig_kstep_set_output(s, 0, IG_DT_FLOAT, s->in[0]->ndim, s->in[0]->dims);
    s->scratch_bytes = (size_t)(n * c) * sizeof(double);
    return 0;
}

int ig__ml_normalizer_run(ig_kstep *s)
{
    const char *norm = ig_node_attr_str(s->node, "norm", "MAX");
    int mode = !strcmp(norm, "MAX") ? 0 : !strcmp(norm, "L1") ? 1 : 2;
    int64_t n = s->in[0]->ndim == 2 ? s->in[0]->dims[0] : 1, c = last_dim(s->in[0]);
    double *x = s->scratch;
    float *y = s->out[0]->data;
    ig__ml_to_double(s->in[0], x, n * c);
    for (int64_t i = 0; i < n; i++) {
        const double *row = x + i * c;
        double d = mode == 0 ? -INFINITY : 0;
        for (int64_t k = 0; k < c; k++) {
            if (mode == 0)
                d = row[k] > d ? row[k] : d;
            else if (mode == 1)
                d += fabs(row[k]);
            else
                d += row[k] * row[k];
        }
        if (mode == 2) d = sqrt(d);
        /* A zero divisor leaves the row unchanged, as the operator specifies. */
        if (d == 0 || !isfinite(d)) d = 1;
        for (int64_t k = 0; k < c; k++) y[i * c + k] = (float)(row[k] / d);
    }
    return 0;
}

/* ---- Binarizer: 1 where X > threshold, else 0, in X's type ---- */

int ig__ml_binarizer_plan(ig_kstep *s, ig_error *err)
{
    ig_kstep_set_output(s, 0, s->in[0]->dtype, s->in[0]->ndim, s->in[0]->dims);
    return 0;
}

int ig__ml_binarizer_run(ig_kstep *s)
{
    double th = ig_node_attr_float(s->node, "threshold", 0.f);
    int64_t n = ig_tensor_numel(s->in[0]);
    const void *x = s->in[0]->data;
    void *y = s->out[0]->data;
    switch (s->in[0]->dtype) {
    case IG_DT_FLOAT:
        for (int64_t i = 0; i < n; i++) ((float *)y)[i] = ((const float *)x)[i] > th ? 1.f : 0.f;
        break;
    case IG_DT_DOUBLE:
        for (int64_t i = 0; i < n; i++) ((double *)y)[i] = ((const double *)x)[i] > th ? 1.0 : 0.0;
        break;
    case IG_DT_INT64:
        for (int64_t i = 0; i < n; i++) ((int64_t *)y)[i] = (double)((const int64_t *)x)[i] > th;
        break;
    case IG_DT_INT32:
        for (int64_t i = 0; i < n; i++) ((int32_t *)y)[i] = ((const int32_t *)x)[i] > th;
        break;
    default:
        return IG_EDTYPE;
    }
    return 0;
}

/* ---- Imputer: replaces one sentinel value by a per-feature (or single) imputed value ---- */

int ig__ml_imputer_plan(ig_kstep *s, ig_error *err)
{
    bool fl = s->in[0]->dtype == IG_DT_FLOAT || s->in[0]->dtype == IG_DT_DOUBLE;
    int nv = 0;
    if (fl)
        ig_node_attr_floats(s->node, "imputed_value_floats", &nv);
    else
        ig_node_attr_ints(s->node, "imputed_value_int64s", &nv);
    int64_t c = last_dim(s->in[0]);
    if (nv == 0)
        return ig_kstep_fail(s, err, IG_EINVAL, "imputed_value_%s is needed for %s input",
                             fl ? "floats" : "int64s", ig_dtype_name(s->in[0]->dtype));
    if (nv != 1 && nv != c)
        return ig_kstep_fail(s, err, IG_ESHAPE, "%d imputed values for %lld features", nv, (long long)c);
    ig_kstep_set_output(s, 0, s->in[0]->dtype, s->in[0]->ndim, s->in[0]->dims);
    return 0;
}

int ig__ml_imputer_run(ig_kstep *s)
{
    int nv = 0;
    int64_t n = ig_tensor_numel(s->in[0]), c = last_dim(s->in[0]);
    const void *x = s->in[0]->data;
    void *y = s->out[0]->data;
    ig_dtype dt = s->in[0]->dtype;
    if (dt == IG_DT_FLOAT || dt == IG_DT_DOUBLE) {
        const float *v = ig_node_attr_floats(s->node, "imputed_value_floats", &nv);
        double rep = ig_node_attr_float(s->node, "replaced_value_float", 0.f);
        bool rep_nan = isnan(rep);
        for (int64_t i = 0; i < n; i++) {
            double xi = dt == IG_DT_FLOAT ? ((const float *)x)[i] : ((const double *)x)[i];
            if (xi == rep || (rep_nan && isnan(xi))) xi = v[nv == 1 ? 0 : i % c];
            if (dt == IG_DT_FLOAT)
                ((float *)y)[i] = (float)xi;
            else
                ((double *)y)[i] = xi;
        }
    } else {
        const int64_t *v = ig_node_attr_ints(s->node, "imputed_value_int64s", &nv);
        int64_t rep = ig_node_attr_int(s->node, "replaced_value_int64", 0);
        for (int64_t i = 0; i < n; i++) {
            int64_t xi = dt == IG_DT_INT64 ? ((const int64_t *)x)[i] : ((const int32_t *)x)[i];
            if (xi == rep) xi = v[nv == 1 ? 0 : i % c];
            if (dt == IG_DT_INT64)
                ((int64_t *)y)[i] = xi;
            else
                ((int32_t *)y)[i] = (int32_t)xi;
        }
    }
    return 0;
}

/* ---- FeatureVectorizer: inputs [N, C_i] side by side, each padded or cut to inputdimensions[i] ---- */

static int64_t fv_rows(const ig_tensor *t)
{
    return t->ndim >= 2 ? t->dims[0] : 1;
}

int ig__ml_feature_vectorizer_plan(ig_kstep *s, ig_error *err)
{
    int nd = 0;
    const int64_t *dims = ig_node_attr_ints(s->node, "inputdimensions", &nd);
    if (nd != s->n_in)
        return ig_kstep_fail(s, err, IG_EINVAL, "inputdimensions has %d values for %d inputs", nd, s->n_in);
    int64_t total = 0, n = -1;
    for (int i = 0; i < s->n_in; i++) {
        const ig_tensor *t = s->in[i];
        if (!t) return ig_kstep_fail(s, err, IG_EINVAL, "input %d is missing", i);
        if (!(IG_ML_TYPES_NUM & IG_TYPE(t->dtype)))
            return ig_kstep_fail(s, err, IG_EDTYPE, "input %d has type %s", i, ig_dtype_name(t->dtype));
        if (n >= 0 && fv_rows(t) != n) return ig_kstep_fail(s, err, IG_ESHAPE, "inputs differ in batch size");
        n = fv_rows(t);
        if (dims[i] < 0) return ig_kstep_fail(s, err, IG_EINVAL, "negative inputdimensions");
        total += dims[i];
    }
    ig__ml_set_out2(s, 0, IG_DT_FLOAT, 2, n < 0 ? 0 : n, total);
    int64_t most = 0;
    for (int i = 0; i < s->n_in; i++)
        if (ig_tensor_numel(s->in[i]) > most) most = ig_tensor_numel(s->in[i]);
    s->scratch_bytes = (size_t)most * sizeof(double);
    return 0;
}

int ig__ml_feature_vectorizer_run(ig_kstep *s)
{
    int nd = 0;
    const int64_t *dims = ig_node_attr_ints(s->node, "inputdimensions", &nd);
    float *y = s->out[0]->data;
    int64_t n = s->out[0]->dims[0], total = s->out[0]->dims[1], off = 0;
    double *x = s->scratch;
    for (int i = 0; i < s->n_in; i++) {
        const ig_tensor *t = s->in[i];
        int64_t numel = ig_tensor_numel(t), stride = n ? numel / n : 0;
        ig__ml_to_double(t, x, numel);
        for (int64_t r = 0; r < n; r++)
            for (int64_t k = 0; k < dims[i]; k++)
                y[r * total + off + k] = k < stride ? (float)x[r * stride + k] : 0.f;
        off += dims[i];
    }
    return 0;
}

/* ---- ArrayFeatureExtractor: picks the columns Y of the last axis of X ---- */

int ig__ml_array_feature_extractor_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *idx = s->n_in > 1 ? s->in[1] : NULL;
    if (!idx || idx->dtype != IG_DT_INT64) return ig_kstep_fail(s, err, IG_EDTYPE, "indices must be int64");
    if (x->ndim < 1) return ig_kstep_fail(s, err, IG_ESHAPE, "X must have rank >= 1");
    int64_t k = ig_tensor_numel(idx);
    int64_t d[IG_MAX_DIMS];
    int nd = x->ndim;
    if (nd == 1) {
        d[0] = 1;
        d[1] = k;
        nd = 2;
    } else {
        memcpy(d, x->dims, sizeof(int64_t) * (size_t)nd);
        d[nd - 1] = k;
    }
    ig_kstep_set_output(s, 0, x->dtype, nd, d);
    return 0;
}

int ig__ml_array_feature_extractor_run(ig_kstep *s)
{
    const ig_tensor *x = s->in[0], *it = s->in[1];
    const int64_t *idx = it->data;
    int64_t k = ig_tensor_numel(it), c = x->dims[x->ndim - 1], rows = c ? ig_tensor_numel(x) / c : 0;
    size_t es = ig_dtype_size(x->dtype);
    for (int64_t j = 0; j < k; j++)
        if (idx[j] < 0 || idx[j] >= c) return IG_EINVAL;
    if (c == 0) rows = ig_tensor_numel(s->out[0]) / (k ? k : 1);
    const char *src = x->data;
    char *dst = s->out[0]->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < k; j++)
            memcpy(dst + (size_t)(r * k + j) * es, src + (size_t)(r * c + idx[j]) * es, es);
    return 0;
}
