/* GraphProto, NodeProto and ValueInfoProto import, then a stable topological sort of the nodes.
 * A graph is read in passes: collect the field views; define every name (graph inputs, initializers,
 * node outputs) so later references resolve no matter where they appear; import the nodes, whose
 * subgraphs resolve unknown names up the parent chain as outer values; then outputs and value_info. */
#include <stdlib.h>
#include <string.h>

#include "engine/onnx/import.h"

enum { G_NODE = 1, G_NAME = 2, G_INIT = 5, G_INPUT = 11, G_OUTPUT = 12, G_VINFO = 13, G_SPARSE = 15 };
enum { N_INPUT = 1, N_OUTPUT = 2, N_NAME = 3, N_OP = 4, N_ATTR = 5, N_DOMAIN = 7 };

typedef struct view {
    const uint8_t *p;
    size_t len;
} view;

typedef struct vext {
    size_t name_len;
    uint64_t hash;
    bool is_input, declared;
} vext;

typedef struct ig__gbuild {
    ig__onnx_ctx *c;
    struct ig__gbuild *parent;
    ig_graph *g; /* the graph being built */
    const char *gname;
    ig_value *vals; /* malloc'd while building, copied into the arena at the end */
    vext *vx;
    int n_vals, cap_vals;
    int *slots; /* open-addressing name index: value index or -1 */
    size_t n_slots;
    int cur_node;            /* node whose attributes are being imported, or -1 */
    int *dep_node, *dep_val; /* implicit inputs: values that a node's subgraphs capture */
    int n_deps, cap_deps;
} ig__gbuild;

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int find(const ig__gbuild *b, const char *s, size_t n, uint64_t h)
{
    if (!b->n_slots) return -1;
    for (size_t i = h & (b->n_slots - 1);; i = (i + 1) & (b->n_slots - 1)) {
        int v = b->slots[i];
        if (v < 0) return -1;
        if (b->vx[v].hash == h && b->vx[v].name_len == n && !memcmp(b->vals[v].name, s, n)) return v;
    }
}

static int rehash(ig__gbuild *b, size_t n_slots)
{
    int *s = malloc(n_slots * sizeof(int));
    if (!s) return IG_ENOMEM;
    memset(s, 0xff, n_slots * sizeof(int));
    for (int v = 0; v < b->n_vals; v++) {
        size_t i = b->vx[v].hash & (n_slots - 1);
        while (s[i] >= 0) i = (i + 1) & (n_slots - 1);
        s[i] = v;
    }
    free(b->slots);
    b->slots = s;
    b->n_slots = n_slots;
    return 0;
}

/* Adds a new value named s[0..n); returns its index or a negative error. */
static int add_value(ig__gbuild *b, const char *s, size_t n, uint64_t h)
{
    if (b->n_vals == b->cap_vals) {
        if (b->cap_vals > (1 << 28))
            return ig_error_set(b->c->err, IG_EOVERFLOW, "too many values in a graph");
        int cap = b->cap_vals ? b->cap_vals * 2 : 64;
        ig_value *nv = realloc(b->vals, (size_t)cap * sizeof(*nv));
        if (!nv) return ig_error_set(b->c->err, IG_ENOMEM, "out of memory");
        b->vals = nv;
        vext *nx = realloc(b->vx, (size_t)cap * sizeof(*nx));
        if (!nx) return ig_error_set(b->c->err, IG_ENOMEM, "out of memory");
        b->vx = nx;
        b->cap_vals = cap;
    }
    if ((size_t)(b->n_vals + 1) * 2 > b->n_slots && rehash(b, b->n_slots ? b->n_slots * 2 : 128))
        return ig_error_set(b->c->err, IG_ENOMEM, "out of memory");
    char *name = ig_arena_strndup(b->c->a, s, n);
    if (!name) return ig_error_set(b->c->err, IG_ENOMEM, "out of memory");
    int v = b->n_vals++;
    ig_value *val = &b->vals[v];
    memset(val, 0, sizeof(*val));
    val->name = name;
    /* Undeclared: unknown rank and dtype, assumed a tensor until a declaration says otherwise. */
    val->info.ndim = -1;
    val->info.is_tensor = true;
    val->producer = -1;
    val->outer = -1;
    b->vx[v] = (vext){n, h, false, false};
    size_t i = h & (b->n_slots - 1);
    while (b->slots[i] >= 0) i = (i + 1) & (b->n_slots - 1);
    b->slots[i] = v;
    return v;
}

