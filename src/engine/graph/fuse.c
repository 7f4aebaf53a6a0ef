/* Load-time fusion passes (see fuse.h). Each fusion starts at a Conv/MatMul/Gemm whose weights are
 * f32 initializers and follows the chain of single-use values after it; the fused node takes the
 * place of the last absorbed node, so residual inputs produced in between are still computed first. */
#include "engine/graph/fuse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* post-op kinds: the values the fused kernels read from "post_ops" (kernels/dnnl/dnnl_common.h) */
enum { PO_RELU = 1, PO_CLIP = 2, PO_SIGMOID = 3, PO_TANH = 4, PO_GELU_ERF = 5, PO_SUM = 6 };
enum { max_post = 8 };

typedef struct fuse_ctx {
    ig_graph *g;
    ig_arena *a;
    int cap_values;
    int *uses;      /* consumer count per value; graph outputs and outer-scope uses count as many */
    bool *pinned;   /* graph outputs and values read by subgraphs: never eliminated */
    bool *dead;     /* per node */
    int *cons_head; /* CSR of consumers per value */
    int *cons;
} fuse_ctx;

static bool is_op(const ig_node *n, const char *op)
{
    return !strcmp(n->op_type, op) && (!n->domain[0] || !strcmp(n->domain, "ai.onnx"));
}

static ig_tensor *cval(const fuse_ctx *c, int v)
{
    return v >= 0 && v < c->g->n_values ? c->g->values[v].constant : NULL;
}

static ig_tensor *cf32(const fuse_ctx *c, int v)
{
    ig_tensor *t = cval(c, v);
    return t && t->dtype == IG_DT_FLOAT && t->data ? t : NULL;
}

/* Scalar value of a float constant with one element, or NAN. */
static float cscalar(const fuse_ctx *c, int v)
{
    ig_tensor *t = cf32(c, v);
    return t && ig_tensor_numel(t) == 1 ? ((const float *)t->data)[0] : NAN;
}

static void mark_outer_uses(fuse_ctx *c, const ig_graph *sg)
{
    for (int v = 0; v < sg->n_values; v++)
        if (sg->values[v].outer >= 0 && sg->values[v].outer < c->g->n_values)
            c->pinned[sg->values[v].outer] = true;
}

static int build_uses(fuse_ctx *c)
{
    ig_graph *g = c->g;
    memset(c->uses, 0, sizeof(int) * c->cap_values);
    memset(c->pinned, 0, sizeof(bool) * c->cap_values);
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0) c->pinned[g->outputs[i]] = true;
    for (int n = 0; n < g->n_nodes; n++) {
        if (c->dead[n]) continue;
        const ig_node *nd = &g->nodes[n];
        for (int i = 0; i < nd->n_inputs; i++)
            if (nd->inputs[i] >= 0) c->uses[nd->inputs[i]]++;
        for (int k = 0; k < nd->n_attrs; k++) {
            const ig_attr *at = &nd->attrs[k];
            if (at->type == IG_ATTR_GRAPH && at->g) mark_outer_uses(c, at->g);
            if (at->type == IG_ATTR_GRAPHS)
                for (int j = 0; j < at->n; j++)
                    if (at->graphs[j]) mark_outer_uses(c, at->graphs[j]);
        }
    }
    int acc = 0;
    for (int v = 0; v < g->n_values; v++) {
        c->cons_head[v] = acc;
        acc += c->uses[v];
    }
    c->cons_head[g->n_values] = acc;
    int *fill = calloc((size_t)g->n_values + 1, sizeof(int));
    free(c->cons);
    c->cons = malloc(sizeof(int) * (size_t)(acc + 1));
    if (!fill || !c->cons) {
        free(fill);
        return IG_ENOMEM;
    }
    for (int n = 0; n < g->n_nodes; n++) {
        if (c->dead[n]) continue;
        const ig_node *nd = &g->nodes[n];
        for (int i = 0; i < nd->n_inputs; i++) {
            int v = nd->inputs[i];
            if (v < 0) continue;
            int pos = c->cons_head[v] + fill[v]++;
            /* a node reading a value twice is listed twice; callers needing one consumer check uses */
            c->cons[pos] = n;
        }
    }
    free(fill);
    return 0;
}

