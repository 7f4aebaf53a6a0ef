/* TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml). plan() turns the parallel nodes_*
 * attribute arrays into one flat node array with child indices and per-leaf weight lists, so run()
 * walks each tree with no lookups; rows run in parallel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ml/ml_ops.h"

enum { M_LEAF, M_LEQ, M_LT, M_GTE, M_GT, M_EQ, M_NEQ };
enum { AGG_SUM, AGG_AVERAGE, AGG_MIN, AGG_MAX };

typedef struct tnode {
    double value;
    int32_t feature;
    int32_t next[2]; /* [false, true] */
    uint8_t mode, miss_true;
    int32_t leaf_first, leaf_n;
} tnode;

typedef struct tleaf {
    int32_t node, target;
    double weight;
} tleaf;

typedef struct tree_state {
    int64_t n_feat;
    int n_nodes, n_trees, n_targets, n_leaves;
    tnode *nodes;
    int32_t *roots;
    tleaf *leaves;
    double *base; /* n_targets values, zeros when absent */
    int agg, post;
    bool classifier, binary, weights_positive;
    int bin_class; /* binary case: the one class the leaves vote for */
    const int64_t *labels_i;
    const ig_string *labels_s;
} tree_state;

void ig__ml_tree_destroy(void *p)
{
    tree_state *st = p;
    if (!st) return;
    free(st->nodes);
    free(st->roots);
    free(st->leaves);
    free(st->base);
    free(st);
}

typedef struct key {
    int64_t tree, node;
    int32_t idx;
} key;

static int key_cmp(const void *a, const void *b)
{
    const key *x = a, *y = b;
    if (x->tree != y->tree) return x->tree < y->tree ? -1 : 1;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return 0;
}

static int leaf_cmp(const void *a, const void *b)
{
    const tleaf *x = a, *y = b;
    return x->node != y->node ? (x->node < y->node ? -1 : 1) : 0;
}

static int find_node(const key *keys, int n, int64_t tree, int64_t node)
{
    key k = {tree, node, 0};
    const key *f = bsearch(&k, keys, (size_t)n, sizeof(key), key_cmp);
    return f ? f->idx : -1;
}

/* A floats attribute, or its double-typed *_as_tensor twin (ml opset 3); *out gets n doubles. */
static int attr_values(const ig_node *node, const char *name, double **out, int *n)
{
    char tname[96];
    snprintf(tname, sizeof tname, "%s_as_tensor", name);
    const ig_attr *t = ig_node_attr(node, tname);
    *out = NULL;
    *n = 0;
    if (t && t->type == IG_ATTR_TENSOR && t->t) {
        int64_t cnt = ig_tensor_numel(t->t);
        if (cnt < 0 || cnt > INT32_MAX) return IG_EINVAL;
        *n = (int)cnt;
        *out = malloc(sizeof(double) * (size_t)(cnt ? cnt : 1));
        if (!*out) return IG_ENOMEM;
        if (t->t->dtype == IG_DT_DOUBLE || t->t->dtype == IG_DT_FLOAT)
            ig__ml_to_double(t->t, *out, cnt);
        else
            return IG_EINVAL;
        return 0;
    }
    const float *f = ig_node_attr_floats(node, name, n);
    *out = malloc(sizeof(double) * (size_t)(*n ? *n : 1));
    if (!*out) return IG_ENOMEM;
    for (int i = 0; i < *n; i++) (*out)[i] = f[i];
    return 0;
}

static int parse_mode(const ig_string *s)
{
    static const char *const names[] = {"LEAF",      "BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE",
                                        "BRANCH_GT", "BRANCH_EQ",  "BRANCH_NEQ"};
    for (int i = 0; i < 7; i++)
        if (s->len == strlen(names[i]) && !memcmp(s->ptr, names[i], s->len)) return i;
    return -1;
}

