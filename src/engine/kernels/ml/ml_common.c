/* Helpers shared by the ai.onnx.ml kernels: post_transform score functions (logistic, softmax,
 * softmax-zero, probit), batch-of-rows input handling and conversion to double. */
#include <math.h>
#include <string.h>

#include "engine/kernels/ml/ml_ops.h"

int ig__ml_post_parse(const ig_kstep *s, ig_error *err, int *post)
{
    static const char *const names[] = {"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"};
    const char *p = ig_node_attr_str(s->node, "post_transform", "NONE");
    for (int i = 0; i < 5; i++) {
        if (!strcmp(p, names[i])) {
            *post = i;
            return 0;
        }
    }
    return ig_kstep_fail(s, err, IG_EINVAL, "unknown post_transform '%s'", p);
}

double ig__ml_sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* Inverse error function: a rational first guess refined by Newton steps on erf, which libm has. */
static double erfinv(double y)
{
    if (y <= -1) return -INFINITY;
    if (y >= 1) return INFINITY;
    double w = -log((1.0 - y) * (1.0 + y)), x;
    if (w < 5.0) {
        w -= 2.5;
        x = 2.81022636e-08;
        x = 3.43273939e-07 + x * w;
        x = -3.5233877e-06 + x * w;
        x = -4.39150654e-06 + x * w;
        x = 0.00021858087 + x * w;
        x = -0.00125372503 + x * w;
        x = -0.00417768164 + x * w;
        x = 0.246640727 + x * w;
        x = 1.50140941 + x * w;
    } else {
        w = sqrt(w) - 3.0;
        x = -0.000200214257;
        x = 0.000100950558 + x * w;
        x = 0.00134934322 + x * w;
        x = -0.00367342844 + x * w;
        x = 0.00573950773 + x * w;
        x = -0.0076224613 + x * w;
        x = 0.00943887047 + x * w;
        x = 1.00167406 + x * w;
        x = 2.83297682 + x * w;
    }
    x *= y;
    for (int i = 0; i < 2; i++) {
        double e = erf(x) - y;
        x -= e / (2.0 / sqrt(M_PI) * exp(-x * x));
    }
    return x;
}

void ig__ml_post_apply(int post, double *row, int n)
{
    switch (post) {
    case IG_ML_POST_LOGISTIC:
        for (int i = 0; i < n; i++) row[i] = ig__ml_sigmoid(row[i]);
        break;
    case IG_ML_POST_PROBIT:
        for (int i = 0; i < n; i++) row[i] = M_SQRT2 * erfinv(2.0 * row[i] - 1.0);
        break;
    case IG_ML_POST_SOFTMAX:
    case IG_ML_POST_SOFTMAX_ZERO: {
        /* SOFTMAX_ZERO keeps exact zeros at zero: they mark classes a model never scored. */
        bool zero = post == IG_ML_POST_SOFTMAX_ZERO;
        double m = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++)
            if (row[i] > m) m = row[i];
        for (int i = 0; i < n; i++) {
            row[i] = zero && row[i] == 0 ? 0 : exp(row[i] - m);
            sum += row[i];
        }
        if (sum > 0)
            for (int i = 0; i < n; i++) row[i] /= sum;
        break;
    }
    default:
        break;
    }
}

int ig__ml_rows(const ig_kstep *s, ig_error *err, const ig_tensor *x, int64_t *n, int64_t *c)
{
    if (x->ndim == 2) {
        *n = x->dims[0];
        *c = x->dims[1];
    } else if (x->ndim == 1) {
        *n = 1;
        *c = x->dims[0];
    } else {
        return ig_kstep_fail(s, err, IG_ESHAPE, "input must be [N,C] or [C], got rank %d", x->ndim);
    }
    return 0;
}

void ig__ml_to_double(const ig_tensor *t, double *dst, int64_t n)
{
    switch (t->dtype) {
    case IG_DT_FLOAT:
        for (int64_t i = 0; i < n; i++) dst[i] = ((const float *)t->data)[i];
        break;
    case IG_DT_DOUBLE:
        memcpy(dst, t->data, (size_t)n * sizeof(double));
        break;
    case IG_DT_INT64:
        for (int64_t i = 0; i < n; i++) dst[i] = (double)((const int64_t *)t->data)[i];
        break;
    case IG_DT_INT32:
        for (int64_t i = 0; i < n; i++) dst[i] = ((const int32_t *)t->data)[i];
        break;
    default:
        memset(dst, 0, (size_t)n * sizeof(double));
        break;
    }
}

const ig_string *ig__ml_attr_strings(const ig_node *n, const char *name, int *count)
{
    const ig_attr *a = ig_node_attr(n, name);
    if (!a || a->type != IG_ATTR_STRINGS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->strings;
}

void ig__ml_set_out2(ig_kstep *s, int i, ig_dtype dt, int ndim, int64_t d0, int64_t d1)
{
    int64_t d[2] = {d0, d1};
    if (i < s->n_out && s->out[i]) ig_kstep_set_output(s, i, dt, ndim, d);
}
