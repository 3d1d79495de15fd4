/* snapshot.c: snapshot images and their restore.
 *
 * Image: "CRSNAP02" | be64 applied index | be64 payload length | be64 checksum | payload, where the
 * payload is a compacted copy of the LMDB environment (mdb_env_copyfd2 with MDB_CP_COMPACT: one
 * data file) and the checksum the CRC-32C (checksum.c) of the header's first 24 bytes and the payload.
 * raft_uv keeps the image as a snapshot's data file and checks only the metadata file beside it:
 * the checksum is what finds a damaged image, wherever it is read (state_image_check). Images of
 * format 1 ("CRSNAP01", no checksum field: 24-byte header), written before the checksum, are still
 * read, with no check of their payload beyond LMDB's own.
 *
 * Snapshot: mdb_env_copyfd2 runs its own read transaction, which may be newer than any index the
 * caller saw (the loop thread keeps applying meanwhile). So the header's index is read from the
 * copy itself, by opening the copied file as a read-only environment without a lock file. The copy
 * goes to a memfd: the image ends up in memory anyway, and nothing is left on disk by a crash.
 *
 * Restore, step by step (the old environment stays usable until step 5, and is swapped back if a
 * later step fails):
 *   1. check the image (magic, lengths, checksum); an image not newer than the local state changes nothing;
 *   2. write the payload to "<dir>.restore/data.mdb", fsync the file and the directory;
 *   3. open that copy read-only and check its meta.applied equals the header's;
 *   4. close the environment; rename <dir> to "<dir>.old" and "<dir>.restore" to <dir>; fsync the
 *      parent directory;
 *   5. reopen <dir> and check meta.applied again; remove "<dir>.old".
 * A crash between the two renames of step 4 leaves no <dir>: the node then opens an empty state
 * and Raft restores it again from its snapshot and log, which are the durable record. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state_internal.h"

#define SNAP_MAGIC "CRSNAP02"
#define SNAP_MAGIC_V1 "CRSNAP01" /* no checksum: read, never written */
#define SNAP_HEADER_BYTES STATE_IMAGE_HEADER_BYTES
#define SNAP_HEADER_V1_BYTES 24
_Static_assert(SNAP_HEADER_BYTES == SNAP_HEADER_V1_BYTES + 8, "format 2 adds the checksum");

static int sys_err(char *errmsg, size_t errmsg_len, const char *fmt, const char *subject)
{
	char what[PATH_MAX + 64];
	int e = errno;

	snprintf(what, sizeof what, fmt, subject);
	snprintf(errmsg, errmsg_len, "state: %s: %s", what, strerror(e));
	return -1;
}

int state_image_applied(const char *path, uint64_t *applied, char *errmsg, size_t errmsg_len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {strlen(META_APPLIED), META_APPLIED}, v;
	int rc = mdb_env_create(&env);

	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "open image '%s'", path);
	rc = mdb_env_set_maxdbs(env, DB_COUNT);
	if (rc == 0)
		rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		mdb_env_close(env);
		return store_err(errmsg, errmsg_len, rc, "open image '%s'", path);
	}
	rc = mdb_dbi_open(txn, state_db_names[DB_META], 0, &dbi);
	if (rc == 0)
		rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0 && v.mv_size != 8)
		rc = MDB_CORRUPTED;
	if (rc == 0)
		*applied = be64_get(v.mv_data);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	if (rc == MDB_NOTFOUND) { /* an image of a state that never applied anything */
		*applied = 0;
		return 0;
	}
	return rc == 0 ? 0 : store_err(errmsg, errmsg_len, rc, "image '%s': meta.applied", path);
}

