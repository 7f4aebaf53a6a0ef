/* Shared pieces of the control-flow kernels (If, Loop, Scan): they run subgraphs and allocate their
 * outputs at run time (IG_KF_ALLOCS_OUTPUTS), so plan() is never called and run() validates. */
#ifndef IG_ENGINE_KERNELS_CONTROL_OPS_H
#define IG_ENGINE_KERNELS_CONTROL_OPS_H

#include "engine/kernels/kernel.h"

int ig__ctl_if_run(ig_kstep *s);
int ig__ctl_loop_run(ig_kstep *s);
int ig__ctl_scan_run(ig_kstep *s);
int ig__ctl_plan(ig_kstep *s, ig_error *err);

/* GRAPH attribute, or NULL. */
const ig_graph *ig__ctl_graph(const ig_node *n, const char *name);
/* Fails unless every output of g from index `first` on is declared a tensor (sequence and optional
 * values are not supported). */
int ig__ctl_tensor_outputs(const ig_kstep *s, const ig_graph *g, int first);
/* Allocates out[i] with t's dtype and shape and copies t's data. */
int ig__ctl_copy_out(ig_kstep *s, int i, const ig_tensor *t);

#endif
