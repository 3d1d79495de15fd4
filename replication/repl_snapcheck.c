/* repl_snapcheck.c: every snapshot image raft reads is checked before anything uses it.
 *
 * raft_uv keeps a snapshot as two files, snapshot-T-I-TS.meta (term, index, configuration: CRC32
 * checked by raft_uv) and snapshot-T-I-TS (the image: never checked by raft_uv). The image carries
 * its own CRC-32C (state/snapshot.c, state_image_check); this file checks it wherever raft reads
 * one, by interposing on raft_io:
 *
 *   load (start):  the image raft_uv loaded is checked. A damaged one is reported (on_snapshot_bad,
 *                  level=error in the node's log), its two files are renamed "corrupt-<name>"
 *                  (raft_uv ignores them; they stay as evidence until an operator removes them) and
 *                  raft_uv loads again: it then takes the snapshot before it and replays the log
 *                  from there. raft_uv itself skips a snapshot whose .meta fails its CRC, silently:
 *                  such a skip is reported and set aside the same way. Falling back is allowed
 *                  only if the closed segments on disk reach from the older snapshot up to the
 *                  newer one without a gap (raft_uv would otherwise assume an open segment starts
 *                  right after the older snapshot and misnumber its entries). Otherwise nothing is
 *                  renamed and the load fails: the node refuses to start, saying which snapshot,
 *                  and is re-seeded from the others (docs/operations.md, "Corruption").
 *   snapshot_get:  a leader loads its snapshot to send it to a lagging member. A damaged one means
 *                  this node's disk went bad under it: the node stops (on_fatal, exit 70) rather
 *                  than send it; restarted, the load above falls back or refuses.
 *   snapshot_put of an install (repl_snapshot.c calls repl_snapcheck_install): an image received
 *                  from the leader is checked before it is written; a damaged one stops the node
 *                  (exit 70) before anything of it is on disk.
 * The FSM checks the image once more before restoring it (state_restore). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl_internal.h"

/* A snapshot (by its .meta file) or a closed segment, as named in the raft directory. */
struct snap_file {
	unsigned long long term, index, ts;
};
struct seg_file {
	unsigned long long first, last;
};
struct raft_dir {
	struct snap_file *snaps; /* by (term, index, ts), oldest first */
	size_t n_snaps;
	struct seg_file *segs; /* closed segments by first index */
	size_t n_segs;
};

static int snap_cmp(const void *a, const void *b)
{
	const struct snap_file *x = a, *y = b;
	if (x->term != y->term)
		return x->term < y->term ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg_file *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

static void raft_dir_free(struct raft_dir *d)
{
	free(d->snaps);
	free(d->segs);
	memset(d, 0, sizeof *d);
}

/* Appends to a growing array of `size`-byte elements; -1 when out of memory. */
static int grow_append(void **arr, size_t *n, size_t size, const void *elem)
{
	if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4...: double */
		void *p = realloc(*arr, (*n == 0 ? 1 : *n * 2) * size);
		if (p == NULL)
			return -1;
		*arr = p;
	}
	memcpy((char *)*arr + *n * size, elem, size);
	(*n)++;
	return 0;
}

/* Lists the snapshots and closed segments of `dir`. 0, or -1 with errmsg. */
static int raft_dir_list(const char *dir, struct raft_dir *d, char *errmsg, size_t len)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	struct stat st;
	int rc = 0;

	memset(d, 0, sizeof *d);
	if (dh == NULL)
		return snprintf(errmsg, len, "list '%s': %s", dir, strerror(errno)), -1;
	while (rc == 0 && (e = readdir(dh)) != NULL) {
		struct snap_file s;
		struct seg_file g;
		int end = 0;

		if (sscanf(e->d_name, "snapshot-%llu-%llu-%llu.meta%n", &s.term, &s.index, &s.ts,
			   &end) == 3 &&
		    e->d_name[end] == '\0') {
			char data[96];
			/* as raft_uv: a .meta without its data file is no snapshot (a crash between
			 * the two renames of a put) */
			snprintf(data, sizeof data, "snapshot-%llu-%llu-%llu", s.term, s.index,
				 s.ts);
			if (fstatat(dirfd(dh), data, &st, 0) == 0)
				rc = grow_append((void **)&d->snaps, &d->n_snaps, sizeof s, &s);
		} else if (sscanf(e->d_name, "%llu-%llu%n", &g.first, &g.last, &end) == 2 &&
			   e->d_name[end] == '\0')
			rc = grow_append((void **)&d->segs, &d->n_segs, sizeof g, &g);
	}
	closedir(dh);
	if (rc != 0) {
		raft_dir_free(d);
		return snprintf(errmsg, len, "list '%s': out of memory", dir), -1;
	}
	if (d->n_snaps > 0)
		qsort(d->snaps, d->n_snaps, sizeof *d->snaps, snap_cmp);
	if (d->n_segs > 0)
		qsort(d->segs, d->n_segs, sizeof *d->segs, seg_cmp);
	return 0;
}

