/*
 * iscsi-pattern: a small libiscsi initiator the dyad tests and benchmark use to
 * write through a real iSCSI session (Debian's libiscsi-bin only reads).
 *
 *   iscsi-pattern write  URL LBA COUNT SEED   write COUNT blocks of a deterministic pattern
 *   iscsi-pattern verify URL LBA COUNT SEED   read them back and compare
 *   iscsi-pattern bench-write URL [-r] [-m QD] [-b BLOCKS] [-t SECONDS]
 *                                             WRITE16 load at a queue depth, like iscsi-perf
 *   iscsi-pattern caw-increment URL LBA N WRITER
 *                                             N increments of the counter block at LBA,
 *                                             each a read and a COMPARE AND WRITE,
 *                                             retried on MISCOMPARE
 *   iscsi-pattern caw-read URL LBA            print the counter block's value
 *
 * The counter block: bytes 0-7 the counter (little-endian), 8-15 the id of the writer
 * that last wrote it, the rest a pattern of the counter, so a torn or misplaced write
 * shows. An all-zero block is counter 0.
 *
 * Exit status: 0 success, 1 data mismatch, 2 usage, 3 iSCSI or SCSI error.
 * bench-write, caw-increment and caw-read print one machine-readable line each:
 *   bench-write: ios N seconds S iops I mibps M blocksize B
 *   caw-increment: writer W increments N miscompares M busy B last V
 *   caw-read: counter V writer W consistent yes|no
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define INITIATOR "iqn.2026-11.dev.dyad:iscsi-pattern"
/* Commands are split so one never exceeds this many bytes; 1 MiB keeps the
 * sync helpers well within every target's MaxBurstLength handling (libiscsi
 * splits into Data-Out PDUs itself). */
#define CHUNK_BYTES (1024 * 1024)