int state_image_take(struct state *s, struct state_image *img, char *errmsg, size_t errmsg_len)
{
	char path[64];
	struct stat st;
	uint64_t applied;
	void *map;
	int rc, fd = memfd_create("callraft-snapshot", MFD_CLOEXEC);

	memset(img, 0, sizeof *img);
	if (fd < 0)
		return sys_err(errmsg, errmsg_len, "snapshot: %s", "memfd_create");
	rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
	if (rc != 0) {
		store_err(errmsg, errmsg_len, rc, "snapshot: copy '%s'", s->dir);
		goto err_fd;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (state_image_applied(path, &applied, errmsg, errmsg_len) != 0)
		goto err_fd;
	if (fstat(fd, &st) != 0) {
		sys_err(errmsg, errmsg_len, "snapshot: %s", "fstat");
		goto err_fd;
	}
	/* The copy is mapped rather than read back: a large state is then held once, not twice. The
	 * mapping keeps the memfd's pages alive after the descriptor is closed. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		sys_err(errmsg, errmsg_len, "snapshot: %s", "mmap the copy");
		goto err_fd;
	}
	close(fd);
	memcpy(img->header, SNAP_MAGIC, 8);
	be64_put(img->header + 8, applied);
	be64_put(img->header + 16, (uint64_t)st.st_size);
	be64_put(img->header + 24, crc32c(crc32c(0, img->header, 24), map, (size_t)st.st_size));
	img->data = map;
	img->data_len = (size_t)st.st_size;
	img->applied = applied;
	return 0;

err_fd:
	close(fd);
	return -1;
}

void state_image_release(struct state_image *img)
{
	if (img->data != NULL)
		munmap(img->data, img->data_len);
	memset(img, 0, sizeof *img);
}

int state_snapshot(struct state *s, void **buf, size_t *len, char *errmsg, size_t errmsg_len)
{
	struct state_image img;
	uint8_t *image;

	*buf = NULL;
	*len = 0;
	if (state_image_take(s, &img, errmsg, errmsg_len) != 0)
		return -1;
	image = malloc(STATE_IMAGE_HEADER_BYTES + img.data_len);
	if (image == NULL) {
		snprintf(errmsg, errmsg_len, "state: snapshot: out of memory (%zu bytes)",
			 img.data_len);
		state_image_release(&img);
		return -1;
	}
	memcpy(image, img.header, STATE_IMAGE_HEADER_BYTES);
	memcpy(image + STATE_IMAGE_HEADER_BYTES, img.data, img.data_len);
	*buf = image;
	*len = STATE_IMAGE_HEADER_BYTES + img.data_len;
	state_image_release(&img);
	return 0;
}

/* ---- restore ---------------------------------------------------------------------------- */

/* Removes a directory holding only files (an LMDB environment); an absent one is fine. */
static void remove_env_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char file[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof file, "%s/%s", path, e->d_name);
		unlink(file);
	}
	closedir(d);
	rmdir(path);
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto err_fd;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto err_fd;
	return close(fd);

err_fd:
	close(fd);
	return -1;
}

struct restore_paths {
	char dir[PATH_MAX];     /* the state directory, without trailing slashes */
	char tmp[PATH_MAX];     /* <dir>.restore */
	char old[PATH_MAX];     /* <dir>.old */
	char file[PATH_MAX];    /* <dir>.restore/data.mdb */
	char parent[PATH_MAX];
};

static int restore_paths(struct restore_paths *p, const char *dir)
{
	size_t n = strlen(dir);
	char copy[PATH_MAX];

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n + sizeof ".restore/data.mdb" > PATH_MAX)
		return -1;
	memcpy(p->dir, dir, n);
	p->dir[n] = '\0';
	snprintf(p->tmp, sizeof p->tmp, "%s.restore", p->dir);
	snprintf(p->old, sizeof p->old, "%s.old", p->dir);
	snprintf(p->file, sizeof p->file, "%s/data.mdb", p->tmp);
	memcpy(copy, p->dir, n + 1);
	snprintf(p->parent, sizeof p->parent, "%s", dirname(copy));
	return 0;
}

int state_image_check(const void *buf, size_t len, uint64_t *applied, size_t *payload_offset,
		      char *errmsg, size_t errmsg_len)
{
	const uint8_t *b = buf;
	size_t header = SNAP_HEADER_BYTES;
	uint32_t want, got;

	if (len >= 8 && memcmp(b, SNAP_MAGIC_V1, 8) == 0)
		header = SNAP_HEADER_V1_BYTES;
	else if (len >= 8 && memcmp(b, SNAP_MAGIC, 8) != 0) {
		snprintf(errmsg, errmsg_len, "state: image: bad magic (not a %s image)", SNAP_MAGIC);
		return -1;
	}
	if (len < header) {
		snprintf(errmsg, errmsg_len, "state: image: too short (%zu bytes, header is %zu)", len,
			 header);
		return -1;
	}
	if (be64_get(b + 16) != len - header) {
		snprintf(errmsg, errmsg_len,
			 "state: image: payload length %llu in the header, %zu bytes in the image",
			 (unsigned long long)be64_get(b + 16), len - header);
		return -1;
	}
	if (header == SNAP_HEADER_BYTES) {
		want = (uint32_t)be64_get(b + 24);
		got = crc32c(crc32c(0, b, 24), b + header, len - header);
		if (be64_get(b + 24) > UINT32_MAX || got != want) {
			snprintf(errmsg, errmsg_len,
				 "state: image: checksum mismatch (crc32c %08x, %08llx in the header)",
				 got, (unsigned long long)be64_get(b + 24));
			return -1;
		}
	}
	*applied = be64_get(b + 8);
	*payload_offset = header;
	return 0;
}

