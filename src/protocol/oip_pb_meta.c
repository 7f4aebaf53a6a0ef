/* gRPC replies of the metadata endpoints: ModelMetadata, ModelConfig (Triton's ModelConfig subset of
 * proto/model_config.proto), ModelStatistics and RepositoryIndex, built in an arena. */
#include "protocol/oip_pb.h"

#include <stdatomic.h>
#include <string.h>

#define NEW(a, T) ((T *)ig_arena_alloc((a), sizeof(T), 8))
#define ARR(a, n, T) ((T *)ig_arena_array((a), (size_t)(n) + 1, sizeof(T), 8))

static char *s_or_empty(const char *s)
{
    return (char *)(s ? s : "");
}

static Inference__ModelMetadataResponse__TensorMetadata *tensor_meta(const ig_cfg_tensor *t,
                                                                     int32_t max_batch, ig_arena *a)
{
    Inference__ModelMetadataResponse__TensorMetadata *m =
        NEW(a, Inference__ModelMetadataResponse__TensorMetadata);
    int64_t *shape = ARR(a, t->n_dims + 1, int64_t);
    if (!m || !shape) return NULL;
    inference__model_metadata_response__tensor_metadata__init(m);
    m->name = s_or_empty(t->name);
    m->datatype = s_or_empty(ig_cfg_dtype_api_name(t->data_type));
    size_t n = 0;
    if (max_batch > 0) shape[n++] = -1;
    for (int k = 0; k < t->n_dims; k++) shape[n++] = t->dims[k];
    m->n_shape = n;
    m->shape = shape;
    return m;
}

Inference__ModelMetadataResponse *ig_oip_pb_model_metadata(const ig_model_config *cfg, const char *version,
                                                           ig_arena *a)
{
    Inference__ModelMetadataResponse *m = NEW(a, Inference__ModelMetadataResponse);
    char **versions = ARR(a, 1, char *);
    Inference__ModelMetadataResponse__TensorMetadata **in =
        ARR(a, cfg->n_inputs, Inference__ModelMetadataResponse__TensorMetadata *);
    Inference__ModelMetadataResponse__TensorMetadata **out =
        ARR(a, cfg->n_outputs, Inference__ModelMetadataResponse__TensorMetadata *);
    if (!m || !versions || !in || !out) return NULL;
    inference__model_metadata_response__init(m);
    m->name = s_or_empty(cfg->name);
    versions[0] = ig_arena_strdup(a, version);
    m->n_versions = 1;
    m->versions = versions;
    m->platform = s_or_empty(cfg->platform && *cfg->platform ? cfg->platform : cfg->backend);
    for (int i = 0; i < cfg->n_inputs; i++)
        if (!(in[i] = tensor_meta(&cfg->inputs[i], cfg->max_batch_size, a))) return NULL;
    for (int i = 0; i < cfg->n_outputs; i++)
        if (!(out[i] = tensor_meta(&cfg->outputs[i], cfg->max_batch_size, a))) return NULL;
    m->n_inputs = (size_t)cfg->n_inputs;
    m->inputs = in;
    m->n_outputs = (size_t)cfg->n_outputs;
    m->outputs = out;
    return versions[0] ? m : NULL;
}

static Inference__ModelTensorReshape *reshape(const ig_cfg_tensor *t, ig_arena *a)
{
    if (!t->has_reshape) return NULL;
    Inference__ModelTensorReshape *r = NEW(a, Inference__ModelTensorReshape);
    if (!r) return NULL;
    inference__model_tensor_reshape__init(r);
    r->n_shape = (size_t)t->n_reshape;
    r->shape = (int64_t *)t->reshape;
    return r;
}

static Inference__ModelQueuePolicy *queue_policy(const ig_queue_policy *q, ig_arena *a)
{
    Inference__ModelQueuePolicy *p = NEW(a, Inference__ModelQueuePolicy);
    if (!p) return NULL;
    inference__model_queue_policy__init(p);
    p->timeout_action = q->timeout_delay ? INFERENCE__MODEL_QUEUE_POLICY__TIMEOUT_ACTION__DELAY
                                         : INFERENCE__MODEL_QUEUE_POLICY__TIMEOUT_ACTION__REJECT;
    p->default_timeout_microseconds = q->default_timeout_us;
    p->allow_timeout_override = q->allow_timeout_override;
    p->max_queue_size = q->max_queue_size;
    return p;
}

