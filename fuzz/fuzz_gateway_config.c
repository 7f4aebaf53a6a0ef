/* libFuzzer target for the gateway's config loader: pools, routes, rollouts, auth, rate limits, TLS
 * and limits, all read from one YAML file. The input is handed over as a memory file. Any crash,
 * sanitizer report or leak is a bug; refusals are expected. */
#define _GNU_SOURCE /* memfd_create */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gateway/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("gateway.yaml", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ig_error err = {0};
        ig_gw_config *c = ig_gw_config_load(path, NULL, NULL, &err);
        ig_gw_config_release(c);
    }
    close(fd);
    return 0;
}
