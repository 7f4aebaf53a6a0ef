/* Config auto-complete against the example ONNX models, its consistency checks, and /config JSON. */
#include <string.h>

#include "check.h"
#include "serving/config.h"

static ig_arena *arena;

/* Parses text and completes it against model; returns the completion's code. */
static int run(const char *text, const char *name, ig_model *m, ig_model_config *c, ig_error *err)
{
    memset(err, 0, sizeof(*err));
    int rc = ig_config_parse(text, strlen(text), arena, c, err);
    if (rc) {
        fprintf(stderr, "parse failed: %s\n", err->msg);
        return rc;
    }
    return ig_config_complete(c, name, m, err);
}

static void expect_error(ig_model *m, const char *text, const char *want, int line)
{
    ig_model_config c;
    ig_error err;
    int rc = run(text, "iris_mlp", m, &c, &err);
    ig_test_checks++;
    if (rc >= 0 || !strstr(err.msg, want)) {
        ig_test_failures++;
        fprintf(stderr, "%s:%d: expected error containing \"%s\", got rc=%d \"%s\"\n", __FILE__, line, want,
                rc, err.msg);
    }
}
#define EXPECT_ERROR(m, text, want) expect_error(m, text, want, __LINE__)

static ig_model *load(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "examples/models/%s/1/model.onnx", name);
    ig_model *m = NULL;
    ig_error err = {0};
    if (ig_model_load(path, NULL, &m, &err)) fprintf(stderr, "load %s: %s\n", path, err.msg);
    return m;
}

static void test_autocomplete(ig_model *iris, ig_model *cnn)
{
    ig_model_config c;
    ig_error err;
    /* features FLOAT [batch,4] -> probabilities FLOAT [batch,3] */
    CHECK_EQ_INT(run("", "iris_mlp", iris, &c, &err), 0);
    CHECK_STR(c.name, "iris_mlp");
    CHECK_STR(c.platform, "onnxruntime_onnx");
    CHECK_STR(c.backend, "onnxruntime");
    CHECK_EQ_INT(c.max_batch_size, 4);
    CHECK(c.dynamic_batching);
    CHECK_EQ_INT(c.instance_count, 1);
    CHECK_EQ_INT(c.n_inputs, 1);
    CHECK_STR(c.inputs[0].name, "features");
    CHECK_EQ_INT(c.inputs[0].data_type, IG_CFG_TYPE_FP32);
    CHECK_EQ_INT(c.inputs[0].n_dims, 1);
    CHECK_EQ_INT(c.inputs[0].dims[0], 4);
    CHECK_EQ_INT(c.n_outputs, 1);
    CHECK_STR(c.outputs[0].name, "probabilities");
    CHECK_EQ_INT(c.outputs[0].dims[0], 3);

    /* image FLOAT [batch,1,8,8]; explicit batching settings are kept. */
    CHECK_EQ_INT(run("name: \"tiny_cnn\" max_batch_size: 16 instance_group [{count: 2 kind: KIND_CPU}]",
                     "tiny_cnn", cnn, &c, &err),
                 0);
    CHECK_EQ_INT(c.max_batch_size, 16);
    CHECK(c.dynamic_batching);
    CHECK_EQ_INT(c.instance_count, 2);
    CHECK_EQ_INT(c.inputs[0].n_dims, 3);
    CHECK_EQ_INT(c.inputs[0].dims[2], 8);

    /* max_batch_size 1: no dynamic batcher is added. */
    CHECK_EQ_INT(run("max_batch_size: 1", "iris_mlp", iris, &c, &err), 0);
    CHECK(!c.dynamic_batching);

    /* The file's own inputs, with the batch dim included: no batching, dims kept. */
    CHECK_EQ_INT(
        run("input { name: \"features\" data_type: TYPE_FP32 dims: [-1, 4] }", "iris_mlp", iris, &c, &err),
        0);
    if (err.code) fprintf(stderr, "%s\n", err.msg);
    CHECK_EQ_INT(c.max_batch_size, 0);
    CHECK(!c.dynamic_batching);
    CHECK_EQ_INT(c.inputs[0].n_dims, 2);
    CHECK_EQ_INT(c.n_outputs, 1);
    CHECK_EQ_INT(c.outputs[0].n_dims, 2);

    /* Stricter than the model is fine; a name-only input gets its dtype and dims from the model. */
    CHECK_EQ_INT(
        run("max_batch_size: 8 input { name: \"features\" } output { name: \"probabilities\" data_type: "
            "TYPE_FP32 dims: [3] }",
            "iris_mlp", iris, &c, &err),
        0);
    CHECK_EQ_INT(c.inputs[0].data_type, IG_CFG_TYPE_FP32);
    CHECK_EQ_INT(c.inputs[0].dims[0], 4);
    CHECK_EQ_INT(
        run("input { name: \"features\" data_type: TYPE_FP32 dims: [2, 4] }", "iris_mlp", iris, &c, &err), 0);

    /* Reshape: API [batch,2,2] maps to model [batch,4]. */
    CHECK_EQ_INT(
        run("max_batch_size: 2 input { name: \"features\" data_type: TYPE_FP32 dims: [2,2] reshape { shape: "
            "[4] } }",
            "iris_mlp", iris, &c, &err),
        0);

    /* Warmup checked against inputs. */
    CHECK_EQ_INT(
        run("model_warmup [{ name: \"w\" batch_size: 2 inputs { key: \"features\" value { data_type: "
            "TYPE_FP32 dims: [4] zero_data: true } } }]",
            "iris_mlp", iris, &c, &err),
        0);
}