static Inference__ModelDynamicBatching *dynamic_batching(const ig_model_config *cfg, ig_arena *a)
{
    Inference__ModelDynamicBatching *d = NEW(a, Inference__ModelDynamicBatching);
    if (!d) return NULL;
    inference__model_dynamic_batching__init(d);
    d->n_preferred_batch_size = (size_t)cfg->n_preferred_batch_sizes;
    d->preferred_batch_size = cfg->preferred_batch_sizes;
    d->max_queue_delay_microseconds = cfg->max_queue_delay_us;
    d->preserve_ordering = cfg->preserve_ordering;
    d->priority_levels = cfg->priority_levels;
    d->default_priority_level = cfg->default_priority_level;
    if (!(d->default_queue_policy = queue_policy(&cfg->default_queue_policy, a))) return NULL;
    if (cfg->priority_queue_policy && cfg->priority_levels) {
        Inference__ModelDynamicBatching__PriorityQueuePolicyEntry **e =
            ARR(a, cfg->priority_levels, Inference__ModelDynamicBatching__PriorityQueuePolicyEntry *);
        if (!e) return NULL;
        for (uint32_t l = 1; l <= cfg->priority_levels; l++) {
            Inference__ModelDynamicBatching__PriorityQueuePolicyEntry *x =
                NEW(a, Inference__ModelDynamicBatching__PriorityQueuePolicyEntry);
            if (!x) return NULL;
            inference__model_dynamic_batching__priority_queue_policy_entry__init(x);
            x->key = l;
            if (!(x->value = queue_policy(&cfg->priority_queue_policy[l], a))) return NULL;
            e[l - 1] = x;
        }
        d->n_priority_queue_policy = cfg->priority_levels;
        d->priority_queue_policy = e;
    }
    return d;
}

static Inference__ModelVersionPolicy *version_policy(const ig_model_config *cfg, ig_arena *a)
{
    Inference__ModelVersionPolicy *p = NEW(a, Inference__ModelVersionPolicy);
    if (!p) return NULL;
    inference__model_version_policy__init(p);
    if (cfg->version_policy == IG_VERSION_ALL) {
        Inference__ModelVersionPolicy__All *x = NEW(a, Inference__ModelVersionPolicy__All);
        if (!x) return NULL;
        inference__model_version_policy__all__init(x);
        p->policy_choice_case = INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_ALL;
        p->all = x;
    } else if (cfg->version_policy == IG_VERSION_SPECIFIC) {
        Inference__ModelVersionPolicy__Specific *x = NEW(a, Inference__ModelVersionPolicy__Specific);
        if (!x) return NULL;
        inference__model_version_policy__specific__init(x);
        x->n_versions = (size_t)cfg->n_specific_versions;
        x->versions = cfg->specific_versions;
        p->policy_choice_case = INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_SPECIFIC;
        p->specific = x;
    } else {
        Inference__ModelVersionPolicy__Latest *x = NEW(a, Inference__ModelVersionPolicy__Latest);
        if (!x) return NULL;
        inference__model_version_policy__latest__init(x);
        x->num_versions = cfg->latest_num_versions ? cfg->latest_num_versions : 1;
        p->policy_choice_case = INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_LATEST;
        p->latest = x;
    }
    return p;
}