struct lun {
	struct iscsi_context *iscsi;
	int lun;
	uint32_t block_size;
	uint64_t blocks;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: iscsi-pattern write URL LBA COUNT SEED\n"
		"       iscsi-pattern verify URL LBA COUNT SEED\n"
		"       iscsi-pattern bench-write URL [-r] [-m QD] [-b BLOCKS] [-t SECONDS]\n"
		"       iscsi-pattern caw-increment URL LBA N WRITER\n"
		"       iscsi-pattern caw-read URL LBA\n");
	exit(2);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0') {
		fprintf(stderr, "iscsi-pattern: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/* Log in and learn the LUN's geometry; exits on failure. */
static void lun_open(struct lun *l, const char *url_text)
{
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc16;

	l->iscsi = iscsi_create_context(INITIATOR);
	if (l->iscsi == NULL) {
		fprintf(stderr, "iscsi-pattern: cannot create iSCSI context\n");
		exit(3);
	}
	url = iscsi_parse_full_url(l->iscsi, url_text);
	if (url == NULL) {
		fprintf(stderr, "iscsi-pattern: bad URL %s: %s\n", url_text,
			iscsi_get_error(l->iscsi));
		exit(2);
	}
	iscsi_set_targetname(l->iscsi, url->target);
	iscsi_set_session_type(l->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(l->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (url->user[0] != '\0' &&
	    iscsi_set_initiator_username_pwd(l->iscsi, url->user, url->passwd) != 0) {
		fprintf(stderr, "iscsi-pattern: cannot set CHAP credentials\n");
		exit(3);
	}
	l->lun = url->lun;
	if (iscsi_full_connect_sync(l->iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "iscsi-pattern: login to %s failed: %s\n", url_text,
			iscsi_get_error(l->iscsi));
		exit(3);
	}
	iscsi_destroy_url(url);

	task = iscsi_readcapacity16_sync(l->iscsi, l->lun);
	if (task == NULL || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi-pattern: READ CAPACITY(16) failed: %s\n",
			iscsi_get_error(l->iscsi));
		exit(3);
	}
	rc16 = scsi_datain_unmarshall(task);
	if (rc16 == NULL || rc16->block_length == 0) {
		fprintf(stderr, "iscsi-pattern: cannot parse READ CAPACITY(16) data\n");
		exit(3);
	}
	l->block_size = rc16->block_length;
	l->blocks = rc16->returned_lba + 1;
	scsi_free_scsi_task(task);
}

static void lun_close(struct lun *l)
{
	iscsi_logout_sync(l->iscsi);
	iscsi_destroy_context(l->iscsi);
}

/* splitmix64: a stateless mix so any block's content is computable alone. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Each block starts with its own LBA and the seed, so a block written to the
 * wrong place or left stale is told apart from one that is merely corrupt. */
static void fill_block(unsigned char *buf, uint32_t size, uint64_t lba, uint64_t seed)
{
	uint64_t state = mix(seed ^ mix(lba));
	for (uint32_t off = 0; off + 8 <= size; off += 8) {
		uint64_t word;
		if (off == 0) {
			word = lba;
		} else if (off == 8) {
			word = seed;
		} else {
			state = mix(state);
			word = state;
		}
		memcpy(buf + off, &word, 8);
	}
}

static int check_range(const struct lun *l, uint64_t lba, uint64_t count)
{
	if (count == 0 || lba >= l->blocks || count > l->blocks - lba) {
		fprintf(stderr, "iscsi-pattern: range %" PRIu64 "+%" PRIu64
			" is outside the LUN (%" PRIu64 " blocks)\n", lba, count, l->blocks);
		return -1;
	}
	return 0;
}

static int do_write(const char *url, uint64_t lba, uint64_t count, uint64_t seed)
{
	struct lun l;
	lun_open(&l, url);
	if (check_range(&l, lba, count) != 0) {
		lun_close(&l);
		return 2;
	}
	uint32_t per_cmd = CHUNK_BYTES / l.block_size;
	unsigned char *buf = malloc((size_t)per_cmd * l.block_size);
	if (buf == NULL) {
		fprintf(stderr, "iscsi-pattern: out of memory\n");
		return 3;
	}
	for (uint64_t done = 0; done < count;) {
		uint32_t n = count - done < per_cmd ? (uint32_t)(count - done) : per_cmd;
		for (uint32_t i = 0; i < n; i++) {
			fill_block(buf + (size_t)i * l.block_size, l.block_size,
				   lba + done + i, seed);
		}
		struct scsi_task *task = iscsi_write16_sync(l.iscsi, l.lun, lba + done, buf,
							    n * l.block_size, l.block_size,
							    0, 0, 0, 0, 0);
		if (task == NULL || task->status != SCSI_STATUS_GOOD) {
			fprintf(stderr, "iscsi-pattern: WRITE(16) at %" PRIu64 " failed: %s\n",
				lba + done, iscsi_get_error(l.iscsi));
			free(buf);
			return 3;
		}
		scsi_free_scsi_task(task);
		done += n;
	}
	free(buf);
	lun_close(&l);
	printf("wrote %" PRIu64 " blocks of %u bytes at LBA %" PRIu64 " (seed %" PRIu64 ")\n",
	       count, l.block_size, lba, seed);
	return 0;
}

static int do_verify(const char *url, uint64_t lba, uint64_t count, uint64_t seed)
{
	struct lun l;
	lun_open(&l, url);
	if (check_range(&l, lba, count) != 0) {
		lun_close(&l);
		return 2;
	}
	uint32_t per_cmd = CHUNK_BYTES / l.block_size;
	unsigned char *want = malloc(l.block_size);
	if (want == NULL) {
		fprintf(stderr, "iscsi-pattern: out of memory\n");
		return 3;
	}
	uint64_t bad = 0;
	for (uint64_t done = 0; done < count;) {
		uint32_t n = count - done < per_cmd ? (uint32_t)(count - done) : per_cmd;
		struct scsi_task *task = iscsi_read16_sync(l.iscsi, l.lun, lba + done,
							   n * l.block_size, l.block_size,
							   0, 0, 0, 0, 0);
		if (task == NULL || task->status != SCSI_STATUS_GOOD) {
			fprintf(stderr, "iscsi-pattern: READ(16) at %" PRIu64 " failed: %s\n",
				lba + done, iscsi_get_error(l.iscsi));
			free(want);
			return 3;
		}
		if (task->datain.size < 0 || (uint64_t)task->datain.size < (uint64_t)n * l.block_size) {
			fprintf(stderr, "iscsi-pattern: READ(16) at %" PRIu64 " returned %d bytes, want %u\n",
				lba + done, task->datain.size, n * l.block_size);
			free(want);
			return 3;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint64_t b = lba + done + i;
			fill_block(want, l.block_size, b, seed);
			if (memcmp(want, task->datain.data + (size_t)i * l.block_size, l.block_size) != 0) {
				if (bad < 10) {
					fprintf(stderr, "iscsi-pattern: LBA %" PRIu64 " differs\n", b);
				}
				bad++;
			}
		}
		scsi_free_scsi_task(task);
		done += n;
	}
	free(want);
	lun_close(&l);
	if (bad != 0) {
		fprintf(stderr, "iscsi-pattern: %" PRIu64 " of %" PRIu64 " blocks differ\n", bad, count);
		return 1;
	}
	printf("verified %" PRIu64 " blocks of %u bytes at LBA %" PRIu64 " (seed %" PRIu64 ")\n",
	       count, l.block_size, lba, seed);
	return 0;
}

/* ---- bench-write: asynchronous WRITE16 load at a fixed queue depth ---- */

struct bench {
	struct lun l;
	unsigned char *buf;   /* one shared payload: the content does not matter here */
	uint32_t blocks;      /* per request */
	int random;
	uint64_t next_lba;    /* sequential cursor */
	uint64_t rng;
	uint64_t completed;
	int in_flight;
	int stop;             /* no new requests once set */
	int failed;
};

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void bench_submit(struct bench *b);

static void bench_done(struct iscsi_context *iscsi, int status, void *command_data,
		       void *private_data)
{
	struct bench *b = private_data;
	struct scsi_task *task = command_data;
	(void)iscsi;
	b->in_flight--;
	if (status != SCSI_STATUS_GOOD) {
		if (!b->failed) {
			fprintf(stderr, "iscsi-pattern: WRITE(16) failed: %s\n",
				iscsi_get_error(b->l.iscsi));
		}
		b->failed = 1;
		b->stop = 1;
	} else {
		b->completed++;
	}
	if (task != NULL) {
		scsi_free_scsi_task(task);
	}
	if (!b->stop) {
		bench_submit(b);
	}
}

static void bench_submit(struct bench *b)
{
	uint64_t slots = b->l.blocks / b->blocks;
	uint64_t lba;
	if (b->random) {
		/* Aligned to the request size, unlike iscsi-perf's 512-byte offsets,
		 * so 4 KiB writes stay 4 KiB aligned. */
		b->rng = mix(b->rng);
		lba = (b->rng % slots) * b->blocks;
	} else {
		if (b->next_lba + b->blocks > b->l.blocks) {
			b->next_lba = 0;
		}
		lba = b->next_lba;
		b->next_lba += b->blocks;
	}
	uint32_t len = b->blocks * b->l.block_size;
	if (iscsi_write16_task(b->l.iscsi, b->l.lun, lba, b->buf, len, b->l.block_size,
			       0, 0, 0, 0, 0, bench_done, b) == NULL) {
		fprintf(stderr, "iscsi-pattern: cannot queue WRITE(16): %s\n",
			iscsi_get_error(b->l.iscsi));
		b->failed = 1;
		b->stop = 1;
		return;
	}
	b->in_flight++;
}

static int do_bench_write(int argc, char **argv)
{
	struct bench b;
	int queue_depth = 32;
	uint32_t blocks = 8;
	double seconds = 10;
	int random = 0;
	const char *url = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-r") == 0) {
			random = 1;
		} else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) {
			queue_depth = (int)parse_u64(argv[++i], "queue depth");
		} else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
			blocks = (uint32_t)parse_u64(argv[++i], "blocks per request");
		} else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			seconds = (double)parse_u64(argv[++i], "seconds");
		} else if (url == NULL && argv[i][0] != '-') {
			url = argv[i];
		} else {
			usage();
		}
	}
	if (url == NULL || queue_depth < 1 || queue_depth > 1024 || blocks == 0) {
		usage();
	}

	memset(&b, 0, sizeof(b));
	lun_open(&b.l, url);
	if (blocks > b.l.blocks || (uint64_t)blocks * b.l.block_size > 16u * 1024 * 1024) {
		fprintf(stderr, "iscsi-pattern: %u blocks per request is too large\n", blocks);
		return 2;
	}
	b.blocks = blocks;
	b.random = random;
	b.rng = 0x64796164; /* fixed: runs are comparable */
	b.buf = calloc(blocks, b.l.block_size);
	if (b.buf == NULL) {
		fprintf(stderr, "iscsi-pattern: out of memory\n");
		return 3;
	}
	memset(b.buf, 0xa5, (size_t)blocks * b.l.block_size);

	double start = now_seconds();
	double deadline = start + seconds;
	for (int i = 0; i < queue_depth; i++) {
		bench_submit(&b);
	}
	while (b.in_flight > 0) {
		struct pollfd pfd = {
			.fd = iscsi_get_fd(b.l.iscsi),
			.events = iscsi_which_events(b.l.iscsi),
		};
		if (pfd.events == 0) {
			/* libiscsi is reconnecting: it asks to be polled again later. */
			usleep(100000);
			continue;
		}
		int ready = poll(&pfd, 1, 1000);
		if (ready < 0 && errno != EINTR) {
			perror("iscsi-pattern: poll");
			return 3;
		}
		if (iscsi_service(b.l.iscsi, ready > 0 ? pfd.revents : 0) < 0) {
			fprintf(stderr, "iscsi-pattern: iscsi_service: %s\n",
				iscsi_get_error(b.l.iscsi));
			return 3;
		}
		if (!b.stop && now_seconds() >= deadline) {
			b.stop = 1; /* drain what is in flight, then report */
		}
	}
	double elapsed = now_seconds() - start;
	free(b.buf);
	lun_close(&b.l);
	if (b.failed) {
		return 3;
	}
	double iops = b.completed / elapsed;
	double mibps = iops * blocks * b.l.block_size / (1024.0 * 1024.0);
	printf("bench-write: ios %" PRIu64 " seconds %.3f iops %.0f mibps %.1f blocksize %u\n",
	       b.completed, elapsed, iops, mibps, b.l.block_size);
	return 0;
}

