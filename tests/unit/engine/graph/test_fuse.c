/* The fusion pass on hand-built graphs: Conv+BatchNormalization folded into new weights, a residual
 * Add and Relu absorbed as post-ops with the fused node placed after the residual's producer,
 * Constant/Identity turned into initializers, MatMul+bias+Relu, and pinned values left alone. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "engine/graph/fuse.h"

static ig_tensor *ctensor(ig_arena *a, int ndim, const int64_t *dims, float fill)
{
    ig_tensor *t = ig_arena_alloc(a, sizeof(*t), 8);
    t->dtype = IG_DT_FLOAT;
    t->ndim = ndim;
    memcpy(t->dims, dims, sizeof(int64_t) * ndim);
    int64_t n = ig_tensor_numel(t);
    t->data = ig_arena_alloc(a, (size_t)n * 4, 64);
    for (int64_t i = 0; i < n; i++) ((float *)t->data)[i] = fill;
    return t;
}

static void node(ig_arena *a, ig_node *n, const char *op, int nin, const int *in, int out)
{
    memset(n, 0, sizeof(*n));
    n->op_type = op;
    n->domain = "";
    n->opset = 13;
    n->name = op;
    n->n_inputs = nin;
    n->inputs = ig_arena_array(a, nin, sizeof(int), 8);
    if (nin) memcpy(n->inputs, in, sizeof(int) * nin);
    n->n_outputs = 1;
    n->outputs = ig_arena_array(a, 1, sizeof(int), 8);
    n->outputs[0] = out;
}

static const ig_attr *attr(const ig_node *n, const char *name)
{
    return ig_node_attr(n, name);
}

/* x(0) -> Conv(W=1) -> c(2) -> BN(3..6) -> b(7); Identity(x) is not involved; residual r(8) comes
 * from Relu(x) placed after the BN; Add(b, r) -> s(9); Relu -> y(10) (graph output). */
static void test_conv_bn_add_relu(void)
{
    ig_arena *a = ig_arena_create(1 << 16);
    int64_t wd[4] = {4, 4, 3, 3}, cd[1] = {4};
    ig_value *v = ig_arena_array(a, 11, sizeof(ig_value), 8);
    const char *names[11] = {"x", "w", "c", "g", "be", "m", "var", "b", "r", "s", "y"};
    for (int i = 0; i < 11; i++) v[i] = (ig_value){.name = names[i], .producer = -1, .outer = -1};
    v[1].constant = ctensor(a, 4, wd, 1.f);
    v[3].constant = ctensor(a, 1, cd, 2.f);
    v[4].constant = ctensor(a, 1, cd, 0.5f);
    v[5].constant = ctensor(a, 1, cd, 1.f);
    v[6].constant = ctensor(a, 1, cd, 3.f);
    ig_node *nodes = ig_arena_array(a, 5, sizeof(ig_node), 8);
    node(a, &nodes[0], "Conv", 2, (int[]){0, 1}, 2);
    node(a, &nodes[1], "BatchNormalization", 5, (int[]){2, 3, 4, 5, 6}, 7);
    node(a, &nodes[2], "Relu", 1, (int[]){0}, 8);
    node(a, &nodes[3], "Add", 2, (int[]){7, 8}, 9);
    node(a, &nodes[4], "Relu", 1, (int[]){9}, 10);
    ig_graph g = {.name = "g",
                  .n_values = 11,
                  .values = v,
                  .n_nodes = 5,
                  .nodes = nodes,
                  .n_inputs = 1,
                  .inputs = (int[]){0},
                  .n_outputs = 1,
                  .outputs = (int[]){10}};
    ig_error err = {0};
    CHECK_EQ_INT(ig_graph_fuse(&g, a, &err), 0);
    CHECK_EQ_INT(g.n_nodes, 2);
    CHECK_STR(g.nodes[0].op_type, "Relu");
    const ig_node *f = &g.nodes[1];
    CHECK_STR(f->op_type, "FusedConv");
    CHECK_STR(f->domain, "com.infergate");
    CHECK_EQ_INT(f->n_inputs, 4);
    CHECK_EQ_INT(f->inputs[0], 0);
    CHECK_EQ_INT(f->inputs[3], 8);
    CHECK_EQ_INT(f->outputs[0], 10);
    CHECK_EQ_INT(g.values[10].producer, 1);
    const ig_attr *po = attr(f, "post_ops");
    CHECK(po && po->n == 2 && po->ints[0] == 6 && po->ints[1] == 1);
    /* folded: scale 2/sqrt(3+eps), bias (0-1)*scale+0.5 */
    const ig_tensor *w = g.values[f->inputs[1]].constant, *b = g.values[f->inputs[2]].constant;
    CHECK(w && b);
    float sc = 2.f / sqrtf(3.f + 1e-5f);
    if (w && b) {
        CHECK(fabsf(((float *)w->data)[0] - sc) < 1e-6f);
        CHECK(fabsf(((float *)b->data)[3] - (0.5f - sc)) < 1e-6f);
    }
    CHECK(((float *)v[1].constant->data)[0] == 1.f); /* the original initializer is untouched */
    ig_arena_free(a);
}