Inference__ModelConfigResponse *ig_oip_pb_model_config(const ig_model_config *cfg, ig_arena *a)
{
    Inference__ModelConfigResponse *r = NEW(a, Inference__ModelConfigResponse);
    Inference__ModelConfig *c = NEW(a, Inference__ModelConfig);
    Inference__ModelInput *in = ARR(a, cfg->n_inputs, Inference__ModelInput);
    Inference__ModelInput **inp = ARR(a, cfg->n_inputs, Inference__ModelInput *);
    Inference__ModelOutput *out = ARR(a, cfg->n_outputs, Inference__ModelOutput);
    Inference__ModelOutput **outp = ARR(a, cfg->n_outputs, Inference__ModelOutput *);
    Inference__ModelInstanceGroup *ig = NEW(a, Inference__ModelInstanceGroup);
    Inference__ModelInstanceGroup **igp = ARR(a, 1, Inference__ModelInstanceGroup *);
    if (!r || !c || !in || !inp || !out || !outp || !ig || !igp) return NULL;
    inference__model_config_response__init(r);
    inference__model_config__init(c);
    r->config = c;
    c->name = s_or_empty(cfg->name);
    c->platform = s_or_empty(cfg->platform);
    c->backend = s_or_empty(cfg->backend);
    c->max_batch_size = cfg->max_batch_size;
    c->default_model_filename = s_or_empty(cfg->default_model_filename);
    if (!(c->version_policy = version_policy(cfg, a))) return NULL;
    for (int i = 0; i < cfg->n_inputs; i++) {
        const ig_cfg_tensor *t = &cfg->inputs[i];
        inference__model_input__init(&in[i]);
        in[i].name = s_or_empty(t->name);
        in[i].data_type = (Inference__DataType)t->data_type;
        in[i].n_dims = (size_t)t->n_dims;
        in[i].dims = (int64_t *)t->dims;
        in[i].reshape = reshape(t, a);
        in[i].optional = t->optional;
        inp[i] = &in[i];
    }
    for (int i = 0; i < cfg->n_outputs; i++) {
        const ig_cfg_tensor *t = &cfg->outputs[i];
        inference__model_output__init(&out[i]);
        out[i].name = s_or_empty(t->name);
        out[i].data_type = (Inference__DataType)t->data_type;
        out[i].n_dims = (size_t)t->n_dims;
        out[i].dims = (int64_t *)t->dims;
        out[i].reshape = reshape(t, a);
        out[i].label_filename = s_or_empty(t->label_filename);
        outp[i] = &out[i];
    }
    c->n_input = (size_t)cfg->n_inputs;
    c->input = inp;
    c->n_output = (size_t)cfg->n_outputs;
    c->output = outp;
    inference__model_instance_group__init(ig);
    ig->name = s_or_empty(cfg->name);
    ig->count = cfg->instance_count ? cfg->instance_count : 1;
    ig->kind = INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU;
    igp[0] = ig;
    c->n_instance_group = 1;
    c->instance_group = igp;
    if (cfg->dynamic_batching) {
        if (!(c->dynamic_batching = dynamic_batching(cfg, a))) return NULL;
        c->scheduling_choice_case = INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_DYNAMIC_BATCHING;
    }
    if (cfg->n_parameters) {
        Inference__ModelConfig__ParametersEntry **e =
            ARR(a, cfg->n_parameters, Inference__ModelConfig__ParametersEntry *);
        if (!e) return NULL;
        for (int i = 0; i < cfg->n_parameters; i++) {
            Inference__ModelConfig__ParametersEntry *x = NEW(a, Inference__ModelConfig__ParametersEntry);
            Inference__ModelParameter *v = NEW(a, Inference__ModelParameter);
            if (!x || !v) return NULL;
            inference__model_config__parameters_entry__init(x);
            inference__model_parameter__init(v);
            x->key = s_or_empty(cfg->parameters[i].key);
            v->string_value = s_or_empty(cfg->parameters[i].value);
            x->value = v;
            e[i] = x;
        }
        c->n_parameters = (size_t)cfg->n_parameters;
        c->parameters = e;
    }
    if (cfg->response_cache) {
        Inference__ModelResponseCache *rc = NEW(a, Inference__ModelResponseCache);
        if (!rc) return NULL;
        inference__model_response_cache__init(rc);
        rc->enable = true;
        c->response_cache = rc;
    }
    return r;
}

