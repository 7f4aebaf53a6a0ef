/* Einsum (opset 12): any equation with explicit or implicit output, repeated labels within one
 * operand (diagonals), ellipsis with numpy broadcasting, and labels summed away. Each label gets
 * one stride per operand (repeated labels add their strides; broadcast and absent labels get 0),
 * and one loop nest over all labels multiplies the operands, with the innermost label as a tight
 * strided loop. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/reduce_util.h"

enum { EI_MAX_IN = 16, EI_LETTERS = 52, EI_MAX_LABELS = EI_LETTERS + IG_MAX_DIMS };

typedef struct {
    int n_in;
    int n_loop;                               /* output labels first, then summed labels */
    int n_out;                                /* output rank */
    int64_t ext[EI_MAX_LABELS];               /* extent of loop label l */
    int64_t stride[EI_MAX_IN][EI_MAX_LABELS]; /* element stride of operand k along loop label l */
    int64_t numel_in[EI_MAX_IN];
    int64_t numel_out;
    bool int_domain;
} ei_state;

static int letter_id(char c)
{
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return 26 + c - 'A';
    return -1;
}

/* Parses one operand term into label ids (ellipsis as -2 placeholder). Returns the count or -1. */
static int parse_term(const char *p, const char *end, int *ids, bool *has_ell)
{
    int n = 0;
    *has_ell = false;
    while (p < end) {
        if (*p == '.') {
            if (end - p < 3 || p[1] != '.' || p[2] != '.' || *has_ell) return -1;
            *has_ell = true;
            ids[n++] = -2;
            p += 3;
            continue;
        }
        int id = letter_id(*p++);
        if (id < 0 || n >= IG_MAX_DIMS + 1) return -1;
        ids[n++] = id;
    }
    return n;
}

