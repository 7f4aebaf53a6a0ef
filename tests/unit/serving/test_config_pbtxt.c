/* config.pbtxt parser: the text-format grammar, every ModelConfig field infergate honours, Triton's
 * documented examples, and the errors (with line numbers) for everything it refuses. */
#include <string.h>

#include "check.h"
#include "serving/config.h"

static ig_arena *arena;

static int parse(const char *text, ig_model_config *c, ig_error *err)
{
    memset(err, 0, sizeof(*err));
    return ig_config_parse(text, strlen(text), arena, c, err);
}

/* Parses text expecting failure whose message contains want. */
static void expect_error(const char *text, const char *want, int line)
{
    ig_model_config c;
    ig_error err;
    int rc = parse(text, &c, &err);
    ig_test_checks++;
    if (rc >= 0 || !strstr(err.msg, want)) {
        ig_test_failures++;
        fprintf(stderr, "%s:%d: expected error containing \"%s\", got rc=%d \"%s\" for:\n%s\n", __FILE__,
                line, want, rc, err.msg, text);
    }
}
#define EXPECT_ERROR(text, want) expect_error(text, want, __LINE__)

static void test_defaults(void)
{
    ig_model_config c;
    ig_error err;
    CHECK_EQ_INT(parse("", &c, &err), 0);
    CHECK(c.name == NULL);
    CHECK_EQ_INT(c.max_batch_size, 0);
    CHECK_EQ_INT(c.version_policy, IG_VERSION_LATEST);
    CHECK_EQ_INT(c.latest_num_versions, 1);
    CHECK_EQ_INT(c.instance_count, 1);
    CHECK(!c.dynamic_batching);
    CHECK(c.arena == arena);
    CHECK_EQ_INT(parse("  # only a comment\n\n", &c, &err), 0);
}

/* The example from Triton's model_configuration.md, plus batching and warmup blocks. */
static void test_triton_example(void)
{
    const char *text =
        "name: \"mymodel\"\n"
        "platform: \"onnxruntime_onnx\"\n"
        "max_batch_size: 8\n"
        "input [\n"
        "  {\n"
        "    name: \"INPUT0\"\n"
        "    data_type: TYPE_FP32\n"
        "    dims: [ 16 ]\n"
        "  },\n"
        "  {\n"
        "    name: \"INPUT1\"\n"
        "    data_type: TYPE_FP32\n"
        "    dims: [ 16 ]\n"
        "  }\n"
        "]\n"
        "output [\n"
        "  {\n"
        "    name: \"OUTPUT0\"\n"
        "    data_type: TYPE_FP32\n"
        "    dims: [ 16 ]\n"
        "    label_filename: \"labels.txt\"\n"
        "  }\n"
        "]\n"
        "instance_group [ { count: 2 kind: KIND_CPU }, { count: 3, kind: KIND_AUTO } ]\n"
        "dynamic_batching {\n"
        "  preferred_batch_size: [ 4, 8 ]\n"
        "  max_queue_delay_microseconds: 100\n"
        "  preserve_ordering: true\n"
        "}\n"
        "model_warmup [{ name: \"w\" batch_size: 1 inputs { key: \"INPUT0\" value { data_type: "
        "TYPE_FP32 dims: [16] zero_data: true } } inputs { key: \"INPUT1\" value: { data_type: "
        "TYPE_FP32 dims: 16 random_data: true } } count: 3 }]\n"
        "response_cache { enable: True }\n"
        "parameters { key: \"intra_op_thread_count\" value: { string_value: \"2\" } }\n"
        "parameters [ { key: \"k2\", value { string_value: 'v2' } } ]\n"
        "default_model_filename: \"m.onnx\"\n"
        "model_transaction_policy { decoupled: false }\n";
    ig_model_config c;
    ig_error err;
    CHECK_EQ_INT(parse(text, &c, &err), 0);
    if (err.code) fprintf(stderr, "%s\n", err.msg);
    CHECK_STR(c.name, "mymodel");
    CHECK_STR(c.platform, "onnxruntime_onnx");
    CHECK_EQ_INT(c.max_batch_size, 8);
    CHECK_EQ_INT(c.n_inputs, 2);
    CHECK_STR(c.inputs[1].name, "INPUT1");
    CHECK_EQ_INT(c.inputs[0].data_type, IG_CFG_TYPE_FP32);
    CHECK_EQ_INT(c.inputs[0].n_dims, 1);
    CHECK_EQ_INT(c.inputs[0].dims[0], 16);
    CHECK_EQ_INT(c.n_outputs, 1);
    CHECK_STR(c.outputs[0].label_filename, "labels.txt");
    CHECK_EQ_INT(c.instance_count, 5);
    CHECK(c.dynamic_batching);
    CHECK_EQ_INT(c.n_preferred_batch_sizes, 2);
    CHECK_EQ_INT(c.preferred_batch_sizes[1], 8);
    CHECK_EQ_INT(c.max_queue_delay_us, 100);
    CHECK(c.preserve_ordering);
    CHECK_EQ_INT(c.n_warmups, 1);
    CHECK_STR(c.warmups[0].name, "w");
    CHECK_EQ_INT(c.warmups[0].count, 3);
    CHECK_EQ_INT(c.warmups[0].n_inputs, 2);
    CHECK_STR(c.warmups[0].inputs[0].name, "INPUT0");
    CHECK(!c.warmups[0].inputs[0].random_data);
    CHECK(c.warmups[0].inputs[1].random_data);
    CHECK_EQ_INT(c.warmups[0].inputs[1].dims[0], 16);
    CHECK(c.response_cache);
    CHECK_EQ_INT(c.n_parameters, 2);
    CHECK_STR(c.parameters[0].key, "intra_op_thread_count");
    CHECK_STR(c.parameters[0].value, "2");
    CHECK_STR(c.parameters[1].value, "v2");
    CHECK_STR(c.default_model_filename, "m.onnx");
}