static uint64_t ld(const atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static Inference__StatisticDuration *duration(const ig_duration_stat *d, ig_arena *a)
{
    Inference__StatisticDuration *s = NEW(a, Inference__StatisticDuration);
    if (!s) return NULL;
    inference__statistic_duration__init(s);
    s->count = ld(&d->count);
    s->ns = ld(&d->ns);
    return s;
}

static Inference__ModelStatistics *model_stats(const ig_oip_stats_entry *e, ig_arena *a)
{
    const ig_model_stats *s = e->stats;
    Inference__ModelStatistics *m = NEW(a, Inference__ModelStatistics);
    Inference__InferStatistics *is = NEW(a, Inference__InferStatistics);
    if (!m || !is) return NULL;
    inference__model_statistics__init(m);
    inference__infer_statistics__init(is);
    m->name = s_or_empty(e->name);
    m->version = s_or_empty(e->version);
    m->last_inference = ld(&s->last_inference_ms);
    m->inference_count = ld(&s->inference_count);
    m->execution_count = ld(&s->execution_count);
    if (!(is->success = duration(&s->success, a)) || !(is->fail = duration(&s->fail, a)) ||
        !(is->queue = duration(&s->queue, a)) || !(is->compute_input = duration(&s->compute_input, a)) ||
        !(is->compute_infer = duration(&s->compute_infer, a)) ||
        !(is->compute_output = duration(&s->compute_output, a)) ||
        !(is->cache_hit = duration(&s->cache_hit, a)) || !(is->cache_miss = duration(&s->cache_miss, a)))
        return NULL;
    m->inference_stats = is;
    size_t nb = 0;
    for (int b = 1; b < IG_STATS_MAX_BATCH; b++)
        if (ld(&s->batch_compute_input[b].count) || ld(&s->batch_compute_infer[b].count) ||
            ld(&s->batch_compute_output[b].count))
            nb++;
    Inference__InferBatchStatistics **bs = ARR(a, nb, Inference__InferBatchStatistics *);
    if (!bs) return NULL;
    size_t k = 0;
    for (int b = 1; b < IG_STATS_MAX_BATCH && k < nb; b++) {
        if (!ld(&s->batch_compute_input[b].count) && !ld(&s->batch_compute_infer[b].count) &&
            !ld(&s->batch_compute_output[b].count))
            continue;
        Inference__InferBatchStatistics *x = NEW(a, Inference__InferBatchStatistics);
        if (!x) return NULL;
        inference__infer_batch_statistics__init(x);
        x->batch_size = (uint64_t)b;
        if (!(x->compute_input = duration(&s->batch_compute_input[b], a)) ||
            !(x->compute_infer = duration(&s->batch_compute_infer[b], a)) ||
            !(x->compute_output = duration(&s->batch_compute_output[b], a)))
            return NULL;
        bs[k++] = x;
    }
    m->n_batch_stats = k;
    m->batch_stats = bs;
    return m;
}

Inference__ModelStatisticsResponse *ig_oip_pb_model_stats(const ig_oip_stats_entry *e, int n, ig_arena *a)
{
    Inference__ModelStatisticsResponse *r = NEW(a, Inference__ModelStatisticsResponse);
    Inference__ModelStatistics **ms = ARR(a, n, Inference__ModelStatistics *);
    if (!r || !ms) return NULL;
    inference__model_statistics_response__init(r);
    for (int i = 0; i < n; i++)
        if (!(ms[i] = model_stats(&e[i], a))) return NULL;
    r->n_model_stats = (size_t)n;
    r->model_stats = ms;
    return r;
}

Inference__RepositoryIndexResponse *ig_oip_pb_repo_index(const ig_oip_repo_entry *e, int n, ig_arena *a)
{
    Inference__RepositoryIndexResponse *r = NEW(a, Inference__RepositoryIndexResponse);
    Inference__RepositoryIndexResponse__ModelIndex *mi =
        ARR(a, n, Inference__RepositoryIndexResponse__ModelIndex);
    Inference__RepositoryIndexResponse__ModelIndex **mp =
        ARR(a, n, Inference__RepositoryIndexResponse__ModelIndex *);
    if (!r || !mi || !mp) return NULL;
    inference__repository_index_response__init(r);
    for (int i = 0; i < n; i++) {
        inference__repository_index_response__model_index__init(&mi[i]);
        /* Copies: the rows are only valid under the model manager's lock. */
        mi[i].name = ig_arena_strdup(a, s_or_empty(e[i].name));
        mi[i].version = ig_arena_strdup(a, s_or_empty(e[i].version));
        mi[i].state = ig_arena_strdup(a, s_or_empty(e[i].state));
        mi[i].reason = ig_arena_strdup(a, s_or_empty(e[i].reason));
        if (!mi[i].name || !mi[i].version || !mi[i].state || !mi[i].reason) return NULL;
        mp[i] = &mi[i];
    }
    r->n_models = (size_t)n;
    r->models = mp;
    return r;
}
