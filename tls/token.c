/* token.c: see token.h. SHA-256 from OpenSSL (already the TLS library of every binary). */
#include "token.h"

#include <string.h>
#include <sys/random.h>

#include <openssl/sha.h>

int token_new(char out[TOKEN_STRING_BYTES + 1], uint8_t hash[TOKEN_HASH_BYTES])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[32];
	size_t o = strlen(TOKEN_PREFIX);

	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -1;
	memcpy(out, TOKEN_PREFIX, o);
	for (size_t i = 0; i < sizeof raw; i++) {
		out[o++] = hex[raw[i] >> 4];
		out[o++] = hex[raw[i] & 15];
	}
	out[o] = '\0';
	return token_hash(out, hash);
}

int token_hash(const char *s, uint8_t hash[TOKEN_HASH_BYTES])
{
	size_t p = strlen(TOKEN_PREFIX);

	if (strlen(s) != TOKEN_STRING_BYTES || strncmp(s, TOKEN_PREFIX, p) != 0)
		return -1;
	for (size_t i = p; i < TOKEN_STRING_BYTES; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	SHA256((const unsigned char *)s, TOKEN_STRING_BYTES, hash);
	return 0;
}