/* Builds nodes, roots and leaves from the nodes_* and <prefix>_* attributes. */
static int build(ig_kstep *s, ig_error *err, tree_state *st, const char *prefix)
{
    const ig_node *nd = s->node;
    int n = 0, c, nm;
    const int64_t *tids = ig_node_attr_ints(nd, "nodes_treeids", &n);
    const int64_t *nids = ig_node_attr_ints(nd, "nodes_nodeids", &c);
    if (c != n) goto bad;
    const int64_t *fids = ig_node_attr_ints(nd, "nodes_featureids", &c);
    if (c != n) goto bad;
    const int64_t *tn = ig_node_attr_ints(nd, "nodes_truenodeids", &c);
    if (c != n) goto bad;
    const int64_t *fn = ig_node_attr_ints(nd, "nodes_falsenodeids", &c);
    if (c != n) goto bad;
    const ig_string *modes = ig__ml_attr_strings(nd, "nodes_modes", &nm);
    if (nm != n) goto bad;
    const int64_t *miss = ig_node_attr_ints(nd, "nodes_missing_value_tracks_true", &c);
    if (c && c != n) goto bad;
    double *vals;
    int r = attr_values(nd, "nodes_values", &vals, &c);
    if (r) return ig_kstep_fail(s, err, r, "bad nodes_values");
    if (c != n) {
        free(vals);
        goto bad;
    }
    if (n == 0) {
        free(vals);
        return ig_kstep_fail(s, err, IG_EINVAL, "tree ensemble has no nodes");
    }
    key *keys = malloc(sizeof(key) * (size_t)n);
    bool *is_child = calloc((size_t)n, 1);
    st->nodes = calloc((size_t)n, sizeof(tnode));
    st->roots = malloc(sizeof(int32_t) * (size_t)n);
    if (!keys || !is_child || !st->nodes || !st->roots) {
        free(keys);
        free(is_child);
        free(vals);
        return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    }
    st->n_nodes = n;
    for (int i = 0; i < n; i++) keys[i] = (key){tids[i], nids[i], i};
    qsort(keys, (size_t)n, sizeof(key), key_cmp);
    r = 0;
    for (int i = 1; i < n && !r; i++)
        if (!key_cmp(&keys[i - 1], &keys[i]))
            r = ig_kstep_fail(s, err, IG_EINVAL, "node (%lld,%lld) appears twice", (long long)keys[i].tree,
                              (long long)keys[i].node);
    for (int i = 0; i < n && !r; i++) {
        tnode *t = &st->nodes[i];
        int mode = parse_mode(&modes[i]);
        if (mode < 0) {
            r = ig_kstep_fail(s, err, IG_EINVAL, "unknown node mode '%.*s'", (int)modes[i].len, modes[i].ptr);
            break;
        }
        t->mode = (uint8_t)mode;
        t->value = vals[i];
        t->miss_true = miss ? miss[i] != 0 : 0;
        t->feature = 0;
        if (mode == M_LEAF) continue;
        if (fids[i] < 0 || fids[i] >= st->n_feat) {
            r = ig_kstep_fail(s, err, IG_EINVAL, "feature id %lld out of range for %lld features",
                              (long long)fids[i], (long long)st->n_feat);
            break;
        }
        t->feature = (int32_t)fids[i];
        t->next[1] = find_node(keys, n, tids[i], tn[i]);
        t->next[0] = find_node(keys, n, tids[i], fn[i]);
        if (t->next[0] < 0 || t->next[1] < 0) {
            r = ig_kstep_fail(s, err, IG_EINVAL, "node (%lld,%lld) has a child that does not exist",
                              (long long)tids[i], (long long)nids[i]);
            break;
        }
        is_child[t->next[0]] = is_child[t->next[1]] = true;
    }
    /* One root per tree id: the first node of that tree no other node points at. */
    for (int i = 0; i < n && !r;) {
        int j = i, root = -1;
        while (j < n && keys[j].tree == keys[i].tree) {
            int idx = keys[j].idx;
            if (!is_child[idx] && (root < 0 || idx < root)) root = idx;
            j++;
        }
        if (root < 0) r = ig_kstep_fail(s, err, IG_EINVAL, "tree %lld has no root", (long long)keys[i].tree);
        st->roots[st->n_trees++] = root;
        i = j;
    }
    free(is_child);
    free(vals);
    if (r) {
        free(keys);
        return r;
    }

    /* Leaf weights. */
    char name[64];
    int nl, cc;
    snprintf(name, sizeof name, "%s_treeids", prefix);
    const int64_t *lt = ig_node_attr_ints(nd, name, &nl);
    snprintf(name, sizeof name, "%s_nodeids", prefix);
    const int64_t *ln = ig_node_attr_ints(nd, name, &cc);
    r = cc != nl;
    snprintf(name, sizeof name, "%s_ids", prefix);
    const int64_t *lid = ig_node_attr_ints(nd, name, &cc);
    r |= cc != nl;
    double *w = NULL;
    snprintf(name, sizeof name, "%s_weights", prefix);
    if (!r && attr_values(nd, name, &w, &cc)) r = 1;
    r |= cc != nl;
    st->leaves = malloc(sizeof(tleaf) * (size_t)(nl ? nl : 1));
    if (r || !st->leaves) {
        free(keys);
        free(w);
        return ig_kstep_fail(s, err, IG_EINVAL, "%s_* attributes differ in length", prefix);
    }
    st->n_leaves = nl;
    st->weights_positive = true;
    for (int i = 0; i < nl && !r; i++) {
        int idx = find_node(keys, n, lt[i], ln[i]);
        if (idx < 0 || lid[i] < 0 || lid[i] >= st->n_targets) {
            r = ig_kstep_fail(s, err, IG_EINVAL,
                              "leaf weight %d names node (%lld,%lld) or target %lld that does "
                              "not exist",
                              i, (long long)lt[i], (long long)ln[i], (long long)lid[i]);
            break;
        }
        st->leaves[i] = (tleaf){idx, (int32_t)lid[i], w[i]};
        if (w[i] < 0) st->weights_positive = false;
    }
    free(keys);
    free(w);
    if (r) return r;
    qsort(st->leaves, (size_t)nl, sizeof(tleaf), leaf_cmp);
    for (int i = 0; i < nl;) {
        int j = i;
        while (j < nl && st->leaves[j].node == st->leaves[i].node) j++;
        st->nodes[st->leaves[i].node].leaf_first = i;
        st->nodes[st->leaves[i].node].leaf_n = j - i;
        i = j;
    }
    return 0;
bad:
    return ig_kstep_fail(s, err, IG_EINVAL, "nodes_* attributes differ in length");
}

