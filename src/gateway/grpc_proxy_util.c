/* Pure helpers of the gRPC front (see grpc_proxy.h): method table, the model name and version of a
 * request, status mapping and peer parsing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/grpc_proxy.h"
#include "policy/access.h"
#include "protocol/pb_peek.h"

#define SVC "/inference.GRPCInferenceService/"

ig_gw_grpc_method ig_gw_grpc_method_info(const char *path, size_t len)
{
    static const struct {
        const char *name;
        bool streaming;
        int model, version;
    } methods[] = {
        {"ModelInfer", false, 1, 2},          {"ModelStreamInfer", true, 1, 2},
        {"ModelMetadata", false, 1, 2},       {"ModelReady", false, 1, 2},
        {"ModelConfig", false, 1, 2},         {"ModelStatistics", false, 1, 2},
        {"ServerLive", false, 0, 0},          {"ServerReady", false, 0, 0},
        {"ServerMetadata", false, 0, 0},      {"RepositoryIndex", false, 0, 0},
        {"RepositoryModelLoad", false, 2, 0}, {"RepositoryModelUnload", false, 2, 0},
    };
    ig_gw_grpc_method m = {.streaming = true};
    size_t pl = sizeof SVC - 1;
    if (len <= pl || memcmp(path, SVC, pl)) return m;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strlen(methods[i].name) == len - pl && !memcmp(path + pl, methods[i].name, len - pl))
            return (ig_gw_grpc_method){true, methods[i].streaming, methods[i].model, methods[i].version,
                                       !strcmp(methods[i].name, "ModelInfer")};
    return m;
}

bool ig_gw_grpc_read_model(const uint8_t *msg, size_t len, int model_field, int version_field, char *model,
                           size_t model_cap, char *version, size_t version_cap)
{
    return ig_pb_peek_strings(msg, len, (uint32_t)model_field, model, model_cap, (uint32_t)version_field,
                              version, version_cap);
}

int ig_gw_grpc_http_status(int s)
{
    static const int map[] = {
        200, /* OK */
        499, /* CANCELLED */
        500, /* UNKNOWN */
        400, /* INVALID_ARGUMENT */
        504, /* DEADLINE_EXCEEDED */
        404, /* NOT_FOUND */
        409, /* ALREADY_EXISTS */
        403, /* PERMISSION_DENIED */
        429, /* RESOURCE_EXHAUSTED */
        400, /* FAILED_PRECONDITION */
        409, /* ABORTED */
        400, /* OUT_OF_RANGE */
        501, /* UNIMPLEMENTED */
        500, /* INTERNAL */
        503, /* UNAVAILABLE */
        500, /* DATA_LOSS */
        401, /* UNAUTHENTICATED */
    };
    return s >= 0 && s < (int)(sizeof map / sizeof map[0]) ? map[s] : 500;
}

bool ig_gw_grpc_parse_peer(const char *peer, struct sockaddr_storage *ss, char *ip, size_t ip_cap)
{
    if (!ig_access_parse_grpc_peer(peer, ss)) return false;
    ig_access_ip_string((const struct sockaddr *)ss, ip, ip_cap);
    return true;
}
