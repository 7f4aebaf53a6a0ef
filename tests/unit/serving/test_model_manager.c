/* Model manager on a real repository in a temp folder: loading, version choice, a broken model that
 * fails alone, poll-mode reloads (new version takes over, a broken new version leaves the old one
 * serving, a removed model stops), explicit load and unload, and requests through the shared path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "serving/infer.h"

static char repo[64];

/* Runs a shell command in which every %s is the repository folder. */
static void sh(const char *fmt)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), fmt, repo, repo, repo);
    if (system(cmd) != 0) fprintf(stderr, "command failed: %s\n", cmd);
}

typedef struct row {
    char name[64];
    long long version;
    ig_version_state state;
    char reason[256];
} row;

typedef struct rows {
    int n;
    row r[32];
} rows;

static void collect(const ig_mm_row *in, int n, void *ctx)
{
    rows *rs = ctx;
    rs->n = 0;
    for (int i = 0; i < n && rs->n < 32; i++) {
        row *r = &rs->r[rs->n++];
        snprintf(r->name, sizeof(r->name), "%s", in[i].name);
        r->version = in[i].version;
        r->state = in[i].state;
        snprintf(r->reason, sizeof(r->reason), "%s", in[i].reason ? in[i].reason : "");
    }
}

static const row *find_row(const rows *rs, const char *name, long long version)
{
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->r[i].name, name) && rs->r[i].version == version) return &rs->r[i];
    return NULL;
}

static long long served_version(ig_mm *mm, const char *name)
{
    ig_error err = {0};
    ig_served *s = ig_mm_acquire(mm, name, "", &err);
    if (!s) return -1;
    long long v = s->version;
    ig_mm_release(mm, s);
    return v;
}

typedef struct result {
    int status;
    float probs[3];
    char error[384];
    int done;
} result;

static void done_cb(ig_infer_request *req, ig_infer_response *resp, void *ctx)
{
    result *r = ctx;
    r->status = resp->status;
    snprintf(r->error, sizeof(r->error), "%s", resp->error);
    if (!resp->status && resp->n_outputs == 1) memcpy(r->probs, resp->outputs[0].t.data, sizeof(r->probs));
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    (void)req;
}

static result infer(ig_serving *sv, const char *model, int64_t rows_, int64_t cols)
{
    result r = {0};
    ig_infer_request req = {0};
    req.arena = ig_arena_create(0);
    req.model_name = model;
    req.model_version = "";
    req.id = "";
    float x[8] = {5.1f, 3.5f, 1.4f, 0.2f, 6.7f, 3.0f, 5.2f, 2.3f};
    ig_infer_tensor in = {.name = "features", .t = {.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {rows_, cols}, .data = x}};
    req.inputs = &in;
    req.n_inputs = 1;
    char version[24];
    ig_serving_infer(sv, &req, version, done_cb, &r);
    while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) usleep(1000);
    ig_arena_free(req.arena);
    return r;
}