/* The only consumer of v, or -1 when v has another use or is pinned. */
static int sole_consumer(const fuse_ctx *c, int v)
{
    if (v < 0 || c->pinned[v] || c->uses[v] != 1) return -1;
    return c->cons[c->cons_head[v]];
}

static int add_value(fuse_ctx *c, const char *base, const char *suffix, ig_tensor *t)
{
    ig_graph *g = c->g;
    if (g->n_values >= c->cap_values) return -1;
    char name[256];
    snprintf(name, sizeof(name), "%s%s", base ? base : "", suffix);
    ig_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof(*v));
    v->name = ig_arena_strdup(c->a, name);
    v->constant = t;
    v->producer = -1;
    v->outer = -1;
    v->info.dtype = t->dtype;
    v->info.ndim = t->ndim;
    v->info.is_tensor = true;
    for (int i = 0; i < t->ndim; i++) v->info.dims[i] = t->dims[i];
    if (!v->name) return -1;
    return g->n_values++;
}

static ig_tensor *new_f32(fuse_ctx *c, int ndim, const int64_t *dims)
{
    ig_tensor *t = ig_arena_alloc(c->a, sizeof(*t), 8);
    if (!t) return NULL;
    t->dtype = IG_DT_FLOAT;
    t->ndim = ndim;
    memcpy(t->dims, dims, sizeof(int64_t) * ndim);
    t->data = ig_arena_alloc(c->a, ig_tensor_nbytes(t) ? ig_tensor_nbytes(t) : 4, 64);
    return t->data ? t : NULL;
}

/* Constant nodes with a tensor value become initializers; Identity over an initializer is bypassed. */
static void constants_to_initializers(fuse_ctx *c)
{
    ig_graph *g = c->g;
    for (int n = 0; n < g->n_nodes; n++) {
        ig_node *nd = &g->nodes[n];
        if (is_op(nd, "Constant") && nd->n_outputs == 1 && nd->outputs[0] >= 0) {
            const ig_attr *at = ig_node_attr(nd, "value");
            if (!at || at->type != IG_ATTR_TENSOR || !at->t || !at->t->data) continue;
            ig_value *v = &g->values[nd->outputs[0]];
            v->constant = at->t;
            v->producer = -1;
            c->dead[n] = true;
        }
    }
    for (int n = 0; n < g->n_nodes; n++) {
        ig_node *nd = &g->nodes[n];
        if (c->dead[n] || !is_op(nd, "Identity") || nd->n_inputs != 1 || nd->n_outputs != 1) continue;
        int src = nd->inputs[0], dst = nd->outputs[0];
        if (src < 0 || dst < 0 || !cval(c, src) || c->pinned[dst]) continue;
        for (int m = 0; m < g->n_nodes; m++)
            for (int i = 0; i < g->nodes[m].n_inputs; i++)
                if (g->nodes[m].inputs[i] == dst) g->nodes[m].inputs[i] = src;
        c->dead[n] = true;
    }
}