static void test_grammar(void)
{
    ig_model_config c;
    ig_error err;
    /* `< >` delimiters, `name: {`, `;` separators, mixed repetition, hex/octal, enum numbers. */
    CHECK_EQ_INT(parse("input: < name: 'a'; data_type: 11; dims: 0x10 dims: [010, -1]; dims: [] >", &c, &err),
                 0);
    CHECK_EQ_INT(c.inputs[0].data_type, IG_CFG_TYPE_FP32);
    CHECK_EQ_INT(c.inputs[0].n_dims, 3);
    CHECK_EQ_INT(c.inputs[0].dims[0], 16);
    CHECK_EQ_INT(c.inputs[0].dims[1], 8);
    CHECK_EQ_INT(c.inputs[0].dims[2], -1);
    /* String escapes and concatenation. */
    CHECK_EQ_INT(parse("name: \"a\\tb\" 'c\\'d' \"\\x41\\101\\u00e9\\\"\\\\\"", &c, &err), 0);
    CHECK_STR(c.name, "a\tbc'dAA\xc3\xa9\"\\");
    /* Bool spellings. */
    const char *bools[] = {"true", "True", "t", "1", "false", "False", "f", "0"};
    for (int i = 0; i < 8; i++) {
        char t[128];
        snprintf(t, sizeof(t), "response_cache { enable: %s }", bools[i]);
        CHECK_EQ_INT(parse(t, &c, &err), 0);
        CHECK_EQ_INT(c.response_cache, i < 4);
    }
    /* Comments anywhere, trailing separators, negative with a space. */
    CHECK_EQ_INT(parse("# head\nmax_batch_size: 4, # tail\ninput { name: \"x\" # c\n dims: - 1 },", &c, &err),
                 0);
    CHECK_EQ_INT(c.max_batch_size, 4);
    CHECK_EQ_INT(c.inputs[0].dims[0], -1);
    /* reshape, optional, format ignored. */
    CHECK_EQ_INT(
        parse("input { name: \"x\" format: FORMAT_NCHW dims: [1] reshape: { shape: [ ] } optional: true }",
              &c, &err),
        0);
    CHECK(c.inputs[0].has_reshape);
    CHECK_EQ_INT(c.inputs[0].n_reshape, 0);
    CHECK(c.inputs[0].optional);
    CHECK_EQ_INT(parse("output { name: \"y\" dims: [2,3] reshape { shape: [6] } }", &c, &err), 0);
    CHECK_EQ_INT(c.outputs[0].n_reshape, 1);
    CHECK_EQ_INT(c.outputs[0].reshape[0], 6);
    /* Unsupported-but-harmless values accepted. */
    CHECK_EQ_INT(parse("input { name: \"x\" is_shape_tensor: false allow_ragged_batch: false }", &c, &err),
                 0);
}

