/* RNN, GRU and LSTM (opset 7+): forward, reverse and bidirectional recurrences with
 * sequence_lens, initial states, peepholes, clip, the layout attribute and every activation the
 * spec names. Inputs are widened to double in scratch so one code path serves float and double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/kernels/kernel.h"

enum { K_RNN, K_GRU, K_LSTM };
enum {
    A_RELU,
    A_TANH,
    A_SIGMOID,
    A_AFFINE,
    A_LEAKY,
    A_THRESH,
    A_SCALEDTANH,
    A_HARDSIG,
    A_ELU,
    A_SOFTSIGN,
    A_SOFTPLUS
};

typedef struct rnn_act {
    int kind;
    double alpha, beta;
} rnn_act;

typedef struct rnn_state {
    int kind, dirs, reverse_only, layout, lbr, input_forget, has_clip;
    double clip;
    int64_t seq, batch, in, hid;
    int gates;
    rnn_act act[2][3];
    /* scratch offsets, in doubles */
    size_t o_w, o_r, o_b, o_p, o_x, o_h, o_c, o_g, o_t;
} rnn_state;

static const struct {
    const char *name;
    int kind, n_params;
    double alpha, beta;
} act_names[] = {
    {"Relu", A_RELU, 0, 0, 0},
    {"Tanh", A_TANH, 0, 0, 0},
    {"Sigmoid", A_SIGMOID, 0, 0, 0},
    {"Affine", A_AFFINE, 2, 1, 0},
    {"LeakyRelu", A_LEAKY, 1, 0.01, 0},
    {"ThresholdedRelu", A_THRESH, 1, 1, 0},
    {"ScaledTanh", A_SCALEDTANH, 2, 1, 1},
    {"HardSigmoid", A_HARDSIG, 2, 0.2, 0.5},
    {"Elu", A_ELU, 1, 1, 0},
    {"Softsign", A_SOFTSIGN, 0, 0, 0},
    {"Softplus", A_SOFTPLUS, 0, 0, 0},
};

static double act(const rnn_act *a, double x)
{
    switch (a->kind) {
    case A_RELU:
        return x > 0 ? x : 0;
    case A_TANH:
        return tanh(x);
    case A_SIGMOID:
        return 1 / (1 + exp(-x));
    case A_AFFINE:
        return a->alpha * x + a->beta;
    case A_LEAKY:
        return x >= 0 ? x : a->alpha * x;
    case A_THRESH:
        return x > a->alpha ? x : 0;
    case A_SCALEDTANH:
        return a->alpha * tanh(a->beta * x);
    case A_HARDSIG: {
        double v = a->alpha * x + a->beta;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case A_ELU:
        return x >= 0 ? x : a->alpha * (exp(x) - 1);
    case A_SOFTSIGN:
        return x / (1 + fabs(x));
    default:
        return log1p(exp(x));
    }
}

static double ldv(const ig_tensor *t, int64_t i)
{
    return t->dtype == IG_DT_DOUBLE ? ((const double *)t->data)[i] : (double)((const float *)t->data)[i];
}

static void stv(ig_tensor *t, int64_t i, double v)
{
    if (t->dtype == IG_DT_DOUBLE)
        ((double *)t->data)[i] = v;
    else
        ((float *)t->data)[i] = (float)v;
}

static int parse_acts(ig_kstep *s, ig_error *err, rnn_state *st)
{
    static const int defaults[3][3] = {{A_TANH, 0, 0}, {A_SIGMOID, A_TANH, 0}, {A_SIGMOID, A_TANH, A_TANH}};
    int per = st->kind == K_RNN ? 1 : st->kind == K_GRU ? 2 : 3;
    const ig_attr *names = ig_node_attr(s->node, "activations");
    int na = 0, nb = 0;
    const float *alpha = ig_node_attr_floats(s->node, "activation_alpha", &na);
    const float *beta = ig_node_attr_floats(s->node, "activation_beta", &nb);
    int ia = 0, ib = 0;
    for (int d = 0; d < st->dirs; d++) {
        for (int k = 0; k < per; k++) {
            rnn_act *a = &st->act[d][k];
            if (!names || names->type != IG_ATTR_STRINGS) {
                a->kind = defaults[st->kind][k];
                continue;
            }
            int idx = d * per + k;
            if (idx >= names->n)
                return ig_kstep_fail(s, err, IG_EINVAL, "activations needs %d names", per * st->dirs);
            const ig_string *nm = &names->strings[idx];
            int found = -1;
            for (int j = 0; j < (int)(sizeof(act_names) / sizeof(act_names[0])); j++)
                if (strlen(act_names[j].name) == nm->len && !strncasecmp(act_names[j].name, nm->ptr, nm->len))
                    found = j;
            if (found < 0)
                return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "unknown activation %.*s", (int)nm->len,
                                     nm->ptr);
            a->kind = act_names[found].kind;
            a->alpha = act_names[found].alpha;
            a->beta = act_names[found].beta;
            /* Alphas and betas are consumed in order by the activations that take them. */
            if (act_names[found].n_params >= 1 && ia < na) a->alpha = alpha[ia++];
            if (act_names[found].n_params >= 2 && ib < nb) a->beta = beta[ib++];
        }
    }
    return 0;
}

