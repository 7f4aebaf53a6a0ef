/* Signal-processing constants (opset 17+): the Hann, Hamming and Blackman windows and the
 * MelWeightMatrix filter bank. Their output lengths come from input values, so plan defers until
 * those are known. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"

enum { W_HANN, W_HAMMING, W_BLACKMAN };

typedef struct win_state {
    int kind, periodic;
    int64_t size;
} win_state;

static bool scalar_int(const ig_tensor *t, int64_t *v)
{
    if (!t || !t->data || ig_tensor_numel(t) != 1) return false;
    if (t->dtype == IG_DT_INT64)
        *v = *(const int64_t *)t->data;
    else if (t->dtype == IG_DT_INT32)
        *v = *(const int32_t *)t->data;
    else
        return false;
    return true;
}

static double scalar_f(const ig_tensor *t)
{
    switch (t->dtype) {
    case IG_DT_FLOAT:
        return *(const float *)t->data;
    case IG_DT_DOUBLE:
        return *(const double *)t->data;
    case IG_DT_INT32:
        return *(const int32_t *)t->data;
    case IG_DT_INT64:
        return (double)*(const int64_t *)t->data;
    default:
        return 0;
    }
}

static void store(ig_tensor *t, int64_t i, double v)
{
    if (t->dtype == IG_DT_DOUBLE)
        ((double *)t->data)[i] = v;
    else
        ((float *)t->data)[i] = (float)v;
}

static int out_dtype(ig_kstep *s, ig_error *err, ig_dtype *dt)
{
    *dt = (ig_dtype)ig_node_attr_int(s->node, "output_datatype", IG_DT_FLOAT);
    if (*dt != IG_DT_FLOAT && *dt != IG_DT_DOUBLE)
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "output_datatype %d is not supported", (int)*dt);
    return 0;
}

static int window_plan(ig_kstep *s, ig_error *err, int kind)
{
    if (s->n_in < 1 || !s->in[0]) return ig_kstep_fail(s, err, IG_EINVAL, "size is required");
    if (s->in[0]->dtype != IG_DT_INT32 && s->in[0]->dtype != IG_DT_INT64)
        return ig_kstep_fail(s, err, IG_EDTYPE, "size must be int32 or int64");
    ig_dtype dt;
    int rc = out_dtype(s, err, &dt);
    if (rc) return rc;
    if (!s->in[0]->data) return IG_EDEFER;
    win_state st = {kind, ig_node_attr_int(s->node, "periodic", 1) != 0, 0};
    if (!scalar_int(s->in[0], &st.size) || st.size < 0)
        return ig_kstep_fail(s, err, IG_EINVAL, "size must be a non-negative scalar");
    ig_kstep_set_output(s, 0, dt, 1, &st.size);
    win_state *p = malloc(sizeof(*p));
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    return 0;
}

int ig__misc_hann_plan(ig_kstep *s, ig_error *err)
{
    return window_plan(s, err, W_HANN);
}

int ig__misc_hamming_plan(ig_kstep *s, ig_error *err)
{
    return window_plan(s, err, W_HAMMING);
}

int ig__misc_blackman_plan(ig_kstep *s, ig_error *err)
{
    return window_plan(s, err, W_BLACKMAN);
}

int ig__misc_window_run(ig_kstep *s)
{
    const win_state *st = s->state;
    double n_den = (double)(st->periodic ? st->size : st->size - 1);
    for (int64_t i = 0; i < st->size; i++) {
        double a = n_den > 0 ? 2 * M_PI * (double)i / n_den : 0, v;
        if (st->kind == W_HANN)
            v = 0.5 - 0.5 * cos(a);
        else if (st->kind == W_HAMMING)
            v = 25.0 / 46.0 - (21.0 / 46.0) * cos(a);
        else
            v = 0.42 - 0.5 * cos(a) + 0.08 * cos(2 * a);
        store(s->out[0], i, v);
    }
    return 0;
}

typedef struct mel_state {
    int64_t bins, dft_len;
    double rate, lo, hi;
} mel_state;

int ig__misc_mel_plan(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 5) return ig_kstep_fail(s, err, IG_EINVAL, "five inputs are required");
    for (int i = 0; i < 5; i++)
        if (!s->in[i]) return ig_kstep_fail(s, err, IG_EINVAL, "input %d is required", i);
    ig_dtype dt;
    int rc = out_dtype(s, err, &dt);
    if (rc) return rc;
    for (int i = 0; i < 5; i++)
        if (!s->in[i]->data) return IG_EDEFER;
    mel_state st = {0};
    int64_t rate;
    if (!scalar_int(s->in[0], &st.bins) || !scalar_int(s->in[1], &st.dft_len) ||
        !scalar_int(s->in[2], &rate) || ig_tensor_numel(s->in[3]) != 1 || ig_tensor_numel(s->in[4]) != 1)
        return ig_kstep_fail(s, err, IG_EINVAL, "inputs must be scalars");
    st.rate = (double)rate;
    st.lo = scalar_f(s->in[3]);
    st.hi = scalar_f(s->in[4]);
    if (st.bins <= 0 || st.dft_len <= 0 || rate <= 0 || st.lo < 0 || st.hi < st.lo)
        return ig_kstep_fail(s, err, IG_EINVAL, "bad mel parameters");
    int64_t dims[2] = {st.dft_len / 2 + 1, st.bins};
    ig_kstep_set_output(s, 0, dt, 2, dims);
    s->scratch_bytes = sizeof(int64_t) * (size_t)(st.bins + 2);
    mel_state *p = malloc(sizeof(*p));
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    return 0;
}

int ig__misc_mel_run(ig_kstep *s)
{
    const mel_state *st = s->state;
    ig_tensor *y = s->out[0];
    int64_t nspec = st->dft_len / 2 + 1, nb = st->bins;
    int64_t *fb = s->scratch;
    double lo_mel = 2595 * log10(1 + st->lo / 700), hi_mel = 2595 * log10(1 + st->hi / 700);
    double step = (hi_mel - lo_mel) / (double)(nb + 2);
    for (int64_t i = 0; i < nb + 2; i++) {
        double hz = 700 * (pow(10, ((double)i * step + lo_mel) / 2595) - 1);
        fb[i] = (int64_t)floor((double)(st->dft_len + 1) * hz / st->rate);
        if (fb[i] < 0) fb[i] = 0;
        if (fb[i] >= nspec) fb[i] = nspec - 1;
    }
    for (int64_t i = 0; i < nspec * nb; i++) store(y, i, 0);
    for (int64_t i = 0; i < nb; i++) {
        int64_t l = fb[i], c = fb[i + 1], h = fb[i + 2];
        if (c == l) {
            store(y, c * nb + i, 1);
        } else {
            for (int64_t j = l; j <= c; j++) store(y, j * nb + i, (double)(j - l) / (double)(c - l));
        }
        for (int64_t j = c; j < h; j++) store(y, j * nb + i, (double)(h - j) / (double)(h - c));
    }
    return 0;
}
