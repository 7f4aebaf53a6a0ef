/* Open Inference Protocol gRPC codec: protobuf-c messages of inference.GRPCInferenceService to and
 * from the serving layer's request/response, and the metadata, config, statistics and index
 * replies. Every message is built in (or unpacked into) a caller's arena and freed with it. */
#ifndef IG_PROTOCOL_OIP_PB_H
#define IG_PROTOCOL_OIP_PB_H

#include <stddef.h>

#include "base/arena.h"
#include "grpc_service.pb-c.h"
#include "health.pb-c.h"
#include "infergate/error.h"
#include "protocol/oip.h"
#include "serving/config.h"
#include "serving/request.h"

/* A protobuf-c allocator that allocates from arena (nothing is freed before the arena is). */
void ig_oip_pb_allocator(ig_arena *arena, ProtobufCAllocator *out);

/* Unpacks a ModelInferRequest (buf is only read during the call: protobuf-c copies what it keeps)
 * into *out (zeroed first), everything in arena. Inputs come from raw_input_contents (one entry per
 * input, all or none) or typed contents; FP16/BF16 only raw. Errors: IG_EINVAL for malformed
 * protobuf and inconsistent tensors (with the input's name), IG_ENOMEM. */
int ig_oip_pb_decode_infer(const void *buf, size_t len, ig_arena *arena, ig_infer_request *out,
                           ig_error *err);

/* Fills *out (initialised here) with the response: every output in raw_output_contents (BYTES as
 * 4-byte length prefixed elements), tensor data borrowed from resp, the rest in arena. `version` is
 * the version that ran. */
int ig_oip_pb_encode_infer(const ig_infer_request *req, const ig_infer_response *resp, const char *version,
                           ig_arena *arena, Inference__ModelInferResponse *out, ig_error *err);

/* Replies built in arena; NULL on OOM. */
Inference__ModelMetadataResponse *ig_oip_pb_model_metadata(const ig_model_config *cfg, const char *version,
                                                           ig_arena *arena);
Inference__ModelConfigResponse *ig_oip_pb_model_config(const ig_model_config *cfg, ig_arena *arena);
Inference__ModelStatisticsResponse *ig_oip_pb_model_stats(const ig_oip_stats_entry *e, int n,
                                                          ig_arena *arena);
Inference__RepositoryIndexResponse *ig_oip_pb_repo_index(const ig_oip_repo_entry *e, int n, ig_arena *arena);

#endif