/* True if the closed segments raft_uv will load after the snapshot at `from` (the contiguous run
 * that ends with the newest closed segment) hold every entry from from + 1 to `to`. */
static bool log_bridges(const struct raft_dir *d, unsigned long long from, unsigned long long to)
{
	size_t i;

	if (d->n_segs == 0)
		return false;
	i = d->n_segs - 1;
	if (d->segs[i].last < to)
		return false;
	while (i > 0 && d->segs[i - 1].last + 1 == d->segs[i].first && d->segs[i].first > from + 1)
		i--;
	return d->segs[i].first <= from + 1;
}

static void snap_name(const struct snap_file *s, char *out, size_t len)
{
	snprintf(out, len, "snapshot-%llu-%llu-%llu", s->term, s->index, s->ts);
}

/* Renames snapshot `s` (its .meta, then its data) to "corrupt-<name>" and syncs the directory. */
static int set_aside(const char *dir, const struct snap_file *s, char *errmsg, size_t len)
{
	char name[96], from[700], to[720];
	int fd;

	snap_name(s, name, sizeof name);
	for (int meta = 1; meta >= 0; meta--) {
		snprintf(from, sizeof from, "%s/%s%s", dir, name, meta ? ".meta" : "");
		snprintf(to, sizeof to, "%s/corrupt-%s%s", dir, name, meta ? ".meta" : "");
		if (rename(from, to) != 0 && !(errno == ENOENT && !meta))
			return snprintf(errmsg, len, "rename '%s': %s", from, strerror(errno)), -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		snprintf(errmsg, len, "sync '%s': %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void report(struct repl *r, const struct snap_file *s, const char *why, const char *action)
{
	char file[700], name[96];

	snap_name(s, name, sizeof name);
	snprintf(file, sizeof file, "%s/%s", r->dir, name);
	if (r->cb.on_snapshot_bad != NULL)
		r->cb.on_snapshot_bad(r->cb.data, file, why, action);
}

/* Frees what raft_uv's load returned (raft's allocator; entries share batches). */
static void loaded_free(struct raft_snapshot *snapshot, struct raft_entry *entries, size_t n)
{
	void *batch = NULL;

	if (snapshot != NULL) {
		raft_configuration_close(&snapshot->configuration);
		for (unsigned i = 0; i < snapshot->n_bufs; i++)
			raft_free(snapshot->bufs[i].base);
		raft_free(snapshot->bufs);
		raft_free(snapshot);
	}
	for (size_t i = 0; i < n; i++) {
		if (entries[i].batch != batch) {
			batch = entries[i].batch;
			raft_free(batch);
		}
	}
	raft_free(entries);
}

static int image_check(const struct raft_snapshot *snapshot, char *why, size_t len)
{
	uint64_t applied;
	size_t off;

	if (snapshot->n_bufs != 1) {
		snprintf(why, len, "image in %u buffers, expected 1", snapshot->n_bufs);
		return -1;
	}
	return state_image_check(snapshot->bufs[0].base, snapshot->bufs[0].len, &applied, &off, why,
				 len);
}

/* The snapshot raft_uv loaded at start: 0 to use it, 1 to load again (one was set aside), -1 to
 * refuse (why in io->errmsg, nothing renamed). */
static int load_verdict(struct repl *r, const struct raft_snapshot *loaded)
{
	struct raft_dir d;
	char why[400], name[96], errmsg[300];
	size_t at;
	int rc = -1;

	if (raft_dir_list(r->dir, &d, errmsg, sizeof errmsg) != 0) {
		snprintf(r->io.errmsg, sizeof r->io.errmsg, "snapshot check: %s", errmsg);
		return -1;
	}
	for (at = d.n_snaps; at > 0; at--)
		if (d.snaps[at - 1].term == loaded->term && d.snaps[at - 1].index == loaded->index)
			break;
	if (at == 0) {
		snprintf(
		    r->io.errmsg, sizeof r->io.errmsg,
		    "snapshot check: the snapshot loaded (term %llu, index %llu) is not in '%s'",
		    (unsigned long long)loaded->term, (unsigned long long)loaded->index, r->dir);
		goto out;
	}
	at--; /* d.snaps[at] is the loaded one; any after it were skipped by raft_uv */
	if (at + 1 < d.n_snaps) {
		const struct snap_file *newest = &d.snaps[d.n_snaps - 1];
		snap_name(&d.snaps[at + 1], name, sizeof name);
		if (!log_bridges(&d, d.snaps[at].index, newest->index)) {
			snprintf(
			    r->io.errmsg, sizeof r->io.errmsg,
			    "snapshot %s: raft could not read its metadata, and the log does not "
			    "reach back to the snapshot before it: re-seed this node",
			    name);
			report(r, &d.snaps[at + 1], "raft could not read its metadata",
			       "refusing to start");
			goto out;
		}
		for (size_t i = at + 1; i < d.n_snaps; i++) {
			report(r, &d.snaps[i],
			       "raft could not read its metadata (checksum or format)",
			       "set aside; starting from the snapshot before it and the log");
			if (set_aside(r->dir, &d.snaps[i], errmsg, sizeof errmsg) != 0) {
				snprintf(r->io.errmsg, sizeof r->io.errmsg, "snapshot check: %s",
					 errmsg);
				goto out;
			}
		}
	}
	if (image_check(loaded, why, sizeof why) == 0) {
		rc = 0;
		goto out;
	}
	snap_name(&d.snaps[at], name, sizeof name);
	if (at == 0 || !log_bridges(&d, d.snaps[at - 1].index, d.snaps[at].index)) {
		snprintf(r->io.errmsg, sizeof r->io.errmsg,
			 "snapshot %s: %s; no older snapshot to fall back to: re-seed this node",
			 name, why);
		report(r, &d.snaps[at], why, "refusing to start");
		goto out;
	}
	report(r, &d.snaps[at], why, "set aside; starting from the snapshot before it and the log");
	if (set_aside(r->dir, &d.snaps[at], errmsg, sizeof errmsg) != 0) {
		snprintf(r->io.errmsg, sizeof r->io.errmsg, "snapshot check: %s", errmsg);
		goto out;
	}
	rc = 1;
out:
	raft_dir_free(&d);
	return rc;
}

static int checked_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
			struct raft_snapshot **snapshot, raft_index *start_index,
			struct raft_entry *entries[], size_t *n_entries)
{
	struct repl *r = (struct repl *)((char *)io - offsetof(struct repl, io));
	int rv, verdict;

	for (unsigned tries = 0; tries < CALLRAFT_SNAPSHOT_LOAD_TRIES; tries++) {
		rv = r->uv_load(io, term, voted_for, snapshot, start_index, entries, n_entries);
		if (rv != 0 || *snapshot == NULL)
			return rv;
		verdict = load_verdict(r, *snapshot);
		if (verdict == 0)
			return 0;
		loaded_free(*snapshot, *entries, *n_entries);
		*snapshot = NULL;
		*entries = NULL;
		*n_entries = 0;
		if (verdict < 0)
			return RAFT_CORRUPT;
	}
	snprintf(io->errmsg, sizeof io->errmsg,
		 "snapshot check: still a damaged snapshot after %d "
		 "set aside",
		 CALLRAFT_SNAPSHOT_LOAD_TRIES);
	return RAFT_CORRUPT;
}

struct checked_get {
	struct raft_io_snapshot_get inner;
	struct raft_io_snapshot_get *outer;
	raft_io_snapshot_get_cb cb;
	struct repl *r;
};

static void checked_get_cb(struct raft_io_snapshot_get *inner, struct raft_snapshot *snapshot,
			   int status)
{
	struct checked_get *g = inner->data;
	struct raft_io_snapshot_get *outer = g->outer;
	raft_io_snapshot_get_cb cb = g->cb;
	struct repl *r = g->r;
	char why[400];

	free(g);
	if (status == 0 && image_check(snapshot, why, sizeof why) != 0) {
		snprintf(r->errmsg, sizeof r->errmsg,
			 "raft: snapshot at %llu (term %llu), loaded to send to a member: %s: "
			 "this node's copy is damaged",
			 (unsigned long long)snapshot->index, (unsigned long long)snapshot->term,
			 why);
		if (r->cb.on_fatal != NULL)
			r->cb.on_fatal(r->cb.data, r->errmsg);
		abort(); /* on_fatal does not return */
	}
	cb(outer, snapshot, status);
}

static int checked_get(struct raft_io *io, struct raft_io_snapshot_get *req,
		       raft_io_snapshot_get_cb cb)
{
	struct repl *r = (struct repl *)((char *)io - offsetof(struct repl, io));
	struct checked_get *g = calloc(1, sizeof *g);
	int rv;

	if (g == NULL)
		return RAFT_NOMEM;
	*g = (struct checked_get){.outer = req, .cb = cb, .r = r};
	g->inner.data = g;
	rv = r->uv_snapshot_get(io, &g->inner, checked_get_cb);
	if (rv != 0)
		free(g);
	return rv;
}

void repl_snapcheck_install(struct repl *r, const struct raft_snapshot *snapshot)
{
	char why[400];

	if (image_check(snapshot, why, sizeof why) == 0)
		return;
	snprintf(r->errmsg, sizeof r->errmsg,
		 "raft: snapshot at %llu (term %llu) installed by the leader: %s: refused before "
		 "writing it",
		 (unsigned long long)snapshot->index, (unsigned long long)snapshot->term, why);
	if (r->cb.on_fatal != NULL)
		r->cb.on_fatal(r->cb.data, r->errmsg);
	abort(); /* on_fatal does not return */
}

void repl_snapcheck_interpose(struct repl *r)
{
	r->uv_load = r->io.load;
	r->io.load = checked_load;
	r->uv_snapshot_get = r->io.snapshot_get;
	r->io.snapshot_get = checked_get;
}