static void test_version_policy(void)
{
    ig_model_config c;
    ig_error err;
    CHECK_EQ_INT(parse("version_policy: { all { } }", &c, &err), 0);
    CHECK_EQ_INT(c.version_policy, IG_VERSION_ALL);
    CHECK_EQ_INT(parse("version_policy { latest { num_versions: 2 } }", &c, &err), 0);
    CHECK_EQ_INT(c.version_policy, IG_VERSION_LATEST);
    CHECK_EQ_INT(c.latest_num_versions, 2);
    CHECK_EQ_INT(parse("version_policy { specific { versions: [1, 3] versions: 7 } }", &c, &err), 0);
    CHECK_EQ_INT(c.version_policy, IG_VERSION_SPECIFIC);
    CHECK_EQ_INT(c.n_specific_versions, 3);
    CHECK_EQ_INT(c.specific_versions[2], 7);
    EXPECT_ERROR("version_policy { all {} latest {} }", "config.pbtxt:1: version_policy takes one of");
    EXPECT_ERROR("version_policy {\n latest { num_versions: 0 } }",
                 "config.pbtxt:2: num_versions must be at least 1");
    EXPECT_ERROR("version_policy { all { x: 1 } }", "unknown field 'x' in all");
}

static void test_dynamic_batching(void)
{
    ig_model_config c;
    ig_error err;
    const char *t = "dynamic_batching {\n"
                    "  priority_levels: 3\n"
                    "  default_priority_level: 2\n"
                    "  priority_queue_policy { key: 1 value: { timeout_action: DELAY max_queue_size: 5 } }\n"
                    "  priority_queue_policy [ { key: 3, value { default_timeout_microseconds: 100 } } ]\n"
                    "  default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 0x10 "
                    "allow_timeout_override: true max_queue_size: 7 }\n"
                    "}";
    CHECK_EQ_INT(parse(t, &c, &err), 0);
    if (err.code) fprintf(stderr, "%s\n", err.msg);
    CHECK(c.dynamic_batching);
    CHECK_EQ_INT(c.priority_levels, 3);
    CHECK_EQ_INT(c.default_priority_level, 2);
    CHECK(c.default_queue_policy.allow_timeout_override);
    CHECK_EQ_INT(c.default_queue_policy.default_timeout_us, 16);
    CHECK(c.priority_queue_policy != NULL);
    if (c.priority_queue_policy) {
        CHECK(c.priority_queue_policy[1].timeout_delay);
        CHECK_EQ_INT(c.priority_queue_policy[1].max_queue_size, 5);
        CHECK_EQ_INT(c.priority_queue_policy[2].max_queue_size, 7); /* falls back to the default policy */
        CHECK_EQ_INT(c.priority_queue_policy[3].default_timeout_us, 100);
    }
    CHECK_EQ_INT(parse("dynamic_batching { }", &c, &err), 0);
    CHECK(c.dynamic_batching);
    CHECK(c.priority_queue_policy == NULL);
    CHECK_EQ_INT(parse("dynamic_batching { max_queue_delay_microseconds: 18446744073709551615 }", &c, &err),
                 0);
    CHECK(c.max_queue_delay_us == UINT64_MAX);
    CHECK_EQ_INT(parse("dynamic_batching { priority_levels: 2 }", &c, &err), 0);
    CHECK_EQ_INT(c.default_priority_level, 1);
    EXPECT_ERROR("dynamic_batching {\n priority_levels: 2\n default_priority_level: 3 }",
                 "config.pbtxt:3: default_priority_level must be between 1 and priority_levels");
    EXPECT_ERROR("dynamic_batching { priority_levels: 2 priority_queue_policy { key: 3 value {} } }",
                 "priority_queue_policy key must be between 1 and priority_levels");
    EXPECT_ERROR(
        "dynamic_batching { priority_levels: 2 priority_queue_policy { key: 1 } priority_queue_policy { key: "
        "1 } }",
        "more than once");
    EXPECT_ERROR("dynamic_batching { priority_levels: 100000 }", "limit of 1024");
    EXPECT_ERROR("dynamic_batching { preferred_batch_size: 0 }", "out of range");
    EXPECT_ERROR("dynamic_batching { default_queue_policy { timeout_action: LATER } }",
                 "unknown value 'LATER' for field 'timeout_action'");
    EXPECT_ERROR("dynamic_batching { max_queue_delay_microseconds: 18446744073709551616 }", "out of range");
    EXPECT_ERROR("dynamic_batching { max_queue_delay_microseconds: -1 }", "cannot be negative");
}