static int base_values(ig_kstep *s, ig_error *err, tree_state *st)
{
    double *b;
    int nb;
    if (attr_values(s->node, "base_values", &b, &nb))
        return ig_kstep_fail(s, err, IG_EINVAL, "bad base_values");
    st->base = calloc((size_t)st->n_targets + 1, sizeof(double));
    if (!st->base) {
        free(b);
        return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    }
    if (nb && nb != st->n_targets && !(st->binary && nb <= 2)) {
        free(b);
        return ig_kstep_fail(s, err, IG_EINVAL, "%d base_values for %d targets", nb, st->n_targets);
    }
    if (st->binary && nb)
        st->base[st->bin_class] = b[nb - 1];
    else
        for (int i = 0; i < nb; i++) st->base[i] = b[i];
    free(b);
    return 0;
}

static int tree_plan_common(ig_kstep *s, ig_error *err, tree_state **out)
{
    int64_t n, c;
    int r = ig__ml_rows(s, err, s->in[0], &n, &c);
    if (r) return r;
    if (c > INT32_MAX) return ig_kstep_fail(s, err, IG_ESHAPE, "too many features");
    tree_state *st = calloc(1, sizeof(*st));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    s->state = st;
    st->n_feat = c;
    if ((r = ig__ml_post_parse(s, err, &st->post))) return r;
    *out = st;
    return 0;
}

