/* Reading a field or two of a protobuf message without decoding it: what admission checks need (the
 * model name of a gRPC request) before the message is worth unpacking, in serve and in the gateway. */
#ifndef IG_PROTOCOL_PB_PEEK_H
#define IG_PROTOCOL_PB_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Walks the whole message and copies the length-delimited fields field_a and field_b (0 = not
 * wanted) into a and b as NUL-terminated strings ("" when absent, as protobuf reads them). false on a
 * malformed message, a field longer than its buffer, or a NUL byte inside one. */
bool ig_pb_peek_strings(const uint8_t *buf, size_t len, uint32_t field_a, char *a, size_t a_cap, uint32_t field_b,
                        char *b, size_t b_cap);

#endif