int main(void)
{
    snprintf(repo, sizeof(repo), "/tmp/ig_mm_XXXXXX");
    if (!mkdtemp(repo)) return 1;
    sh("mkdir -p %s/iris/1 %s/broken/1");
    sh("cp examples/models/iris_mlp/1/model.onnx %s/iris/1/model.onnx");
    sh("printf 'not a model' > %s/broken/1/model.onnx");

    ig_mm *mm;
    ig_error err = {0};
    ig_mm_options o = {.repository = repo, .mode = IG_CONTROL_POLL, .poll_secs = 3600, .threads = 1};
    CHECK_EQ_INT(ig_mm_create(&o, &mm, &err), 0);
    rows rs = {0};
    ig_mm_snapshot(mm, collect, &rs);
    const row *r = find_row(&rs, "iris", 1);
    CHECK(r && r->state == IG_STATE_READY);
    r = find_row(&rs, "broken", 1);
    CHECK(r && r->state == IG_STATE_UNAVAILABLE && r->reason[0]);
    CHECK(!ig_mm_all_ready(mm)); /* strict readiness: a model failed */
    CHECK_EQ_INT(served_version(mm, "iris"), 1);

    /* Unknown model and version, as Triton words them. */
    err = (ig_error){0};
    CHECK(ig_mm_acquire(mm, "nope", "", &err) == NULL && err.code == IG_ENOMODEL && strstr(err.msg, "unknown model"));
    err = (ig_error){0};
    CHECK(ig_mm_acquire(mm, "iris", "7", &err) == NULL && err.code == IG_ENOTFOUND);

    /* Requests through the shared path: a good one, a wrong shape, a batch over the maximum. */
    ig_serving sv = {.mm = mm};
    result res = infer(&sv, "iris", 2, 4);
    CHECK_EQ_INT(res.status, 0);
    CHECK(res.probs[0] + res.probs[1] + res.probs[2] > 0.99f);
    res = infer(&sv, "iris", 1, 3);
    CHECK(res.status == IG_EINVAL && strstr(res.error, "unexpected shape"));
    res = infer(&sv, "nope", 1, 4);
    CHECK(res.status == IG_ENOMODEL && strstr(res.error, "unknown model"));

    /* Poll: version 2 appears and takes over; a broken version 3 leaves 2 serving. */
    sh("mkdir -p %s/iris/2 && cp examples/models/iris_mlp/1/model.onnx %s/iris/2/model.onnx");
    ig_mm_poll(mm);
    CHECK_EQ_INT(served_version(mm, "iris"), 2);
    sh("mkdir -p %s/iris/3 && printf 'garbage' > %s/iris/3/model.onnx");
    ig_mm_poll(mm);
    CHECK_EQ_INT(served_version(mm, "iris"), 2);
    rs.n = 0;
    ig_mm_snapshot(mm, collect, &rs);
    r = find_row(&rs, "iris", 3);
    CHECK(r && r->state == IG_STATE_UNAVAILABLE && r->reason[0]);
    /* The broken version is fixed: it loads and serves. */
    sh("cp examples/models/iris_mlp/1/model.onnx %s/iris/3/model.onnx");
    ig_mm_poll(mm);
    CHECK_EQ_INT(served_version(mm, "iris"), 3);

    /* A malformed config fails that model's reload only: version 3 keeps serving. */
    sh("printf 'max_batch_size: \"x\"' > %s/iris/config.pbtxt");
    ig_mm_poll(mm);
    CHECK_EQ_INT(served_version(mm, "iris"), 3);
    sh("rm %s/iris/config.pbtxt");

    /* Unload, then load again. */
    CHECK_EQ_INT(ig_mm_unload(mm, "iris", &err), 0);
    CHECK_EQ_INT(served_version(mm, "iris"), -1);
    CHECK_EQ_INT(ig_mm_load(mm, "iris", &err), 0);
    CHECK_EQ_INT(served_version(mm, "iris"), 3);

    /* Warmup runs (count times, batch 2) before a version serves. */
    sh("printf 'model_warmup [{ name: \"w\" batch_size: 2 count: 3 inputs { key: \"features\" value { "
       "data_type: TYPE_FP32 dims: [4] zero_data: true } } }]' > %s/iris/config.pbtxt");
    CHECK_EQ_INT(ig_mm_load(mm, "iris", &err), 0);
    ig_served *w = ig_mm_acquire(mm, "iris", "", &err);
    CHECK(w != NULL);
    if (w) {
        CHECK_EQ_INT(atomic_load(&w->stats.execution_count), 3);
        CHECK_EQ_INT(atomic_load(&w->stats.inference_count), 6);
        ig_mm_release(mm, w);
    }
    sh("rm %s/iris/config.pbtxt");

    /* The model's folder disappears: it stops serving. */
    sh("rm -rf %s/iris");
    ig_mm_poll(mm);
    CHECK_EQ_INT(served_version(mm, "iris"), -1);

    ig_mm_free(mm);
    sh("rm -rf %s");
    return CHECK_DONE();
}