int ig__ml_tree_regressor_plan(ig_kstep *s, ig_error *err)
{
    tree_state *st = NULL;
    int r = tree_plan_common(s, err, &st);
    if (r) return r;
    int64_t nt = ig_node_attr_int(s->node, "n_targets", 1);
    if (nt < 1 || nt > 1 << 20) return ig_kstep_fail(s, err, IG_EINVAL, "bad n_targets %lld", (long long)nt);
    st->n_targets = (int)nt;
    const char *agg = ig_node_attr_str(s->node, "aggregate_function", "SUM");
    static const char *const aggs[] = {"SUM", "AVERAGE", "MIN", "MAX"};
    st->agg = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(agg, aggs[i])) st->agg = i;
    if (st->agg < 0) return ig_kstep_fail(s, err, IG_EINVAL, "unknown aggregate_function '%s'", agg);
    if ((r = build(s, err, st, "target")) || (r = base_values(s, err, st))) return r;
    int64_t n = s->in[0]->ndim == 2 ? s->in[0]->dims[0] : 1;
    ig__ml_set_out2(s, 0, IG_DT_FLOAT, 2, n, nt);
    s->scratch_bytes = (size_t)(n * st->n_feat + n * (nt + 2) * 2) * sizeof(double);
    return 0;
}

int ig__ml_tree_classifier_plan(ig_kstep *s, ig_error *err)
{
    tree_state *st = NULL;
    int r = tree_plan_common(s, err, &st);
    if (r) return r;
    int ni = 0, ns = 0;
    st->labels_i = ig_node_attr_ints(s->node, "classlabels_int64s", &ni);
    st->labels_s = ig__ml_attr_strings(s->node, "classlabels_strings", &ns);
    if ((ni > 0) == (ns > 0))
        return ig_kstep_fail(s, err, IG_EINVAL,
                             "exactly one of classlabels_int64s and classlabels_strings is needed");
    if (ns) st->labels_i = NULL;
    st->classifier = true;
    st->n_targets = ni ? ni : ns;
    st->agg = AGG_SUM;
    if ((r = build(s, err, st, "class"))) return r;
    /* ONNX-ML's binary form: two labels, all votes for one class; its score v stands for the pair. */
    if (st->n_targets == 2 && st->n_leaves > 0) {
        st->binary = true;
        st->bin_class = st->leaves[0].target;
        for (int i = 1; i < st->n_leaves; i++)
            if (st->leaves[i].target != st->bin_class) st->binary = false;
    }
    if ((r = base_values(s, err, st))) return r;
    int64_t n = s->in[0]->ndim == 2 ? s->in[0]->dims[0] : 1;
    ig__ml_set_out2(s, 0, ns ? IG_DT_STRING : IG_DT_INT64, 1, n, 0);
    ig__ml_set_out2(s, 1, IG_DT_FLOAT, 2, n, st->n_targets);
    s->scratch_bytes = (size_t)(n * st->n_feat + n * (st->n_targets + 2) * 2) * sizeof(double);
    return 0;
}

/* Leaf reached by one row in one tree, or -1 when the tree is malformed (a cycle). */
static int walk(const tree_state *st, int idx, const double *x)
{
    for (int steps = 0; steps <= st->n_nodes; steps++) {
        const tnode *t = &st->nodes[idx];
        double v = x[t->feature];
        int go;
        switch (t->mode) {
        case M_LEAF:
            return idx;
        case M_LEQ:
            go = v <= t->value;
            break;
        case M_LT:
            go = v < t->value;
            break;
        case M_GTE:
            go = v >= t->value;
            break;
        case M_GT:
            go = v > t->value;
            break;
        case M_EQ:
            go = v == t->value;
            break;
        default:
            go = v != t->value;
            break;
        }
        if (t->miss_true && isnan(v)) go = 1;
        idx = t->next[go];
    }
    return -1;
}