static int find_or_add(ig__gbuild *b, const char *s, size_t n)
{
    uint64_t h = hash_name(s, n);
    int v = find(b, s, n, h);
    return v >= 0 ? v : add_value(b, s, n, h);
}

static int add_dep(ig__gbuild *b, int node, int val)
{
    if (b->n_deps == b->cap_deps) {
        if (b->cap_deps > (1 << 28)) return ig_error_set(b->c->err, IG_EOVERFLOW, "too many captured values");
        int cap = b->cap_deps ? b->cap_deps * 2 : 16;
        int *a = realloc(b->dep_node, (size_t)cap * sizeof(int));
        if (!a) return ig_error_set(b->c->err, IG_ENOMEM, "out of memory");
        b->dep_node = a;
        int *d = realloc(b->dep_val, (size_t)cap * sizeof(int));
        if (!d) return ig_error_set(b->c->err, IG_ENOMEM, "out of memory");
        b->dep_val = d;
        b->cap_deps = cap;
    }
    b->dep_node[b->n_deps] = node;
    b->dep_val[b->n_deps++] = val;
    return 0;
}

/* Index of the value a reference names: defined here, or captured from an enclosing graph (which then
 * records the capture as an implicit input of the node that owns the subgraph). IG_ENOTFOUND when no
 * graph up the chain defines it; other negatives are errors already reported. */
static int resolve(ig__gbuild *b, const char *s, size_t n)
{
    uint64_t h = hash_name(s, n);
    int v = find(b, s, n, h);
    if (v >= 0) return v;
    if (!b->parent) return IG_ENOTFOUND;
    int pv = resolve(b->parent, s, n);
    if (pv < 0) return pv;
    if (b->parent->cur_node >= 0 && add_dep(b->parent, b->parent->cur_node, pv)) return IG_ENOMEM;
    if ((v = add_value(b, s, n, h)) < 0) return v;
    b->vals[v].outer = pv;
    return v;
}

static int wire_err(ig__gbuild *b, const char *what, const char *why)
{
    return ig_error_set(b->c->err, IG_EFORMAT, "graph '%s': %s: %s", b->gname, what, why);
}

/* TensorShapeProto → info dims. */
static int import_shape(ig__gbuild *b, const char *vname, const uint8_t *p, size_t len, ig_value_info *info)
{
    ig__pb r = ig__pb_init(p, len), rd;
    ig__pb_field f, d;
    const char *why = NULL;
    int rc, rc2;
    info->ndim = 0;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num != 1) continue;
        if (f.wt != IG_PB_LEN) return wire_err(b, "TensorShapeProto.dim", "wrong wire type");
        if (info->ndim >= IG_MAX_DIMS)
            return ig_error_set(b->c->err, IG_EUNSUPPORTED, "graph '%s': value '%s' has rank above %d",
                                b->gname, vname, IG_MAX_DIMS);
        int k = info->ndim++;
        info->dims[k] = -1;
        info->dim_params[k] = NULL;
        rd = ig__pb_init(f.data, f.len);
        while ((rc2 = ig__pb_next(&rd, &d, &why)) > 0) {
            if (d.num == 1 && d.wt == IG_PB_VARINT) {
                info->dims[k] = (int64_t)d.u >= 0 ? (int64_t)d.u : -1;
                info->dim_params[k] = NULL;
            } else if (d.num == 2 && d.wt == IG_PB_LEN) {
                info->dims[k] = -1;
                if (!(info->dim_params[k] = ig_arena_strndup(b->c->a, (const char *)d.data, d.len)))
                    return ig_error_set(b->c->err, IG_ENOMEM, "out of memory");
            }
        }
        if (rc2 < 0) return wire_err(b, "TensorShapeProto.Dimension", why);
    }
    if (rc < 0) return wire_err(b, "TensorShapeProto", why);
    return 0;
}

