/* Optimizer steps of the ai.onnx.preview.training domain (opset 1): Adagrad, Adam and Momentum
 * (standard and Nesterov). Inputs are R, T, then groups of per-tensor inputs (X..., G..., H/V...);
 * outputs are the matching groups of new values. Arithmetic is done in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

enum { OPT_ADAGRAD, OPT_ADAM, OPT_MOMENTUM, OPT_NESTEROV };

typedef struct optim_state {
    int kind;
    int n_tensors;    /* tensors optimized */
    int n_in_groups;  /* X, G, then state inputs */
    int n_out_groups; /* X_new, then new states */
    double norm, norm_post, alpha, beta, epsilon, decay;
} optim_state;

static double load(const ig_tensor *t, int64_t i)
{
    return t->dtype == IG_DT_DOUBLE ? ((const double *)t->data)[i] : ((const float *)t->data)[i];
}

static void store(ig_tensor *t, int64_t i, double v)
{
    if (!t) return;
    if (t->dtype == IG_DT_DOUBLE)
        ((double *)t->data)[i] = v;
    else
        ((float *)t->data)[i] = (float)v;
}

static bool is_fd(const ig_tensor *t)
{
    return t && (t->dtype == IG_DT_FLOAT || t->dtype == IG_DT_DOUBLE);
}

static bool same_shape(const ig_tensor *a, const ig_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d]) return false;
    return true;
}

static int optim_plan(ig_kstep *s, ig_error *err, optim_state st)
{
    int per = st.n_in_groups;
    if (s->n_in < 2 + per || (s->n_in - 2) % per)
        return ig_kstep_fail(s, err, IG_EINVAL, "expects R, T and %d inputs per optimized tensor", per);
    st.n_tensors = (s->n_in - 2) / per;
    if (s->n_out > st.n_tensors * st.n_out_groups)
        return ig_kstep_fail(s, err, IG_EINVAL, "has %d outputs for %d tensors", s->n_out, st.n_tensors);
    const ig_tensor *r = s->in[0], *t = s->in[1];
    if (!is_fd(r) || ig_tensor_numel(r) != 1)
        return ig_kstep_fail(s, err, IG_EDTYPE, "R must be a float or double scalar");
    if (!t || t->dtype != IG_DT_INT64 || ig_tensor_numel(t) != 1)
        return ig_kstep_fail(s, err, IG_EDTYPE, "T must be an int64 scalar");
    for (int k = 0; k < st.n_tensors; k++) {
        const ig_tensor *x = s->in[2 + k];
        for (int g = 0; g < per; g++) {
            const ig_tensor *v = s->in[2 + g * st.n_tensors + k];
            if (!is_fd(v))
                return ig_kstep_fail(s, err, IG_EDTYPE, "input %d must be float or double",
                                     2 + g * st.n_tensors + k);
            if (!same_shape(v, x))
                return ig_kstep_fail(s, err, IG_ESHAPE, "input %d does not match the shape of its tensor",
                                     2 + g * st.n_tensors + k);
        }
    }
    for (int o = 0; o < s->n_out; o++) {
        /* output group g of tensor k takes the dtype of the matching input (X for g 0, its state after) */
        int g = o / st.n_tensors, k = o % st.n_tensors;
        int src = g == 0 ? 2 + k : 2 + (g + 1) * st.n_tensors + k;
        ig_kstep_set_output(s, o, s->in[src]->dtype, s->in[src]->ndim, s->in[src]->dims);
    }
    optim_state *p = malloc(sizeof(*p));
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    return 0;
}

int ig__misc_adagrad_plan(ig_kstep *s, ig_error *err)
{
    optim_state st = {.kind = OPT_ADAGRAD, .n_in_groups = 3, .n_out_groups = 2};
    st.norm = ig_node_attr_float(s->node, "norm_coefficient", 0.0f);
    st.epsilon = ig_node_attr_float(s->node, "epsilon", 1e-6f);
    st.decay = ig_node_attr_float(s->node, "decay_factor", 0.0f);
    return optim_plan(s, err, st);
}

