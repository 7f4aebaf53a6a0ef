/* libFuzzer target for what serve's access checks read from untrusted input before any decoding: the
 * model name peeked from protobuf wire bytes, gRPC peer strings, and policy files. The first byte
 * picks which. Any crash, sanitizer report or leak is a bug; refusals are expected. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/grpc_int.h"
#include "policy/access.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: {
        char out[256];
        ig__grpc_peek_string(p, n, 1 + data[0] / 3 % 4, out, sizeof(out));
        break;
    }
    case 1: {
        char *s = malloc(n + 1);
        if (!s) return 0;
        memcpy(s, p, n);
        s[n] = 0;
        struct sockaddr_storage ss;
        char ip[64];
        if (ig_access_parse_grpc_peer(s, &ss)) ig_access_ip_string((struct sockaddr *)&ss, ip, sizeof(ip));
        free(s);
        break;
    }
    default: {
        ig_error err = {0};
        ig_access_validate((const char *)p, n, "fuzz.yaml", &err);
        break;
    }
    }
    return 0;
}
