/* Protobuf wire reader: varint bounds and truncation, field parsing, rejected wire types, packed and
 * unpacked repeated scalars. */
#include <stdint.h>

#include "check.h"
#include "engine/onnx/wire.h"
#include "infergate/error.h"

static int varint(const uint8_t *p, size_t len, uint64_t *v, size_t *pos)
{
    *pos = 0;
    return ig__pb_varint(p, len, pos, v);
}

static void test_varint(void)
{
    uint64_t v;
    size_t pos;
    const uint8_t zero[] = {0}, one27[] = {0x7f}, b300[] = {0xac, 0x02};
    CHECK_EQ_INT(varint(zero, 1, &v, &pos), 0);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(pos, 1);
    CHECK_EQ_INT(varint(one27, 1, &v, &pos), 0);
    CHECK_EQ_INT(v, 127);
    CHECK_EQ_INT(varint(b300, 2, &v, &pos), 0);
    CHECK_EQ_INT(v, 300);
    CHECK_EQ_INT(pos, 2);
    /* UINT64_MAX takes all 10 bytes, the last holding just the top bit. */
    const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK_EQ_INT(varint(max, 10, &v, &pos), 0);
    CHECK(v == UINT64_MAX);
    CHECK_EQ_INT(pos, 10);
    /* -1 as an int64 varint, the way protobuf encodes negative int32/int64. */
    CHECK_EQ_INT((int64_t)v, -1);
    const uint8_t over10[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    CHECK_EQ_INT(varint(over10, 10, &v, &pos), IG_EFORMAT);
    const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    CHECK_EQ_INT(varint(eleven, 11, &v, &pos), IG_EFORMAT);
    /* Non-canonical but legal: padded zero continuation bytes within 10. */
    const uint8_t padded[] = {0x81, 0x80, 0x00};
    CHECK_EQ_INT(varint(padded, 3, &v, &pos), 0);
    CHECK_EQ_INT(v, 1);
    /* Truncation at every length. */
    for (size_t n = 0; n < 10; n++) CHECK_EQ_INT(varint(max, n, &v, &pos), IG_EFORMAT);
    CHECK_EQ_INT(varint(b300, 1, &v, &pos), IG_EFORMAT);
}

static void test_fields(void)
{
    /* field 1 varint 150, field 2 LEN "hi", field 3 fixed32, field 4 fixed64 */
    const uint8_t msg[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i', 0x1d, 0x01, 0x02, 0x03,
                           0x04, 0x21, 1,    0,    0,    0,   0,   0,    0,    0x80};
    ig__pb r = ig__pb_init(msg, sizeof(msg));
    ig__pb_field f;
    const char *why = NULL;
    CHECK_EQ_INT(ig__pb_next(&r, &f, &why), 1);
    CHECK_EQ_INT(f.num, 1);
    CHECK_EQ_INT(f.wt, IG_PB_VARINT);
    CHECK_EQ_INT(f.u, 150);
    CHECK_EQ_INT(ig__pb_next(&r, &f, &why), 1);
    CHECK_EQ_INT(f.num, 2);
    CHECK_EQ_INT(f.len, 2);
    CHECK(f.data == msg + 5);
    CHECK_EQ_INT(ig__pb_next(&r, &f, &why), 1);
    CHECK_EQ_INT(f.wt, IG_PB_FIXED32);
    CHECK_EQ_INT(f.u, 0x04030201);
    CHECK_EQ_INT(ig__pb_next(&r, &f, &why), 1);
    CHECK_EQ_INT(f.wt, IG_PB_FIXED64);
    CHECK(f.u == 0x8000000000000001ull);
    CHECK_EQ_INT(ig__pb_next(&r, &f, &why), 0);
    /* Every truncation of the message fails somewhere or ends cleanly at a field boundary. */
    size_t bounds[] = {0, 3, 7, 12, 21};
    for (size_t n = 0; n < sizeof(msg); n++) {
        ig__pb t = ig__pb_init(msg, n);
        int rc;
        while ((rc = ig__pb_next(&t, &f, &why)) > 0) {
        }
        int at_bound = 0;
        for (size_t k = 0; k < 5; k++) at_bound |= bounds[k] == n;
        CHECK_EQ_INT(rc, at_bound ? 0 : IG_EFORMAT);
    }
}

static int one_field(const uint8_t *p, size_t n)
{
    ig__pb r = ig__pb_init(p, n);
    ig__pb_field f;
    const char *why = NULL;
    return ig__pb_next(&r, &f, &why);
}

static void test_rejects(void)
{
    const uint8_t group_start[] = {0x0b}, group_end[] = {0x0c}, wt6[] = {0x0e, 0}, wt7[] = {0x0f, 0};
    const uint8_t field0[] = {0x00, 0x01}, len_past[] = {0x0a, 0x05, 'a'},
                  huge_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'x'};
    const uint8_t trunc32[] = {0x0d, 1, 2, 3}, trunc64[] = {0x09, 1, 2, 3, 4, 5, 6, 7};
    const uint8_t big_field[] = {0xf8, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00}; /* field number 2^32-1 */
    CHECK_EQ_INT(one_field(group_start, 1), IG_EFORMAT);
    CHECK_EQ_INT(one_field(group_end, 1), IG_EFORMAT);
    CHECK_EQ_INT(one_field(wt6, 2), IG_EFORMAT);
    CHECK_EQ_INT(one_field(wt7, 2), IG_EFORMAT);
    CHECK_EQ_INT(one_field(field0, 2), IG_EFORMAT);
    CHECK_EQ_INT(one_field(len_past, 3), IG_EFORMAT);
    CHECK_EQ_INT(one_field(huge_len, sizeof(huge_len)), IG_EFORMAT);
    CHECK_EQ_INT(one_field(trunc32, 4), IG_EFORMAT);
    CHECK_EQ_INT(one_field(trunc64, 8), IG_EFORMAT);
    CHECK_EQ_INT(one_field(big_field, sizeof(big_field)), IG_EFORMAT);
}