/* TypeProto → info. Only tensor types are described in detail; others just mark is_tensor false. */
static int import_type(ig__gbuild *b, const char *vname, const uint8_t *p, size_t len, ig_value_info *info)
{
    ig__pb r = ig__pb_init(p, len), rt;
    ig__pb_field f, t;
    const char *why = NULL;
    int rc;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num == 1 || f.num == 8) { /* tensor_type, sparse_tensor_type: same layout */
            if (f.wt != IG_PB_LEN) return wire_err(b, "TypeProto", "wrong wire type");
            info->is_tensor = f.num == 1;
            rt = ig__pb_init(f.data, f.len);
            while ((rc = ig__pb_next(&rt, &t, &why)) > 0) {
                if (t.num == 1 && t.wt == IG_PB_VARINT) {
                    info->dtype = t.u < IG_DT_COUNT ? (ig_dtype)t.u : IG_DT_UNDEFINED;
                } else if (t.num == 2 && t.wt == IG_PB_LEN) {
                    if ((rc = import_shape(b, vname, t.data, t.len, info))) return rc;
                }
            }
            if (rc < 0) return wire_err(b, "TypeProto.Tensor", why);
        } else if (f.num == 4 || f.num == 5 || f.num == 9) {
            info->is_tensor = false;
            info->dtype = IG_DT_UNDEFINED;
            info->ndim = -1;
        }
    }
    if (rc < 0) return wire_err(b, "TypeProto", why);
    return 0;
}

/* ValueInfoProto: finds or adds the value (or, with resolve_ref, resolves it like a reference) and
 * records its declared type unless an earlier declaration did. */
static int import_vinfo(ig__gbuild *b, const uint8_t *p, size_t len, int kind, int *out)
{
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    const uint8_t *name = NULL, *type = NULL;
    size_t nlen = 0, tlen = 0;
    int rc;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.wt != IG_PB_LEN) continue;
        if (f.num == 1) name = f.data, nlen = f.len;
        if (f.num == 2) type = f.data, tlen = f.len;
    }
    static const char *const kinds[] = {"input", "output", "value_info"};
    if (rc < 0) return wire_err(b, kinds[kind], why);
    if (!name || !nlen)
        return ig_error_set(b->c->err, IG_EFORMAT, "graph '%s': %s without a name", b->gname, kinds[kind]);
    int v;
    if (kind == 1) {
        v = resolve(b, (const char *)name, nlen);
        if (v == IG_ENOTFOUND)
            return ig_error_set(b->c->err, IG_EFORMAT, "graph '%s': output '%.*s' is never produced",
                                b->gname, (int)(nlen > 200 ? 200 : nlen), (const char *)name);
    } else {
        v = find_or_add(b, (const char *)name, nlen);
    }
    if (v < 0) return v;
    if (kind == 0) {
        if (b->vx[v].is_input)
            return ig_error_set(b->c->err, IG_EFORMAT, "graph '%s': input '%s' listed twice", b->gname,
                                b->vals[v].name);
        b->vx[v].is_input = true;
    }
    if (type && !b->vx[v].declared) {
        ig_value_info info = {.ndim = -1, .is_tensor = true};
        if ((rc = import_type(b, b->vals[v].name, type, tlen, &info))) return rc;
        b->vals[v].info = info;
        b->vx[v].declared = true;
    }
    *out = v;
    return 0;
}

static int add_initializer(ig__gbuild *b, const view *w, bool sparse)
{
    ig__onnx_ctx *c = b->c;
    ig_tensor *t = ig_arena_alloc(c->a, sizeof(*t), 16);
    const char *name;
    if (!t) return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    int rc = sparse ? ig__onnx_sparse_tensor(c, w->p, w->len, t, &name)
                    : ig__onnx_tensor(c, w->p, w->len, t, &name);
    if (rc) return ig_error_prefix(c->err, rc, "graph '%s' initializer: ", b->gname);
    if (!name[0]) return ig_error_set(c->err, IG_EFORMAT, "graph '%s': initializer without a name", b->gname);
    int v = find_or_add(b, name, strlen(name));
    if (v < 0) return v;
    if (b->vals[v].constant)
        return ig_error_set(c->err, IG_EFORMAT, "graph '%s': initializer '%s' defined twice", b->gname, name);
    b->vals[v].constant = t;
    size_t nb = ig_tensor_nbytes(t);
    if (c->m) c->m->weight_bytes = nb > SIZE_MAX - c->m->weight_bytes ? SIZE_MAX : c->m->weight_bytes + nb;
    return 0;
}

