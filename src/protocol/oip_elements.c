/* How many tensor elements an inference request carries: the sum over its inputs of the product of
 * each shape, read from the request's JSON (the whole body, or the JSON part of a binary-tensor
 * request). What rate limits charge when a rule counts elements rather than requests. */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "protocol/oip.h"

int ig_oip_count_elements(const char *json, size_t len, uint64_t *out)
{
    *out = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *inputs = root ? cJSON_GetObjectItemCaseSensitive(root, "inputs") : NULL;
    int rc = cJSON_IsArray(inputs) ? 0 : IG_EFORMAT;
    const cJSON *in;
    cJSON_ArrayForEach(in, inputs)
    {
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(in, "shape"), *d;
        if (!cJSON_IsArray(shape)) {
            rc = IG_EFORMAT;
            break;
        }
        uint64_t n = 1;
        cJSON_ArrayForEach(d, shape)
        {
            double v = cJSON_IsNumber(d) ? d->valuedouble : -1;
            if (v < 0 || v != (double)(uint64_t)v || (v > 0 && n > UINT64_MAX / (uint64_t)v)) {
                rc = IG_EFORMAT;
                break;
            }
            n *= (uint64_t)v;
        }
        if (rc || *out > UINT64_MAX - n) {
            rc = IG_EFORMAT;
            break;
        }
        *out += n;
    }
    cJSON_Delete(root);
    if (rc) *out = 0;
    return rc;
}