static int rnn_plan_kind(ig_kstep *s, ig_error *err, int kind)
{
    const ig_node *n = s->node;
    int G = kind == K_RNN ? 1 : kind == K_GRU ? 3 : 4;
    if (s->n_in < 3 || !s->in[0] || !s->in[1] || !s->in[2])
        return ig_kstep_fail(s, err, IG_EINVAL, "X, W and R are required");
    const ig_tensor *X = s->in[0], *W = s->in[1], *R = s->in[2];
    const ig_tensor *B = s->n_in > 3 ? s->in[3] : NULL, *SL = s->n_in > 4 ? s->in[4] : NULL;
    const ig_tensor *H0 = s->n_in > 5 ? s->in[5] : NULL;
    const ig_tensor *C0 = kind == K_LSTM && s->n_in > 6 ? s->in[6] : NULL;
    const ig_tensor *P = kind == K_LSTM && s->n_in > 7 ? s->in[7] : NULL;
    ig_dtype dt = X->dtype;
    if (dt != IG_DT_FLOAT && dt != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EDTYPE, "X must be float or double");
    if (W->dtype != dt || R->dtype != dt || (B && B->dtype != dt) || (H0 && H0->dtype != dt) ||
        (C0 && C0->dtype != dt) || (P && P->dtype != dt))
        return ig_kstep_fail(s, err, IG_EDTYPE, "inputs must share X's dtype");
    if (SL && SL->dtype != IG_DT_INT32)
        return ig_kstep_fail(s, err, IG_EDTYPE, "sequence_lens must be int32");
    if (X->ndim != 3 || W->ndim != 3 || R->ndim != 3)
        return ig_kstep_fail(s, err, IG_ESHAPE, "X, W, R must be 3-D");

    rnn_state st0 = {0}, *st = &st0;
    st->kind = kind;
    st->gates = G;
    st->layout = n->opset >= 14 ? (int)ig_node_attr_int(n, "layout", 0) : 0;
    const char *dir = ig_node_attr_str(n, "direction", "forward");
    if (!strcmp(dir, "forward"))
        st->dirs = 1;
    else if (!strcmp(dir, "reverse"))
        st->dirs = 1, st->reverse_only = 1;
    else if (!strcmp(dir, "bidirectional"))
        st->dirs = 2;
    else
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown direction %s", dir);
    st->seq = st->layout ? X->dims[1] : X->dims[0];
    st->batch = st->layout ? X->dims[0] : X->dims[1];
    st->in = X->dims[2];
    st->hid = ig_node_attr_int(n, "hidden_size", R->dims[2]);
    st->lbr = (int)ig_node_attr_int(n, "linear_before_reset", 0);
    st->input_forget = (int)ig_node_attr_int(n, "input_forget", 0);
    const ig_attr *clip = ig_node_attr(n, "clip");
    st->has_clip = clip != NULL;
    st->clip = clip ? clip->f : 0;
    int64_t D = st->dirs, H = st->hid, I = st->in, Bt = st->batch, S = st->seq;
    if (H <= 0) return ig_kstep_fail(s, err, IG_EINVAL, "hidden_size must be positive");
    if (W->dims[0] != D || W->dims[1] != G * H || W->dims[2] != I)
        return ig_kstep_fail(s, err, IG_ESHAPE, "W must be [%lld,%lld,%lld]", (long long)D,
                             (long long)(G * H), (long long)I);
    if (R->dims[0] != D || R->dims[1] != G * H || R->dims[2] != H)
        return ig_kstep_fail(s, err, IG_ESHAPE, "R must be [%lld,%lld,%lld]", (long long)D,
                             (long long)(G * H), (long long)H);
    if (B && (B->ndim != 2 || B->dims[0] != D || B->dims[1] != 2 * G * H))
        return ig_kstep_fail(s, err, IG_ESHAPE, "B must be [%lld,%lld]", (long long)D,
                             (long long)(2 * G * H));
    if (SL && (SL->ndim != 1 || SL->dims[0] != Bt))
        return ig_kstep_fail(s, err, IG_ESHAPE, "sequence_lens must be [%lld]", (long long)Bt);
    int64_t sdims[3] = {st->layout ? Bt : D, st->layout ? D : Bt, H};
    for (int k = 0; k < 2; k++) {
        const ig_tensor *t = k ? C0 : H0;
        if (t && (t->ndim != 3 || t->dims[0] != sdims[0] || t->dims[1] != sdims[1] || t->dims[2] != H))
            return ig_kstep_fail(s, err, IG_ESHAPE, "initial state must be [%lld,%lld,%lld]",
                                 (long long)sdims[0], (long long)sdims[1], (long long)H);
    }
    if (P && (P->ndim != 2 || P->dims[0] != D || P->dims[1] != 3 * H))
        return ig_kstep_fail(s, err, IG_ESHAPE, "P must be [%lld,%lld]", (long long)D, (long long)(3 * H));
    int rc = parse_acts(s, err, st);
    if (rc) return rc;

    if (s->n_out > 0 && s->out[0]) {
        int64_t yd[4] = {S, D, Bt, H};
        if (st->layout) yd[0] = Bt, yd[1] = S, yd[2] = D;
        ig_kstep_set_output(s, 0, dt, 4, yd);
    }
    for (int k = 1; k < 3; k++)
        if (s->n_out > k && s->out[k] && (k < 2 || kind == K_LSTM)) ig_kstep_set_output(s, k, dt, 3, sdims);

    size_t off = 0;
    st->o_w = off, off += (size_t)(D * G * H * I);
    st->o_r = off, off += (size_t)(D * G * H * H);
    st->o_b = off, off += (size_t)(D * 2 * G * H);
    st->o_p = off, off += (size_t)(D * 3 * H);
    st->o_x = off, off += (size_t)(S * Bt * I);
    st->o_h = off, off += (size_t)(D * Bt * H);
    st->o_c = off, off += (size_t)(D * Bt * H);
    st->o_g = off, off += (size_t)(G * H);
    st->o_t = off, off += (size_t)H;
    s->scratch_bytes = off * sizeof(double) + 64;
    rnn_state *p = malloc(sizeof(*p));
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = *st;
    s->state = p;
    return 0;
}

