/* If: runs then_branch or else_branch by a boolean scalar and returns that branch's outputs. */
#include "engine/kernels/control/control_ops.h"

int ig__ctl_if_run(ig_kstep *s)
{
    ig_error *err = ig_kstep_error(s);
    const ig_tensor *c = s->n_in > 0 ? s->in[0] : NULL;
    if (!c || ig_tensor_numel(c) != 1 || c->dtype != IG_DT_BOOL)
        return ig_kstep_fail(s, err, IG_EINVAL, "cond must be a single bool");
    bool cond = *(const unsigned char *)c->data != 0;
    const ig_graph *g = ig__ctl_graph(s->node, cond ? "then_branch" : "else_branch");
    if (!g) return ig_kstep_fail(s, err, IG_EINVAL, "missing %s", cond ? "then_branch" : "else_branch");
    if (g->n_outputs != s->n_out)
        return ig_kstep_fail(s, err, IG_EINVAL, "branch has %d outputs, node has %d", g->n_outputs, s->n_out);
    int r = ig__ctl_tensor_outputs(s, g, 0);
    if (r) return r;
    ig_tensor outs[s->n_out > 0 ? s->n_out : 1];
    if ((r = ig_kstep_run_subgraph(s, g, NULL, 0, outs, s->n_out, err))) return r;
    for (int i = 0; i < s->n_out; i++)
        if ((r = ig__ctl_copy_out(s, i, &outs[i]))) return r;
    return 0;
}
