/* Internal interface shared by the import_*.c files and external_data.c: the state of one load and
 * the per-message importers. Nothing here is visible outside src/engine/onnx/. */
#ifndef IG_ENGINE_ONNX_IMPORT_H
#define IG_ENGINE_ONNX_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/onnx/onnx.h"
#include "engine/onnx/wire.h"

/* Subgraphs recurse through attributes; a bound keeps hostile inputs from exhausting the stack. */
#define IG__ONNX_MAX_DEPTH 32
/* Sparse tensors expand to their dense shape; this caps the total one load may expand, so a tiny
 * file cannot make us allocate gigabytes. */
#define IG__ONNX_MAX_SPARSE_DENSE ((size_t)256 << 20)

typedef struct ig__onnx_extmap {
    char *location; /* malloc'd: the location string as written in the model */
    const uint8_t *addr;
    size_t len;
} ig__onnx_extmap;

typedef struct ig__onnx_ctx {
    ig_onnx_model *m; /* NULL when parsing a standalone tensor */
    ig_arena *a;
    ig_error *err;
    const char *base_dir; /* folder external data is confined to; NULL rejects external data */
    bool copy_all;        /* never point tensor data into the input buffer */
    int depth;
    size_t sparse_bytes; /* dense bytes expanded from sparse tensors so far */
    int n_ext;
    ig__onnx_extmap *ext; /* external-data mappings of this load, by location */
} ig__onnx_ctx;

struct ig__gbuild;

/* Reports a wire-format failure inside what (e.g. "node 'conv1'"). */
int ig__onnx_wire_err(ig__onnx_ctx *c, const char *what, const char *why);

/* TensorProto → t (data aligned to its element size). name may be NULL. */
int ig__onnx_tensor(ig__onnx_ctx *c, const uint8_t *p, size_t len, ig_tensor *t, const char **name);
/* SparseTensorProto → dense t. */
int ig__onnx_sparse_tensor(ig__onnx_ctx *c, const uint8_t *p, size_t len, ig_tensor *t, const char **name);
/* AttributeProto → a; subgraphs are imported with parent as their enclosing graph. */
int ig__onnx_attr(ig__onnx_ctx *c, struct ig__gbuild *parent, const char *node, const uint8_t *p, size_t len,
                  ig_attr *a);
/* GraphProto → *out. parent is NULL for the main graph. */
int ig__onnx_graph(ig__onnx_ctx *c, struct ig__gbuild *parent, const uint8_t *p, size_t len, ig_graph **out);

/* Resolves an external-data tensor: *data receives nbytes bytes inside a mapping of the file. */
int ig__onnx_external(ig__onnx_ctx *c, const char *tensor, const char *location, int64_t offset,
                      int64_t length, size_t nbytes, const uint8_t **data);
/* Records a mapping for ig_onnx_free; unmaps it and fails when the list cannot grow. */
int ig__onnx_add_map(ig__onnx_ctx *c, void *addr, size_t len);
void ig__onnx_ext_release(ig__onnx_ctx *c);

/* Opset version for domain, 0 if not imported ("" and "ai.onnx" are equal). */
int64_t ig__onnx_opset_of(const ig_onnx_model *m, const char *domain);

#endif