/* Constant bias via a Constant node and an Identity over the weights; the MatMul output is also a
 * graph output, so nothing after it may be absorbed. */
static void test_matmul_bias_relu(bool pin)
{
    ig_arena *a = ig_arena_create(1 << 16);
    int64_t wd[2] = {8, 5}, bd[1] = {5};
    ig_value *v = ig_arena_array(a, 8, sizeof(ig_value), 8);
    const char *names[8] = {"x", "w0", "w", "m", "bias", "s", "y", "unused"};
    for (int i = 0; i < 8; i++) v[i] = (ig_value){.name = names[i], .producer = -1, .outer = -1};
    v[1].constant = ctensor(a, 2, wd, 1.f);
    ig_node *nodes = ig_arena_array(a, 5, sizeof(ig_node), 8);
    node(a, &nodes[0], "Identity", 1, (int[]){1}, 2);
    node(a, &nodes[1], "Constant", 0, NULL, 4);
    nodes[1].n_attrs = 1;
    nodes[1].attrs = ig_arena_array(a, 1, sizeof(ig_attr), 8);
    nodes[1].attrs[0] = (ig_attr){.name = "value", .type = IG_ATTR_TENSOR, .t = ctensor(a, 1, bd, 0.25f)};
    node(a, &nodes[2], "MatMul", 2, (int[]){0, 2}, 3);
    node(a, &nodes[3], "Add", 2, (int[]){3, 4}, 5);
    node(a, &nodes[4], "Relu", 1, (int[]){5}, 6);
    int outs[2] = {6, 3};
    ig_graph g = {.name = "g",
                  .n_values = 8,
                  .values = v,
                  .n_nodes = 5,
                  .nodes = nodes,
                  .n_inputs = 1,
                  .inputs = (int[]){0},
                  .n_outputs = pin ? 2 : 1,
                  .outputs = outs};
    ig_error err = {0};
    CHECK_EQ_INT(ig_graph_fuse(&g, a, &err), 0);
    if (pin) {
        CHECK_EQ_INT(g.n_nodes, 3);
        CHECK_STR(g.nodes[0].op_type, "MatMul");
        CHECK_EQ_INT(g.nodes[0].inputs[1], 1); /* Identity bypassed */
        CHECK(g.values[4].constant != NULL);   /* Constant became an initializer */
    } else {
        CHECK_EQ_INT(g.n_nodes, 1);
        const ig_node *f = &g.nodes[0];
        CHECK_STR(f->op_type, "FusedMatMul");
        CHECK_EQ_INT(f->n_inputs, 3);
        CHECK_EQ_INT(f->inputs[1], 1);
        CHECK_EQ_INT(f->outputs[0], 6);
        const ig_tensor *b = g.values[f->inputs[2]].constant;
        CHECK(b && ig_tensor_numel(b) == 5 && ((float *)b->data)[4] == 0.25f);
        const ig_attr *po = attr(f, "post_ops");
        CHECK(po && po->n == 1 && po->ints[0] == 1);
    }
    ig_arena_free(a);
}

int main(void)
{
    test_conv_bn_add_relu();
    test_matmul_bias_relu(false);
    test_matmul_bias_relu(true);
    return CHECK_DONE();
}
