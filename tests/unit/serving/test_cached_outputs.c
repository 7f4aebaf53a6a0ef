/* Cached outputs: numeric and string outputs survive serialization, and damaged values are refused
 * rather than read past their end. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "serving/cached_outputs.h"

int main(void)
{
    float probs[6] = {0.1f, 0.2f, 0.7f, 0.3f, 0.3f, 0.4f};
    ig_string labels[2] = {{"cat", 3}, {"", 0}};
    ig_infer_tensor outs[2] = {
        {.name = "probs", .t = {.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {2, 3}, .data = probs}},
        {.name = "label", .t = {.dtype = IG_DT_STRING, .ndim = 1, .dims = {2}, .data = labels}},
    };
    ig_infer_response resp = {.n_outputs = 2, .outputs = outs};
    ig_buf b = {0};
    ig__outputs_serialize(&resp, &b);
    CHECK(!b.oom && b.len > 0);

    ig_arena *a = ig_arena_create(0);
    ig_infer_response back = {0};
    CHECK_EQ_INT(ig__outputs_deserialize(b.data, b.len, a, &back), 0);
    CHECK_EQ_INT(back.n_outputs, 2);
    CHECK_STR(back.outputs[0].name, "probs");
    CHECK(back.outputs[0].t.ndim == 2 && back.outputs[0].t.dims[1] == 3);
    CHECK(!memcmp(back.outputs[0].t.data, probs, sizeof(probs)));
    const ig_string *s = back.outputs[1].t.data;
    CHECK(back.outputs[1].t.dtype == IG_DT_STRING && s[0].len == 3 && !memcmp(s[0].ptr, "cat", 3) && s[1].len == 0);

    /* Every truncation is refused; none reads outside the value (checked under ASan). */
    int accepted = 0;
    for (size_t cut = 0; cut < b.len; cut++) {
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        ig_infer_response r = {0};
        accepted += ig__outputs_deserialize(copy, cut, a, &r) == 0;
        free(copy);
    }
    CHECK_EQ_INT(accepted, 0);
    ig_arena_free(a);
    ig_buf_free(&b);
    return CHECK_DONE();
}
