/* LinearClassifier and LinearRegressor (ai.onnx.ml): scores = X * coefficients^T + intercepts, then
 * a post_transform; the classifier also picks a label, with the one-row binary form of ONNX-ML. */
#include <math.h>
#include <stdlib.h>

#include "engine/kernels/ml/ml_ops.h"

typedef struct linear {
    int64_t n_feat, n_rows; /* coefficient rows (score columns before binary expansion) */
    const float *coef, *icpt;
    int n_icpt, post;
    const int64_t *labels_i; /* classifier labels, one of the two */
    const ig_string *labels_s;
    int n_labels;
    bool binary; /* one coefficient row, two labels: score s stands for [-s, s] */
} linear;

static int linear_plan_common(ig_kstep *s, ig_error *err, int64_t n_rows_hint, linear **out)
{
    int64_t n, c;
    int r = ig__ml_rows(s, err, s->in[0], &n, &c);
    if (r) return r;
    linear *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    s->state = st;
    int n_coef = 0;
    st->coef = ig_node_attr_floats(s->node, "coefficients", &n_coef);
    st->icpt = ig_node_attr_floats(s->node, "intercepts", &st->n_icpt);
    if ((r = ig__ml_post_parse(s, err, &st->post))) return r;
    st->n_feat = c;
    if (n_rows_hint > 0) {
        st->n_rows = n_rows_hint;
        if (n_coef != n_rows_hint * c)
            return ig_kstep_fail(s, err, IG_ESHAPE,
                                 "%d coefficients do not match %lld targets x %lld features", n_coef,
                                 (long long)n_rows_hint, (long long)c);
    } else {
        if (c == 0 || n_coef == 0 || n_coef % c)
            return ig_kstep_fail(s, err, IG_ESHAPE, "%d coefficients are not a multiple of %lld features",
                                 n_coef, (long long)c);
        st->n_rows = n_coef / c;
    }
    if (st->n_icpt && st->n_icpt != st->n_rows)
        return ig_kstep_fail(s, err, IG_ESHAPE, "%d intercepts for %lld score rows", st->n_icpt,
                             (long long)st->n_rows);
    s->scratch_bytes = (size_t)(n * c + st->n_rows + 2) * sizeof(double);
    *out = st;
    return 0;
}

int ig__ml_linear_classifier_plan(ig_kstep *s, ig_error *err)
{
    linear *st = NULL;
    int r = linear_plan_common(s, err, 0, &st);
    if (r) return r;
    int ni = 0, ns = 0;
    st->labels_i = ig_node_attr_ints(s->node, "classlabels_ints", &ni);
    st->labels_s = ig__ml_attr_strings(s->node, "classlabels_strings", &ns);
    if ((ni > 0) == (ns > 0))
        return ig_kstep_fail(s, err, IG_EINVAL,
                             "exactly one of classlabels_ints and classlabels_strings is needed");
    st->n_labels = ni ? ni : ns;
    if (ns) st->labels_i = NULL;
    st->binary = st->n_rows == 1 && st->n_labels == 2;
    if (!st->binary && st->n_rows != st->n_labels)
        return ig_kstep_fail(s, err, IG_ESHAPE, "%lld coefficient rows for %d class labels",
                             (long long)st->n_rows, st->n_labels);
    int64_t n = s->in[0]->ndim == 2 ? s->in[0]->dims[0] : 1;
    ig__ml_set_out2(s, 0, ns ? IG_DT_STRING : IG_DT_INT64, 1, n, 0);
    ig__ml_set_out2(s, 1, IG_DT_FLOAT, 2, n, st->binary ? 2 : st->n_rows);
    return 0;
}

static void linear_scores(const linear *st, const double *x, double *sc)
{
    for (int64_t j = 0; j < st->n_rows; j++) {
        const float *w = st->coef + j * st->n_feat;
        double acc = st->n_icpt ? st->icpt[j] : 0;
        for (int64_t k = 0; k < st->n_feat; k++) acc += w[k] * x[k];
        sc[j] = acc;
    }
}

int ig__ml_linear_classifier_run(ig_kstep *s)
{
    const linear *st = s->state;
    int64_t n = s->in[0]->ndim == 2 ? s->in[0]->dims[0] : 1, c = st->n_feat;
    double *x = s->scratch, *sc = x + n * c;
    ig__ml_to_double(s->in[0], x, n * c);
    ig_tensor *y = s->n_out > 0 ? s->out[0] : NULL, *z = s->n_out > 1 ? s->out[1] : NULL;
    for (int64_t i = 0; i < n; i++) {
        linear_scores(st, x + i * c, sc);
        int best = 0, ncol = (int)st->n_rows;
        if (st->binary) {
            best = sc[0] > 0;
            double v = sc[0];
            if (st->post == IG_ML_POST_LOGISTIC) {
                sc[1] = ig__ml_sigmoid(v);
                sc[0] = 1 - sc[1];
            } else {
                sc[0] = -v;
                sc[1] = v;
                ig__ml_post_apply(st->post, sc, 2);
            }
            ncol = 2;
        } else {
            for (int j = 1; j < ncol; j++)
                if (sc[j] > sc[best]) best = j;
            ig__ml_post_apply(st->post, sc, ncol);
        }
        if (y) {
            if (st->labels_i)
                ((int64_t *)y->data)[i] = st->labels_i[best];
            else
                ((ig_string *)y->data)[i] = st->labels_s[best];
        }
        if (z)
            for (int j = 0; j < ncol; j++) ((float *)z->data)[i * ncol + j] = (float)sc[j];
    }
    return 0;
}

int ig__ml_linear_regressor_plan(ig_kstep *s, ig_error *err)
{
    linear *st = NULL;
    int64_t targets = ig_node_attr_int(s->node, "targets", 1);
    if (targets < 1) return ig_kstep_fail(s, err, IG_EINVAL, "targets must be >= 1");
    int r = linear_plan_common(s, err, targets, &st);
    if (r) return r;
    int64_t n = s->in[0]->ndim == 2 ? s->in[0]->dims[0] : 1;
    ig__ml_set_out2(s, 0, IG_DT_FLOAT, 2, n, targets);
    return 0;
}

int ig__ml_linear_regressor_run(ig_kstep *s)
{
    const linear *st = s->state;
    int64_t n = s->in[0]->ndim == 2 ? s->in[0]->dims[0] : 1, c = st->n_feat, t = st->n_rows;
    double *x = s->scratch, *sc = x + n * c;
    ig__ml_to_double(s->in[0], x, n * c);
    float *y = s->out[0] ? s->out[0]->data : NULL;
    if (!y) return 0;
    for (int64_t i = 0; i < n; i++) {
        linear_scores(st, x + i * c, sc);
        ig__ml_post_apply(st->post, sc, (int)t);
        for (int64_t j = 0; j < t; j++) y[i * t + j] = (float)sc[j];
    }
    return 0;
}
