/* token.h: bearer tokens' strings and hashes (issue 13; state/tokens.c keeps them).
 *
 * A token is "crt_" followed by 64 lowercase hex digits (256 bits from getrandom). Only its SHA-256
 * (over the whole string) is ever sent to the cluster; the string is shown once to whoever issued
 * it. Shared by the CLI (`callraft token issue` draws one) and the node (the HTTP API draws one for
 * POST /v1/tokens, and hashes the one a request presents). */
#ifndef CALLRAFT_TLS_TOKEN_H
#define CALLRAFT_TLS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_PREFIX "crt_"
#define TOKEN_STRING_BYTES 68 /* CALLRAFT_TOKEN_STRING_BYTES: "crt_" + 64 hex digits */
#define TOKEN_HASH_BYTES 32   /* CALLRAFT_TOKEN_HASH_BYTES */

/* Draws a new token into out (NUL-terminated) and its hash. 0, or -1 if no random bytes. */
int token_new(char out[TOKEN_STRING_BYTES + 1], uint8_t hash[TOKEN_HASH_BYTES]);

/* The hash of a presented token. 0, or -1 if `s` is not a token's shape (wrong length, prefix or
 * digits): such a string is refused without a lookup. */
int token_hash(const char *s, uint8_t hash[TOKEN_HASH_BYTES]);

#endif