static const char *node_label(const ig_node *n)
{
    return n->name && n->name[0] ? n->name : n->op_type ? n->op_type : "?";
}

/* Pass 2 for one node: defines its outputs. */
static int define_outputs(ig__gbuild *b, const view *w, int idx)
{
    ig__pb r = ig__pb_init(w->p, w->len);
    ig__pb_field f;
    const char *why = NULL;
    int rc;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num != N_OUTPUT) continue;
        if (f.wt != IG_PB_LEN) return wire_err(b, "NodeProto.output", "wrong wire type");
        if (!f.len) continue;
        int v = find_or_add(b, (const char *)f.data, f.len);
        if (v < 0) return v;
        if (b->vals[v].producer >= 0 || b->vals[v].constant || b->vx[v].is_input)
            return ig_error_set(b->c->err, IG_EFORMAT, "graph '%s': value '%s' is defined more than once",
                                b->gname, b->vals[v].name);
        b->vals[v].producer = idx;
    }
    if (rc < 0) return wire_err(b, "NodeProto", why);
    return 0;
}

static int import_node(ig__gbuild *b, const view *w, int idx, ig_node *n)
{
    ig__onnx_ctx *c = b->c;
    ig__pb r = ig__pb_init(w->p, w->len);
    ig__pb_field f;
    const char *why = NULL;
    size_t n_in = 0, n_out = 0, n_attr = 0;
    int rc;
    n->domain = "";
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num == N_INPUT || f.num == N_OUTPUT || f.num == N_ATTR || f.num == N_NAME || f.num == N_OP ||
            f.num == N_DOMAIN) {
            if (f.wt != IG_PB_LEN) return wire_err(b, "NodeProto", "field has the wrong wire type");
        }
        if (f.num == N_INPUT) n_in++;
        if (f.num == N_OUTPUT) n_out++;
        if (f.num == N_ATTR) n_attr++;
        const char **dst = f.num == N_NAME     ? &n->name
                           : f.num == N_OP     ? &n->op_type
                           : f.num == N_DOMAIN ? &n->domain
                                               : NULL;
        if (dst && !(*dst = ig_arena_strndup(c->a, (const char *)f.data, f.len)))
            return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    }
    if (rc < 0) return wire_err(b, "NodeProto", why);
    if (!n->name) n->name = "";
    if (!n->op_type || !n->op_type[0])
        return ig_error_set(c->err, IG_EFORMAT, "graph '%s': node %d ('%s') has no op_type", b->gname, idx,
                            n->name);
    if (!strcmp(n->domain, "ai.onnx")) n->domain = "";
    int64_t ver = ig__onnx_opset_of(c->m, n->domain);
    if (ver <= 0 || ver > INT32_MAX)
        return ig_error_set(c->err, IG_EFORMAT,
                            "node '%s' (%s): the model imports no usable opset for domain '%s'",
                            node_label(n), n->op_type, n->domain);
    n->opset = (int)ver;
    if (n_in > INT32_MAX || n_out > INT32_MAX || n_attr > INT32_MAX)
        return ig_error_set(c->err, IG_EFORMAT, "node '%s': too many fields", node_label(n));
    n->inputs = ig_arena_array(c->a, n_in ? n_in : 1, sizeof(int), 4);
    n->outputs = ig_arena_array(c->a, n_out ? n_out : 1, sizeof(int), 4);
    n->attrs = ig_arena_array(c->a, n_attr ? n_attr : 1, sizeof(ig_attr), 16);
    if (!n->inputs || !n->outputs || !n->attrs) return ig_error_set(c->err, IG_ENOMEM, "out of memory");

    r = ig__pb_init(w->p, w->len);
    b->cur_node = idx;
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        if (f.num == N_INPUT) {
            int v = -1;
            if (f.len) {
                v = resolve(b, (const char *)f.data, f.len);
                if (v == IG_ENOTFOUND)
                    return ig_error_set(
                        c->err, IG_EFORMAT,
                        "graph '%s': node '%s' (%s) input '%.*s' is not produced by any node, graph "
                        "input or initializer",
                        b->gname, node_label(n), n->op_type, (int)(f.len > 200 ? 200 : f.len),
                        (const char *)f.data);
                if (v < 0) return v;
            }
            n->inputs[n->n_inputs++] = v;
        } else if (f.num == N_OUTPUT) {
            n->outputs[n->n_outputs++] =
                f.len ? find(b, (const char *)f.data, f.len, hash_name((const char *)f.data, f.len)) : -1;
        } else if (f.num == N_ATTR) {
            ig_attr *a = &n->attrs[n->n_attrs];
            /* A repeated name is not rejected (checking would be quadratic); ig_node_attr finds the first. */
            if ((rc = ig__onnx_attr(c, b, node_label(n), f.data, f.len, a))) return rc;
            n->n_attrs++;
        }
    }
    b->cur_node = -1;
    if (rc < 0) return wire_err(b, "NodeProto", why);
    return 0;
}