/* ---- caw-increment / caw-read: a counter kept with COMPARE AND WRITE ---- */

/* Give up on one increment after this many MISCOMPAREs or BUSYs in a row: a target
 * whose COMPARE AND WRITE never succeeds must fail the run, not hang it. */
#define CAW_MAX_ATTEMPTS 100000

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--) {
		v = (v << 8) | p[i];
	}
	return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (unsigned char)(v >> (8 * i));
	}
}

/* The counter block of `counter` last written by `writer`. */
static void counter_block(unsigned char *buf, uint32_t size, uint64_t counter, uint64_t writer)
{
	fill_block(buf, size, counter, writer);
	put_le64(buf, counter);
	put_le64(buf + 8, writer);
}

/* Whether `buf` is a counter block: all zeros (counter 0), or the pattern of the counter
 * and writer in its first 16 bytes. */
static int counter_consistent(const unsigned char *buf, uint32_t size, unsigned char *scratch)
{
	int zero = 1;
	for (uint32_t i = 0; i < size; i++) {
		if (buf[i] != 0) {
			zero = 0;
			break;
		}
	}
	if (zero) {
		return 1;
	}
	counter_block(scratch, size, get_le64(buf), get_le64(buf + 8));
	return memcmp(buf, scratch, size) == 0;
}

