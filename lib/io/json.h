/* Internal: a small strict JSON parser (RFC 8259) for safetensors headers.
 *
 * Strict: no trailing commas, comments, NaN, leading zeros, duplicate object
 * keys, lone surrogates, control characters in strings or invalid UTF-8.
 * Numbers are checked against the grammar; non-negative integer literals are
 * also decoded exactly (is_uint / u), which is all safetensors needs. */
#ifndef TDL_IO_JSON_H
#define TDL_IO_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/context.h"

typedef enum tdl_json_type {
    TDL_JSON_NULL = 0,
    TDL_JSON_FALSE,
    TDL_JSON_TRUE,
    TDL_JSON_NUMBER,
    TDL_JSON_STRING,
    TDL_JSON_ARRAY,
    TDL_JSON_OBJECT
} tdl_json_type;

typedef struct tdl_json_member tdl_json_member;

typedef struct tdl_json {
    tdl_json_type type;
    size_t offset;            /* byte offset of the value in the text (for messages) */
    size_t len;               /* string: bytes; array: items; object: members */
    char *str;                /* string: decoded UTF-8 + NUL (may itself hold NULs) */
    struct tdl_json *items;   /* array items */
    tdl_json_member *members; /* object members, in document order */
    int is_uint;              /* number: a non-negative integer literal that fits 64 bits */
    uint64_t u;               /* its value */
} tdl_json;

struct tdl_json_member {
    char *key; /* decoded + NUL */
    size_t key_len;
    tdl_json value;
};

/* Parses text[0..len) (one value, surrounded by optional whitespace).
 * TDL_ERR_FORMAT with "at byte N: ..." in msg, or TDL_ERR_OUT_OF_MEMORY.
 * On failure *out holds nothing that needs freeing. */
tdl_status tdl_json_parse(tdl_ctx *ctx, const char *text, size_t len, tdl_json *out, char *msg);

/* Frees what a successful parse allocated (the value itself is the caller's). */
void tdl_json_free(tdl_ctx *ctx, tdl_json *v);

/* The value of member `key` of an object, or NULL. */
const tdl_json *tdl_json_get(const tdl_json *obj, const char *key);

/* 1 when s[0..n) is valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF). */
int tdl_json_valid_utf8(const char *s, size_t n);

/* A JSON type's name, for messages. */
const char *tdl_json_type_name(tdl_json_type t);

#endif
