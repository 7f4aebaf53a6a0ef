/* NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12, 13): input [N, C, d1..dk],
 * integer target [N, d1..dk], optional per-class weight [C], ignore_index, reduction none / sum /
 * mean (mean divides by the summed weights of the targets not ignored). SoftmaxCrossEntropyLoss
 * applies log-softmax over C first and can also return those log-probabilities. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/reduce_util.h"

typedef enum { RED_NONE, RED_SUM, RED_MEAN } loss_red;

typedef struct {
    int64_t n, c, d;
    loss_red red;
    bool has_ii;
    int64_t ii;
    bool softmax;
} loss_state;

static int loss_plan(ig_kstep *s, ig_error *err, bool softmax)
{
    const ig_tensor *x = s->in[0], *t = s->n_in > 1 ? s->in[1] : NULL;
    const ig_tensor *w = s->n_in > 2 ? s->in[2] : NULL;
    if (!x || !t) return ig_kstep_fail(s, err, IG_EINVAL, "needs input and target");
    if (x->ndim < 2) return ig_kstep_fail(s, err, IG_ESHAPE, "input must be [N, C, ...]");
    if (t->dtype != IG_DT_INT32 && t->dtype != IG_DT_INT64)
        return ig_kstep_fail(s, err, IG_EDTYPE, "target must be int32 or int64");
    if (t->ndim != x->ndim - 1 || t->dims[0] != x->dims[0])
        return ig_kstep_fail(s, err, IG_ESHAPE, "target must be [N, d1, ..., dk]");
    for (int i = 1; i < t->ndim; i++)
        if (t->dims[i] != x->dims[i + 1])
            return ig_kstep_fail(s, err, IG_ESHAPE, "target dims differ from input");
    if (w && (w->ndim != 1 || w->dims[0] != x->dims[1] || w->dtype != x->dtype))
        return ig_kstep_fail(s, err, IG_ESHAPE, "weight must be [C] of the input dtype");
    const char *red = ig_node_attr_str(s->node, "reduction", "mean");
    loss_red rk;
    if (!strcmp(red, "none"))
        rk = RED_NONE;
    else if (!strcmp(red, "sum"))
        rk = RED_SUM;
    else if (!strcmp(red, "mean"))
        rk = RED_MEAN;
    else
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown reduction '%s'", red);
    loss_state *st = ig__rd_state(s, sizeof(loss_state));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->n = x->dims[0];
    st->c = x->dims[1];
    st->d = rd_prod(x->dims, 2, x->ndim);
    st->red = rk;
    st->has_ii = ig_node_attr(s->node, "ignore_index") != NULL;
    st->ii = ig_node_attr_int(s->node, "ignore_index", 0);
    st->softmax = softmax;
    int64_t nd = st->n * st->d;
    s->scratch_bytes = (size_t)(nd + st->c + (softmax ? nd * st->c : 0)) * 8;
    if (rk == RED_NONE)
        ig_kstep_set_output(s, 0, x->dtype, t->ndim, t->dims);
    else
        ig_kstep_set_output(s, 0, x->dtype, 0, x->dims); /* scalar */
    if (softmax && s->n_out > 1 && s->out[1]) ig_kstep_set_output(s, 1, x->dtype, x->ndim, x->dims);
    return 0;
}

int ig__rd_nll_plan(ig_kstep *s, ig_error *err)
{
    return loss_plan(s, err, false);
}
int ig__rd_sce_plan(ig_kstep *s, ig_error *err)
{
    return loss_plan(s, err, true);
}

static void log_softmax_c(double *v, int64_t c, int64_t stride)
{
    double m = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < c; j++) m = v[j * stride] > m ? v[j * stride] : m;
    for (int64_t j = 0; j < c; j++) sum += exp(v[j * stride] - m);
    double sub = m + log(sum);
    for (int64_t j = 0; j < c; j++) v[j * stride] -= sub;
}

static int loss_run(ig_kstep *s)
{
    const loss_state *st = s->state;
    const ig_tensor *x = s->in[0], *t = s->in[1];
    const ig_tensor *w = s->n_in > 2 ? s->in[2] : NULL;
    int64_t n = st->n, c = st->c, d = st->d, nd = n * d;
    double *loss = s->scratch, *wd = loss + nd, *lp = wd + c;
    if (w) ig__rd_load_d(w->data, w->dtype, 0, c, 1, wd);
    if (st->softmax) {
        ig__rd_load_d(x->data, x->dtype, 0, n * c * d, 1, lp);
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < d; k++) log_softmax_c(lp + i * c * d + k, c, d);
        if (s->n_out > 1 && s->out[1]) ig__rd_store_d(s->out[1]->data, x->dtype, 0, n * c * d, 1, lp);
    }
    double total = 0.0, wsum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = 0; k < d; k++) {
            int64_t tv = t->dtype == IG_DT_INT64 ? ((const int64_t *)t->data)[i * d + k]
                                                 : ((const int32_t *)t->data)[i * d + k];
            double l = 0.0, wt = 0.0;
            if (!(st->has_ii && tv == st->ii)) {
                if (tv < 0 || tv >= c) return IG_EINVAL;
                int64_t at = (i * c + tv) * d + k;
                double v;
                if (st->softmax)
                    v = lp[at];
                else
                    ig__rd_load_d(x->data, x->dtype, at, 1, 1, &v);
                wt = w ? wd[tv] : 1.0;
                l = -v * wt;
            }
            loss[i * d + k] = l;
            total += l;
            wsum += wt;
        }
    }
    if (st->red == RED_NONE) {
        ig__rd_store_d(s->out[0]->data, x->dtype, 0, nd, 1, loss);
    } else {
        double r = st->red == RED_SUM ? total : total / wsum;
        ig__rd_store_d(s->out[0]->data, x->dtype, 0, 1, 1, &r);
    }
    return 0;
}

int ig__rd_nll_run(ig_kstep *s)
{
    return loss_run(s);
}
int ig__rd_sce_run(ig_kstep *s)
{
    return loss_run(s);
}