/* Binary min-heap of node indices, so Kahn's algorithm emits ready nodes in their file order. */
static void heap_push(int *h, int *n, int v)
{
    int i = (*n)++;
    while (i && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static int heap_pop(int *h, int *n)
{
    int top = h[0], v = h[--(*n)], i = 0;
    for (;;) {
        int l = 2 * i + 1, m = l + 1, s = i;
        int sv = v;
        if (l < *n && h[l] < sv) s = l, sv = h[l];
        if (m < *n && h[m] < sv) s = m, sv = h[m];
        if (s == i) break;
        h[i] = h[s];
        i = s;
    }
    if (*n) h[i] = v;
    return top;
}

static int topo_sort(ig__gbuild *b, ig_node *nodes, int nn)
{
    ig__onnx_ctx *c = b->c;
    if (nn == 0) return 0;
    size_t ne = (size_t)b->n_deps;
    for (int i = 0; i < nn; i++) ne += (size_t)nodes[i].n_inputs;
    int *indeg = calloc((size_t)nn, sizeof(int)), *beg = calloc((size_t)nn + 1, sizeof(int));
    int *adj = malloc((ne ? ne : 1) * sizeof(int)), *heap = malloc((size_t)nn * sizeof(int));
    int *order = malloc((size_t)nn * sizeof(int)), *newidx = malloc((size_t)nn * sizeof(int));
    ig_node *tmp = malloc((size_t)nn * sizeof(ig_node));
    int rc = 0;
    if (!indeg || !beg || !adj || !heap || !order || !newidx || !tmp || ne > INT32_MAX) {
        rc = ig_error_set(c->err, IG_ENOMEM, "out of memory sorting graph '%s'", b->gname);
        goto out;
    }
    /* Edges producer → consumer, counted then laid out per producer (CSR). */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < nn; i++)
            for (int k = 0; k < nodes[i].n_inputs; k++) {
                int v = nodes[i].inputs[k], p = v >= 0 ? b->vals[v].producer : -1;
                if (p < 0) continue;
                if (pass == 0)
                    beg[p + 1]++, indeg[i]++;
                else
                    adj[beg[p]++] = i;
            }
        for (int d = 0; d < b->n_deps; d++) {
            int i = b->dep_node[d], p = b->vals[b->dep_val[d]].producer;
            if (p < 0) continue;
            if (pass == 0)
                beg[p + 1]++, indeg[i]++;
            else
                adj[beg[p]++] = i;
        }
        if (pass == 0)
            for (int i = 0; i < nn; i++) beg[i + 1] += beg[i];
        else
            for (int i = nn; i > 0; i--) beg[i] = beg[i - 1]; /* undo the fill's advance */
        if (pass == 1) beg[0] = 0;
    }
    int nh = 0, no = 0;
    for (int i = 0; i < nn; i++)
        if (!indeg[i]) heap_push(heap, &nh, i);
    while (nh) {
        int p = heap_pop(heap, &nh);
        order[no++] = p;
        for (int e = beg[p]; e < beg[p + 1]; e++)
            if (--indeg[adj[e]] == 0) heap_push(heap, &nh, adj[e]);
    }
    if (no < nn) {
        for (int i = 0; i < nn; i++) {
            if (!indeg[i]) continue;
            const char *via = "?";
            for (int k = 0; k < nodes[i].n_inputs; k++) {
                int v = nodes[i].inputs[k];
                if (v >= 0 && b->vals[v].producer >= 0 && indeg[b->vals[v].producer]) {
                    via = b->vals[v].name;
                    break;
                }
            }
            rc = ig_error_set(c->err, IG_EFORMAT,
                              "graph '%s' has a cycle: node '%s' (%s) depends on itself via '%s'", b->gname,
                              node_label(&nodes[i]), nodes[i].op_type, via);
            goto out;
        }
    }
    for (int i = 0; i < nn; i++) newidx[order[i]] = i, tmp[i] = nodes[order[i]];
    memcpy(nodes, tmp, (size_t)nn * sizeof(ig_node));
    for (int v = 0; v < b->n_vals; v++)
        if (b->vals[v].producer >= 0) b->vals[v].producer = newidx[b->vals[v].producer];
out:
    free(indeg);
    free(beg);
    free(adj);
    free(heap);
    free(order);
    free(newidx);
    free(tmp);
    return rc;
}

