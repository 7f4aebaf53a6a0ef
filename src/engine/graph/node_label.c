/* How messages name a node: exports often leave node names empty, but outputs always have one. */
#include "engine/graph/ir.h"

const char *ig_node_label(const ig_graph *g, const ig_node *n)
{
    if (n->name && n->name[0]) return n->name;
    for (int i = 0; g && i < n->n_outputs; i++)
        if (n->outputs[i] >= 0 && g->values[n->outputs[i]].name[0]) return g->values[n->outputs[i]].name;
    return n->op_type;
}
