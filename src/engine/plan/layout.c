/* Memory layout of a plan's intermediates: each buffer value lives from the step that writes it to
 * the last step that reads it, and values whose lifetimes do not overlap share bytes. Greedy by size
 * (largest first, lowest offset that fits among already placed, overlapping blocks) keeps the total
 * close to the peak of live bytes for the chain-like graphs models are. */
#include <stdint.h>
#include <stdlib.h>

#include "engine/plan/plan.h"

typedef struct block {
    size_t size, offset;
    int first, last; /* step range, inclusive */
    size_t *dest;    /* where the offset goes */
} block;

static int by_size_desc(const void *a, const void *b)
{
    const block *x = a, *y = b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

static int by_offset(const void *a, const void *b)
{
    const block *x = *(const block *const *)a, *y = *(const block *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

#define ALIGN 64

/* The value whose bytes v is: itself, or what a view reads. */
static int root(const ig_plan *p, int v)
{
    return p->kind[v] == IG_VAL_ALIAS ? p->alias[v] : v;
}

int ig__plan_layout(ig_plan *p, ig_error *err)
{
    const ig_graph *g = p->g;
    int nv = g->n_values, ns = p->n_steps;
    int *first = malloc(sizeof(int) * (nv + 1)), *last = malloc(sizeof(int) * (nv + 1));
    block *blocks = malloc(sizeof(block) * (nv + ns + 1));
    block **placed = malloc(sizeof(block *) * (nv + ns + 1));
    int nb = 0, rc = 0;
    if (!first || !last || !blocks || !placed) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory laying out a plan");
        goto out;
    }
    for (int v = 0; v < nv; v++) first[v] = last[v] = -1;
    for (int s = 0; s < ns; s++) {
        const ig_node *n = p->steps[s].k.node;
        for (int i = 0; i < n->n_outputs; i++)
            if (n->outputs[i] >= 0 && first[n->outputs[i]] < 0) first[n->outputs[i]] = s;
        for (int i = 0; i < n->n_inputs; i++)
            if (n->inputs[i] >= 0) last[root(p, n->inputs[i])] = s;
        /* Subgraphs read enclosing values by name, not through inputs: keep those alive too. */
        for (int a = 0; a < n->n_attrs; a++) {
            const ig_attr *at = &n->attrs[a];
            int ng = at->type == IG_ATTR_GRAPH ? 1 : at->type == IG_ATTR_GRAPHS ? at->n : 0;
            for (int k = 0; k < ng; k++) {
                const ig_graph *sub = at->type == IG_ATTR_GRAPH ? at->g : at->graphs[k];
                for (int v = 0; sub && v < sub->n_values; v++)
                    if (sub->values[v].outer >= 0 && sub->values[v].outer < nv)
                        last[root(p, sub->values[v].outer)] = s;
            }
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] >= 0) last[root(p, g->outputs[i])] = ns; /* outputs outlive the run */
    for (int v = 0; v < nv; v++) {
        if (p->kind[v] != IG_VAL_BUFFER) continue;
        size_t size = ig_tensor_nbytes(&p->vals[v]);
        if (size == SIZE_MAX) {
            rc = ig_error_set(err, IG_EOVERFLOW, "value '%s' is too large", g->values[v].name);
            goto out;
        }
        int f = first[v] < 0 ? 0 : first[v];
        blocks[nb++] = (block){.size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1), .first = f,
                               .last = last[v] < f ? f : last[v], .dest = &p->offset[v]};
    }
    for (int s = 0; s < ns; s++) {
        ig_plan_step *st = &p->steps[s];
        if (st->deferred || !st->k.scratch_bytes) continue;
        blocks[nb++] = (block){.size = (st->k.scratch_bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1), .first = s,
                               .last = s, .dest = &st->scratch_offset};
    }
    qsort(blocks, nb, sizeof(block), by_size_desc);
    size_t total = 0;
    int np = 0;
    for (int b = 0; b < nb; b++) {
        block *bl = &blocks[b];
        /* Candidates: blocks already placed whose lifetimes overlap this one, by offset. */
        int nc = 0;
        for (int i = 0; i < np; i++)
            if (placed[i]->first <= bl->last && bl->first <= placed[i]->last) placed[nc++] = placed[i];
        qsort(placed, nc, sizeof(block *), by_offset);
        size_t off = 0;
        for (int i = 0; i < nc; i++) {
            if (placed[i]->offset >= off + bl->size) break;
            if (placed[i]->offset + placed[i]->size > off) off = placed[i]->offset + placed[i]->size;
        }
        bl->offset = off;
        if (off + bl->size > total) total = off + bl->size;
        /* placed[] was reordered in its prefix only; rebuild it as the full set of placed blocks. */
        np = 0;
        for (int i = 0; i <= b; i++) placed[np++] = &blocks[i];
    }
    for (int b = 0; b < nb; b++) *blocks[b].dest = blocks[b].offset;
    p->buffer_bytes = total;
out:
    free(first);
    free(last);
    free(blocks);
    free(placed);
    return rc;
}
