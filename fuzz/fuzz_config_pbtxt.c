/* libFuzzer target for the config.pbtxt parser and the /config JSON writer. Any crash, sanitizer
 * report or leak is a bug; parse errors are expected. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "serving/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_arena *a = ig_arena_create(0);
    if (!a) return 0;
    ig_model_config cfg;
    ig_error err = {0};
    if (ig_config_parse((const char *)data, size, a, &cfg, &err) == 0) {
        char *j = ig_config_to_json(&cfg);
        free(j);
    }
    ig_arena_free(a);
    return 0;
}