/* Folds a BatchNormalization that alone consumes a Conv's output into the Conv's weights and bias. */
static bool fold_bn(fuse_ctx *c, int n)
{
    ig_graph *g = c->g;
    ig_node *cv = &g->nodes[n];
    int b = sole_consumer(c, cv->outputs[0]);
    if (b < 0) return false;
    ig_node *bn = &g->nodes[b];
    if (!is_op(bn, "BatchNormalization") || bn->opset < 7 || bn->n_inputs != 5 ||
        bn->inputs[0] != cv->outputs[0])
        return false;
    if (ig_node_attr_int(bn, "training_mode", 0) || ig_node_attr_int(bn, "spatial", 1) != 1) return false;
    for (int i = 1; i < bn->n_outputs; i++)
        if (bn->outputs[i] >= 0 && (c->uses[bn->outputs[i]] || c->pinned[bn->outputs[i]])) return false;
    ig_tensor *w = cf32(c, cv->inputs[1]);
    ig_tensor *bias = cv->n_inputs > 2 && cv->inputs[2] >= 0 ? cf32(c, cv->inputs[2]) : NULL;
    if (cv->n_inputs > 2 && cv->inputs[2] >= 0 && !bias) return false;
    int64_t oc = w->dims[0];
    ig_tensor *p[4];
    for (int i = 0; i < 4; i++)
        if (!(p[i] = cf32(c, bn->inputs[1 + i])) || ig_tensor_numel(p[i]) != oc) return false;
    if (bias && ig_tensor_numel(bias) != oc) return false;
    double eps = ig_node_attr_float(bn, "epsilon", 1e-5f);
    ig_tensor *nw = new_f32(c, w->ndim, w->dims), *nb = new_f32(c, 1, &oc);
    if (!nw || !nb) return false;
    int64_t per = ig_tensor_numel(w) / oc;
    const float *gam = p[0]->data, *bet = p[1]->data, *mean = p[2]->data, *var = p[3]->data;
    const float *wf = w->data;
    float *nwf = nw->data, *nbf = nb->data;
    for (int64_t o = 0; o < oc; o++) {
        double sc = gam[o] / sqrt((double)var[o] + eps);
        for (int64_t k = 0; k < per; k++) nwf[o * per + k] = (float)(wf[o * per + k] * sc);
        nbf[o] = (float)(((bias ? ((const float *)bias->data)[o] : 0.0) - mean[o]) * sc + bet[o]);
    }
    const char *base = g->values[cv->outputs[0]].name;
    int vw = add_value(c, base, "_bnfold_w", nw), vb = add_value(c, base, "_bnfold_b", nb);
    if (vw < 0 || vb < 0) return false;
    if (cv->n_inputs < 3) {
        int *in = ig_arena_array(c->a, 3, sizeof(int), 8);
        if (!in) return false;
        in[0] = cv->inputs[0];
        cv->inputs = in;
        cv->n_inputs = 3;
    }
    cv->inputs[1] = vw;
    cv->inputs[2] = vb;
    g->values[cv->outputs[0]].producer = -1;
    cv->outputs[0] = bn->outputs[0];
    c->dead[b] = true;
    return true;
}

/* Matches the erf GELU that torch exports after value x: Div(x, sqrt2) -> Erf -> Add(1) -> Mul(x, .)
 * -> Mul(0.5). Returns the final node and sets the nodes to remove, or -1. */
static int match_gelu(const fuse_ctx *c, int x, int chain[5])
{
    const ig_graph *g = c->g;
    if (x < 0 || c->pinned[x] || c->uses[x] != 2) return -1;
    int a = c->cons[c->cons_head[x]], b = c->cons[c->cons_head[x] + 1];
    int d = is_op(&g->nodes[a], "Div") ? a : is_op(&g->nodes[b], "Div") ? b : -1;
    if (d < 0) return -1;
    int m1 = d == a ? b : a;
    const ig_node *dn = &g->nodes[d];
    if (dn->n_inputs != 2 || dn->inputs[0] != x || fabsf(cscalar(c, dn->inputs[1]) - 1.41421356f) > 1e-3f)
        return -1;
    int e = sole_consumer(c, dn->outputs[0]);
    if (e < 0 || !is_op(&g->nodes[e], "Erf")) return -1;
    int ad = sole_consumer(c, g->nodes[e].outputs[0]);
    if (ad < 0 || !is_op(&g->nodes[ad], "Add") || g->nodes[ad].n_inputs != 2) return -1;
    const ig_node *an = &g->nodes[ad];
    int one = an->inputs[0] == g->nodes[e].outputs[0] ? an->inputs[1] : an->inputs[0];
    if (cscalar(c, one) != 1.f) return -1;
    int mm = sole_consumer(c, an->outputs[0]);
    if (mm != m1 || !is_op(&g->nodes[mm], "Mul")) return -1;
    const ig_node *mn = &g->nodes[mm];
    if (!((mn->inputs[0] == x && mn->inputs[1] == an->outputs[0]) ||
          (mn->inputs[1] == x && mn->inputs[0] == an->outputs[0])))
        return -1;
    int h = sole_consumer(c, mn->outputs[0]);
    if (h < 0 || !is_op(&g->nodes[h], "Mul")) return -1;
    const ig_node *hn = &g->nodes[h];
    int half = hn->inputs[0] == mn->outputs[0] ? hn->inputs[1] : hn->inputs[0];
    if (cscalar(c, half) != 0.5f) return -1;
    chain[0] = d, chain[1] = e, chain[2] = ad, chain[3] = mm, chain[4] = h;
    return h;
}