static void test_errors(void)
{
    EXPECT_ERROR("name: \"m\"\ninput {\n  name: \"x\"\n  dimz: [1]\n}",
                 "config.pbtxt:4: unknown field 'dimz' in input");
    EXPECT_ERROR("\n\nfoo: 1", "config.pbtxt:3: unknown field 'foo' in model config");
    EXPECT_ERROR("name \"m\"", "config.pbtxt:1: missing ':' after field 'name'");
    EXPECT_ERROR("dims [1]", "missing ':' after field 'dims'");
    EXPECT_ERROR("input {\n name: \"x\"\n", "config.pbtxt:3: missing '}' before end of file");
    EXPECT_ERROR("input < name: \"x\" }", "expected a field name, found '}'");
    EXPECT_ERROR("name: \"abc\n\"", "config.pbtxt:1: unterminated string");
    EXPECT_ERROR("name: \"a\\qb\"", "unknown escape");
    EXPECT_ERROR("name: \"a\\0b\"", "bad octal escape");
    EXPECT_ERROR("name: \"a\\x00\"", "NUL");
    EXPECT_ERROR("name: 'a\\u12'", "bad \\u escape");
    EXPECT_ERROR("name: 5", "config.pbtxt:1: field 'name' takes a quoted string");
    EXPECT_ERROR("max_batch_size: \"4\"", "takes an integer");
    EXPECT_ERROR("max_batch_size: 1.5", "takes an integer, found '1.5'");
    EXPECT_ERROR("max_batch_size: -1", "out of range");
    EXPECT_ERROR("max_batch_size: 2147483648", "out of range");
    EXPECT_ERROR("max_batch_size: 99999999999999999999999", "out of range");
    EXPECT_ERROR("max_batch_size: 0x", "takes an integer");
    EXPECT_ERROR("max_batch_size: 09", "takes an integer");
    EXPECT_ERROR("max_batch_size: 1\nmax_batch_size: 2",
                 "config.pbtxt:2: field 'max_batch_size' is set more than once");
    EXPECT_ERROR("max_batch_size: [1]", "not repeated");
    EXPECT_ERROR("max_batch_size { }", "takes a value, not a message");
    EXPECT_ERROR("input: 3", "takes a message");
    EXPECT_ERROR("response_cache { enable: yes }", "takes true or false, found 'yes'");
    EXPECT_ERROR("input { name: \"x\" data_type: TYPE_FLOAT }",
                 "unknown value 'TYPE_FLOAT' for field 'data_type'");
    EXPECT_ERROR("input { name: \"x\" data_type: 99 }", "unknown value '99'");
    EXPECT_ERROR("input { name: \"x\" data_type: TYPE_INVALID }", "cannot be TYPE_INVALID");
    EXPECT_ERROR("input { data_type: TYPE_FP32 }", "input without a name");
    EXPECT_ERROR("input { name: \"\" }", "name cannot be empty");
    EXPECT_ERROR("input { name: \"x\" } input { name: \"x\" }", "input 'x' is declared more than once");
    EXPECT_ERROR("input { name: \"x\" dims: -2 }", "out of range");
    EXPECT_ERROR("input { name: \"x\" dims: [1,1,1,1,1,1,1,1,1] }", "too many dims");
    EXPECT_ERROR("input { name: \"x\" dims: [1 2] }", "expected ',' or ']'");
    EXPECT_ERROR("input { name: \"x\" dims: [1, ] }", "expected a value");
    EXPECT_ERROR("input {\n name: \"x\"\n is_shape_tensor: true }",
                 "config.pbtxt:3: 'is_shape_tensor: true' is not supported");
    EXPECT_ERROR("output { name: \"y\" optional: true }", "unknown field 'optional' in output");
    EXPECT_ERROR("output { name: \"y\" label_filename: \"../x\" }", "label_filename must be a file name");
    EXPECT_ERROR("instance_group [ { kind: KIND_GPU } ]", "KIND_GPU is not supported");
    EXPECT_ERROR("instance_group [ { kind: KIND_MODEL } ]", "KIND_MODEL is not supported");
    EXPECT_ERROR("instance_group [ { count: 1 gpus: [0] } ]", "'gpus' is not supported");
    EXPECT_ERROR("instance_group [ { count: 0 } ]", "out of range");
    EXPECT_ERROR("instance_group [ { rate_limiter { priority: 1 } } ]",
                 "field 'rate_limiter' in instance_group is not supported");
    EXPECT_ERROR("\nsequence_batching { max_sequence_idle_microseconds: 5 }",
                 "config.pbtxt:2: field 'sequence_batching' in model config is not supported");
    EXPECT_ERROR("ensemble_scheduling { step [ { model_name: \"a\" } ] }",
                 "'ensemble_scheduling' in model config is not supported");
    EXPECT_ERROR(
        "optimization { execution_accelerators { cpu_execution_accelerator: [ { name: \"openvino\" } ] } }",
        "'optimization' in model config is not supported");
    EXPECT_ERROR("model_transaction_policy { decoupled: true }", "'decoupled: true' is not supported");
    EXPECT_ERROR("model_warmup [{ name: \"w\" inputs { key: \"a\" value { data_type: TYPE_FP32 dims: [1] "
                 "input_data_file: \"f\" } } }]",
                 "input_data_file is not supported");
    EXPECT_ERROR(
        "model_warmup [{ name: \"w\" inputs { key: \"a\" value { data_type: TYPE_FP32 dims: [1] } } }]",
        "needs zero_data or random_data");
    EXPECT_ERROR(
        "model_warmup [{ name: \"w\" inputs { key: \"a\" value { dims: [1] zero_data: true random_data: true "
        "} } }]",
        "takes one of zero_data");
    EXPECT_ERROR("model_warmup [{ batch_size: 1 }]", "model_warmup needs a name");
    EXPECT_ERROR("model_warmup [{ name: \"w\" inputs { value { } } }]", "entry without a key");
    EXPECT_ERROR("parameters { value { string_value: \"v\" } }", "parameters entry without a key");
    EXPECT_ERROR("parameters { key: \"a\" } parameters { key: \"a\" }",
                 "parameter 'a' is given more than once");
    EXPECT_ERROR("parameters { key: \"a\" value { int_value: 1 } }",
                 "unknown field 'int_value' in parameters value");
    EXPECT_ERROR("default_model_filename: \"../m.onnx\"", "default_model_filename must be a file name");
    EXPECT_ERROR("name: \"a\" $", "unexpected character '$'");
    EXPECT_ERROR("{ }", "expected a field name, found '{'");
    EXPECT_ERROR("name: -", "'-' must be followed by a number");
    EXPECT_ERROR("[ext.field]: 1", "expected a field name");
    /* Nesting depth is bounded. */
    char deep[400] = "";
    for (int i = 0; i < 40; i++) strcat(deep, "a {");
    EXPECT_ERROR(deep, "nested too deeply");
}

int main(void)
{
    arena = ig_arena_create(0);
    test_defaults();
    test_triton_example();
    test_grammar();
    test_version_policy();
    test_dynamic_batching();
    test_errors();
    ig_arena_free(arena);
    return CHECK_DONE();
}