static void test_repeated(void)
{
    const char *why = NULL;
    size_t n;
    uint64_t v;
    /* packed varints 1, 300, -1 */
    const uint8_t packed[] = {1, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    ig__pb_field f = {.num = 8, .wt = IG_PB_LEN, .data = packed, .len = sizeof(packed)};
    CHECK_EQ_INT(ig__pb_rep_count(&f, IG_PB_VARINT, &n, &why), 0);
    CHECK_EQ_INT(n, 3);
    ig__pb_rep it;
    CHECK_EQ_INT(ig__pb_rep_init(&it, &f, IG_PB_VARINT, &why), 0);
    CHECK_EQ_INT(ig__pb_rep_next(&it, &v, &why), 1);
    CHECK_EQ_INT(v, 1);
    CHECK_EQ_INT(ig__pb_rep_next(&it, &v, &why), 1);
    CHECK_EQ_INT(v, 300);
    CHECK_EQ_INT(ig__pb_rep_next(&it, &v, &why), 1);
    CHECK_EQ_INT((int64_t)v, -1);
    CHECK_EQ_INT(ig__pb_rep_next(&it, &v, &why), 0);
    /* a packed payload ending inside a varint */
    f.len = 2;
    CHECK_EQ_INT(ig__pb_rep_count(&f, IG_PB_VARINT, &n, &why), IG_EFORMAT);
    /* unpacked: one element carried by the field itself */
    ig__pb_field u = {.num = 8, .wt = IG_PB_VARINT, .u = 42};
    CHECK_EQ_INT(ig__pb_rep_count(&u, IG_PB_VARINT, &n, &why), 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ig__pb_rep_init(&it, &u, IG_PB_VARINT, &why), 0);
    CHECK_EQ_INT(ig__pb_rep_next(&it, &v, &why), 1);
    CHECK_EQ_INT(v, 42);
    CHECK_EQ_INT(ig__pb_rep_next(&it, &v, &why), 0);
    /* wrong wire type for the element */
    CHECK_EQ_INT(ig__pb_rep_count(&u, IG_PB_FIXED32, &n, &why), IG_EFORMAT);
    /* packed floats: 1.0f, -2.5f; a length not a multiple of 4 fails */
    const uint8_t fl[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0};
    ig__pb_field pf = {.num = 7, .wt = IG_PB_LEN, .data = fl, .len = 8};
    CHECK_EQ_INT(ig__pb_rep_count(&pf, IG_PB_FIXED32, &n, &why), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(ig__pb_rep_init(&it, &pf, IG_PB_FIXED32, &why), 0);
    CHECK_EQ_INT(ig__pb_rep_next(&it, &v, &why), 1);
    CHECK(ig__pb_f32(v) == 1.0f);
    CHECK_EQ_INT(ig__pb_rep_next(&it, &v, &why), 1);
    CHECK(ig__pb_f32(v) == -2.5f);
    pf.len = 7;
    CHECK_EQ_INT(ig__pb_rep_count(&pf, IG_PB_FIXED32, &n, &why), IG_EFORMAT);
    CHECK_EQ_INT(ig__pb_rep_count(&pf, IG_PB_FIXED64, &n, &why), IG_EFORMAT);
}

int main(void)
{
    test_varint();
    test_fields();
    test_rejects();
    test_repeated();
    return CHECK_DONE();
}
