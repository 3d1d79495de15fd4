/* lmdb_alloc.c: LMDB's malloc and free in the fuzz builds with AddressSanitizer.
 *
 * Every command of an entry runs in a nested LMDB transaction (state/apply.c), and LMDB's
 * mdb_txn_begin(parent) mallocs a 2 MiB dirty-page list and a 1 MiB page-id list for it, freed at
 * its end. Under ASan such blocks come from the large-mmap allocator: an mmap, page faults, shadow
 * poisoning over the block and the quarantine's munmap, each time; that was most of fuzz_entry's
 * time (docs/security.md, "Fuzzing"). glibc's malloc in a node reuses the blocks.
 *
 * In an ASan fuzz build, LMDB's static archive is linked with its malloc and free renamed to the
 * two functions below (objcopy --redefine-sym, CMakeLists.txt). They keep up to CACHE_SLOTS freed
 * blocks of at least BIG bytes and hand them out again for a request of the same size, as glibc
 * does. A cached block stays poisoned until handed out (any access to it in the meantime, by the
 * instrumented code or by LMDB through an intercepted memcpy/memset/memcmp, is an ASan report), a
 * block LMDB loses is unreachable and still a leak for LeakSanitizer, and the cache is freed at
 * exit. Everything else (small blocks, calloc, realloc, the blocks beyond the cache) is ASan's. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <sanitizer/allocator_interface.h>
#include <sanitizer/asan_interface.h>

void *callraft_lmdb_malloc(size_t n);
void callraft_lmdb_free(void *p);

#define BIG ((size_t)256 << 10)
#define CACHE_SLOTS 8

static struct {
	void *p;
	size_t n;
} cache[CACHE_SLOTS];
static unsigned cached;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void *callraft_lmdb_malloc(size_t n)
{
	void *p = NULL;

	if (n >= BIG) {
		pthread_mutex_lock(&lock);
		for (unsigned i = 0; i < cached; i++) {
			if (cache[i].n == n) {
				p = cache[i].p;
				cache[i] = cache[--cached];
				break;
			}
		}
		pthread_mutex_unlock(&lock);
		if (p != NULL) {
			ASAN_UNPOISON_MEMORY_REGION(p, n);
			return p;
		}
	}
	return malloc(n);
}

void callraft_lmdb_free(void *p)
{
	size_t n;

	if (p == NULL)
		return;
	n = __sanitizer_get_allocated_size(p); /* dies on a pointer ASan did not allocate */
	if (n >= BIG) {
		pthread_mutex_lock(&lock);
		for (unsigned i = 0; i < cached; i++) {
			if (cache[i].p == p) { /* ASan still counts it allocated: say it here */
				fprintf(stderr, "lmdb_alloc: LMDB freed %p twice\n", p);
				abort();
			}
		}
		if (cached < CACHE_SLOTS) {
			ASAN_POISON_MEMORY_REGION(p, n);
			cache[cached].p = p;
			cache[cached].n = n;
			cached++;
			p = NULL;
		}
		pthread_mutex_unlock(&lock);
		if (p == NULL)
			return;
	}
	free(p);
}

__attribute__((destructor)) static void cache_free(void)
{
	pthread_mutex_lock(&lock);
	while (cached > 0) {
		cached--;
		ASAN_UNPOISON_MEMORY_REGION(cache[cached].p, cache[cached].n);
		free(cache[cached].p);
	}
	pthread_mutex_unlock(&lock);
}