int ig__rd_einsum_plan(ig_kstep *s, ig_error *err)
{
    const char *eq0 = ig_node_attr_str(s->node, "equation", NULL);
    if (!eq0) return ig_kstep_fail(s, err, IG_EINVAL, "missing equation");
    char eq[512];
    size_t el = 0;
    for (const char *p = eq0; *p; p++) {
        if (*p == ' ') continue;
        if (el + 1 >= sizeof(eq)) return ig_kstep_fail(s, err, IG_EINVAL, "equation too long");
        eq[el++] = *p;
    }
    eq[el] = 0;
    if (s->n_in < 1 || s->n_in > EI_MAX_IN) return ig_kstep_fail(s, err, IG_EINVAL, "bad operand count");
    ig_dtype dt = s->in[0] ? s->in[0]->dtype : IG_DT_UNDEFINED;
    for (int k = 0; k < s->n_in; k++)
        if (!s->in[k] || s->in[k]->dtype != dt)
            return ig_kstep_fail(s, err, IG_EDTYPE, "operands must share a dtype");

    char *arrow = strstr(eq, "->");
    const char *lhs_end = arrow ? arrow : eq + el;
    /* Per operand: label ids per axis (letters 0..51, ellipsis dims 52+e). */
    int ax_label[EI_MAX_IN][IG_MAX_DIMS];
    int count[EI_MAX_LABELS] = {0};
    int64_t ext[EI_MAX_LABELS];
    for (int l = 0; l < EI_MAX_LABELS; l++) ext[l] = -1;
    int n_ell = 0;
    bool any_ell = false;
    const char *p = eq;
    for (int k = 0; k < s->n_in; k++) {
        const char *te = memchr(p, ',', lhs_end - p);
        if (!te) te = lhs_end;
        if (k == s->n_in - 1 && te != lhs_end)
            return ig_kstep_fail(s, err, IG_EINVAL, "more terms than operands");
        if (k < s->n_in - 1 && te == lhs_end)
            return ig_kstep_fail(s, err, IG_EINVAL, "fewer terms than operands");
        int ids[IG_MAX_DIMS + 2];
        bool has_ell;
        int nt = parse_term(p, te, ids, &has_ell);
        const ig_tensor *x = s->in[k];
        int letters = nt - (has_ell ? 1 : 0);
        if (nt < 0 || letters > x->ndim || (!has_ell && letters != x->ndim))
            return ig_kstep_fail(s, err, IG_EINVAL, "term %d does not match operand rank %d", k, x->ndim);
        int ne = x->ndim - letters;
        if (has_ell) any_ell = true;
        if (ne > n_ell) n_ell = ne;
        int ax = 0;
        for (int i = 0; i < nt; i++) {
            if (ids[i] == -2) {
                for (int e = 0; e < ne; e++) ax_label[k][ax++] = -100 - (ne - e); /* resolved below */
            } else {
                ax_label[k][ax++] = ids[i];
            }
        }
        p = te + 1;
    }
    /* Ellipsis dims align to the right across operands. */
    for (int k = 0; k < s->n_in; k++)
        for (int ax = 0; ax < s->in[k]->ndim; ax++)
            if (ax_label[k][ax] <= -100) ax_label[k][ax] = EI_LETTERS + n_ell + (ax_label[k][ax] + 100);
    for (int k = 0; k < s->n_in; k++) {
        for (int ax = 0; ax < s->in[k]->ndim; ax++) {
            int l = ax_label[k][ax];
            int64_t d = s->in[k]->dims[ax];
            count[l]++;
            if (ext[l] < 0 || ext[l] == 1)
                ext[l] = d;
            else if (d != ext[l] && d != 1)
                return ig_kstep_fail(s, err, IG_ESHAPE, "label %d has extents %lld and %lld", l,
                                     (long long)ext[l], (long long)d);
        }
    }

    int out_labels[EI_MAX_LABELS], n_out = 0;
    bool in_out[EI_MAX_LABELS] = {0};
    if (arrow) {
        int ids[EI_MAX_LABELS + 2];
        bool has_ell;
        const char *rs = arrow + 2;
        if (strlen(rs) > EI_MAX_LABELS) return ig_kstep_fail(s, err, IG_EINVAL, "output term too long");
        int nt = parse_term(rs, eq + el, ids, &has_ell);
        if (nt < 0) return ig_kstep_fail(s, err, IG_EINVAL, "bad output term");
        for (int i = 0; i < nt; i++) {
            if (ids[i] == -2) {
                for (int e = 0; e < n_ell; e++) out_labels[n_out++] = EI_LETTERS + e;
                continue;
            }
            if (!count[ids[i]] || in_out[ids[i]])
                return ig_kstep_fail(s, err, IG_EINVAL, "output label unknown or repeated");
            in_out[ids[i]] = true;
            out_labels[n_out++] = ids[i];
        }
        for (int i = 0; i < n_out; i++) in_out[out_labels[i]] = true;
    } else {
        (void)any_ell;
        for (int e = 0; e < n_ell; e++) out_labels[n_out++] = EI_LETTERS + e, in_out[EI_LETTERS + e] = true;
        /* Implicit output: labels seen once, in ASCII order (upper case first). */
        for (int l = 26; l < 52; l++)
            if (count[l] == 1) out_labels[n_out++] = l, in_out[l] = true;
        for (int l = 0; l < 26; l++)
            if (count[l] == 1) out_labels[n_out++] = l, in_out[l] = true;
    }
    if (n_out > IG_MAX_DIMS)
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "output rank above %d", IG_MAX_DIMS);

    ei_state *st = ig__rd_state(s, sizeof(ei_state));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->n_in = s->n_in;
    st->n_out = n_out;
    int loop_of[EI_MAX_LABELS];
    int64_t odims[IG_MAX_DIMS];
    st->numel_out = 1;
    for (int i = 0; i < n_out; i++) {
        loop_of[out_labels[i]] = i;
        st->ext[i] = ext[out_labels[i]];
        odims[i] = st->ext[i];
        st->numel_out *= st->ext[i];
    }
    st->n_loop = n_out;
    for (int l = 0; l < EI_MAX_LABELS; l++) {
        if (count[l] && !in_out[l]) {
            loop_of[l] = st->n_loop;
            st->ext[st->n_loop++] = ext[l];
        }
    }
    size_t scratch = 0;
    for (int k = 0; k < s->n_in; k++) {
        const ig_tensor *x = s->in[k];
        int64_t stride = 1;
        for (int ax = x->ndim - 1; ax >= 0; ax--) {
            int lp = loop_of[ax_label[k][ax]];
            if (x->dims[ax] != 1) st->stride[k][lp] += stride;
            stride *= x->dims[ax];
        }
        st->numel_in[k] = ig_tensor_numel(x);
        scratch += (size_t)st->numel_in[k];
    }
    st->int_domain = !rd_is_float(dt);
    s->scratch_bytes = (scratch + (size_t)st->numel_out) * 8;
    ig_kstep_set_output(s, 0, dt, n_out, odims);
    return 0;
}

