/* Warmup requests (see warmup.h): zero or pseudo-random data of the configured shapes. */
#include "serving/warmup.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool done;
    int status;
    char error[384];
} waiter;

static void finished(ig_infer_request *req, ig_infer_response *resp, void *ctx)
{
    waiter *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->status = resp->status;
    snprintf(w->error, sizeof(w->error), "%s", resp->error);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->lock);
    (void)req;
}

static int fill_input(ig_infer_tensor *in, const struct ig_cfg_warmup_input *wi, const ig_model_config *cfg,
                      uint32_t batch, ig_arena *a, uint32_t *seed)
{
    in->name = wi->name;
    in->t.dtype = ig_cfg_dtype_to_engine(wi->data_type);
    in->t.ndim = 0;
    if (cfg->max_batch_size > 0) in->t.dims[in->t.ndim++] = batch ? batch : 1;
    for (int k = 0; k < wi->n_dims && in->t.ndim < IG_MAX_DIMS; k++) in->t.dims[in->t.ndim++] = wi->dims[k];
    size_t nb = ig_tensor_nbytes(&in->t);
    if (nb == SIZE_MAX || !(in->t.data = ig_arena_alloc(a, nb ? nb : 1, 64))) return IG_ENOMEM;
    if (in->t.dtype == IG_DT_STRING) {
        ig_string *s = in->t.data;
        for (int64_t i = 0; i < ig_tensor_numel(&in->t); i++) s[i] = (ig_string){"", 0};
    } else if (wi->random_data) {
        /* Bytes of a small LCG; for floats keep to small finite values. */
        bool fp = in->t.dtype == IG_DT_FLOAT;
        for (size_t i = 0; i < nb; i++) {
            *seed = *seed * 1664525u + 1013904223u;
            ((unsigned char *)in->t.data)[i] = (unsigned char)(*seed >> 24);
        }
        if (fp)
            for (int64_t i = 0; i < ig_tensor_numel(&in->t); i++)
                ((float *)in->t.data)[i] = (float)(i % 17) / 17.0f;
    }
    return 0;
}

int ig__warmup_run(ig_sched *sched, const ig_model_config *cfg, ig_error *err)
{
    uint32_t seed = 12345;
    for (int w = 0; w < cfg->n_warmups; w++) {
        const ig_cfg_warmup *wu = &cfg->warmups[w];
        for (uint32_t rep = 0; rep < (wu->count ? wu->count : 1); rep++) {
            ig_arena *a = ig_arena_create(16 * 1024);
            ig_infer_request *req = a ? ig_arena_alloc(a, sizeof(*req), 8) : NULL;
            ig_infer_tensor *ins = req ? ig_arena_array(a, (size_t)wu->n_inputs + 1, sizeof(*ins), 8) : NULL;
            int rc = ins ? 0 : IG_ENOMEM;
            for (int i = 0; i < wu->n_inputs && !rc; i++)
                rc = fill_input(&ins[i], &wu->inputs[i], cfg, wu->batch_size, a, &seed);
            if (rc) {
                ig_arena_free(a);
                return ig_error_set(err, IG_ENOMEM, "model_warmup '%s': out of memory", wu->name);
            }
            *req = (ig_infer_request){.arena = a,
                                      .model_name = cfg->name,
                                      .model_version = "",
                                      .id = "warmup",
                                      .n_inputs = wu->n_inputs,
                                      .inputs = ins};
            waiter wt = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
            ig_sched_submit(sched, req, finished, &wt);
            pthread_mutex_lock(&wt.lock);
            while (!wt.done) pthread_cond_wait(&wt.cv, &wt.lock);
            pthread_mutex_unlock(&wt.lock);
            ig_arena_free(a);
            if (wt.status)
                return ig_error_set(err, wt.status, "model_warmup '%s' failed: %s", wu->name, wt.error);
        }
    }
    return 0;
}
