/* IG_E* codes as HTTP statuses and gRPC codes, following Triton's mapping (unknown model is 400,
 * no available version 404, queue full or timeout 503, unsupported 501). */
#ifndef IG_PROTOCOL_STATUS_H
#define IG_PROTOCOL_STATUS_H

/* gRPC status codes (grpc/status.h values), so this header needs no gRPC include. */
enum {
    IG_GRPC_OK = 0,
    IG_GRPC_CANCELLED = 1,
    IG_GRPC_UNKNOWN = 2,
    IG_GRPC_INVALID_ARGUMENT = 3,
    IG_GRPC_DEADLINE_EXCEEDED = 4,
    IG_GRPC_NOT_FOUND = 5,
    IG_GRPC_ALREADY_EXISTS = 6,
    IG_GRPC_PERMISSION_DENIED = 7,
    IG_GRPC_RESOURCE_EXHAUSTED = 8,
    IG_GRPC_FAILED_PRECONDITION = 9,
    IG_GRPC_UNIMPLEMENTED = 12,
    IG_GRPC_INTERNAL = 13,
    IG_GRPC_UNAVAILABLE = 14,
    IG_GRPC_UNAUTHENTICATED = 16,
};

/* 0 -> 200; unknown codes -> 500. */
int ig_status_http(int code);
int ig_status_grpc(int code);
/* Reason phrase of an HTTP status ("Bad Request"); "Unknown" for others. */
const char *ig_status_reason(int http_status);

#endif
