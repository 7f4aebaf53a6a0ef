/* Load-time fusion: rewrites a freshly imported graph so that Conv/MatMul/Gemm absorb the nodes
 * around them (BatchNormalization folded into weights, bias adds, activations and residual adds as
 * oneDNN post-ops) into com.infergate FusedConv/FusedMatMul/FusedGemm nodes. */
#ifndef IG_ENGINE_GRAPH_FUSE_H
#define IG_ENGINE_GRAPH_FUSE_H

#include "base/arena.h"
#include "engine/graph/ir.h"
#include "infergate/error.h"

/* Rewrites g in place (new tensors, values and attributes in arena; g->values and g->nodes may be
 * replaced by larger or compacted arrays). Turns Constant nodes into initializers and bypasses
 * Identity nodes over initializers first. Keeps topological order; values that fusion eliminates
 * are never graph outputs nor used elsewhere. Call once after import, before any plan is built. */
int ig_graph_fuse(ig_graph *g, ig_arena *arena, ig_error *err);

#endif