/* READ(16) of one block into `buf`; 0 or -1. */
static int read_block(struct lun *l, uint64_t lba, unsigned char *buf)
{
	struct scsi_task *task = iscsi_read16_sync(l->iscsi, l->lun, lba, l->block_size,
						   l->block_size, 0, 0, 0, 0, 0);
	if (task == NULL || task->status != SCSI_STATUS_GOOD ||
	    task->datain.size < (int)l->block_size) {
		fprintf(stderr, "iscsi-pattern: READ(16) at %" PRIu64 " failed: %s\n", lba,
			iscsi_get_error(l->iscsi));
		if (task != NULL) {
			scsi_free_scsi_task(task);
		}
		return -1;
	}
	memcpy(buf, task->datain.data, l->block_size);
	scsi_free_scsi_task(task);
	return 0;
}

static int open_counter(struct lun *l, const char *url, uint64_t lba)
{
	lun_open(l, url);
	if (check_range(l, lba, 1) != 0) {
		lun_close(l);
		return -1;
	}
	return 0;
}

static int do_caw_increment(const char *url, uint64_t lba, uint64_t n, uint64_t writer)
{
	struct lun l;
	if (open_counter(&l, url, lba) != 0) {
		return 2;
	}
	uint32_t bs = l.block_size;
	/* COMPARE AND WRITE's data-out: the block expected, then the block to write. */
	unsigned char *both = malloc(2 * (size_t)bs);
	unsigned char *scratch = malloc(bs);
	if (both == NULL || scratch == NULL) {
		fprintf(stderr, "iscsi-pattern: out of memory\n");
		return 3;
	}
	uint64_t miscompares = 0, busy = 0, last = 0;
	int rc = 0;
	for (uint64_t i = 0; i < n && rc == 0; i++) {
		int done = 0;
		for (int attempt = 0; !done; attempt++) {
			if (attempt == CAW_MAX_ATTEMPTS) {
				fprintf(stderr, "iscsi-pattern: increment %" PRIu64 " did not succeed in %d attempts\n",
					i, CAW_MAX_ATTEMPTS);
				rc = 3;
				break;
			}
			if (read_block(&l, lba, both) != 0) {
				rc = 3;
				break;
			}
			if (!counter_consistent(both, bs, scratch)) {
				fprintf(stderr, "iscsi-pattern: the counter block at %" PRIu64 " is torn or foreign "
					"(counter %" PRIu64 ", writer %" PRIu64 ")\n",
					lba, get_le64(both), get_le64(both + 8));
				rc = 1;
				break;
			}
			uint64_t next = get_le64(both) + 1;
			counter_block(both + bs, bs, next, writer);
			struct scsi_task *task = iscsi_compareandwrite_sync(l.iscsi, l.lun, lba, both,
									    2 * bs, bs, 0, 0, 0, 0, 0);
			if (task == NULL) {
				fprintf(stderr, "iscsi-pattern: COMPARE AND WRITE at %" PRIu64 " failed: %s\n",
					lba, iscsi_get_error(l.iscsi));
				rc = 3;
				break;
			}
			if (task->status == SCSI_STATUS_GOOD) {
				done = 1;
				last = next;
			} else if (task->status == SCSI_STATUS_CHECK_CONDITION &&
				   task->sense.key == SCSI_SENSE_MISCOMPARE) {
				/* The other writer got there first: read again and retry. */
				miscompares++;
			} else if (task->status == SCSI_STATUS_BUSY ||
				   task->status == SCSI_STATUS_TASK_SET_FULL) {
				busy++;
			} else {
				fprintf(stderr, "iscsi-pattern: COMPARE AND WRITE at %" PRIu64 " failed: "
					"status 0x%x sense key 0x%x ascq 0x%04x: %s\n", lba, task->status,
					task->sense.key, task->sense.ascq, iscsi_get_error(l.iscsi));
				rc = 3;
			}
			scsi_free_scsi_task(task);
			if (rc != 0) {
				break;
			}
		}
	}
	free(both);
	free(scratch);
	lun_close(&l);
	printf("caw-increment: writer %" PRIu64 " increments %" PRIu64 " miscompares %" PRIu64
	       " busy %" PRIu64 " last %" PRIu64 "\n", writer, rc == 0 ? n : 0, miscompares, busy, last);
	return rc;
}