/* Scores of one row before post_transform; returns false on a malformed tree. */
static bool row_scores(const tree_state *st, const double *x, double *sc, unsigned char *has)
{
    int nt = st->n_targets;
    for (int k = 0; k < nt; k++) {
        sc[k] = 0;
        has[k] = 0;
    }
    for (int t = 0; t < st->n_trees; t++) {
        int leaf = walk(st, st->roots[t], x);
        if (leaf < 0) return false;
        const tnode *nd = &st->nodes[leaf];
        for (int l = nd->leaf_first; l < nd->leaf_first + nd->leaf_n; l++) {
            const tleaf *lf = &st->leaves[l];
            double w = lf->weight;
            int k = lf->target;
            if (st->agg == AGG_MIN)
                sc[k] = has[k] && sc[k] < w ? sc[k] : w;
            else if (st->agg == AGG_MAX)
                sc[k] = has[k] && sc[k] > w ? sc[k] : w;
            else
                sc[k] += w;
            has[k] = 1;
        }
    }
    for (int k = 0; k < nt; k++) {
        if (st->agg == AGG_AVERAGE) sc[k] /= st->n_trees;
        sc[k] += st->base[k];
    }
    return true;
}

static int tree_run(ig_kstep *s)
{
    const tree_state *st = s->state;
    int64_t n = s->in[0]->ndim == 2 ? s->in[0]->dims[0] : 1, c = st->n_feat;
    int nt = st->n_targets;
    double *x = s->scratch, *scores = x + n * c;
    ig__ml_to_double(s->in[0], x, n * c);
    int bad = 0;
#pragma omp parallel for num_threads(s->n_threads) if (n * st->n_trees > 1 << 12) reduction(| : bad)
    for (int64_t i = 0; i < n; i++) {
        double *sc = scores + i * (nt + 2) * 2;
        unsigned char *has = (unsigned char *)(sc + nt + 2);
        if (!row_scores(st, x + i * c, sc, has)) bad = 1;
    }
    if (bad) return IG_EINVAL;
    ig_tensor *y = s->n_out > 0 ? s->out[0] : NULL, *z = s->n_out > 1 ? s->out[1] : NULL;
    if (!st->classifier) {
        if (y)
            for (int64_t i = 0; i < n; i++) {
                double *sc = scores + i * (nt + 2) * 2;
                ig__ml_post_apply(st->post, sc, nt);
                for (int k = 0; k < nt; k++) ((float *)y->data)[i * nt + k] = (float)sc[k];
            }
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        double *sc = scores + i * (nt + 2) * 2;
        int best = 0;
        if (st->binary) {
            double v = sc[st->bin_class];
            if (st->post == IG_ML_POST_LOGISTIC) {
                best = v > 0;
                sc[1] = ig__ml_sigmoid(v);
                sc[0] = 1 - sc[1];
            } else if (st->weights_positive && st->post == IG_ML_POST_NONE) {
                best = v > 0.5;
                sc[1] = v;
                sc[0] = 1 - v;
            } else {
                best = v > 0;
                sc[0] = -v;
                sc[1] = v;
                ig__ml_post_apply(st->post, sc, 2);
            }
        } else {
            for (int k = 1; k < nt; k++)
                if (sc[k] > sc[best]) best = k;
            ig__ml_post_apply(st->post, sc, nt);
        }
        if (y) {
            if (st->labels_i)
                ((int64_t *)y->data)[i] = st->labels_i[best];
            else
                ((ig_string *)y->data)[i] = st->labels_s[best];
        }
        if (z)
            for (int k = 0; k < nt; k++) ((float *)z->data)[i * nt + k] = (float)sc[k];
    }
    return 0;
}

int ig__ml_tree_regressor_run(ig_kstep *s)
{
    return tree_run(s);
}

int ig__ml_tree_classifier_run(ig_kstep *s)
{
    return tree_run(s);
}