typedef struct fusion {
    int n_po;
    int64_t kind[max_post];
    float alpha[max_post], beta[max_post];
    int n_extra;
    int extra[max_post];
    int bias; /* value index of the bias input, -1 when none */
    int last; /* node whose slot the fused node takes */
} fusion;

/* An Add of a constant that is a per-channel (Conv) or per-column (MatMul) bias; folds it into f. */
static bool try_bias(fuse_ctx *c, const ig_node *base, bool conv, int other, fusion *f)
{
    ig_tensor *t = cf32(c, other);
    ig_tensor *w = cf32(c, base->inputs[1]);
    if (!t || !w || f->n_po) return false;
    int64_t n = conv ? w->dims[0] : w->dims[1];
    if (conv) {
        /* [C,1,..] or [1,C,1,..] aligned to the output's rank, or a scalar */
        if (t->ndim > w->ndim) return false;
        int64_t numel = ig_tensor_numel(t);
        if (numel != 1) {
            int chan_axis = 1 - (w->ndim - t->ndim);
            for (int i = 0; i < t->ndim; i++)
                if (t->dims[i] != (i == chan_axis ? n : 1)) return false;
            if (chan_axis < 0) return false;
        }
    } else if (t->ndim != 1 || t->dims[0] != n) {
        return false;
    }
    ig_tensor *nb = new_f32(c, 1, &n);
    if (!nb) return false;
    const ig_tensor *ob = f->bias >= 0 ? cf32(c, f->bias) : NULL;
    if (f->bias >= 0 && (!ob || ig_tensor_numel(ob) != n)) return false;
    bool scalar = ig_tensor_numel(t) == 1;
    for (int64_t i = 0; i < n; i++)
        ((float *)nb->data)[i] =
            (ob ? ((const float *)ob->data)[i] : 0.f) + ((const float *)t->data)[scalar ? 0 : i];
    int v = add_value(c, c->g->values[base->outputs[0]].name, "_bias", nb);
    if (v < 0) return false;
    f->bias = v;
    return true;
}

/* Extends fusion f past node `at` (whose output is v): returns the absorbed node or -1. */
static int absorb_next(fuse_ctx *c, const ig_node *base, bool conv, bool gemm, int v, fusion *f,
                       int *out_value)
{
    ig_graph *g = c->g;
    int chain[5];
    if (f->n_po < max_post && match_gelu(c, v, chain) >= 0) {
        for (int i = 0; i < 4; i++) c->dead[chain[i]] = true;
        f->kind[f->n_po++] = PO_GELU_ERF;
        *out_value = g->nodes[chain[4]].outputs[0];
        return chain[4];
    }
    int u = sole_consumer(c, v);
    if (u < 0 || f->n_po >= max_post) return -1;
    const ig_node *un = &g->nodes[u];
    if (un->n_outputs < 1 || un->outputs[0] < 0) return -1;
    for (int i = 1; i < un->n_outputs; i++)
        if (un->outputs[i] >= 0) return -1;
    if (is_op(un, "Add") && un->n_inputs == 2 && un->inputs[0] != un->inputs[1]) {
        int other = un->inputs[0] == v ? un->inputs[1] : un->inputs[0];
        if (gemm) return -1;
        if (cval(c, other)) {
            if (!try_bias(c, base, conv, other, f)) return -1;
        } else {
            /* a residual: only as the first post-op, and one per node */
            if (f->n_po || f->n_extra) return -1;
            f->kind[f->n_po++] = PO_SUM;
            f->extra[f->n_extra++] = other;
        }
    } else if (is_op(un, "Relu") && un->n_inputs == 1) {
        f->kind[f->n_po] = PO_RELU, f->alpha[f->n_po++] = 0.f;
    } else if (is_op(un, "LeakyRelu") && un->n_inputs == 1) {
        f->kind[f->n_po] = PO_RELU, f->alpha[f->n_po++] = ig_node_attr_float(un, "alpha", 0.01f);
    } else if (is_op(un, "Sigmoid") && un->n_inputs == 1) {
        f->kind[f->n_po++] = PO_SIGMOID;
    } else if (is_op(un, "Tanh") && un->n_inputs == 1) {
        f->kind[f->n_po++] = PO_TANH;
    } else if (is_op(un, "Clip") && un->n_inputs >= 1 && un->inputs[0] == v) {
        float lo = -INFINITY, hi = INFINITY;
        if (un->opset < 11) {
            lo = ig_node_attr_float(un, "min", -INFINITY);
            hi = ig_node_attr_float(un, "max", INFINITY);
        } else {
            if (un->n_inputs > 1 && un->inputs[1] >= 0 && isnan(lo = cscalar(c, un->inputs[1]))) return -1;
            if (un->n_inputs > 2 && un->inputs[2] >= 0 && isnan(hi = cscalar(c, un->inputs[2]))) return -1;
        }
        /* dnnl's clip takes finite bounds */
        f->kind[f->n_po] = PO_CLIP;
        f->alpha[f->n_po] = isinf(lo) ? -3.4e38f : lo;
        f->beta[f->n_po++] = isinf(hi) ? 3.4e38f : hi;
    } else {
        return -1;
    }
    *out_value = un->outputs[0];
    return u;
}

