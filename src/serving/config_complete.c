/* Auto-complete of a parsed model config from the loaded ONNX model, as Triton's onnxruntime backend
 * does: inputs/outputs and max_batch_size (default 4) when the file is silent, dynamic batching for
 * batching models without a scheduler, and a check that what the file does say matches the model. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serving/config.h"

#define DEFAULT_MAX_BATCH_SIZE 4 /* Triton's --backend-config default-max-batch-size */

/* All string arguments; unused trailing ones may be NULL. */
static int fail(ig_error *err, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ig_error_set(err, code, "%s", msg);
}

static void dims_str(const int64_t *d, int n, char *buf, size_t len)
{
    size_t o = 0;
    o += snprintf(buf + o, len - o, "[");
    for (int i = 0; i < n && o < len; i++)
        o += snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)d[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* Fills t from the model's tensor, dropping the batch dim when batching. */
static int fill_from_model(ig_model_config *c, ig_cfg_tensor *t, const ig_io_info *io, const char *what,
                           ig_error *err)
{
    ig_cfg_dtype dt = ig_cfg_dtype_from_engine(io->dtype);
    if (dt == IG_CFG_TYPE_INVALID)
        return fail(err, IG_EUNSUPPORTED,
                    "model %s '%s' has data type %s, which the serving API cannot carry", what, io->name,
                    ig_dtype_name(io->dtype));
    if (io->ndim < 0)
        return fail(err, IG_EUNSUPPORTED,
                    "model %s '%s' does not declare its rank; give its dims in config.pbtxt", what, io->name,
                    NULL);
    if (!t->name) t->name = ig_arena_strdup(c->arena, io->name);
    if (!t->name) return ig_error_set(err, IG_ENOMEM, "out of memory");
    if (!t->data_type) t->data_type = dt;
    if (!t->n_dims && !t->has_reshape) {
        int skip = c->max_batch_size > 0;
        for (int k = skip; k < io->ndim; k++) t->dims[t->n_dims++] = io->dims[k] >= 0 ? io->dims[k] : -1;
        if (!t->n_dims) {
            /* A batched rank-1 tensor: Triton's form is dims [1] with an empty reshape. */
            t->dims[t->n_dims++] = 1;
            t->has_reshape = true;
            t->n_reshape = 0;
        }
    }
    return 0;
}

/* The shape the model sees for t (reshape if given, else dims), without the batch dim. */
static int check_tensor(const ig_model_config *c, const ig_cfg_tensor *t, const ig_io_info *io,
                        const char *what, ig_error *err)
{
    ig_cfg_dtype dt = ig_cfg_dtype_from_engine(io->dtype);
    if (t->data_type != dt)
        return fail(err, IG_EDTYPE, "%s '%s': config.pbtxt says %s but the model has %s", what, t->name,
                    ig_cfg_dtype_api_name(t->data_type), ig_cfg_dtype_api_name(dt));
    if (io->ndim < 0) return 0; /* the model leaves the rank open: the config decides */
    const int64_t *shape = t->has_reshape ? t->reshape : t->dims;
    int n = t->has_reshape ? t->n_reshape : t->n_dims;
    int batch = c->max_batch_size > 0;
    char a[160], b[160], r[32];
    if (batch && io->ndim >= 1 && io->dims[0] >= 0) {
        snprintf(r, sizeof(r), "%lld", (long long)io->dims[0]);
        return fail(err, IG_ESHAPE,
                    "%s '%s': max_batch_size > 0 needs a variable first dim, but the model fixes it to %s",
                    what, t->name, r);
    }
    if (n + batch != io->ndim) {
        dims_str(shape, n, a, sizeof(a));
        dims_str(io->dims, io->ndim, b, sizeof(b));
        char msg[400];
        snprintf(msg, sizeof(msg), "%s '%s': config.pbtxt dims %s%s do not match the model's rank (shape %s)",
                 what, t->name, a, batch ? " plus the batch dim" : "", b);
        return ig_error_set(err, IG_ESHAPE, "%s", msg);
    }
    for (int k = 0; k < n; k++) {
        int64_t md = io->dims[k + batch];
        if (md >= 0 && shape[k] != md) {
            dims_str(shape, n, a, sizeof(a));
            dims_str(io->dims, io->ndim, b, sizeof(b));
            char msg[400];
            snprintf(msg, sizeof(msg), "%s '%s': config.pbtxt dims %s do not match the model's shape %s%s",
                     what, t->name, a, b, batch ? " (which includes the batch dim)" : "");
            return ig_error_set(err, IG_ESHAPE, "%s", msg);
        }
    }
    if (t->has_reshape) {
        /* dims and reshape must describe the same number of elements when both are fixed. */
        int64_t na = 1, nb = 1;
        bool fixed = true;
        for (int k = 0; k < t->n_dims; k++) fixed &= t->dims[k] >= 0, na *= t->dims[k] >= 0 ? t->dims[k] : 1;
        for (int k = 0; k < t->n_reshape; k++)
            fixed &= t->reshape[k] >= 0, nb *= t->reshape[k] >= 0 ? t->reshape[k] : 1;
        if (fixed && na != nb)
            return fail(err, IG_ESHAPE, "%s '%s': reshape changes the element count", what, t->name, NULL);
    }
    return 0;
}

static const ig_io_info *find_io(const ig_model *m, const char *name, bool input)
{
    int n = input ? ig_model_num_inputs(m) : ig_model_num_outputs(m);
    for (int i = 0; i < n; i++) {
        const ig_io_info *io = input ? ig_model_input(m, i) : ig_model_output(m, i);
        if (!strcmp(io->name, name)) return io;
    }
    return NULL;
}

static bool first_dim_dynamic(const ig_io_info *io)
{
    return io->ndim >= 1 && io->dims[0] < 0;
}

/* Whether the file's own tensors leave room for an implicit batch dim (rank one less than the model). */
static bool config_allows_batch(const ig_model_config *c, const ig_model *m)
{
    for (int pass = 0; pass < 2; pass++) {
        const ig_cfg_tensor *ts = pass ? c->outputs : c->inputs;
        int n = pass ? c->n_outputs : c->n_inputs;
        for (int i = 0; i < n; i++) {
            const ig_io_info *io = find_io(m, ts[i].name, !pass);
            int rank = ts[i].has_reshape ? ts[i].n_reshape : ts[i].n_dims;
            if (io && io->ndim >= 0 && (ts[i].n_dims || ts[i].has_reshape) && rank != io->ndim - 1)
                return false;
        }
    }
    return true;
}

int ig_config_complete(ig_model_config *c, const char *name, const ig_model *model, ig_error *err)
{
    ig_arena *a = c->arena;
    if (c->name && c->name[0] && strcmp(c->name, name))
        return fail(err, IG_EINVAL, "config.pbtxt names the model '%s' but its folder is '%s'", c->name, name,
                    NULL);
    if (!c->name || !c->name[0]) c->name = ig_arena_strdup(a, name);
    if (c->platform && c->platform[0] && strcmp(c->platform, "onnxruntime_onnx"))
        return fail(err, IG_EUNSUPPORTED,
                    "platform '%s' is not supported: infergate serves ONNX models (onnxruntime_onnx)",
                    c->platform, NULL, NULL);
    if (c->backend && c->backend[0] && strcmp(c->backend, "onnxruntime"))
        return fail(err, IG_EUNSUPPORTED,
                    "backend '%s' is not supported: infergate serves ONNX models (onnxruntime)", c->backend,
                    NULL, NULL);
    c->platform = "onnxruntime_onnx";
    c->backend = "onnxruntime";
    if (c->instance_count < 1) c->instance_count = 1;

    int nin = ig_model_num_inputs(model), nout = ig_model_num_outputs(model);
    if (c->max_batch_size == 0 && nin + nout > 0) {
        bool dyn = true;
        for (int i = 0; i < nin; i++) dyn &= first_dim_dynamic(ig_model_input(model, i));
        for (int i = 0; i < nout; i++) dyn &= first_dim_dynamic(ig_model_output(model, i));
        if (dyn && config_allows_batch(c, model)) c->max_batch_size = DEFAULT_MAX_BATCH_SIZE;
    }
    /* Sequence and ensemble schedulers are refused at parse time, so "no scheduler" is !dynamic_batching. */
    if (c->max_batch_size > 1 && !c->dynamic_batching) c->dynamic_batching = true;

    if (c->n_inputs == 0) {
        ig_cfg_tensor *ts = ig_arena_array(a, nin ? nin : 1, sizeof(*ts), 8);
        if (!ts) return ig_error_set(err, IG_ENOMEM, "out of memory");
        c->inputs = ts;
        for (int i = 0; i < nin; i++, c->n_inputs++) {
            int rc = fill_from_model(c, &ts[i], ig_model_input(model, i), "input", err);
            if (rc) return rc;
        }
    }
    if (c->n_outputs == 0) {
        ig_cfg_tensor *ts = ig_arena_array(a, nout ? nout : 1, sizeof(*ts), 8);
        if (!ts) return ig_error_set(err, IG_ENOMEM, "out of memory");
        c->outputs = ts;
        for (int i = 0; i < nout; i++, c->n_outputs++) {
            int rc = fill_from_model(c, &ts[i], ig_model_output(model, i), "output", err);
            if (rc) return rc;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        ig_cfg_tensor *ts = pass ? c->outputs : c->inputs;
        int n = pass ? c->n_outputs : c->n_inputs;
        const char *what = pass ? "output" : "input";
        for (int i = 0; i < n; i++) {
            const ig_io_info *io = find_io(model, ts[i].name, !pass);
            if (!io)
                return fail(err, IG_ENOTFOUND, "config.pbtxt %s '%s' is not among the model's %ss", what,
                            ts[i].name, what);
            int rc = fill_from_model(c, &ts[i], io, what, err);
            if (rc) return rc;
            if ((rc = check_tensor(c, &ts[i], io, what, err))) return rc;
        }
    }
    for (int i = 0; i < nin; i++) {
        const ig_io_info *io = ig_model_input(model, i);
        bool found = false;
        for (int j = 0; j < c->n_inputs && !found; j++) found = !strcmp(c->inputs[j].name, io->name);
        if (!found)
            return fail(err, IG_EINVAL, "model input '%s' is missing from config.pbtxt's inputs", io->name,
                        NULL, NULL);
    }

    for (int i = 0; i < c->n_preferred_batch_sizes; i++)
        if (c->preferred_batch_sizes[i] > c->max_batch_size) {
            char v[24], m[24];
            snprintf(v, sizeof(v), "%d", c->preferred_batch_sizes[i]);
            snprintf(m, sizeof(m), "%d", c->max_batch_size);
            return fail(err, IG_EINVAL,
                        "dynamic_batching preferred_batch_size %s is larger than max_batch_size %s", v, m,
                        NULL);
        }
    for (int i = 0; i < c->n_warmups; i++) {
        ig_cfg_warmup *w = &c->warmups[i];
        uint32_t maxb = c->max_batch_size > 0 ? (uint32_t)c->max_batch_size : 1;
        if (w->batch_size > maxb)
            return fail(err, IG_EINVAL, "model_warmup '%s': batch_size is larger than max_batch_size",
                        w->name, NULL, NULL);
        if (!w->batch_size) w->batch_size = 1;
        for (int j = 0; j < w->n_inputs; j++) {
            const ig_cfg_tensor *t = NULL;
            for (int k = 0; k < c->n_inputs && !t; k++)
                if (!strcmp(c->inputs[k].name, w->inputs[j].name)) t = &c->inputs[k];
            if (!t)
                return fail(err, IG_ENOTFOUND, "model_warmup '%s': '%s' is not an input of the model",
                            w->name, w->inputs[j].name, NULL);
            if (t->data_type != w->inputs[j].data_type)
                return fail(err, IG_EDTYPE, "model_warmup '%s': input '%s' must have data_type %s", w->name,
                            w->inputs[j].name, ig_cfg_dtype_api_name(t->data_type));
        }
    }
    return 0;
}
