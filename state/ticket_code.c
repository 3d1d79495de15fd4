/* ticket_code.c: ticket tracking codes.
 *
 * A code is "T" + Crockford base32 of the ticket number n (most significant digit first, zero
 * padded to at least 5 digits) + one check symbol, the value n mod 37 written with Crockford's
 * check alphabet "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U". Example: n = 1 gives "T000011".
 *
 * Why mod 37: 37 is prime and larger than the 32 digit values, so the check detects every single
 * substituted digit (the change d * 32^k is never a multiple of 37) and every transposition of two
 * adjacent different digits (the change (a - b) * 31 * 32^k is never a multiple of 37), which are
 * the mistakes people make reading a code over the phone.
 *
 * state_ticket_code_valid is strict: it accepts exactly the canonical form state_ticket_code
 * writes (upper case, no Crockford aliases O/I/L, no padding beyond 5 digits). Codes are keys of
 * the tickets table, so every lookup first turns what a person typed or read back over the phone
 * into that form with state_ticket_code_normalize: upper case, and Crockford's aliases O->0,
 * I->1, L->1 (the code alphabet has no O, I or L, so the mapping never changes a real digit), with
 * '-' and ' ' dropped. The check symbol is verified after the mapping, so a misread digit is still
 * refused: "t0000ll" is T000011, "t000021" is refused. */
#include <string.h>

#include "state_internal.h"

static const char digits32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static const char check37[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

#define CODE_DIGITS_MIN 5
#define CODE_DIGITS_MAX 13 /* 32^13 > 2^64 */

void state_ticket_code(uint64_t n, char out[24])
{
	char rev[CODE_DIGITS_MAX];
	size_t nd = 0, o = 0;
	uint64_t v = n;

	do {
		rev[nd++] = digits32[v % 32];
		v /= 32;
	} while (v != 0);
	out[o++] = 'T';
	for (size_t i = nd; i < CODE_DIGITS_MIN; i++)
		out[o++] = '0';
	while (nd > 0)
		out[o++] = rev[--nd];
	out[o++] = check37[n % 37];
	out[o] = '\0';
}

bool state_ticket_code_valid(const char *code)
{
	size_t len = code != NULL ? strlen(code) : 0;
	uint64_t n = 0;
	char canonical[24];

	if (len < 1 + CODE_DIGITS_MIN + 1 || len > 1 + CODE_DIGITS_MAX + 1 || code[0] != 'T')
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		const char *p = code[i] != '\0' ? strchr(digits32, code[i]) : NULL;
		if (p == NULL || n > (UINT64_MAX - (uint64_t)(p - digits32)) / 32)
			return false;
		n = n * 32 + (uint64_t)(p - digits32);
	}
	state_ticket_code(n, canonical);
	return strcmp(canonical, code) == 0;
}

bool state_ticket_code_normalize(const char *in, char out[24])
{
	size_t o = 0;

	if (in == NULL)
		return false;
	for (const char *p = in; *p != '\0'; p++) {
		char ch = *p;
		if (ch == '-' || ch == ' ')
			continue;
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (o > 0) { /* the leading 'T' is a letter, not a digit */
			if (ch == 'O')
				ch = '0';
			else if (ch == 'I' || ch == 'L')
				ch = '1';
		}
		if (o + 1 >= 24)
			return false;
		out[o++] = ch;
	}
	out[o] = '\0';
	return state_ticket_code_valid(out);
}