int ig__misc_adam_plan(ig_kstep *s, ig_error *err)
{
    optim_state st = {.kind = OPT_ADAM, .n_in_groups = 4, .n_out_groups = 3};
    st.norm = ig_node_attr_float(s->node, "norm_coefficient", 0.0f);
    st.norm_post = ig_node_attr_float(s->node, "norm_coefficient_post", 0.0f);
    st.alpha = ig_node_attr_float(s->node, "alpha", 0.9f);
    st.beta = ig_node_attr_float(s->node, "beta", 0.999f);
    st.epsilon = ig_node_attr_float(s->node, "epsilon", 1e-6f);
    return optim_plan(s, err, st);
}

int ig__misc_momentum_plan(ig_kstep *s, ig_error *err)
{
    const char *mode = ig_node_attr_str(s->node, "mode", NULL);
    optim_state st = {.n_in_groups = 3, .n_out_groups = 2};
    if (!mode || (strcmp(mode, "standard") && strcmp(mode, "nesterov")))
        return ig_kstep_fail(s, err, IG_EINVAL, "mode must be 'standard' or 'nesterov'");
    if (!ig_node_attr(s->node, "alpha") || !ig_node_attr(s->node, "beta") ||
        !ig_node_attr(s->node, "norm_coefficient"))
        return ig_kstep_fail(s, err, IG_EINVAL, "alpha, beta and norm_coefficient are required");
    st.kind = strcmp(mode, "nesterov") ? OPT_MOMENTUM : OPT_NESTEROV;
    st.norm = ig_node_attr_float(s->node, "norm_coefficient", 0.0f);
    st.alpha = ig_node_attr_float(s->node, "alpha", 0.0f);
    st.beta = ig_node_attr_float(s->node, "beta", 0.0f);
    return optim_plan(s, err, st);
}

static ig_tensor *out_at(ig_kstep *s, const optim_state *st, int group, int k)
{
    int o = group * st->n_tensors + k;
    return o < s->n_out ? s->out[o] : NULL;
}

int ig__misc_optim_run(ig_kstep *s)
{
    const optim_state *st = s->state;
    double r = load(s->in[0], 0);
    int64_t t = *(const int64_t *)s->in[1]->data;
    int nt = st->n_tensors;
    for (int k = 0; k < nt; k++) {
        const ig_tensor *x = s->in[2 + k], *g = s->in[2 + nt + k], *a = s->in[2 + 2 * nt + k];
        ig_tensor *xo = out_at(s, st, 0, k), *ao = out_at(s, st, 1, k);
        int64_t n = ig_tensor_numel(x);
        switch (st->kind) {
        case OPT_ADAGRAD: {
            double rate = r / (1.0 + (double)t * st->decay);
            for (int64_t i = 0; i < n; i++) {
                double xv = load(x, i), gr = st->norm * xv + load(g, i);
                double h = load(a, i) + gr * gr;
                store(ao, i, h);
                store(xo, i, xv - rate * gr / (sqrt(h) + st->epsilon));
            }
            break;
        }
        case OPT_ADAM: {
            const ig_tensor *hin = s->in[2 + 3 * nt + k];
            ig_tensor *ho = out_at(s, st, 2, k);
            double rate = r;
            if (t > 0) rate = r * sqrt(1.0 - pow(st->beta, (double)t)) / (1.0 - pow(st->alpha, (double)t));
            for (int64_t i = 0; i < n; i++) {
                double xv = load(x, i), gr = st->norm * xv + load(g, i);
                double v = st->alpha * load(a, i) + (1.0 - st->alpha) * gr;
                double h = st->beta * load(hin, i) + (1.0 - st->beta) * gr * gr;
                store(ao, i, v);
                store(ho, i, h);
                store(xo, i, (1.0 - st->norm_post) * (xv - rate * v / (sqrt(h) + st->epsilon)));
            }
            break;
        }
        default: {
            double beta = t > 0 ? st->beta : 1.0;
            for (int64_t i = 0; i < n; i++) {
                double xv = load(x, i), gr = st->norm * xv + load(g, i);
                double v = st->alpha * load(a, i) + beta * gr;
                store(ao, i, v);
                store(xo, i, st->kind == OPT_NESTEROV ? xv - r * (gr + st->alpha * v) : xv - r * v);
            }
            break;
        }
        }
    }
    return 0;
}