static int set_attrs(fuse_ctx *c, ig_node *nd, const fusion *f)
{
    int n = nd->n_attrs;
    ig_attr *at = ig_arena_array(c->a, (size_t)n + 3, sizeof(ig_attr), 8);
    int64_t *k = ig_arena_array(c->a, max_post, sizeof(int64_t), 8);
    float *al = ig_arena_array(c->a, max_post, sizeof(float), 8);
    float *be = ig_arena_array(c->a, max_post, sizeof(float), 8);
    if (!at || !k || !al || !be) return IG_ENOMEM;
    if (n) memcpy(at, nd->attrs, sizeof(ig_attr) * n);
    memcpy(k, f->kind, sizeof(int64_t) * f->n_po);
    memcpy(al, f->alpha, sizeof(float) * f->n_po);
    memcpy(be, f->beta, sizeof(float) * f->n_po);
    at[n] = (ig_attr){.name = "post_ops", .type = IG_ATTR_INTS, .n = f->n_po, .ints = k};
    at[n + 1] = (ig_attr){.name = "post_alpha", .type = IG_ATTR_FLOATS, .n = f->n_po, .floats = al};
    at[n + 2] = (ig_attr){.name = "post_beta", .type = IG_ATTR_FLOATS, .n = f->n_po, .floats = be};
    nd->attrs = at;
    nd->n_attrs = n + 3;
    return 0;
}

static int fuse_from(fuse_ctx *c, int n)
{
    ig_graph *g = c->g;
    ig_node *nd = &g->nodes[n];
    bool conv = is_op(nd, "Conv"), mm = is_op(nd, "MatMul"), gemm = is_op(nd, "Gemm");
    if (!conv && !mm && !gemm) return 0;
    if (nd->n_inputs < 2 || nd->n_outputs != 1 || nd->outputs[0] < 0) return 0;
    ig_tensor *w = cf32(c, nd->inputs[1]);
    if (!w) return 0;
    if (conv && (w->ndim < 3 || w->ndim > 5)) return 0;
    if ((mm || gemm) && w->ndim != 2) return 0;
    if (conv && (nd->n_inputs > 3 || (nd->n_inputs == 3 && nd->inputs[2] >= 0 && !cf32(c, nd->inputs[2]))))
        return 0;
    if (mm && nd->n_inputs != 2) return 0;
    if (conv && fold_bn(c, n)) build_uses(c);
    fusion f = {.bias = conv && nd->n_inputs == 3 ? nd->inputs[2] : -1, .last = n};
    int v = nd->outputs[0], nv;
    int n_abs = 0;
    for (;;) {
        int u = absorb_next(c, nd, conv, gemm, v, &f, &nv);
        if (u < 0) break;
        n_abs++;
        c->dead[u] = true;
        if (u > f.last) f.last = u;
        v = nv;
    }
    bool bias_changed = f.bias != (conv && nd->n_inputs == 3 ? nd->inputs[2] : -1);
    if (!n_abs && !bias_changed) return 0;
    /* the fused node: inputs X, W, bias-or-none, residuals */
    int nin = 3 + f.n_extra;
    if (gemm) nin = nd->n_inputs;
    int *in = ig_arena_array(c->a, nin, sizeof(int), 8);
    if (!in) return IG_ENOMEM;
    if (gemm) {
        memcpy(in, nd->inputs, sizeof(int) * nin);
    } else {
        in[0] = nd->inputs[0];
        in[1] = nd->inputs[1];
        in[2] = f.bias;
        for (int i = 0; i < f.n_extra; i++) in[3 + i] = f.extra[i];
    }
    if (set_attrs(c, nd, &f)) return IG_ENOMEM;
    nd->inputs = in;
    nd->n_inputs = nin;
    g->values[nd->outputs[0]].producer = -1;
    int *outs = ig_arena_array(c->a, 1, sizeof(int), 8);
    if (!outs) return IG_ENOMEM;
    outs[0] = v;
    nd->outputs = outs;
    nd->op_type = conv ? "FusedConv" : mm ? "FusedMatMul" : "FusedGemm";
    nd->domain = "com.infergate";
    if (f.last != n) {
        /* move into the last absorbed node's slot: every input exists by then */
        ig_node tmp = *nd;
        g->nodes[f.last] = tmp;
        c->dead[f.last] = false;
        c->dead[n] = true;
    }
    return build_uses(c);
}

