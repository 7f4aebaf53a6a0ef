/* libFuzzer target for `infergate bench`'s HTTP response-head parser. The parser lives with the CLI
 * (not in the library), so its file is compiled in here. Any crash or sanitizer report is a bug;
 * errors are expected. A parsed head must lie inside the input. */
#include <stdlib.h>
#include <string.h>

#include "../src/cli/bench_http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size copy so that ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    ig__bench_resp r;
    ig_error err = {0};
    int rc = ig__bench_parse_response(buf, size, &r, &err);
    if (rc == 1 && (r.head_len > size || r.status < 100 || r.status > 599)) abort();
    free(buf);
    return 0;
}
