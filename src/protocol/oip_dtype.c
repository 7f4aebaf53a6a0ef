/* The protocol's datatype names ("FP32", "BYTES") and their engine dtypes. */
#include <string.h>

#include "protocol/oip.h"

static const struct {
    const char *name;
    ig_dtype dt;
} names[] = {
    {"BOOL", IG_DT_BOOL},     {"UINT8", IG_DT_UINT8},   {"UINT16", IG_DT_UINT16}, {"UINT32", IG_DT_UINT32},
    {"UINT64", IG_DT_UINT64}, {"INT8", IG_DT_INT8},     {"INT16", IG_DT_INT16},   {"INT32", IG_DT_INT32},
    {"INT64", IG_DT_INT64},   {"FP16", IG_DT_FLOAT16},  {"FP32", IG_DT_FLOAT},    {"FP64", IG_DT_DOUBLE},
    {"BYTES", IG_DT_STRING},  {"BF16", IG_DT_BFLOAT16},
};

const char *ig_oip_dtype_name(ig_dtype dt)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].dt == dt) return names[i].name;
    return NULL;
}

ig_dtype ig_oip_dtype_parse(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && !memcmp(names[i].name, s, len)) return names[i].dt;
    return IG_DT_UNDEFINED;
}