/* The loop nest: odometer over all loop labels but the innermost, which runs as a strided loop. */
#define EI_LOOP(T)                                                                                           \
    do {                                                                                                     \
        T *const *xs = (T *const *)ops;                                                                      \
        T *y = (T *)out;                                                                                     \
        for (int64_t i = 0; i < st->numel_out; i++) y[i] = 0;                                                \
        int nl = st->n_loop, last = nl - 1, nin = st->n_in;                                                  \
        int64_t idx[EI_MAX_LABELS] = {0}, off[EI_MAX_IN] = {0}, oo = 0;                                      \
        int64_t ostr[EI_MAX_LABELS];                                                                         \
        int64_t os = 1;                                                                                      \
        for (int l = nl - 1; l >= 0; l--) {                                                                  \
            ostr[l] = l < st->n_out ? os : 0;                                                                \
            if (l < st->n_out) os *= st->ext[l];                                                             \
        }                                                                                                    \
        int64_t total = 1;                                                                                   \
        for (int l = 0; l < nl; l++) total *= st->ext[l];                                                    \
        if (total == 0) break;                                                                               \
        int64_t inner = nl ? st->ext[last] : 1, ostep = nl ? ostr[last] : 0;                                 \
        for (int64_t it = 0; it < total / inner; it++) {                                                     \
            if (nin == 2 && ostep == 0) {                                                                    \
                const T *a = xs[0] + off[0], *b = xs[1] + off[1];                                            \
                int64_t sa = nl ? st->stride[0][last] : 0, sb = nl ? st->stride[1][last] : 0;                \
                T acc = 0;                                                                                   \
                for (int64_t j = 0; j < inner; j++) acc += a[j * sa] * b[j * sb];                            \
                y[oo] += acc;                                                                                \
            } else {                                                                                         \
                for (int64_t j = 0; j < inner; j++) {                                                        \
                    T v = 1;                                                                                 \
                    for (int k = 0; k < nin; k++) v *= xs[k][off[k] + (nl ? j * st->stride[k][last] : 0)];   \
                    y[oo + j * ostep] += v;                                                                  \
                }                                                                                            \
            }                                                                                                \
            for (int l = last - 1; l >= 0; l--) {                                                            \
                oo += ostr[l];                                                                               \
                for (int k = 0; k < nin; k++) off[k] += st->stride[k][l];                                    \
                if (++idx[l] < st->ext[l]) break;                                                            \
                oo -= ostr[l] * st->ext[l];                                                                  \
                for (int k = 0; k < nin; k++) off[k] -= st->stride[k][l] * st->ext[l];                       \
                idx[l] = 0;                                                                                  \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

int ig__rd_einsum_run(ig_kstep *s)
{
    const ei_state *st = s->state;
    void *ops[EI_MAX_IN];
    char *sp = s->scratch;
    for (int k = 0; k < st->n_in; k++) {
        ops[k] = sp;
        const ig_tensor *x = s->in[k];
        if (st->int_domain)
            ig__rd_load_i(x->data, x->dtype, 0, st->numel_in[k], 1, (int64_t *)sp);
        else
            ig__rd_load_d(x->data, x->dtype, 0, st->numel_in[k], 1, (double *)sp);
        sp += st->numel_in[k] * 8;
    }
    void *out = sp;
    if (st->int_domain) {
        /* Unsigned: integer products wrap as the dtype would instead of overflowing. */
        EI_LOOP(uint64_t);
        ig__rd_store_i(s->out[0]->data, s->out[0]->dtype, 0, st->numel_out, 1, out);
    } else {
        EI_LOOP(double);
        ig__rd_store_d(s->out[0]->data, s->out[0]->dtype, 0, st->numel_out, 1, out);
    }
    return 0;
}
