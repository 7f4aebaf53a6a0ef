/* Pure helpers of the gRPC front (see grpc_proxy.h): method table, a minimal protobuf wire reader for
 * the model name and version of a request, status mapping and peer parsing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/grpc_proxy.h"

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
            return (ig_gw_grpc_method){true, methods[i].streaming, methods[i].model, methods[i].version};
    return m;
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

bool ig_gw_grpc_read_model(const uint8_t *msg, size_t len, int model_field, int version_field, char *model,
                           size_t model_cap, char *version, size_t version_cap)
{
    if (model_cap) model[0] = '\0';
    if (version_cap) version[0] = '\0';
    const uint8_t *p = msg, *end = msg + len;
    while (p < end) {
        uint64_t key, n;
        if (!varint(&p, end, &key) || key >> 3 == 0) return false;
        switch (key & 7) {
        case 0:
            if (!varint(&p, end, &n)) return false;
            break;
        case 1:
            if (end - p < 8) return false;
            p += 8;
            break;
        case 5:
            if (end - p < 4) return false;
            p += 4;
            break;
        case 2: {
            if (!varint(&p, end, &n) || n > (uint64_t)(end - p)) return false;
            int field = (int)(key >> 3);
            char *dst = field == model_field ? model : field == version_field ? version : NULL;
            size_t cap = field == model_field ? model_cap : version_cap;
            if (dst) {
                if (n >= cap) return false;
                memcpy(dst, p, n);
                dst[n] = '\0';
                if (memchr(dst, '\0', n)) return false;
            }
            p += n;
            break;
        }
        default:
            return false; /* groups (3, 4) are not used by these messages */
        }
    }
    return true;
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
    if (!peer) return false;
    bool v6 = !strncmp(peer, "ipv6:", 5);
    if (!v6 && strncmp(peer, "ipv4:", 5)) return false;
    char buf[128];
    size_t n = 0;
    for (const char *s = peer + 5; *s && n + 1 < sizeof buf; s++) {
        if (!strncasecmp(s, "%5B", 3) || !strncasecmp(s, "%5D", 3)) {
            buf[n++] = (char)(s[2] == 'B' || s[2] == 'b' ? '[' : ']');
            s += 2;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = '\0';
    char *colon = strrchr(buf, ':');
    if (!colon) return false;
    *colon = '\0';
    long port = strtol(colon + 1, NULL, 10);
    char *host = buf;
    if (v6) {
        size_t hl = strlen(host);
        if (hl < 2 || host[0] != '[' || host[hl - 1] != ']') return false;
        host[hl - 1] = '\0';
        host++;
        char *zone = strchr(host, '%');
        if (zone) *zone = '\0';
    }
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return false;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return false;
    }
    if (ip_cap) snprintf(ip, ip_cap, "%s", host);
    return true;
}
