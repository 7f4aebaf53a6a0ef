/* Batch plumbing for the scheduler: binding a request's named inputs to the model's, gathering the
 * rows of several requests into one input per model input, and scattering the outputs back into
 * each request's arena. */
#include <stdlib.h>
#include <string.h>

#include "serving/scheduler_int.h"

int ig__sched_bind(const ig_model *m, int32_t max_batch_size, ig__sched_item *item, ig_error *err)
{
    ig_infer_request *req = item->req;
    int nin = ig_model_num_inputs(m);
    bool batching = max_batch_size > 0;
    item->bound = ig_arena_array(req->arena, nin > 0 ? nin : 1, sizeof(*item->bound), _Alignof(ig_tensor *));
    if (!item->bound) return ig_error_set(err, IG_ENOMEM, "out of memory binding inputs");
    if (req->n_inputs < 0 || (req->n_inputs > 0 && !req->inputs))
        return ig_error_set(err, IG_EINVAL, "request has a malformed input list");
    for (int i = 0; i < req->n_inputs; i++) {
        const ig_infer_tensor *it = &req->inputs[i];
        const char *name = it->name ? it->name : "";
        int k = ig_model_find_input(m, name);
        if (k < 0) return ig_error_set(err, IG_EINVAL, "unexpected inference input '%s' for model", name);
        if (item->bound[k]) return ig_error_set(err, IG_EINVAL, "input '%s' given more than once", name);
        const ig_io_info *info = ig_model_input(m, k);
        const ig_tensor *t = &it->t;
        if (t->dtype != info->dtype)
            return ig_error_set(err, IG_EINVAL, "input '%s' has datatype %s, the model expects %s", name,
                                ig_dtype_name(t->dtype), ig_dtype_name(info->dtype));
        if (t->ndim < 0 || t->ndim > IG_MAX_DIMS || (info->ndim >= 0 && t->ndim != info->ndim))
            return ig_error_set(err, IG_EINVAL, "input '%s' has %d dims, the model expects %d", name, t->ndim,
                                info->ndim);
        for (int d = 0; d < t->ndim; d++) {
            if (t->dims[d] < 0) return ig_error_set(err, IG_EINVAL, "input '%s' has a negative dim", name);
            if (!(batching && d == 0) && info->ndim >= 0 && info->dims[d] >= 0 &&
                t->dims[d] != info->dims[d]) {
                char shape[96];
                return ig_error_set(err, IG_EINVAL, "input '%s' has shape %s; dim %d must be %lld", name,
                                    ig_shape_str(t, shape, sizeof(shape)), d, (long long)info->dims[d]);
            }
        }
        size_t nbytes = ig_tensor_nbytes(t);
        if (nbytes == SIZE_MAX) return ig_error_set(err, IG_EINVAL, "input '%s' is too large", name);
        if (nbytes > 0 && !t->data) return ig_error_set(err, IG_EINVAL, "input '%s' has no data", name);
        item->bound[k] = t;
    }
    item->rows = 1;
    for (int k = 0; k < nin; k++) {
        const ig_tensor *t = item->bound[k];
        if (!t)
            return ig_error_set(err, IG_EINVAL, "expected input '%s' is missing", ig_model_input(m, k)->name);
        if (!batching) continue;
        if (t->ndim < 1)
            return ig_error_set(err, IG_EINVAL, "input '%s' needs a leading batch dim (max_batch_size %d)",
                                ig_model_input(m, k)->name, (int)max_batch_size);
        if (k == 0) {
            if (t->dims[0] < 1 || t->dims[0] > max_batch_size)
                return ig_error_set(err, IG_EINVAL,
                                    "inference request batch-size must be <= %d for the model, got %lld",
                                    (int)max_batch_size, (long long)t->dims[0]);
            item->rows = (int)t->dims[0];
        } else if (t->dims[0] != item->rows) {
            return ig_error_set(err, IG_EINVAL, "input '%s' has batch size %lld, input '%s' has %d",
                                ig_model_input(m, k)->name, (long long)t->dims[0], ig_model_input(m, 0)->name,
                                item->rows);
        }
    }
    return 0;
}

bool ig__sched_same_shape(const ig_model *m, const ig__sched_item *a, const ig__sched_item *b)
{
    int nin = ig_model_num_inputs(m);
    for (int k = 0; k < nin; k++) {
        const ig_tensor *x = a->bound[k], *y = b->bound[k];
        if (x->ndim != y->ndim) return false;
        for (int d = 1; d < x->ndim; d++)
            if (x->dims[d] != y->dims[d]) return false;
    }
    return true;
}