static int do_caw_read(const char *url, uint64_t lba)
{
	struct lun l;
	if (open_counter(&l, url, lba) != 0) {
		return 2;
	}
	unsigned char *buf = malloc(l.block_size);
	unsigned char *scratch = malloc(l.block_size);
	if (buf == NULL || scratch == NULL) {
		fprintf(stderr, "iscsi-pattern: out of memory\n");
		return 3;
	}
	int rc = 0;
	if (read_block(&l, lba, buf) != 0) {
		rc = 3;
	} else {
		int consistent = counter_consistent(buf, l.block_size, scratch);
		printf("caw-read: counter %" PRIu64 " writer %" PRIu64 " consistent %s\n",
		       get_le64(buf), get_le64(buf + 8), consistent ? "yes" : "no");
		rc = consistent ? 0 : 1;
	}
	free(buf);
	free(scratch);
	lun_close(&l);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
	}
	if (strcmp(argv[1], "bench-write") == 0) {
		return do_bench_write(argc - 2, argv + 2);
	}
	if (strcmp(argv[1], "caw-read") == 0 && argc == 4) {
		return do_caw_read(argv[2], parse_u64(argv[3], "LBA"));
	}
	if (strcmp(argv[1], "caw-increment") == 0 && argc == 6) {
		return do_caw_increment(argv[2], parse_u64(argv[3], "LBA"),
					parse_u64(argv[4], "N"), parse_u64(argv[5], "WRITER"));
	}
	if (argc != 6) {
		usage();
	}
	uint64_t lba = parse_u64(argv[3], "LBA");
	uint64_t count = parse_u64(argv[4], "COUNT");
	uint64_t seed = parse_u64(argv[5], "SEED");
	if (strcmp(argv[1], "write") == 0) {
		return do_write(argv[2], lba, count, seed);
	}
	if (strcmp(argv[1], "verify") == 0) {
		return do_verify(argv[2], lba, count, seed);
	}
	usage();
	return 2;
}