static void test_mismatch(ig_model *iris)
{
    EXPECT_ERROR(iris, "name: \"other\"",
                 "config.pbtxt names the model 'other' but its folder is 'iris_mlp'");
    EXPECT_ERROR(iris, "platform: \"tensorrt_plan\"", "platform 'tensorrt_plan' is not supported");
    EXPECT_ERROR(iris, "backend: \"python\"", "backend 'python' is not supported");
    EXPECT_ERROR(iris, "input { name: \"feat\" data_type: TYPE_FP32 dims: [4] }",
                 "config.pbtxt input 'feat' is not among the model's inputs");
    EXPECT_ERROR(iris, "output { name: \"p\" data_type: TYPE_FP32 dims: [3] }",
                 "config.pbtxt output 'p' is not among the model's outputs");
    EXPECT_ERROR(iris, "max_batch_size: 4 input { name: \"features\" data_type: TYPE_INT64 dims: [4] }",
                 "input 'features': config.pbtxt says INT64 but the model has FP32");
    EXPECT_ERROR(
        iris, "max_batch_size: 4 input { name: \"features\" data_type: TYPE_FP32 dims: [4, 1] }",
        "input 'features': config.pbtxt dims [4,1] plus the batch dim do not match the model's rank");
    EXPECT_ERROR(iris, "max_batch_size: 4 input { name: \"features\" data_type: TYPE_FP32 dims: [5] }",
                 "input 'features': config.pbtxt dims [5] do not match the model's shape [-1,4]");
    EXPECT_ERROR(iris, "max_batch_size: 4 input { name: \"features\" data_type: TYPE_FP32 dims: [-1] }",
                 "do not match the model's shape");
    EXPECT_ERROR(iris,
                 "max_batch_size: 4 input { name: \"features\" data_type: TYPE_FP32 dims: [3] reshape { "
                 "shape: [4] } }",
                 "reshape changes the element count");
    EXPECT_ERROR(iris, "max_batch_size: 4 dynamic_batching { preferred_batch_size: [8] }",
                 "preferred_batch_size 8 is larger than max_batch_size 4");
    EXPECT_ERROR(
        iris,
        "max_batch_size: 2 model_warmup [{ name: \"w\" batch_size: 3 inputs { key: \"features\" value "
        "{ data_type: TYPE_FP32 dims: [4] zero_data: true } } }]",
        "batch_size is larger than max_batch_size");
    EXPECT_ERROR(iris,
                 "model_warmup [{ name: \"w\" inputs { key: \"x\" value { data_type: TYPE_FP32 dims: [4] "
                 "zero_data: true } } }]",
                 "'x' is not an input of the model");
    EXPECT_ERROR(
        iris,
        "model_warmup [{ name: \"w\" inputs { key: \"features\" value { data_type: TYPE_INT32 dims: [4] "
        "zero_data: true } } }]",
        "input 'features' must have data_type FP32");
}

