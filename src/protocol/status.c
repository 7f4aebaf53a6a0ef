/* The IG_E* -> HTTP/gRPC table (reference: Triton's error-code mapping, oip-triton.md §1.7). */
#include "protocol/status.h"

#include "infergate/error.h"

static const struct {
    int code, http, grpc;
} map[] = {
    {0, 200, IG_GRPC_OK},
    {IG_EINVAL, 400, IG_GRPC_INVALID_ARGUMENT},
    {IG_EFORMAT, 400, IG_GRPC_INVALID_ARGUMENT},
    {IG_EOVERFLOW, 400, IG_GRPC_INVALID_ARGUMENT},
    {IG_ESHAPE, 400, IG_GRPC_INVALID_ARGUMENT},
    {IG_EDTYPE, 400, IG_GRPC_INVALID_ARGUMENT},
    {IG_ENOMODEL, 400, IG_GRPC_INVALID_ARGUMENT}, /* Triton: unknown model is INVALID_ARG, not 404 */
    {IG_ECANCELED, 400, IG_GRPC_CANCELLED},
    {IG_EACCESS, 403, IG_GRPC_PERMISSION_DENIED},
    {IG_ENOTFOUND, 404, IG_GRPC_NOT_FOUND}, /* e.g. "'m' has no available versions" */
    {IG_ETOOBIG, 413, IG_GRPC_RESOURCE_EXHAUSTED},
    {IG_EUNSUPPORTED, 501, IG_GRPC_UNIMPLEMENTED},
    {IG_EUNAVAILABLE, 503, IG_GRPC_UNAVAILABLE}, /* queue full, queue timeout, not ready */
    {IG_ENOMEM, 500, IG_GRPC_INTERNAL},
    {IG_EIO, 500, IG_GRPC_INTERNAL},
    {IG_EDEFER, 500, IG_GRPC_INTERNAL},
    {IG_ERUNTIME, 500, IG_GRPC_INTERNAL},
};

int ig_status_http(int code)
{
    for (unsigned i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].code == code) return map[i].http;
    return 500;
}

int ig_status_grpc(int code)
{
    for (unsigned i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].code == code) return map[i].grpc;
    return IG_GRPC_INTERNAL;
}

const char *ig_status_reason(int s)
{
    switch (s) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
