/* checksum.c: CRC-32C (Castagnoli), the checksum of snapshot images (snapshot.c).
 *
 * raft_uv checks the CRC of a snapshot's metadata file only, never its data: a bit flip in a
 * snapshot's data would be restored as the state. CRC-32C detects every error of up to 3 bits in
 * an image of up to 2^31 bits, every odd number of flipped bits and every burst of up to 32 bits.
 * Where the CPU has SSE4.2 its crc32 instruction runs it (several GB/s; a snapshot is checked at
 * every load and install), otherwise a slicing-by-8 table (about 1 GB/s). Both give the same
 * value; test_state checks the standard one ("123456789" -> e3069283). */
#include <pthread.h>
#include <string.h>

#include "state_internal.h"

#define CRC32C_POLY_REFLECTED 0x82f63b78u

bool crc32c_force_table;
static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++)
			table[k][n] = table[0][table[k - 1][n] & 0xff] ^ (table[k - 1][n] >> 8);
}

static uint32_t crc32c_table(uint32_t crc, const uint8_t *p, size_t len)
{
	pthread_once(&table_once, table_init);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= crc;
		crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
		      table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^
		      table[2][(w >> 40) & 0xff] ^ table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		len -= 8;
	}
#endif
	while (len-- > 0)
		crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p,
							       size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2") && !crc32c_force_table)
		return ~crc32c_sse42(crc, p, len);
#endif
	return ~crc32c_table(crc, p, len);
}