static double clipv(const rnn_state *st, double v)
{
    if (!st->has_clip) return v;
    return v < -st->clip ? -st->clip : v > st->clip ? st->clip : v;
}

/* One time step of one batch row. x: [I], h/c: [H] updated in place. */
static void cell(const rnn_state *st, int d, const double *W, const double *R, const double *Bs,
                 const double *P, const double *x, double *h, double *c, double *g, double *tmp)
{
    int64_t H = st->hid, I = st->in, G = st->gates;
    const rnn_act *a = st->act[d];
    const double *Wb = Bs, *Rb = Bs + G * H;
    for (int64_t r = 0; r < G * H; r++) {
        const double *wr = W + r * I;
        double acc = Wb[r];
        for (int64_t k = 0; k < I; k++) acc += wr[k] * x[k];
        g[r] = acc;
    }
    if (st->kind == K_GRU) {
        /* z and r take the recurrent term now; the candidate's depends on linear_before_reset. */
        for (int64_t r = 0; r < 2 * H; r++) {
            const double *rr = R + r * H;
            double acc = Rb[r];
            for (int64_t k = 0; k < H; k++) acc += rr[k] * h[k];
            g[r] = act(&a[0], clipv(st, g[r] + acc));
        }
        const double *z = g, *rg = g + H;
        const double *Rh = R + 2 * H * H, *Rbh = Rb + 2 * H;
        for (int64_t j = 0; j < H; j++) {
            double acc = 0;
            if (st->lbr) {
                for (int64_t k = 0; k < H; k++) acc += Rh[j * H + k] * h[k];
                acc = rg[j] * (acc + Rbh[j]);
            } else {
                for (int64_t k = 0; k < H; k++) acc += Rh[j * H + k] * (rg[k] * h[k]);
                acc += Rbh[j];
            }
            tmp[j] = act(&a[1], clipv(st, g[2 * H + j] + acc));
        }
        for (int64_t j = 0; j < H; j++) h[j] = (1 - z[j]) * tmp[j] + z[j] * h[j];
        return;
    }
    for (int64_t r = 0; r < G * H; r++) {
        const double *rr = R + r * H;
        double acc = Rb[r];
        for (int64_t k = 0; k < H; k++) acc += rr[k] * h[k];
        g[r] += acc;
    }
    if (st->kind == K_RNN) {
        for (int64_t j = 0; j < H; j++) h[j] = act(&a[0], clipv(st, g[j]));
        return;
    }
    /* LSTM gate order i, o, f, c; peepholes P = [i, o, f]. */
    for (int64_t j = 0; j < H; j++) {
        double gi = g[j], go = g[H + j], gf = g[2 * H + j], gc = g[3 * H + j];
        double i = act(&a[0], clipv(st, gi + P[j] * c[j]));
        double f = st->input_forget ? 1 - i : act(&a[0], clipv(st, gf + P[2 * H + j] * c[j]));
        double cc = act(&a[1], clipv(st, gc));
        double cn = f * c[j] + i * cc;
        double o = act(&a[0], clipv(st, go + P[H + j] * cn));
        c[j] = cn;
        h[j] = o * act(&a[2], cn);
    }
}

