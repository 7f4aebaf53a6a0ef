/* The shared request path (see infer.h). */
#include "base/clock.h"
#include "serving/infer.h"

#include "policy/cache.h"
#include "serving/cached_outputs.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* What the completion needs: kept in the request's arena, which travels with the request. */
typedef struct pending {
    ig_serving *sv;
    ig_served *served;
    ig_infer_done done;
    void *ctx;
    bool cached; /* the model uses the response cache: store the outputs on success */
    ig_cache_key key;
} pending;

static const ig_cfg_tensor *find_tensor(const ig_cfg_tensor *ts, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(ts[i].name, name)) return &ts[i];
    return NULL;
}

static void shape_text(const int64_t *dims, int n, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

int ig_serving_check_request(const ig_model_config *cfg, const ig_infer_request *req, ig_error *err)
{
    int required = 0;
    for (int i = 0; i < cfg->n_inputs; i++) required += !cfg->inputs[i].optional;
    int64_t batch = -1;
    for (int i = 0; i < req->n_inputs; i++) {
        const ig_infer_tensor *in = &req->inputs[i];
        for (int j = 0; j < i; j++)
            if (!strcmp(req->inputs[j].name, in->name))
                return ig_error_set(err, IG_EINVAL, "input '%s' is given more than once", in->name);
        const ig_cfg_tensor *ct = find_tensor(cfg->inputs, cfg->n_inputs, in->name);
        if (!ct)
            return ig_error_set(err, IG_EINVAL, "unexpected inference input '%s' for model '%s'", in->name,
                                cfg->name);
        if (ig_cfg_dtype_from_engine(in->t.dtype) != ct->data_type)
            return ig_error_set(err, IG_EINVAL,
                                "inference input '%s' data-type is '%s', but model '%s' expects '%s'",
                                in->name, ig_cfg_dtype_api_name(ig_cfg_dtype_from_engine(in->t.dtype)),
                                cfg->name, ig_cfg_dtype_api_name(ct->data_type));
        int64_t full[IG_MAX_DIMS + 1];
        int nfull = 0;
        if (cfg->max_batch_size > 0) full[nfull++] = -1;
        for (int k = 0; k < ct->n_dims && nfull <= IG_MAX_DIMS; k++) full[nfull++] = ct->dims[k];
        bool ok = in->t.ndim == nfull;
        for (int k = 0; ok && k < nfull; k++) ok = full[k] < 0 || full[k] == in->t.dims[k];
        if (!ok) {
            char got[160], want[160];
            shape_text(in->t.dims, in->t.ndim, got, sizeof(got));
            shape_text(full, nfull, want, sizeof(want));
            return ig_error_set(err, IG_EINVAL,
                                "unexpected shape for input '%s' for model '%s'. Expected %s, got %s",
                                in->name, cfg->name, want, got);
        }
        if (cfg->max_batch_size > 0) {
            int64_t b = in->t.dims[0];
            if (b < 1 || b > cfg->max_batch_size)
                return ig_error_set(
                    err, IG_EINVAL,
                    "inference request batch-size must be <= %d for '%s', got %lld (input '%s')",
                    cfg->max_batch_size, cfg->name, (long long)b, in->name);
            if (batch >= 0 && b != batch)
                return ig_error_set(err, IG_EINVAL, "input '%s' has batch size %lld, other inputs %lld",
                                    in->name, (long long)b, (long long)batch);
            batch = b;
        }
        if (!ct->optional) required--;
    }
    if (required > 0)
        return ig_error_set(err, IG_EINVAL, "expected %d inputs but got %d inputs for model '%s'",
                            cfg->n_inputs, req->n_inputs, cfg->name);
    for (int i = 0; i < req->n_outputs; i++)
        if (!find_tensor(cfg->outputs, cfg->n_outputs, req->outputs[i].name))
            return ig_error_set(err, IG_EINVAL, "unexpected inference output '%s' for model '%s'",
                                req->outputs[i].name, cfg->name);
    return 0;
}

/* Keeps the requested outputs, in the order asked, with their binary flags. */
static void select_outputs(const ig_infer_request *req, ig_infer_response *resp)
{
    if (resp->status) return;
    if (req->n_outputs == 0) {
        for (int i = 0; i < resp->n_outputs; i++) resp->outputs[i].binary = req->binary_output;
        return;
    }
    ig_infer_tensor *picked = ig_arena_array(req->arena, (size_t)req->n_outputs, sizeof(ig_infer_tensor), 8);
    if (!picked) {
        resp->status = IG_ENOMEM;
        snprintf(resp->error, sizeof(resp->error), "out of memory");
        return;
    }
    int n = 0;
    for (int i = 0; i < req->n_outputs; i++) {
        for (int j = 0; j < resp->n_outputs; j++) {
            if (strcmp(resp->outputs[j].name, req->outputs[i].name)) continue;
            picked[n] = resp->outputs[j];
            picked[n++].binary = req->outputs[i].binary_set ? req->outputs[i].binary : req->binary_output;
        }
    }
    resp->outputs = picked;
    resp->n_outputs = n;
}

/* The key: model, version and every input's name, dtype, shape and bytes. The outputs stored are
 * all of them, before the request's selection, so requests asking for different outputs share. */
static int build_key(pending *p, const ig_infer_request *req, ig_arena *arena)
{
    ig_cache_key *k = &p->key;
    ig_cache_key_begin(k, p->served->name, p->served->version_str);
    for (int i = 0; i < req->n_inputs; i++) {
        const ig_infer_tensor *in = &req->inputs[i];
        const void *data = in->t.data;
        size_t nb = ig_tensor_nbytes(&in->t);
        if (in->t.dtype == IG_DT_STRING) {
            /* Strings hash by content: their wire form, length-prefixed. */
            ig_buf b = {0};
            const ig_string *s = in->t.data;
            for (int64_t e = 0; e < ig_tensor_numel(&in->t); e++) {
                uint32_t l = (uint32_t)s[e].len;
                ig_buf_append(&b, (const char *)&l, 4);
                ig_buf_append(&b, s[e].ptr, s[e].len);
            }
            char *copy = ig_arena_alloc(arena, b.len ? b.len : 1, 8);
            if (copy && b.len) memcpy(copy, b.data, b.len);
            data = copy;
            nb = b.len;
            ig_buf_free(&b);
            if (!copy) return IG_ENOMEM;
        }
        ig_cache_key_add_input(k, in->name, in->t.dtype, in->t.ndim, in->t.dims, data, nb);
    }
    return ig_cache_key_end(k);
}

static void store_outputs(pending *p, const ig_infer_response *resp)
{
    ig_buf b = {0};
    ig__outputs_serialize(resp, &b);
    if (!b.oom) ig_cache_put(p->sv->cache, &p->key, b.data, b.len);
    ig_buf_free(&b);
}

static void completed(ig_infer_request *req, ig_infer_response *resp, void *ctx)
{
    pending *p = ctx;
    if (p->cached) {
        if (!resp->status) store_outputs(p, resp);
        ig_cache_key_free(&p->key);
    }
    select_outputs(req, resp);
    ig_infer_done done = p->done;
    void *user = p->ctx;
    ig_mm_release(p->sv->mm, p->served);
    done(req, resp, user);
}

static void refuse(ig_infer_request *req, int code, const char *msg, ig_infer_done done, void *ctx)
{
    ig_infer_response resp = {.status = code};
    snprintf(resp.error, sizeof(resp.error), "%s", msg);
    done(req, &resp, ctx);
}

void ig_serving_infer(ig_serving *sv, ig_infer_request *req, char *resp_version, ig_infer_done done,
                      void *ctx)
{
    ig_error err = {0};
    ig_served *s = ig_mm_acquire(sv->mm, req->model_name, req->model_version, &err);
    if (!s) {
        refuse(req, err.code, err.msg, done, ctx);
        return;
    }
    snprintf(resp_version, 24, "%s", s->version_str);
    if (ig_serving_check_request(s->cfg, req, &err)) {
        /* A bad request for a known model counts as its failure, as Triton counts it. */
        atomic_fetch_add(&s->stats.failures[IG_FAIL_OTHER], 1);
        ig_duration_add(&s->stats.fail, ig_now_ns() - req->t_received_ns);
        ig_mm_release(sv->mm, s);
        refuse(req, err.code, err.msg, done, ctx);
        return;
    }
    pending *p = ig_arena_alloc(req->arena, sizeof(*p), 8);
    if (!p) {
        ig_mm_release(sv->mm, s);
        refuse(req, IG_ENOMEM, "out of memory", done, ctx);
        return;
    }
    *p = (pending){.sv = sv, .served = s, .done = done, .ctx = ctx};
    if (sv->cache && s->cfg->response_cache) {
        uint64_t t0 = ig_now_ns();
        p->cached = build_key(p, req, req->arena) == 0;
        ig_cache_entry *hit = p->cached ? ig_cache_get(sv->cache, &p->key) : NULL;
        if (hit) {
            ig_infer_response resp = {.cache_hit = true};
            resp.status =
                ig__outputs_deserialize(ig_cache_entry_data(hit), ig_cache_entry_len(hit), req->arena, &resp);
            ig_cache_entry_release(hit);
            if (resp.status) snprintf(resp.error, sizeof(resp.error), "cannot read a cached response");
            /* Hits count as successes and cache hits, not as inferences (Triton's statistics). */
            uint64_t t1 = ig_now_ns();
            ig_duration_add(&s->stats.cache_hit, t1 - t0);
            if (!resp.status) ig_duration_add(&s->stats.success, t1 - req->t_received_ns);
            ig_cache_key_free(&p->key);
            p->cached = false;
            select_outputs(req, &resp);
            ig_mm_release(sv->mm, s);
            done(req, &resp, ctx);
            return;
        }
        ig_duration_add(&s->stats.cache_miss, ig_now_ns() - t0);
    }
    /* On refusal the scheduler has already called completed(), which released the version. */
    ig_sched_submit(s->sched, req, completed, p);
}
