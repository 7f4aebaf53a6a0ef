/* Model configuration: the Triton ModelConfig fields infergate honours, read from a model's
 * config.pbtxt (protobuf text format), completed from the ONNX model where the file is silent, and
 * rendered as JSON for the /config endpoint. All strings and arrays live in the config's arena. */
#ifndef IG_SERVING_CONFIG_H
#define IG_SERVING_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "infergate/engine.h"
#include "infergate/error.h"

/* Triton's DataType enum values (model_config.proto): TYPE_BOOL = 1 ... TYPE_BF16 = 14. */
typedef enum ig_cfg_dtype {
    IG_CFG_TYPE_INVALID = 0,
    IG_CFG_TYPE_BOOL = 1,
    IG_CFG_TYPE_UINT8 = 2,
    IG_CFG_TYPE_UINT16 = 3,
    IG_CFG_TYPE_UINT32 = 4,
    IG_CFG_TYPE_UINT64 = 5,
    IG_CFG_TYPE_INT8 = 6,
    IG_CFG_TYPE_INT16 = 7,
    IG_CFG_TYPE_INT32 = 8,
    IG_CFG_TYPE_INT64 = 9,
    IG_CFG_TYPE_FP16 = 10,
    IG_CFG_TYPE_FP32 = 11,
    IG_CFG_TYPE_FP64 = 12,
    IG_CFG_TYPE_STRING = 13,
    IG_CFG_TYPE_BF16 = 14,
} ig_cfg_dtype;

typedef struct ig_cfg_tensor {
    const char *name;
    ig_cfg_dtype data_type;
    int n_dims;
    int64_t dims[IG_MAX_DIMS]; /* without the batch dim when max_batch_size > 0; -1 = variable */
    bool has_reshape;
    int n_reshape;
    int64_t reshape[IG_MAX_DIMS];
    const char *label_filename; /* outputs only; NULL if none */
    bool optional;              /* inputs only */
} ig_cfg_tensor;

typedef enum ig_version_policy_kind {
    IG_VERSION_LATEST = 0, /* the num_versions highest */
    IG_VERSION_ALL,
    IG_VERSION_SPECIFIC,
} ig_version_policy_kind;

typedef struct ig_queue_policy {
    bool timeout_delay;            /* timeout_action: false = REJECT, true = DELAY */
    uint64_t default_timeout_us;   /* 0 = none */
    bool allow_timeout_override;
    uint32_t max_queue_size;       /* 0 = unbounded */
} ig_queue_policy;

typedef struct ig_cfg_warmup {
    const char *name;
    uint32_t batch_size;
    uint32_t count;
    int n_inputs;
    struct ig_cfg_warmup_input {
        const char *name;
        ig_cfg_dtype data_type;
        int n_dims;
        int64_t dims[IG_MAX_DIMS];
        bool random_data; /* else zero_data (input_data_file is refused at parse time) */
    } *inputs;
} ig_cfg_warmup;

typedef struct ig_cfg_param {
    const char *key, *value;
} ig_cfg_param;

typedef struct ig_model_config {
    ig_arena *arena;
    const char *name;
    const char *platform; /* "onnxruntime_onnx" after completion */
    const char *backend;  /* "onnxruntime" after completion */
    int32_t max_batch_size;
    int n_inputs, n_outputs;
    ig_cfg_tensor *inputs, *outputs;
    ig_version_policy_kind version_policy;
    uint32_t latest_num_versions; /* LATEST; default 1 */
    int n_specific_versions;
    int64_t *specific_versions;
    int instance_count; /* sum of instance_group counts; default 1 */
    bool dynamic_batching; /* a dynamic_batching block is present (or completion enabled it) */
    int n_preferred_batch_sizes;
    int32_t *preferred_batch_sizes;
    uint64_t max_queue_delay_us;
    bool preserve_ordering;
    uint32_t priority_levels;        /* 0 = one level */
    uint32_t default_priority_level; /* 1..priority_levels; 0 = the middle is not assumed: level 1 */
    ig_queue_policy default_queue_policy;
    ig_queue_policy *priority_queue_policy; /* [priority_levels + 1], index = level; NULL = all default */
    bool response_cache;
    int n_warmups;
    ig_cfg_warmup *warmups;
    int n_parameters;
    ig_cfg_param *parameters;
    const char *default_model_filename; /* NULL = "model.onnx" */
} ig_model_config;

/* Parses config.pbtxt text into *cfg (allocating in arena). Unknown fields, wrong types and values
 * out of range are errors with a line number: "config.pbtxt:12: unknown field 'dimz' in input". */
int ig_config_parse(const char *text, size_t len, ig_arena *arena, ig_model_config *cfg, ig_error *err);

/* Fills what the file left out from the loaded model (inputs, outputs, max_batch_size and dynamic
 * batching when every input's first dim is dynamic) and checks that what it gave agrees with the
 * model (names, dtypes, ranks, fixed dims). `name` is the model's folder name. */
int ig_config_complete(ig_model_config *cfg, const char *name, const ig_model *model, ig_error *err);

/* The config as Triton's /config JSON (proto field names, defaults printed). Returns a malloc'd
 * NUL-terminated string, or NULL on OOM. */
char *ig_config_to_json(const ig_model_config *cfg);

/* API datatype names ("FP32") and conversions between the config enum and engine dtypes. */
const char *ig_cfg_dtype_api_name(ig_cfg_dtype t);
ig_cfg_dtype ig_cfg_dtype_from_engine(ig_dtype dt);
ig_dtype ig_cfg_dtype_to_engine(ig_cfg_dtype t);

#endif