int ig__misc_rnn_run(ig_kstep *s)
{
    const rnn_state *st = s->state;
    int kind = st->kind;
    int64_t D = st->dirs, H = st->hid, I = st->in, Bt = st->batch, S = st->seq, G = st->gates;
    const ig_tensor *X = s->in[0], *W = s->in[1], *R = s->in[2];
    const ig_tensor *B = s->n_in > 3 ? s->in[3] : NULL, *SL = s->n_in > 4 ? s->in[4] : NULL;
    const ig_tensor *H0 = s->n_in > 5 ? s->in[5] : NULL;
    const ig_tensor *C0 = kind == K_LSTM && s->n_in > 6 ? s->in[6] : NULL;
    const ig_tensor *P = kind == K_LSTM && s->n_in > 7 ? s->in[7] : NULL;
    ig_tensor *Y = s->n_out > 0 ? s->out[0] : NULL, *YH = s->n_out > 1 ? s->out[1] : NULL;
    ig_tensor *YC = kind == K_LSTM && s->n_out > 2 ? s->out[2] : NULL;
    double *sc = s->scratch;
    double *w = sc + st->o_w, *r = sc + st->o_r, *b = sc + st->o_b, *p = sc + st->o_p, *x = sc + st->o_x;
    double *h = sc + st->o_h, *c = sc + st->o_c, *g = sc + st->o_g, *tmp = sc + st->o_t;

    for (int64_t i = 0; i < D * G * H * I; i++) w[i] = ldv(W, i);
    for (int64_t i = 0; i < D * G * H * H; i++) r[i] = ldv(R, i);
    for (int64_t i = 0; i < D * 2 * G * H; i++) b[i] = B ? ldv(B, i) : 0;
    for (int64_t i = 0; i < D * 3 * H; i++) p[i] = P ? ldv(P, i) : 0;
    /* x as [S, Bt, I] whatever the layout. */
    for (int64_t t = 0; t < S; t++)
        for (int64_t bb = 0; bb < Bt; bb++)
            for (int64_t k = 0; k < I; k++)
                x[(t * Bt + bb) * I + k] = ldv(X, (st->layout ? bb * S + t : t * Bt + bb) * I + k);
    /* States as [D, Bt, H]. */
    for (int64_t d = 0; d < D; d++)
        for (int64_t bb = 0; bb < Bt; bb++)
            for (int64_t j = 0; j < H; j++) {
                int64_t src = (st->layout ? bb * D + d : d * Bt + bb) * H + j, dst = (d * Bt + bb) * H + j;
                h[dst] = H0 ? ldv(H0, src) : 0;
                c[dst] = C0 ? ldv(C0, src) : 0;
            }
    if (Y) memset(Y->data, 0, (size_t)ig_tensor_nbytes(Y));

    for (int64_t bb = 0; bb < Bt; bb++) {
        int64_t len = SL ? ((const int32_t *)SL->data)[bb] : S;
        if (len < 0 || len > S) return IG_EINVAL;
        for (int64_t d = 0; d < D; d++) {
            bool rev = st->reverse_only || d == 1;
            double *hb = h + (d * Bt + bb) * H, *cb = c + (d * Bt + bb) * H;
            for (int64_t step = 0; step < len; step++) {
                int64_t t = rev ? len - 1 - step : step;
                cell(st, (int)d, w + d * G * H * I, r + d * G * H * H, b + d * 2 * G * H, p + d * 3 * H,
                     x + (t * Bt + bb) * I, hb, cb, g, tmp);
                if (Y)
                    for (int64_t j = 0; j < H; j++) {
                        int64_t yi =
                            st->layout ? ((bb * S + t) * D + d) * H + j : ((t * D + d) * Bt + bb) * H + j;
                        stv(Y, yi, hb[j]);
                    }
            }
        }
    }
    for (int64_t d = 0; d < D; d++)
        for (int64_t bb = 0; bb < Bt; bb++)
            for (int64_t j = 0; j < H; j++) {
                int64_t src = (d * Bt + bb) * H + j, dst = (st->layout ? bb * D + d : d * Bt + bb) * H + j;
                if (YH) stv(YH, dst, h[src]);
                if (YC) stv(YC, dst, c[src]);
            }
    return 0;
}

int ig__misc_rnn_plan(ig_kstep *s, ig_error *err)
{
    return rnn_plan_kind(s, err, K_RNN);
}

int ig__misc_gru_plan(ig_kstep *s, ig_error *err)
{
    return rnn_plan_kind(s, err, K_GRU);
}

int ig__misc_lstm_plan(ig_kstep *s, ig_error *err)
{
    return rnn_plan_kind(s, err, K_LSTM);
}

void ig__misc_rnn_destroy(void *state)
{
    free(state);
}
