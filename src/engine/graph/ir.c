/* Lookup helpers over the IR: attributes by name, values by name. */
#include "engine/graph/ir.h"

#include <string.h>

const ig_attr *ig_node_attr(const ig_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

int64_t ig_node_attr_int(const ig_node *n, const char *name, int64_t dflt)
{
    const ig_attr *a = ig_node_attr(n, name);
    return a && a->type == IG_ATTR_INT ? a->i : dflt;
}

float ig_node_attr_float(const ig_node *n, const char *name, float dflt)
{
    const ig_attr *a = ig_node_attr(n, name);
    return a && a->type == IG_ATTR_FLOAT ? a->f : dflt;
}

const char *ig_node_attr_str(const ig_node *n, const char *name, const char *dflt)
{
    const ig_attr *a = ig_node_attr(n, name);
    return a && a->type == IG_ATTR_STRING && a->s.ptr ? a->s.ptr : dflt;
}

const int64_t *ig_node_attr_ints(const ig_node *n, const char *name, int *count)
{
    const ig_attr *a = ig_node_attr(n, name);
    if (!a || a->type != IG_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

const float *ig_node_attr_floats(const ig_node *n, const char *name, int *count)
{
    const ig_attr *a = ig_node_attr(n, name);
    if (!a || a->type != IG_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->floats;
}

int ig_graph_find_value(const ig_graph *g, const char *name)
{
    for (int i = 0; i < g->n_values; i++)
        if (!strcmp(g->values[i].name, name)) return i;
    return -1;
}