int ig__sched_gather_init(ig__sched_gbuf *g, int n_inputs)
{
    g->n = n_inputs;
    g->data = calloc(n_inputs > 0 ? n_inputs : 1, sizeof(*g->data));
    g->cap = calloc(n_inputs > 0 ? n_inputs : 1, sizeof(*g->cap));
    if (!g->data || !g->cap) {
        ig__sched_gather_free(g);
        return IG_ENOMEM;
    }
    return 0;
}

void ig__sched_gather_free(ig__sched_gbuf *g)
{
    if (g->data)
        for (int i = 0; i < g->n; i++) free(g->data[i]);
    free(g->data);
    free(g->cap);
    g->data = NULL;
    g->cap = NULL;
}

int ig__sched_gather(const ig_model *m, ig__sched_gbuf *g, ig__sched_item *const *items, int n, bool batching,
                     ig_tensor *inputs, ig_error *err)
{
    int nin = ig_model_num_inputs(m);
    for (int k = 0; k < nin; k++) {
        inputs[k] = *items[0]->bound[k];
        if (n == 1 || !batching) continue;
        /* Row bytes are equal across the batch: requests only share a batch when their non-batch dims
         * match (ig__sched_same_shape). Sizes were checked for overflow at bind time. */
        size_t total = 0;
        for (int i = 0; i < n; i++) total += ig_tensor_nbytes(items[i]->bound[k]);
        if (total > g->cap[k]) {
            void *p = realloc(g->data[k], total);
            if (!p)
                return ig_error_set(err, IG_ENOMEM, "out of memory gathering a batch of %zu bytes", total);
            g->data[k] = p;
            g->cap[k] = total;
        }
        char *dst = g->data[k];
        int64_t rows = 0;
        for (int i = 0; i < n; i++) {
            const ig_tensor *t = items[i]->bound[k];
            size_t nb = ig_tensor_nbytes(t);
            if (nb) memcpy(dst, t->data, nb);
            dst += nb;
            rows += t->dims[0];
        }
        inputs[k].dims[0] = rows;
        inputs[k].data = g->data[k];
    }
    return 0;
}

/* Copies count STRING elements with their bytes into the arena. */
static int copy_strings(ig_arena *a, ig_string *dst, const ig_string *src, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        char *p = ig_arena_alloc(a, src[i].len ? src[i].len : 1, 1);
        if (!p) return IG_ENOMEM;
        if (src[i].len) memcpy(p, src[i].ptr, src[i].len);
        dst[i].ptr = p;
        dst[i].len = src[i].len;
    }
    return 0;
}

int ig__sched_scatter(const ig_model *m, const ig_tensor *outputs, int64_t total_rows, bool batching,
                      int64_t row0, ig__sched_item *item, ig_error *err)
{
    ig_arena *a = item->req->arena;
    int nout = ig_model_num_outputs(m);
    ig_infer_tensor *res = ig_arena_array(a, nout > 0 ? nout : 1, sizeof(*res), _Alignof(ig_infer_tensor));
    if (!res) return ig_error_set(err, IG_ENOMEM, "out of memory for outputs");
    for (int j = 0; j < nout; j++) {
        const ig_tensor *o = &outputs[j];
        const char *name = ig_model_output(m, j)->name;
        ig_tensor t = *o;
        size_t esz = ig_dtype_size(o->dtype);
        size_t all = ig_tensor_nbytes(o);
        if (!esz || all == SIZE_MAX)
            return ig_error_set(err, IG_ERUNTIME, "output '%s' has an unsupported datatype or size", name);
        size_t off = 0, nb = all;
        /* A request alone in its execution gets the outputs whole; in a shared one every output must
         * carry the batch along dim 0 to be split. */
        if (batching && item->rows != total_rows) {
            if (o->ndim < 1 || o->dims[0] != total_rows)
                return ig_error_set(err, IG_ERUNTIME, "output '%s' does not have the batch's %lld rows", name,
                                    (long long)total_rows);
            size_t row = total_rows ? all / (size_t)total_rows : 0;
            off = row * (size_t)row0;
            nb = row * (size_t)item->rows;
            t.dims[0] = item->rows;
        }
        void *p = ig_arena_alloc(a, nb ? nb : 1, 64);
        if (!p) return ig_error_set(err, IG_ENOMEM, "out of memory for output '%s' (%zu bytes)", name, nb);
        if (o->dtype == IG_DT_STRING) {
            if (copy_strings(a, p, (const ig_string *)((const char *)o->data + off), (int64_t)(nb / esz)))
                return ig_error_set(err, IG_ENOMEM, "out of memory for output '%s'", name);
        } else if (nb) {
            memcpy(p, (const char *)o->data + off, nb);
        }
        t.data = p;
        res[j].name = ig_arena_strdup(a, name);
        if (!res[j].name) return ig_error_set(err, IG_ENOMEM, "out of memory for outputs");
        res[j].t = t;
        res[j].binary = false;
    }
    item->resp.n_outputs = nout;
    item->resp.outputs = res;
    return 0;
}
