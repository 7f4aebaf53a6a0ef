/* Compares a shadow response with the primary's: two Open Inference Protocol (KServe v2) inference
 * responses, JSON or with the binary tensor extension (REST) or protobuf (gRPC), equal up to a numeric
 * tolerance. The gateway
 * mirrors a share of traffic to a candidate pool and feeds the verdicts to the canary judge. */
#ifndef IG_GATEWAY_SHADOW_H
#define IG_GATEWAY_SHADOW_H

#include <stddef.h>

/* a / b: whole response bodies of a_len / b_len bytes; *_json_len is the Inference-Header-Content-
 * Length when the binary extension is used (binary output data follows the JSON in output order),
 * else the full length. a is the reference (the primary's response).
 * Returns 0 when the outputs agree: same names, datatypes and shapes, every number within
 * atol + rtol * |a's value|, BYTES equal; 1 when they differ; a negative IG_E* code when either is
 * not a parsable OIP response. model_name, model_version, id and parameters are ignored; outputs are
 * matched by name. Any thread; no shared state. */
int ig_shadow_compare(const char *a, size_t a_len, size_t a_json_len, const char *b, size_t b_len,
                      size_t b_json_len, double atol, double rtol);

/* The same for two serialized inference.ModelInferResponse messages (gRPC), a the reference. Output
 * data comes from raw_output_contents (one entry per output; BYTES as 4-byte little-endian length
 * prefixed elements) or, when there is none, from each output's typed contents (the field Triton
 * uses for its datatype; FP16/BF16 only raw); a raw and a typed response compare by value. The
 * messages are untrusted bytes: malformed protobuf, a datatype, shape or data size that do not fit
 * is a negative IG_E* code. Any thread; no shared state. */
int ig_shadow_compare_pb(const void *a, size_t a_len, const void *b, size_t b_len, double atol, double rtol);

#endif