/* Steps 2 and 3: the new environment, written and checked beside the current one. */
static int stage(const struct restore_paths *p, const uint8_t *payload, size_t len,
		 uint64_t applied, char *errmsg, size_t errmsg_len)
{
	uint64_t got;

	remove_env_dir(p->tmp); /* left over by a crash */
	if (mkdir(p->tmp, 0750) != 0)
		return sys_err(errmsg, errmsg_len, "restore: mkdir '%s'", p->tmp);
	if (write_file(p->file, payload, len) != 0 || fsync_path(p->tmp) != 0) {
		sys_err(errmsg, errmsg_len, "restore: write '%s'", p->file);
		goto err_tmp;
	}
	if (state_image_applied(p->file, &got, errmsg, errmsg_len) != 0)
		goto err_tmp;
	if (got != applied) {
		snprintf(errmsg, errmsg_len,
			 "state: restore: image holds applied index %llu, its header says %llu",
			 (unsigned long long)got, (unsigned long long)applied);
		goto err_tmp;
	}
	return 0;

err_tmp:
	remove_env_dir(p->tmp);
	return -1;
}

/* Steps 4 and 5, with the environment closed. On failure the old directory is put back and
 * reopened. */
static int swap_in(struct state *s, const struct restore_paths *p, uint64_t applied, char *errmsg,
		   size_t errmsg_len)
{
	if (rename(p->dir, p->old) != 0) {
		sys_err(errmsg, errmsg_len, "restore: rename '%s'", p->dir);
		goto err_reopen;
	}
	if (rename(p->tmp, p->dir) != 0) {
		sys_err(errmsg, errmsg_len, "restore: rename '%s'", p->tmp);
		goto err_back;
	}
	fsync_path(p->parent);
	if (state_env_open(s, errmsg, errmsg_len) != 0)
		goto err_swapped;
	if (state_applied_index(s) != applied) {
		snprintf(errmsg, errmsg_len, "state: restore: reopened state is not at index %llu",
			 (unsigned long long)applied);
		state_env_close(s);
		goto err_swapped;
	}
	remove_env_dir(p->old);
	fsync_path(p->parent);
	return 0;

err_swapped:
	rename(p->dir, p->tmp);
err_back:
	rename(p->old, p->dir);
	fsync_path(p->parent);
err_reopen:
	if (state_env_open(s, NULL, 0) != 0)
		snprintf(errmsg + strlen(errmsg), errmsg_len - strlen(errmsg),
			 "; and the old state could not be reopened");
	remove_env_dir(p->tmp);
	return -1;
}

int state_restore(struct state *s, const void *buf, size_t len, bool *replaced, char *errmsg,
		  size_t errmsg_len)
{
	struct restore_paths *p;
	uint64_t applied;
	size_t off;
	int rc;

	*replaced = false;
	if (state_image_check(buf, len, &applied, &off, errmsg, errmsg_len) != 0)
		return -1;
	if (applied <= state_applied_index(s))
		return 0;
	p = malloc(sizeof *p);
	if (p == NULL || restore_paths(p, s->dir) != 0) {
		snprintf(errmsg, errmsg_len, "state: restore '%s': out of memory or path too long",
			 s->dir);
		free(p);
		return -1;
	}
	rc = stage(p, (const uint8_t *)buf + off, len - off, applied, errmsg, errmsg_len);
	if (rc == 0) {
		state_env_close(s);
		rc = swap_in(s, p, applied, errmsg, errmsg_len);
	}
	*replaced = rc == 0;
	free(p);
	return rc;
}