/* Which inputs of a node may be channels-last, and whether its output may be: the 2-D convolution
 * and pooling nodes that run on oneDNN. A value is stored channels-last when its producer and all
 * its consumers can handle that, which removes the layout reorders around every convolution. */
static bool layout_aware(const fuse_ctx *c, const ig_node *n, int in, bool *out_ok)
{
    bool conv = is_op(n, "Conv") || (!strcmp(n->op_type, "FusedConv") && !strcmp(n->domain, "com.infergate"));
    *out_ok = false;
    if (conv) {
        ig_tensor *w = n->n_inputs > 1 ? cf32(c, n->inputs[1]) : NULL;
        if (!w || w->ndim != 4 || n->n_outputs != 1) return false;
        *out_ok = true;
        return in == 0 || in >= 3;
    }
    if (n->n_outputs != 1 || n->n_inputs != 1) return false;
    int nk = 0;
    if (is_op(n, "MaxPool") || is_op(n, "AveragePool")) {
        if (!ig_node_attr_ints(n, "kernel_shape", &nk) || nk != 2) return false;
        if (ig_node_attr_int(n, "storage_order", 0)) return false;
        *out_ok = true;
        return in == 0;
    }
    return is_op(n, "GlobalAveragePool") && in == 0;
}

static int set_layout(fuse_ctx *c)
{
    ig_graph *g = c->g;
    int *nhwc = calloc((size_t)g->n_values + 1, sizeof(int));
    if (!nhwc) return IG_ENOMEM;
    /* Networks of depthwise convolutions run faster on blocked activations at large batches (the
     * kernels decide by shape, flag 2); dense ones such as ResNet stay channels-last. */
    int flag = 1;
    for (int n = 0; n < g->n_nodes && flag == 1; n++) {
        const ig_node *nd = &g->nodes[n];
        if (c->dead[n] || !(is_op(nd, "Conv") || !strcmp(nd->op_type, "FusedConv"))) continue;
        ig_tensor *w = nd->n_inputs > 1 ? cf32(c, nd->inputs[1]) : NULL;
        if (w && w->ndim == 4 && w->dims[1] == 1 && ig_node_attr_int(nd, "group", 1) > 1) flag = 2;
    }
    for (int n = 0; n < g->n_nodes; n++) {
        if (c->dead[n]) continue;
        const ig_node *nd = &g->nodes[n];
        bool out_ok;
        layout_aware(c, nd, -1, &out_ok);
        int v = nd->outputs[0];
        if (!out_ok || v < 0 || c->pinned[v] || !c->uses[v]) continue;
        bool all = true;
        for (int k = c->cons_head[v]; k < c->cons_head[v + 1] && all; k++) {
            const ig_node *cn = &g->nodes[c->cons[k]];
            for (int i = 0; i < cn->n_inputs && all; i++)
                if (cn->inputs[i] == v && !layout_aware(c, cn, i, &out_ok)) all = false;
        }
        nhwc[v] = all ? flag : 0;
    }
    static const char *const renames[][2] = {{"Conv", "FusedConv"},
                                             {"MaxPool", "FusedMaxPool"},
                                             {"AveragePool", "FusedAveragePool"},
                                             {"GlobalAveragePool", "FusedGlobalAveragePool"}};
    for (int n = 0; n < g->n_nodes; n++) {
        if (c->dead[n]) continue;
        ig_node *nd = &g->nodes[n];
        bool any = nd->n_outputs == 1 && nd->outputs[0] >= 0 && nhwc[nd->outputs[0]];
        for (int i = 0; i < nd->n_inputs; i++)
            if (nd->inputs[i] >= 0 && nhwc[nd->inputs[i]]) any = true;
        if (!any) continue;
        int na = nd->n_attrs;
        ig_attr *at = ig_arena_array(c->a, (size_t)na + 2, sizeof(ig_attr), 8);
        int64_t *fl = ig_arena_array(c->a, (size_t)nd->n_inputs + 1, sizeof(int64_t), 8);
        if (!at || !fl) {
            free(nhwc);
            return IG_ENOMEM;
        }
        memcpy(at, nd->attrs, sizeof(ig_attr) * na);
        for (int i = 0; i < nd->n_inputs; i++) fl[i] = nd->inputs[i] >= 0 ? nhwc[nd->inputs[i]] : 0;
        at[na] = (ig_attr){.name = "nhwc_in", .type = IG_ATTR_INTS, .n = nd->n_inputs, .ints = fl};
        at[na + 1] = (ig_attr){.name = "nhwc_out", .type = IG_ATTR_INT, .i = nhwc[nd->outputs[0]]};
        nd->attrs = at;
        nd->n_attrs = na + 2;
        /* only the com.infergate kernels understand the flags: never let a reference kernel run it */
        for (size_t r = 0; r < sizeof(renames) / sizeof(renames[0]); r++)
            if (is_op(nd, renames[r][0])) {
                nd->op_type = renames[r][1];
                nd->domain = "com.infergate";
            }
    }
    free(nhwc);
    return 0;
}

