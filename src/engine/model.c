/* Models: an imported ONNX graph after load-time checks, plus what callers ask about it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/model_int.h"

static void io_from_value(ig_io_info *io, const ig_value *v)
{
    io->name = v->name;
    io->dtype = v->info.dtype;
    io->ndim = v->info.is_tensor || v->info.ndim >= 0 ? v->info.ndim : -1;
    for (int k = 0; k < IG_MAX_DIMS; k++) {
        io->dims[k] = k < io->ndim ? v->info.dims[k] : 0;
        io->dim_params[k] = k < io->ndim ? v->info.dim_params[k] : NULL;
    }
}

typedef struct unsupported {
    char msg[400];
    size_t len;
    int count;
} unsupported;

/* Collects every node without a kernel (subgraphs included), so one load names them all. */
static void check_kernels(const ig_graph *g, unsupported *u, int *n_nodes)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const ig_node *n = &g->nodes[i];
        (*n_nodes)++;
        if (!ig_kernel_exists(n->domain, n->op_type, n->opset)) {
            if (u->count < 8 && u->len < sizeof(u->msg))
                u->len += (size_t)snprintf(u->msg + u->len, sizeof(u->msg) - u->len, "%s%s%s%s (opset %d, node '%s')",
                                           u->count ? ", " : "", n->domain, n->domain[0] ? "." : "", n->op_type,
                                           n->opset, ig_node_label(g, n));
            u->count++;
        }
        for (int a = 0; a < n->n_attrs; a++) {
            const ig_attr *at = &n->attrs[a];
            if (at->type == IG_ATTR_GRAPH && at->g) check_kernels(at->g, u, n_nodes);
            if (at->type == IG_ATTR_GRAPHS)
                for (int k = 0; k < at->n; k++) check_kernels(at->graphs[k], u, n_nodes);
        }
    }
}

static int open_model(const char *path, bool require_kernels, ig_model **out, ig_error *err)
{
    ig_model *m = calloc(1, sizeof(*m));
    if (!m) return ig_error_set(err, IG_ENOMEM, "out of memory");
    int rc = ig_onnx_load(path, &m->onnx, err);
    if (rc) goto fail;
    const ig_graph *g = m->onnx->graph;
    m->inputs = calloc((size_t)g->n_inputs + 1, sizeof(ig_io_info));
    m->outputs = calloc((size_t)g->n_outputs + 1, sizeof(ig_io_info));
    m->opset_domains = calloc((size_t)m->onnx->n_opsets + 1, sizeof(char *));
    m->opset_versions = calloc((size_t)m->onnx->n_opsets + 1, sizeof(int64_t));
    if (!m->inputs || !m->outputs || !m->opset_domains || !m->opset_versions) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < g->n_inputs + g->n_outputs; i++) {
        const ig_value *v = &g->values[i < g->n_inputs ? g->inputs[i] : g->outputs[i - g->n_inputs]];
        if (!v->info.is_tensor && (rc = ig_error_set(err, IG_EUNSUPPORTED,
                                                     "graph %s '%s' is not a tensor (sequences, maps and optionals "
                                                     "are not supported)",
                                                     i < g->n_inputs ? "input" : "output", v->name)))
            goto fail;
    }
    for (int i = 0; i < g->n_inputs; i++) io_from_value(&m->inputs[i], &g->values[g->inputs[i]]);
    for (int i = 0; i < g->n_outputs; i++) io_from_value(&m->outputs[i], &g->values[g->outputs[i]]);
    for (int i = 0; i < m->onnx->n_opsets; i++) {
        m->opset_domains[i] = m->onnx->opsets[i].domain[0] ? m->onnx->opsets[i].domain : "ai.onnx";
        m->opset_versions[i] = m->onnx->opsets[i].version;
    }
    /* Fusion first: the nodes it absorbs need no kernel of their own. */
    if (require_kernels && (rc = ig__model_optimize(m, err))) goto fail;
    unsupported u = {0};
    check_kernels(g, &u, &m->n_nodes);
    if (u.count && require_kernels) {
        rc = ig_error_set(err, IG_EUNSUPPORTED, "%d node%s without a kernel: %s%s", u.count, u.count > 1 ? "s" : "",
                          u.msg, u.count > 8 ? ", ..." : "");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    ig_model_free(m);
    return rc;
}