/* Counts (pass 0) or collects (pass 1) the views of the repeated GraphProto fields. */
static int collect(ig__gbuild *b, const uint8_t *p, size_t len, size_t *cnt, view **views, int pass)
{
    ig__pb r = ig__pb_init(p, len);
    ig__pb_field f;
    const char *why = NULL;
    int rc;
    size_t at[16] = {0};
    while ((rc = ig__pb_next(&r, &f, &why)) > 0) {
        switch (f.num) {
        case G_NODE:
        case G_INIT:
        case G_INPUT:
        case G_OUTPUT:
        case G_VINFO:
        case G_SPARSE:
            if (f.wt != IG_PB_LEN) return wire_err(b, "GraphProto", "field has the wrong wire type");
            if (pass == 0)
                cnt[f.num]++;
            else
                views[f.num][at[f.num]++] = (view){f.data, f.len};
            break;
        case G_NAME:
            if (f.wt != IG_PB_LEN) return wire_err(b, "GraphProto.name", "wrong wire type");
            if (pass == 0 && !(b->gname = ig_arena_strndup(b->c->a, (const char *)f.data, f.len)))
                return ig_error_set(b->c->err, IG_ENOMEM, "out of memory");
            break;
        default:
            break;
        }
    }
    if (rc < 0) return wire_err(b, "GraphProto", why);
    return 0;
}