static void test_json(ig_model *iris)
{
    ig_model_config c;
    ig_error err;
    CHECK_EQ_INT(
        run("version_policy { specific { versions: [1, 3] } } parameters { key: \"a\\\"\" value { "
            "string_value: \"x\" } } response_cache { enable: true } model_warmup [{ name: \"w\" inputs { "
            "key: \"features\" value { data_type: TYPE_FP32 dims: [4] random_data: true } } }] "
            "dynamic_batching { priority_levels: 2 priority_queue_policy { key: 2 value { timeout_action: "
            "DELAY } } }",
            "iris_mlp", iris, &c, &err),
        0);
    char *j = ig_config_to_json(&c);
    CHECK(j != NULL);
    if (!j) return;
    const char *want[] = {
        "{\"name\":\"iris_mlp\",\"platform\":\"onnxruntime_onnx\",\"backend\":\"onnxruntime\"",
        "\"version_policy\":{\"specific\":{\"versions\":[1,3]}}",
        "\"max_batch_size\":4",
        "\"input\":[{\"name\":\"features\",\"data_type\":\"TYPE_FP32\",\"format\":\"FORMAT_NONE\",\"dims\":["
        "4],"
        "\"is_shape_tensor\":false,\"allow_ragged_batch\":false,\"optional\":false,\"is_non_linear_format_"
        "io\":false}]",
        "\"output\":[{\"name\":\"probabilities\",\"data_type\":\"TYPE_FP32\",\"dims\":[3],\"label_filename\":"
        "\"\"",
        "\"dynamic_batching\":{\"preferred_batch_size\":[],\"max_queue_delay_microseconds\":0",
        "\"priority_levels\":2,\"default_priority_level\":1",
        "\"priority_queue_policy\":{\"1\":{\"timeout_action\":\"REJECT\"",
        "\"2\":{\"timeout_action\":\"DELAY\",\"default_timeout_microseconds\":0,\"allow_timeout_override\":"
        "false,"
        "\"max_queue_size\":0}",
        "\"instance_group\":[{\"name\":\"iris_mlp\",\"kind\":\"KIND_CPU\",\"count\":1",
        "\"default_model_filename\":\"model.onnx\"",
        "\"parameters\":{\"a\\\"\":{\"string_value\":\"x\"}}",
        "\"model_warmup\":[{\"name\":\"w\",\"batch_size\":1,\"inputs\":{\"features\":{\"data_type\":\"TYPE_"
        "FP32\","
        "\"dims\":[4],\"random_data\":true}},\"count\":0}]",
        "\"response_cache\":{\"enable\":true}}",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ig_test_checks++;
        if (!strstr(j, want[i])) {
            ig_test_failures++;
            fprintf(stderr, "JSON lacks %s\nin %s\n", want[i], j);
        }
    }
    free(j);
    CHECK_STR(ig_cfg_dtype_api_name(IG_CFG_TYPE_STRING), "BYTES");
    CHECK_STR(ig_cfg_dtype_api_name(IG_CFG_TYPE_FP32), "FP32");
    CHECK_STR(ig_cfg_dtype_api_name(IG_CFG_TYPE_INVALID), "INVALID");
    for (int t = 1; t <= IG_CFG_TYPE_BF16; t++)
        CHECK_EQ_INT(ig_cfg_dtype_from_engine(ig_cfg_dtype_to_engine((ig_cfg_dtype)t)), t);
    CHECK_EQ_INT(ig_cfg_dtype_from_engine(IG_DT_COMPLEX64), IG_CFG_TYPE_INVALID);
    CHECK_EQ_INT(ig_cfg_dtype_to_engine(IG_CFG_TYPE_INVALID), IG_DT_UNDEFINED);
}

int main(void)
{
    arena = ig_arena_create(0);
    ig_model *iris = load("iris_mlp"), *cnn = load("tiny_cnn");
    CHECK(iris && cnn);
    if (iris && cnn) {
        test_autocomplete(iris, cnn);
        test_mismatch(iris);
        test_json(iris);
    }
    ig_model_free(iris);
    ig_model_free(cnn);
    ig_arena_free(arena);
    return CHECK_DONE();
}