int ig_model_load(const char *path, const ig_model_options *opts, ig_model **out, ig_error *err)
{
    int rc = open_model(path, true, out, err);
    if (rc) return rc;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    (*out)->n_threads = opts && opts->n_threads > 0 ? opts->n_threads : cores > 0 ? (int)cores : 1;
    return 0;
}

int ig_model_open(const char *path, ig_model **out, ig_error *err)
{
    return open_model(path, false, out, err);
}

void ig_model_free(ig_model *m)
{
    if (!m) return;
    ig__model_release(m);
    ig_onnx_free(m->onnx);
    free(m->inputs);
    free(m->outputs);
    free(m->opset_domains);
    free(m->opset_versions);
    free(m);
}

int ig_model_num_inputs(const ig_model *m)
{
    return m->onnx->graph->n_inputs;
}

int ig_model_num_outputs(const ig_model *m)
{
    return m->onnx->graph->n_outputs;
}

const ig_io_info *ig_model_input(const ig_model *m, int i)
{
    return i >= 0 && i < ig_model_num_inputs(m) ? &m->inputs[i] : NULL;
}

const ig_io_info *ig_model_output(const ig_model *m, int i)
{
    return i >= 0 && i < ig_model_num_outputs(m) ? &m->outputs[i] : NULL;
}

int ig_model_find_input(const ig_model *m, const char *name)
{
    for (int i = 0; i < ig_model_num_inputs(m); i++)
        if (!strcmp(m->inputs[i].name, name)) return i;
    return -1;
}

int ig_model_threads(const ig_model *m)
{
    return m->n_threads;
}

void ig_model_get_summary(const ig_model *m, ig_model_summary *out)
{
    out->ir_version = m->onnx->ir_version;
    out->producer = m->onnx->producer_name ? m->onnx->producer_name : "";
    out->n_opsets = m->onnx->n_opsets;
    out->opset_domains = m->opset_domains;
    out->opset_versions = m->opset_versions;
    out->weight_bytes = m->onnx->weight_bytes;
    out->n_nodes = m->n_nodes;
}

typedef struct op_count {
    const char *domain, *op;
    int count;
} op_count;

static void count_ops(const ig_graph *g, op_count **ops, int *n, int *cap)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const ig_node *nd = &g->nodes[i];
        int k = 0;
        while (k < *n && (strcmp((*ops)[k].op, nd->op_type) || strcmp((*ops)[k].domain, nd->domain))) k++;
        if (k == *n) {
            if (*n == *cap) {
                op_count *grown = realloc(*ops, sizeof(op_count) * (size_t)(*cap = *cap * 2 + 16));
                if (!grown) return;
                *ops = grown;
            }
            (*ops)[(*n)++] = (op_count){nd->domain, nd->op_type, 0};
        }
        (*ops)[k].count++;
        for (int a = 0; a < nd->n_attrs; a++) {
            const ig_attr *at = &nd->attrs[a];
            if (at->type == IG_ATTR_GRAPH && at->g) count_ops(at->g, ops, n, cap);
            if (at->type == IG_ATTR_GRAPHS)
                for (int j = 0; j < at->n; j++) count_ops(at->graphs[j], ops, n, cap);
        }
    }
}

static int by_count(const void *a, const void *b)
{
    const op_count *x = a, *y = b;
    return x->count != y->count ? y->count - x->count : strcmp(x->op, y->op);
}

void ig_model_foreach_op(const ig_model *m,
                         void (*f)(const char *domain, const char *op, int count, int supported, void *ctx), void *ctx)
{
    op_count *ops = NULL;
    int n = 0, cap = 0;
    count_ops(m->onnx->graph, &ops, &n, &cap);
    qsort(ops, (size_t)n, sizeof(op_count), by_count);
    for (int i = 0; i < n; i++)
        f(ops[i].domain, ops[i].op, ops[i].count,
          ig_kernel_exists(ops[i].domain, ops[i].op, (int)ig_onnx_opset(m->onnx, ops[i].domain)), ctx);
    free(ops);
}
