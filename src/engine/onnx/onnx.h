/* ONNX import: a zero-copy protobuf wire reader over an mmapped .onnx file that builds the IR of
 * graph/ir.h. Initializer bytes stay in the mapping when they are suitably aligned; everything the
 * IR needs beyond that lives in the model's arena. */
#ifndef IG_ENGINE_ONNX_H
#define IG_ENGINE_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "engine/graph/ir.h"
#include "infergate/error.h"

typedef struct ig_onnx_model {
    ig_arena *arena;
    int64_t ir_version;
    int64_t model_version;
    const char *producer_name;
    const char *producer_version;
    const char *domain;
    int n_opsets;
    ig_opset *opsets;
    ig_graph *graph;
    size_t weight_bytes; /* bytes of all initializers, main graph and subgraphs */
    /* mappings to release: the model file and any external-data files */
    int n_maps;
    struct ig_onnx_map {
        void *addr;
        size_t len;
    } * maps;
} ig_onnx_model;

/* mmaps path and imports it. External data is resolved relative to the model's folder and confined
 * to it. On failure returns a negative IG_E* and a one-line reason in err. */
int ig_onnx_load(const char *path, ig_onnx_model **out, ig_error *err);

/* Imports a model already in memory (borrowed; must outlive the model). base_dir confines external
 * data; NULL rejects any external data. */
int ig_onnx_load_buffer(const void *buf, size_t len, const char *base_dir, ig_onnx_model **out,
                        ig_error *err);

void ig_onnx_free(ig_onnx_model *m);

/* Opset version the model imports for domain ("" and "ai.onnx" are the same); 0 if not imported. */
int64_t ig_onnx_opset(const ig_onnx_model *m, const char *domain);

/* Reads a serialized TensorProto (.pb, as in the ONNX test sets) into *out, data allocated in arena
 * and aligned. *name (may be NULL) receives the tensor's name, or "" when it has none. */
int ig_onnx_read_tensor_file(const char *path, ig_arena *arena, ig_tensor *out, const char **name,
                             ig_error *err);
int ig_onnx_parse_tensor(const void *buf, size_t len, ig_arena *arena, ig_tensor *out, const char **name,
                         ig_error *err);

#endif