static void compact(fuse_ctx *c)
{
    ig_graph *g = c->g;
    int k = 0;
    for (int n = 0; n < g->n_nodes; n++)
        if (!c->dead[n]) g->nodes[k++] = g->nodes[n];
    g->n_nodes = k;
    for (int v = 0; v < g->n_values; v++) g->values[v].producer = -1;
    for (int n = 0; n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n].n_outputs; i++)
            if (g->nodes[n].outputs[i] >= 0) g->values[g->nodes[n].outputs[i]].producer = n;
}

int ig_graph_fuse(ig_graph *g, ig_arena *arena, ig_error *err)
{
    if (getenv("IG_NO_FUSE")) return 0;
    fuse_ctx c = {.g = g, .a = arena};
    /* each fusion adds at most three values (folded weights, bias, summed bias) */
    c.cap_values = g->n_values + 3 * g->n_nodes + 8;
    ig_value *vals = ig_arena_array(arena, c.cap_values, sizeof(ig_value), 8);
    c.uses = calloc(c.cap_values, sizeof(int));
    c.pinned = calloc(c.cap_values, sizeof(bool));
    c.cons_head = calloc((size_t)c.cap_values + 1, sizeof(int));
    c.dead = calloc((size_t)g->n_nodes + 1, sizeof(bool));
    int rc = 0;
    if (!vals || !c.uses || !c.pinned || !c.cons_head || !c.dead) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory fusing the graph");
        goto done;
    }
    memcpy(vals, g->values, sizeof(ig_value) * g->n_values);
    g->values = vals;
    if ((rc = build_uses(&c))) goto fail;
    constants_to_initializers(&c);
    if ((rc = build_uses(&c))) goto fail;
    for (int n = 0; n < g->n_nodes; n++) {
        if (c.dead[n]) continue;
        if ((rc = fuse_from(&c, n))) goto fail;
    }
    if (!getenv("IG_NO_NHWC") && (rc = set_layout(&c))) goto fail;
    compact(&c);
    goto done;
fail:
    ig_error_set(err, rc, "out of memory fusing the graph");
done:
    free(c.uses);
    free(c.pinned);
    free(c.cons_head);
    free(c.cons);
    free(c.dead);
    return rc;
}