static int build(ig__gbuild *b, const uint8_t *p, size_t len, view **views, ig_graph *g)
{
    ig__onnx_ctx *c = b->c;
    size_t cnt[16] = {0};
    int rc;
    if ((rc = collect(b, p, len, cnt, views, 0))) return rc;
    static const int rep[] = {G_NODE, G_INIT, G_INPUT, G_OUTPUT, G_VINFO, G_SPARSE};
    for (int k = 0; k < 6; k++) {
        if (cnt[rep[k]] > INT32_MAX / 2)
            return ig_error_set(c->err, IG_EOVERFLOW, "graph '%s' is too large", b->gname);
        if (!(views[rep[k]] = malloc((cnt[rep[k]] ? cnt[rep[k]] : 1) * sizeof(view))))
            return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    }
    if ((rc = collect(b, p, len, cnt, views, 1))) return rc;
    g->name = b->gname;

    /* Definitions first, so references anywhere in the graph resolve. */
    int *inputs = ig_arena_array(c->a, cnt[G_INPUT] + 1, sizeof(int), 4);
    int *outputs = ig_arena_array(c->a, cnt[G_OUTPUT] + 1, sizeof(int), 4);
    ig_node *nodes = ig_arena_array(c->a, cnt[G_NODE] + 1, sizeof(ig_node), 16);
    if (!inputs || !outputs || !nodes) return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    for (size_t i = 0; i < cnt[G_INPUT]; i++)
        if ((rc = import_vinfo(b, views[G_INPUT][i].p, views[G_INPUT][i].len, 0, &inputs[i]))) return rc;
    for (size_t i = 0; i < cnt[G_INIT]; i++)
        if ((rc = add_initializer(b, &views[G_INIT][i], false))) return rc;
    for (size_t i = 0; i < cnt[G_SPARSE]; i++)
        if ((rc = add_initializer(b, &views[G_SPARSE][i], true))) return rc;
    for (size_t i = 0; i < cnt[G_NODE]; i++)
        if ((rc = define_outputs(b, &views[G_NODE][i], (int)i))) return rc;

    for (size_t i = 0; i < cnt[G_NODE]; i++)
        if ((rc = import_node(b, &views[G_NODE][i], (int)i, &nodes[i]))) return rc;
    for (size_t i = 0; i < cnt[G_OUTPUT]; i++)
        if ((rc = import_vinfo(b, views[G_OUTPUT][i].p, views[G_OUTPUT][i].len, 1, &outputs[i]))) return rc;
    for (size_t i = 0; i < cnt[G_VINFO]; i++) {
        int v;
        if ((rc = import_vinfo(b, views[G_VINFO][i].p, views[G_VINFO][i].len, 2, &v))) return rc;
    }
    if ((rc = topo_sort(b, nodes, (int)cnt[G_NODE]))) return rc;

    /* Graph inputs are those without an initializer; constants describe themselves when undeclared. */
    g->n_inputs = 0;
    for (size_t i = 0; i < cnt[G_INPUT]; i++)
        if (!b->vals[inputs[i]].constant) inputs[g->n_inputs++] = inputs[i];
    g->inputs = inputs;
    g->n_outputs = (int)cnt[G_OUTPUT];
    g->outputs = outputs;
    g->nodes = nodes;
    g->n_nodes = (int)cnt[G_NODE];
    for (int v = 0; v < b->n_vals; v++) {
        ig_value *val = &b->vals[v];
        if (val->constant && !b->vx[v].declared) {
            val->info.dtype = val->constant->dtype;
            val->info.ndim = val->constant->ndim;
            memcpy(val->info.dims, val->constant->dims, sizeof(val->info.dims));
            val->info.is_tensor = true;
        }
    }
    g->values = ig_arena_array(c->a, (size_t)b->n_vals + 1, sizeof(ig_value), 16);
    if (!g->values) return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    if (b->n_vals) memcpy(g->values, b->vals, (size_t)b->n_vals * sizeof(ig_value));
    g->n_values = b->n_vals;
    return 0;
}

int ig__onnx_graph(ig__onnx_ctx *c, struct ig__gbuild *parent, const uint8_t *p, size_t len, ig_graph **out)
{
    if (c->depth >= IG__ONNX_MAX_DEPTH)
        return ig_error_set(c->err, IG_EUNSUPPORTED, "subgraphs nested more than %d deep",
                            IG__ONNX_MAX_DEPTH);
    ig_graph *g = ig_arena_alloc(c->a, sizeof(*g), 16);
    if (!g) return ig_error_set(c->err, IG_ENOMEM, "out of memory");
    ig__gbuild b = {.c = c, .parent = parent, .g = g, .gname = "", .cur_node = -1};
    view *views[16] = {0};
    c->depth++;
    int rc = build(&b, p, len, views, g);
    c->depth--;
    for (int k = 0; k < 16; k++) free(views[k]);
    free(b.vals);
    free(b.vx);
    free(b.slots);
    free(b.dep_node);
    free(b.dep_val);
    if (rc) return rc;
    g->parent = parent ? parent->g : NULL;
    *out = g;
    return 0;
}
