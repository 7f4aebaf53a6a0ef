/* Helpers shared by If, Loop and Scan: subgraph attributes, output checks and copies. */
#include <string.h>

#include "engine/kernels/control/control_ops.h"

const ig_graph *ig__ctl_graph(const ig_node *n, const char *name)
{
    const ig_attr *a = ig_node_attr(n, name);
    return a && a->type == IG_ATTR_GRAPH ? a->g : NULL;
}

int ig__ctl_tensor_outputs(const ig_kstep *s, const ig_graph *g, int first)
{
    for (int i = first; i < g->n_outputs; i++) {
        const ig_value_info *vi = &g->values[g->outputs[i]].info;
        if (!vi->is_tensor && vi->dtype == IG_DT_UNDEFINED)
            return ig_kstep_fail(
                s, ig_kstep_error(s), IG_EUNSUPPORTED,
                "subgraph output '%s' is a sequence or optional value, which is not supported",
                g->values[g->outputs[i]].name);
    }
    return 0;
}

int ig__ctl_copy_out(ig_kstep *s, int i, const ig_tensor *t)
{
    if (i >= s->n_out || !s->out[i]) return 0;
    int r = ig_kstep_alloc_output(s, i, t->dtype, t->ndim, t->dims);
    if (r) return ig_kstep_fail(s, ig_kstep_error(s), r, "cannot allocate output %d", i);
    size_t nb = ig_tensor_nbytes(t);
    if (nb && nb != SIZE_MAX) memcpy(s->out[i]->data, t->data, nb);
    return 0;
}

/* Never called for IG_KF_ALLOCS_OUTPUTS kernels; present so the table row is complete. */
int ig__ctl_plan(ig_kstep *s, ig_error *err)
{
    return IG_EDEFER;
}
