/* Open Inference Protocol (KServe v2) REST codec, independent of the HTTP library: inference request
 * decoding (JSON + binary tensor extension, raw binary form), response and error encoding, and the
 * JSON bodies of the metadata, repository-index, statistics and health endpoints. */
#ifndef IG_PROTOCOL_OIP_H
#define IG_PROTOCOL_OIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "infergate/error.h"
#include "infergate/tensor.h"
#include "serving/config.h"
#include "serving/request.h"
#include "serving/stats.h"

/* API datatype names: "BOOL", "UINT8".."UINT64", "INT8".."INT64", "FP16", "FP32", "FP64", "BYTES"
 * (= IG_DT_STRING), "BF16". Name is NULL for dtypes the protocol has no name for. */
const char *ig_oip_dtype_name(ig_dtype dt);
/* IG_DT_UNDEFINED when s is no API name. */
ig_dtype ig_oip_dtype_parse(const char *s, size_t len);

/* Decodes an inference request body into *out (zeroed first), allocating in arena.
 * json_len: the Inference-Header-Content-Length value, or SIZE_MAX when the header is absent (the
 * whole body is JSON). json_len == 0 (raw binary request) is refused here: the caller knows the
 * model's input and calls ig_oip_decode_raw. Binary tensor data is borrowed from body when suitably
 * aligned (else copied), so body must outlive the request. model_name/model_version are stored as
 * given (borrowed). Errors: IG_EINVAL with a precise reason ("input 'x': shape [2,3] needs 6
 * elements, got 5"); IG_EUNSUPPORTED for shared memory, sequences and JSON BF16; IG_ENOMEM. */
int ig_oip_decode_infer(const void *body, size_t len, size_t json_len, const char *model_name,
                        const char *model_version, ig_arena *arena, ig_infer_request *out, ig_error *err);

/* The model's single input, for raw binary requests (Inference-Header-Content-Length: 0). dims is
 * the full shape including any batch dim (callers put 1 there: raw requests are batch 1), with at
 * most one -1, inferred from the body size. For BYTES the whole body is one element (shape [1]). */
typedef struct ig_oip_raw_input {
    const char *name;
    ig_dtype dtype;
    int ndim;
    int64_t dims[IG_MAX_DIMS];
} ig_oip_raw_input;

/* Decodes a raw binary request: one input from the whole body; every output returned binary. */
int ig_oip_decode_raw(const void *body, size_t len, const ig_oip_raw_input *in, const char *model_name,
                      const char *model_version, ig_arena *arena, ig_infer_request *out, ig_error *err);

/* One piece of the response body after the JSON, sent as is (borrowed from the response's tensors or
 * the request's arena). */
typedef struct ig_oip_part {
    const void *ptr;
    size_t len;
} ig_oip_part;

/* An encoded response: JSON (malloc'd, NUL-terminated; json_len is what
 * Inference-Header-Content-Length says when n_parts > 0) then binary parts in output order. */
typedef struct ig_oip_body {
    char *json;
    size_t json_len;
    int n_parts;
    ig_oip_part *parts; /* in the request's arena */
    size_t binary_len;  /* sum of the parts' lengths */
} ig_oip_body;

/* Encodes a successful response: {"model_name","model_version","id"?,"outputs":[...]} with each output
 * as JSON "data" or binary ("parameters":{"binary_data_size":N}). An output is binary when its
 * tensor says so, or when the request's output spec (binary_data) or request-level
 * binary_data_output asks; the encoder resolves that itself. BYTES binary outputs get their 4-byte
 * length prefixes in a copy in req->arena; other binary outputs are not copied. `version` is the
 * version that ran ("" to leave model_version out). Free with ig_oip_body_free. */
int ig_oip_encode_infer(const ig_infer_request *req, const ig_infer_response *resp, const char *version,
                        ig_oip_body *out, ig_error *err);
void ig_oip_body_free(ig_oip_body *b);

/* {"error":"<msg>"} with JSON escaping. malloc'd; NULL on OOM. */
char *ig_oip_error_json(const char *msg, size_t *len);

/* Sum over the request's inputs of the product of each shape, from the request JSON (json_len bytes:
 * the whole body, or the part before binary tensor data). 0, or IG_EFORMAT (then *out = 0). */
int ig_oip_count_elements(const char *json, size_t len, uint64_t *out);

/* ---- metadata endpoints (oip_meta.c); each returns a malloc'd NUL-terminated body or NULL ---- */

/* GET /v2: {"name","version","extensions":[...]}. */
char *ig_oip_server_metadata_json(const char *name, const char *version, const char *const *extensions,
                                  int n_extensions, size_t *len);
/* GET /v2/models/M[/versions/V]: name, versions (as strings), platform (platform, else backend),
 * inputs/outputs with API datatype names and shapes (leading -1 when max_batch_size > 0). */
char *ig_oip_model_metadata_json(const ig_model_config *cfg, const int64_t *versions, int n_versions,
                                 size_t *len);

typedef struct ig_oip_repo_entry {
    const char *name;
    const char *version; /* NULL or "" = left out */
    const char *state;   /* UNKNOWN, READY, UNAVAILABLE, LOADING, UNLOADING */
    const char *reason;  /* NULL = "" */
} ig_oip_repo_entry;
/* POST /v2/repository/index: [{"name","version"?,"state","reason"}, ...]. */
char *ig_oip_repo_index_json(const ig_oip_repo_entry *entries, int n, size_t *len);

typedef struct ig_oip_stats_entry {
    const char *name, *version;
    const ig_model_stats *stats;
} ig_oip_stats_entry;
/* GET /v2/models[/M[/versions/V]]/stats: {"model_stats":[...]} as Triton shapes it (§1.11). */
char *ig_oip_model_stats_json(const ig_oip_stats_entry *entries, int n, size_t *len);

/* Health bodies for servers that send JSON: {"live":b}, {"ready":b}, {"name":m,"ready":b}. */
char *ig_oip_live_json(bool live, size_t *len);
char *ig_oip_ready_json(bool ready, size_t *len);
char *ig_oip_model_ready_json(const char *name, bool ready, size_t *len);

#endif
