/*
 * iscsi-pr: a scriptable, multi-session PERSISTENT RESERVE client for dyad's end-to-end
 * tests of SCSI-3 persistent reservations (SPC-4 §5.13, §6.15, §6.16) and SPC-2
 * RESERVE/RELEASE, built on libiscsi's synchronous API.
 *
 * Every CDB and parameter list is built here byte by byte (libiscsi's own PR helpers
 * cannot express SPEC_I_PT TransportIDs or REGISTER AND MOVE), and each step sends exactly
 * the commands it names: no hidden TEST UNIT READY at login, no READ CAPACITY, so a unit
 * attention or a reservation conflict is always reported by the step that met it.
 *
 *   iscsi-pr [--dry-run] [--timeout SECONDS] SCRIPT|-
 *
 * The script (a file, or standard input for `-`) has one step a line; `#` starts a comment.
 * A step is `S OP [ARGS] [expect RESULT]` where S is a session letter A..Z, or a global
 * `sleep ms=N`. Arguments are `name=value` words and bare flags:
 *
 *   S login URL INITIATOR_IQN [isid=0x<12 hex>] [bs=512]
 *        connect and log in (header digest none, no auto-reconnect). The default ISID is
 *        0x4000013700NN with NN the session letter's number (A=01), so the same letter in
 *        another process is the same I_T nexus. bs is the block size read/write use.
 *   S logout                      log out and close
 *   S drop                        close the TCP connection without logout (nexus loss)
 *   PERSISTENT RESERVE OUT (5Fh, basic 24-byte parameter list):
 *   S register [key=K] sakey=S [aptpl] [all_tg_pt]          REGISTER (key defaults to 0)
 *   S register-ignore sakey=S [aptpl] [all_tg_pt]           REGISTER AND IGNORE EXISTING KEY
 *   S reserve key=K type=T        S release key=K type=T    S clear key=K
 *   S preempt key=K sakey=S type=T                          S preempt-abort key=K sakey=S type=T
 *   S register-spec [key=0] sakey=S [aptpl] [all_tg_pt] tid=ID [tid=ID ...]
 *        REGISTER with SPEC_I_PT; ID is `NAME,i,0x<ISID>` (TransportID format 01b) or a
 *        bare NAME (format 00b)
 *   S register-move key=K sakey=S type=T port=N tid=NAME,i,0x<ISID> [unreg] [aptpl]
 *        REGISTER AND MOVE to the initiator port ID through relative target port N
 *   T is we, ea, we-ro, ea-ro, we-ar, ea-ar, or a number.
 *   PERSISTENT RESERVE IN (5Eh):
 *   S read-keys            GOOD generation=G keys=0xK,0xK|none
 *   S read-reservation     GOOD generation=G reservation key=0xK type=T | reservation none
 *   S report-capabilities  GOOD crh= sip_c= atp_c= ptpl_c= tmv= allow_commands= ptpl_a= types=
 *   S read-full-status     GOOD generation=G registrants=N, then one detail line each:
 *                          key=0xK all_tg_pt=0|1 r_holder=0|1 type=T|none port=N tid=ID
 *   Other commands:
 *   S read lba=N           READ(10) of one block: GOOD fill=0xNN (every byte) or fill=mixed
 *   S write lba=N [fill=0xNN]   WRITE(10) of one block of that byte (default 0x00)
 *   S writer lba=N count=M [fill=0xNN]
 *        M WRITE(10)s of block N, one in flight at a time, a detail line `write OK n` per
 *        success; stops at the first other result: RESULT writes=n
 *   S tur   S inquiry (GOOD pdt=0xNN)   S reserve6   S release6
 *   S report-target-port   GOOD port=N: the relative target port of VPD page 83h
 *   S clear-ua             TEST UNIT READY until GOOD: GOOD cleared=0xASC/0xASCQ,...|none
 *   Any step but writer, drop and sleep may carry `within-ms=N` with an expectation: it is
 *   repeated until the result matches or N ms have passed (e.g. until the target has
 *   noticed a nexus loss); the failed attempts become detail lines.
 *   Idle sessions answer the target's NOP-In pings between and during steps.
 *
 * Output, flushed line by line: `LINE S OP = RESULT` for each step's result and
 * `LINE S OP > DETAIL` for its detail lines (global steps use `-` as S). RESULT is GOOD
 * [data], CHECK_CONDITION <SENSE_KEY> 0xASC/0xASCQ, RESERVATION_CONFLICT, TASK_ABORTED,
 * BUSY, TASK_SET_FULL, ACA_ACTIVE, CONDITION_MET, STATUS_0xNN, TIMEOUT (no status within
 * --timeout seconds) or ERROR <why> for transport failures.
 *
 * Expectations: `expect ALT [| ALT ...]`. An ALT starting with a status name must have that
 * status; one starting with a sense key (e.g. `UNIT_ATTENTION 0x2a/0x05`) means
 * CHECK_CONDITION with that key; otherwise GOOD is implied. Each further word must be among
 * the result's words; `name=value` words compare numerically, and comma lists as multisets
 * (`expect keys=0xbb,0xaa` holds for keys=0xaa,0xbb). A failed expectation prints
 * `LINE S OP ! expected ..., got ...` and exits 1 without logging out (the target sees the
 * connections drop).
 *
 * --dry-run connects nowhere: each step prints `DRY cdb=HEX [data=HEX]`, the bytes it would
 * send, so the encodings can be tested without a target.
 *
 * Exit status: 0 every expectation held, 1 one did not, 2 usage or script error,
 * 3 the script cannot be read. Sessions still logged in at the end are logged out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define MAX_SESSIONS 26
#define MAX_TIDS 16
/* An iSCSI name is at most 223 bytes; with ",i,0x", 12 hex digits, NUL and padding a
 * TransportID stays well below this. */
#define MAX_TID_BYTES 320
/* Enough for a basic parameter list and MAX_TIDS TransportIDs. */
#define MAX_PARAM_BYTES (28 + MAX_TIDS * MAX_TID_BYTES)
/* PR IN and VPD allocation length: READ FULL STATUS of dozens of registrants fits. */
#define PR_IN_ALLOC 8192
#define VPD_ALLOC 1024
#define INQUIRY_ALLOC 96
#define MAX_BLOCK_SIZE (1024 * 1024)
/* clear-ua gives up after this many unit attentions in a row: a target that never stops
 * reporting them must fail the step, not hang it. */
#define MAX_UAS 32
#define RETRY_PAUSE_MS 100
#define DEFAULT_TIMEOUT_S 30

/* ---- small helpers ---- */

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n == 0 ? 1 : n);
	if (p == NULL) {
		fprintf(stderr, "iscsi-pr: out of memory\n");
		exit(3);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = xmalloc(strlen(s) + 1);
	memcpy(p, s, strlen(s) + 1);
	return p;
}

/* A growable string: result lines and detail lines are built piece by piece. */
struct sb {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return;
	}
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->len + (size_t)n + 1) * 2;
		char *s = realloc(b->s, cap);
		if (s == NULL) {
			fprintf(stderr, "iscsi-pr: out of memory\n");
			exit(3);
		}
		b->s = s;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sb_reset(struct sb *b)
{
	b->len = 0;
	if (b->s != NULL) {
		b->s[0] = '\0';
	}
}

static const char *sb_str(const struct sb *b)
{
	return b->s != NULL ? b->s : "";
}

/* Result lines are split on whitespace by their readers: nothing from the target or from
 * libiscsi may add a line break or a space inside a word. */
static void sanitize(char *s, int spaces_too)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n' || c == '\r' || c == '\t') {
			*s = ' ';
		} else if (c < 0x20 || c >= 0x7f || (spaces_too && c == ' ')) {
			*s = '?';
		}
	}
}

static uint16_t get_be16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get_be64(const unsigned char *p)
{
	return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

static void put_be16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* strtoull over the whole word (base 0: 0x.. hex or decimal); 0 on success. */
static int parse_number(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s == '\0' || *s == '-' || *s == '+') {
		return -1;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max) {
		return -1;
	}
	*out = v;
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- names: reservation types, sense keys, statuses ---- */

static const char *const TYPE_NAMES[16] = {
	[1] = "we", [3] = "ea", [5] = "we-ro", [6] = "ea-ro", [7] = "we-ar", [8] = "ea-ar",
};

static void type_name(unsigned code, char *out, size_t n)
{
	if (code < 16 && TYPE_NAMES[code] != NULL) {
		snprintf(out, n, "%s", TYPE_NAMES[code]);
	} else {
		snprintf(out, n, "0x%x", code);
	}
}

static int parse_type(const char *s, uint64_t *code)
{
	for (unsigned i = 0; i < 16; i++) {
		if (TYPE_NAMES[i] != NULL && strcasecmp(s, TYPE_NAMES[i]) == 0) {
			*code = i;
			return 0;
		}
	}
	return parse_number(s, 15, code);
}

static const char *const SENSE_KEYS[16] = {
	"NO_SENSE", "RECOVERED_ERROR", "NOT_READY", "MEDIUM_ERROR", "HARDWARE_ERROR",
	"ILLEGAL_REQUEST", "UNIT_ATTENTION", "DATA_PROTECT", "BLANK_CHECK", "VENDOR_SPECIFIC",
	"COPY_ABORTED", "ABORTED_COMMAND", "KEY_0xC", "VOLUME_OVERFLOW", "MISCOMPARE", "COMPLETED",
};

static int is_sense_key_name(const char *s)
{
	for (unsigned i = 0; i < 16; i++) {
		if (strcasecmp(s, SENSE_KEYS[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

static const char *const STATUS_NAMES[] = {
	"GOOD", "CHECK_CONDITION", "CONDITION_MET", "BUSY", "RESERVATION_CONFLICT",
	"TASK_SET_FULL", "ACA_ACTIVE", "TASK_ABORTED", "TIMEOUT", "ERROR", NULL,
};

static int is_status_name(const char *s)
{
	for (unsigned i = 0; STATUS_NAMES[i] != NULL; i++) {
		if (strcasecmp(s, STATUS_NAMES[i]) == 0) {
			return 1;
		}
	}
	return strncasecmp(s, "STATUS_0x", 9) == 0;
}

/* ---- the script ---- */

enum op {
	OP_LOGIN, OP_LOGOUT, OP_DROP,
	OP_REGISTER, OP_REGISTER_IGNORE, OP_RESERVE, OP_RELEASE, OP_CLEAR, OP_PREEMPT,
	OP_PREEMPT_ABORT, OP_REGISTER_SPEC, OP_REGISTER_MOVE,
	OP_READ_KEYS, OP_READ_RESERVATION, OP_REPORT_CAPABILITIES, OP_READ_FULL_STATUS,
	OP_READ, OP_WRITE, OP_WRITER, OP_TUR, OP_INQUIRY, OP_RESERVE6, OP_RELEASE6,
	OP_REPORT_TARGET_PORT, OP_CLEAR_UA, OP_SLEEP,
};

/* Argument bits: which `name=value` words and flags a step takes. */
enum {
	A_KEY = 1u << 0, A_SAKEY = 1u << 1, A_TYPE = 1u << 2, A_APTPL = 1u << 3,
	A_ALL_TG_PT = 1u << 4, A_UNREG = 1u << 5, A_TID = 1u << 6, A_PORT = 1u << 7,
	A_LBA = 1u << 8, A_COUNT = 1u << 9, A_FILL = 1u << 10, A_ISID = 1u << 11,
	A_BS = 1u << 12, A_MS = 1u << 13, A_WITHIN = 1u << 14,
};

struct op_spec {
	const char *name;
	enum op op;
	unsigned allowed;
	unsigned required;
	/* PERSISTENT RESERVE OUT service action, or -1 */
	int service_action;
};

#define W A_WITHIN
static const struct op_spec OPS[] = {
	{ "login", OP_LOGIN, A_ISID | A_BS | W, 0, -1 },
	{ "logout", OP_LOGOUT, W, 0, -1 },
	{ "drop", OP_DROP, 0, 0, -1 },
	{ "register", OP_REGISTER, A_KEY | A_SAKEY | A_APTPL | A_ALL_TG_PT | W, A_SAKEY, 0 },
	{ "reserve", OP_RESERVE, A_KEY | A_TYPE | W, A_KEY | A_TYPE, 1 },
	{ "release", OP_RELEASE, A_KEY | A_TYPE | W, A_KEY | A_TYPE, 2 },
	{ "clear", OP_CLEAR, A_KEY | W, A_KEY, 3 },
	{ "preempt", OP_PREEMPT, A_KEY | A_SAKEY | A_TYPE | W, A_KEY | A_SAKEY | A_TYPE, 4 },
	{ "preempt-abort", OP_PREEMPT_ABORT, A_KEY | A_SAKEY | A_TYPE | W,
	  A_KEY | A_SAKEY | A_TYPE, 5 },
	{ "register-ignore", OP_REGISTER_IGNORE, A_SAKEY | A_APTPL | A_ALL_TG_PT | W, A_SAKEY, 6 },
	{ "register-spec", OP_REGISTER_SPEC, A_KEY | A_SAKEY | A_APTPL | A_ALL_TG_PT | A_TID | W,
	  A_SAKEY | A_TID, 0 },
	{ "register-move", OP_REGISTER_MOVE,
	  A_KEY | A_SAKEY | A_TYPE | A_PORT | A_TID | A_UNREG | A_APTPL | W,
	  A_KEY | A_SAKEY | A_TYPE | A_PORT | A_TID, 7 },
	{ "read-keys", OP_READ_KEYS, W, 0, -1 },
	{ "read-reservation", OP_READ_RESERVATION, W, 0, -1 },
	{ "report-capabilities", OP_REPORT_CAPABILITIES, W, 0, -1 },
	{ "read-full-status", OP_READ_FULL_STATUS, W, 0, -1 },
	{ "read", OP_READ, A_LBA | W, A_LBA, -1 },
	{ "write", OP_WRITE, A_LBA | A_FILL | W, A_LBA, -1 },
	{ "writer", OP_WRITER, A_LBA | A_COUNT | A_FILL, A_LBA | A_COUNT, -1 },
	{ "tur", OP_TUR, W, 0, -1 },
	{ "inquiry", OP_INQUIRY, W, 0, -1 },
	{ "reserve6", OP_RESERVE6, W, 0, -1 },
	{ "release6", OP_RELEASE6, W, 0, -1 },
	{ "report-target-port", OP_REPORT_TARGET_PORT, W, 0, -1 },
	{ "clear-ua", OP_CLEAR_UA, W, 0, -1 },
	{ "sleep", OP_SLEEP, A_MS, A_MS, -1 },
	{ NULL, OP_SLEEP, 0, 0, -1 },
};
#undef W

struct step {
	int line;
	char session;           /* 'A'..'Z', or '-' for a global step */
	const struct op_spec *spec;
	unsigned given;         /* A_* bits present */
	uint64_t key, sakey, type, port, lba, count, fill, bs, ms, within_ms;
	int aptpl, all_tg_pt, unreg;
	unsigned char isid[6];
	const char *url, *iqn;
	const char *tids[MAX_TIDS];
	int ntids;
	char *expect;           /* the words after `expect`, or NULL */
};

struct script {
	struct step *steps;
	int n, cap;
};

static int script_error(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int script_error(int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "iscsi-pr: line %d: ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static const struct op_spec *find_op(const char *name)
{
	for (const struct op_spec *s = OPS; s->name != NULL; s++) {
		if (strcmp(s->name, name) == 0) {
			return s;
		}
	}
	return NULL;
}

/*
 * libiscsi sets the ISID through per-type setters only (SPC/RFC 7143 ISID types): type 00b
 * (OUI) takes any value, types 01b and 10b need byte 0 exactly 0x40 and 0x80, type 11b only
 * 0xc00000000000. Refusing the rest here keeps `isid=` an exact promise.
 */
static int isid_settable(const unsigned char *isid)
{
	switch (isid[0] >> 6) {
	case 0:
		return 1;
	case 1:
		return isid[0] == 0x40;
	case 2:
		return isid[0] == 0x80;
	default:
		return isid[0] == 0xc0 && isid[1] == 0 && isid[2] == 0 && isid[3] == 0 &&
		       isid[4] == 0 && isid[5] == 0;
	}
}

static int parse_isid_hex(const char *s, unsigned char *isid)
{
	if (strncasecmp(s, "0x", 2) != 0 || strlen(s) != 14) {
		return -1;
	}
	for (int i = 0; i < 6; i++) {
		char byte[3] = { s[2 + 2 * i], s[3 + 2 * i], '\0' };
		char *end;
		long v = strtol(byte, &end, 16);
		if (*end != '\0' || byte[0] == '-' || byte[0] == '+') {
			return -1;
		}
		isid[i] = (unsigned char)v;
	}
	return 0;
}

/* A TransportID argument: `NAME,i,0x<12 hex>` or a bare NAME, no spaces, printable. */
static int check_tid(const char *s)
{
	const char *sep = strstr(s, ",i,");
	size_t len = strlen(s);
	if (len == 0 || len + 1 > MAX_TID_BYTES - 4) {
		return -1;
	}
	if (sep == NULL) {
		return strchr(s, ',') == NULL ? 0 : -1;
	}
	unsigned char isid[6];
	return sep == s ? -1 : parse_isid_hex(sep + 3, isid);
}

struct arg_spec {
	const char *name;
	unsigned bit;
	uint64_t max;
	size_t offset;
};

#define NUM(n, b, m, f) { n, b, m, offsetof(struct step, f) }
static const struct arg_spec NUMERIC_ARGS[] = {
	NUM("key", A_KEY, UINT64_MAX, key),
	NUM("sakey", A_SAKEY, UINT64_MAX, sakey),
	NUM("port", A_PORT, 0xffff, port),
	NUM("lba", A_LBA, 0xffffffffu, lba),
	NUM("count", A_COUNT, UINT64_MAX, count),
	NUM("fill", A_FILL, 0xff, fill),
	NUM("bs", A_BS, MAX_BLOCK_SIZE, bs),
	NUM("ms", A_MS, 24 * 3600 * 1000, ms),
	NUM("within-ms", A_WITHIN, 24 * 3600 * 1000, within_ms),
	{ NULL, 0, 0, 0 },
};
#undef NUM

/* One `name=value` word or flag into `s`. */
static int parse_arg(struct step *s, char *word)
{
	static const struct { const char *name; unsigned bit; } flags[] = {
		{ "aptpl", A_APTPL }, { "all_tg_pt", A_ALL_TG_PT }, { "unreg", A_UNREG },
	};
	char *eq = strchr(word, '=');
	unsigned bit = 0;
	if (eq == NULL) {
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (strcmp(word, flags[i].name) == 0) {
				bit = flags[i].bit;
			}
		}
		if (bit == 0) {
			return script_error(s->line, "unknown word '%s'", word);
		}
		s->aptpl |= bit == A_APTPL;
		s->all_tg_pt |= bit == A_ALL_TG_PT;
		s->unreg |= bit == A_UNREG;
	} else {
		*eq = '\0';
		const char *name = word, *value = eq + 1;
		if (strcmp(name, "type") == 0) {
			bit = A_TYPE;
			if (parse_type(value, &s->type) != 0) {
				return script_error(s->line, "bad type '%s' (we, ea, we-ro, ea-ro, we-ar, ea-ar)", value);
			}
		} else if (strcmp(name, "isid") == 0) {
			bit = A_ISID;
			if (parse_isid_hex(value, s->isid) != 0) {
				return script_error(s->line, "bad isid '%s' (0x and 12 hex digits)", value);
			}
			if (!isid_settable(s->isid)) {
				return script_error(s->line, "libiscsi cannot send ISID %s: types 01b/10b need byte 0 = 0x40/0x80", value);
			}
		} else if (strcmp(name, "tid") == 0) {
			bit = A_TID;
			if (check_tid(value) != 0) {
				return script_error(s->line, "bad tid '%s' (NAME or NAME,i,0x<12 hex>)", value);
			}
			if (s->ntids == MAX_TIDS) {
				return script_error(s->line, "more than %d tids", MAX_TIDS);
			}
			s->tids[s->ntids++] = xstrdup(value);
		} else {
			const struct arg_spec *a = NUMERIC_ARGS;
			while (a->name != NULL && strcmp(a->name, name) != 0) {
				a++;
			}
			if (a->name == NULL) {
				return script_error(s->line, "unknown argument '%s'", name);
			}
			bit = a->bit;
			if (parse_number(value, a->max, (uint64_t *)((char *)s + a->offset)) != 0) {
				return script_error(s->line, "bad %s '%s'", name, value);
			}
		}
	}
	if ((s->spec->allowed & bit) == 0) {
		return script_error(s->line, "%s takes no '%s'", s->spec->name, word);
	}
	if ((s->given & bit) != 0 && bit != A_TID) {
		return script_error(s->line, "'%s' given twice", word);
	}
	s->given |= bit;
	return 0;
}

/* The first word of each `|` alternative must be a status, a sense key or a data word:
 * a misspelt status (GODO) is a script error, not a silent mismatch. */
static int check_expectation(int line, char *text)
{
	char *copy = xstrdup(text);
	int first = 1, words = 0, rc = 0;
	for (char *save, *w = strtok_r(copy, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (strcmp(w, "|") == 0) {
			if (first) {
				rc = script_error(line, "empty alternative in expect");
			}
			first = 1;
			continue;
		}
		words++;
		if (first && strchr(w, '=') == NULL && w[0] >= 'A' && w[0] <= 'Z' &&
		    !is_status_name(w) && !is_sense_key_name(w)) {
			rc = script_error(line, "unknown status or sense key '%s' in expect", w);
		}
		first = 0;
	}
	if (words == 0 || first) {
		rc = script_error(line, "expect needs a result");
	}
	free(copy);
	return rc;
}

static int finish_step(struct step *s)
{
	unsigned missing = s->spec->required & ~s->given;
	if (missing != 0) {
		return script_error(s->line, "%s is missing an argument (see the usage)", s->spec->name);
	}
	if (s->spec->op == OP_LOGIN &&
	    (s->iqn == NULL || strncmp(s->url, "iscsi://", 8) != 0 || strchr(s->iqn, '=') != NULL)) {
		return script_error(s->line, "login needs iscsi://URL and INITIATOR_IQN first");
	}
	if (s->spec->op == OP_LOGIN && (s->given & A_BS) && s->bs == 0) {
		return script_error(s->line, "bs must not be 0");
	}
	if (s->spec->op == OP_LOGIN && !(s->given & A_ISID)) {
		unsigned char isid[6] = { 0x40, 0x00, 0x01, 0x37, 0x00,
					  (unsigned char)(s->session - 'A' + 1) };
		memcpy(s->isid, isid, 6);
	}
	if (s->spec->op == OP_REGISTER_MOVE && (s->ntids != 1 || strstr(s->tids[0], ",i,") == NULL)) {
		return script_error(s->line, "register-move needs one tid=NAME,i,0x<ISID>");
	}
	if ((s->given & A_WITHIN) && s->expect == NULL) {
		return script_error(s->line, "within-ms needs an expectation");
	}
	if (s->expect != NULL) {
		return check_expectation(s->line, s->expect);
	}
	return 0;
}

static char *trim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r')) {
		s[--n] = '\0';
	}
	size_t lead = strspn(s, " ");
	memmove(s, s + lead, n - lead + 1);
	return s;
}

/* One script line into `s`; 1 for a step, 0 for a blank or comment line, -1 on error. */
static int parse_line(char *text, int line, struct step *s)
{
	for (char *t = text; *t != '\0'; t++) {
		*t = *t == '\t' ? ' ' : *t;
	}
	char *hash = text;
	/* `#` starts a comment at the start of a word only. */
	while ((hash = strchr(hash, '#')) != NULL) {
		if (hash == text || hash[-1] == ' ') {
			*hash = '\0';
			break;
		}
		hash++;
	}
	char *exp = strstr(text, " expect");
	while (exp != NULL && exp[7] != '\0' && exp[7] != ' ' && exp[7] != '\t') {
		exp = strstr(exp + 1, " expect");
	}
	memset(s, 0, sizeof(*s));
	s->line = line;
	if (exp != NULL) {
		*exp = '\0';
		s->expect = trim(xstrdup(exp + 7));
		sanitize(s->expect, 0);
	}
	char *save;
	char *first = strtok_r(text, " \t\r\n", &save);
	if (first == NULL) {
		if (s->expect != NULL) {
			return script_error(line, "expect without a step");
		}
		return 0;
	}
	char *opname = first;
	if (strlen(first) == 1 && first[0] >= 'A' && first[0] <= 'Z') {
		s->session = first[0];
		opname = strtok_r(NULL, " \t\r\n", &save);
		if (opname == NULL) {
			return script_error(line, "session %c has no step", s->session);
		}
	} else {
		s->session = '-';
	}
	s->spec = find_op(opname);
	if (s->spec == NULL) {
		return script_error(line, "unknown step '%s'", opname);
	}
	if ((s->spec->op == OP_SLEEP) != (s->session == '-')) {
		return script_error(line, s->session == '-' ? "'%s' needs a session letter first"
							    : "'%s' takes no session letter", opname);
	}
	for (char *w = strtok_r(NULL, " \t\r\n", &save); w != NULL; w = strtok_r(NULL, " \t\r\n", &save)) {
		/* URL and name come first; a URL may carry `?key=value` itself. */
		if (s->spec->op == OP_LOGIN && s->iqn == NULL) {
			if (s->url == NULL) {
				s->url = xstrdup(w);
			} else {
				s->iqn = xstrdup(w);
			}
			continue;
		}
		if (parse_arg(s, w) != 0) {
			return -1;
		}
	}
	return finish_step(s) == 0 ? 1 : -1;
}

static int read_script(FILE *in, struct script *sc)
{
	char *buf = NULL;
	size_t cap = 0;
	int line = 0, errors = 0;
	while (getline(&buf, &cap, in) >= 0) {
		struct step s;
		line++;
		int rc = parse_line(buf, line, &s);
		if (rc < 0) {
			errors++;
		} else if (rc > 0) {
			if (sc->n == sc->cap) {
				sc->cap = sc->cap ? sc->cap * 2 : 32;
				struct step *p = realloc(sc->steps, (size_t)sc->cap * sizeof(*p));
				if (p == NULL) {
					fprintf(stderr, "iscsi-pr: out of memory\n");
					exit(3);
				}
				sc->steps = p;
			}
			sc->steps[sc->n++] = s;
		}
	}
	free(buf);
	return errors == 0 ? 0 : -1;
}

/* ---- CDBs and parameter lists ---- */

struct cmd {
	unsigned char cdb[16];
	int cdb_len;
	int dir;                /* SCSI_XFER_NONE / READ / WRITE */
	uint32_t in_len;
	unsigned char *out;
	uint32_t out_len;
};

/* An iSCSI TransportID (SPC-4 §7.6.4.6): byte 0 FORMAT CODE (bits 7-6) and PROTOCOL
 * IDENTIFIER 5h, ADDITIONAL LENGTH in bytes 2-3 (at least 20, a multiple of 4), then the
 * name (format 00b) or "NAME,i,0xISID" (format 01b), NUL-terminated and padded. */
static size_t build_transport_id(const char *tid, unsigned char *out)
{
	size_t text = strlen(tid);
	size_t padded = (text + 1 + 3) & ~(size_t)3;
	if (padded < 20) {
		padded = 20;
	}
	memset(out, 0, 4 + padded);
	out[0] = (unsigned char)((strstr(tid, ",i,") != NULL ? 0x40 : 0x00) | 0x05);
	put_be16(out + 2, (uint16_t)padded);
	memcpy(out + 4, tid, text);
	return 4 + padded;
}

/* PERSISTENT RESERVE OUT's 10-byte CDB: SERVICE ACTION, SCOPE (LU_SCOPE 0) and TYPE,
 * PARAMETER LIST LENGTH in bytes 5-8 (SPC-4 table 170). */
static void prout_cdb(struct cmd *c, int service_action, unsigned type, uint32_t len)
{
	c->cdb[0] = 0x5f;
	c->cdb[1] = (unsigned char)(service_action & 0x1f);
	c->cdb[2] = (unsigned char)(type & 0x0f);
	put_be32(c->cdb + 5, len);
	c->cdb_len = 10;
	c->dir = SCSI_XFER_WRITE;
	c->out_len = len;
}

/* The basic parameter list (SPC-4 table 174), then for SPEC_I_PT the TRANSPORTID PARAMETER
 * DATA LENGTH at byte 24 and the TransportIDs. */
static uint32_t build_basic_params(const struct step *s, unsigned char *p)
{
	int spec = s->spec->op == OP_REGISTER_SPEC;
	memset(p, 0, 24);
	put_be64(p, s->key);
	put_be64(p + 8, s->sakey);
	p[20] = (unsigned char)((spec ? 0x08 : 0) | (s->all_tg_pt ? 0x04 : 0) | (s->aptpl ? 0x01 : 0));
	if (!spec) {
		return 24;
	}
	size_t len = 28;
	for (int i = 0; i < s->ntids; i++) {
		len += build_transport_id(s->tids[i], p + len);
	}
	put_be32(p + 24, (uint32_t)(len - 28));
	return (uint32_t)len;
}

/* REGISTER AND MOVE's own parameter list (SPC-4 table 176): keys, UNREG/APTPL in byte 17,
 * RELATIVE TARGET PORT IDENTIFIER in 18-19, TRANSPORTID PARAMETER DATA LENGTH in 20-23. */
static uint32_t build_move_params(const struct step *s, unsigned char *p)
{
	memset(p, 0, 24);
	put_be64(p, s->key);
	put_be64(p + 8, s->sakey);
	p[17] = (unsigned char)((s->unreg ? 0x02 : 0) | (s->aptpl ? 0x01 : 0));
	put_be16(p + 18, (uint16_t)s->port);
	size_t tid = build_transport_id(s->tids[0], p + 24);
	put_be32(p + 20, (uint32_t)tid);
	return (uint32_t)(24 + tid);
}

static void prin_cdb(struct cmd *c, int service_action)
{
	c->cdb[0] = 0x5e;
	c->cdb[1] = (unsigned char)service_action;
	put_be16(c->cdb + 7, PR_IN_ALLOC);
	c->cdb_len = 10;
	c->dir = SCSI_XFER_READ;
	c->in_len = PR_IN_ALLOC;
}

static void rw10_cdb(struct cmd *c, int write, uint32_t lba, uint32_t bs)
{
	c->cdb[0] = write ? 0x2a : 0x28;
	put_be32(c->cdb + 2, lba);
	put_be16(c->cdb + 7, 1);
	c->cdb_len = 10;
	c->dir = write ? SCSI_XFER_WRITE : SCSI_XFER_READ;
	if (write) {
		c->out_len = bs;
	} else {
		c->in_len = bs;
	}
}

static void inquiry_cdb(struct cmd *c, int vpd_page)
{
	uint16_t alloc = vpd_page < 0 ? INQUIRY_ALLOC : VPD_ALLOC;
	c->cdb[0] = 0x12;
	c->cdb[1] = vpd_page < 0 ? 0 : 1;
	c->cdb[2] = vpd_page < 0 ? 0 : (unsigned char)vpd_page;
	put_be16(c->cdb + 3, alloc);
	c->cdb_len = 6;
	c->dir = SCSI_XFER_READ;
	c->in_len = alloc;
}

static void six_byte_cdb(struct cmd *c, unsigned char opcode)
{
	c->cdb[0] = opcode;
	c->cdb_len = 6;
	c->dir = SCSI_XFER_NONE;
}

/* The one command a step sends (the writer and clear-ua send it repeatedly); 0 for steps
 * that send no SCSI command. `out` holds the data-out buffer. */
static int build_cmd(const struct step *s, uint32_t bs, struct cmd *c, unsigned char *out)
{
	memset(c, 0, sizeof(*c));
	c->out = out;
	switch (s->spec->op) {
	case OP_REGISTER:
	case OP_REGISTER_IGNORE:
	case OP_CLEAR:
	case OP_REGISTER_SPEC:
	case OP_RESERVE:
	case OP_RELEASE:
	case OP_PREEMPT:
	case OP_PREEMPT_ABORT:
		prout_cdb(c, s->spec->service_action, (unsigned)s->type, build_basic_params(s, out));
		return 1;
	case OP_REGISTER_MOVE:
		prout_cdb(c, s->spec->service_action, (unsigned)s->type, build_move_params(s, out));
		return 1;
	case OP_READ_KEYS:
		prin_cdb(c, 0);
		return 1;
	case OP_READ_RESERVATION:
		prin_cdb(c, 1);
		return 1;
	case OP_REPORT_CAPABILITIES:
		prin_cdb(c, 2);
		return 1;
	case OP_READ_FULL_STATUS:
		prin_cdb(c, 3);
		return 1;
	case OP_READ:
		rw10_cdb(c, 0, (uint32_t)s->lba, bs);
		return 1;
	case OP_WRITE:
	case OP_WRITER:
		rw10_cdb(c, 1, (uint32_t)s->lba, bs);
		memset(out, (int)s->fill, bs);
		return 1;
	case OP_TUR:
	case OP_CLEAR_UA:
		six_byte_cdb(c, 0x00);
		return 1;
	case OP_RESERVE6:
		six_byte_cdb(c, 0x16);
		return 1;
	case OP_RELEASE6:
		six_byte_cdb(c, 0x17);
		return 1;
	case OP_INQUIRY:
		inquiry_cdb(c, -1);
		return 1;
	case OP_REPORT_TARGET_PORT:
		inquiry_cdb(c, 0x83);
		return 1;
	case OP_LOGIN:
	case OP_LOGOUT:
	case OP_DROP:
	case OP_SLEEP:
		break;
	}
	return 0;
}

/* ---- decoding what the target sent ---- */

struct reply {
	int status;             /* libiscsi's task status; -1: no task at all */
	const unsigned char *data;
	size_t size;
};

/* Sense data as the iSCSI SCSI Response carries it: SenseLength (2 bytes), then fixed
 * (70h/71h) or descriptor (72h/73h) format. Every byte is bounds-checked. */
static void format_sense(const unsigned char *d, size_t size, struct sb *out)
{
	if (size < 2) {
		sb_printf(out, " NO_SENSE_DATA");
		return;
	}
	size_t len = get_be16(d);
	const unsigned char *s = d + 2;
	if (len > size - 2) {
		len = size - 2;
	}
	int key = -1, asc = -1, ascq = -1;
	if (len >= 1 && ((s[0] & 0x7f) == 0x70 || (s[0] & 0x7f) == 0x71)) {
		key = len >= 3 ? (s[2] & 0x0f) : -1;
		asc = len >= 13 ? s[12] : -1;
		ascq = len >= 14 ? s[13] : -1;
	} else if (len >= 1 && ((s[0] & 0x7f) == 0x72 || (s[0] & 0x7f) == 0x73)) {
		key = len >= 2 ? (s[1] & 0x0f) : -1;
		asc = len >= 3 ? s[2] : -1;
		ascq = len >= 4 ? s[3] : -1;
	}
	if (key < 0) {
		sb_printf(out, " NO_SENSE_DATA");
		return;
	}
	sb_printf(out, " %s", SENSE_KEYS[key]);
	if (asc >= 0 && ascq >= 0) {
		sb_printf(out, " 0x%02x/0x%02x", asc, ascq);
	}
}

static void format_status(struct iscsi_context *ctx, const struct reply *r, struct sb *out)
{
	switch (r->status) {
	case SCSI_STATUS_GOOD: sb_printf(out, "GOOD"); return;
	case SCSI_STATUS_CHECK_CONDITION:
		sb_printf(out, "CHECK_CONDITION");
		format_sense(r->data, r->size, out);
		return;
	case SCSI_STATUS_CONDITION_MET: sb_printf(out, "CONDITION_MET"); return;
	case SCSI_STATUS_BUSY: sb_printf(out, "BUSY"); return;
	case SCSI_STATUS_RESERVATION_CONFLICT: sb_printf(out, "RESERVATION_CONFLICT"); return;
	case SCSI_STATUS_TASK_SET_FULL: sb_printf(out, "TASK_SET_FULL"); return;
	case SCSI_STATUS_ACA_ACTIVE: sb_printf(out, "ACA_ACTIVE"); return;
	case SCSI_STATUS_TASK_ABORTED: sb_printf(out, "TASK_ABORTED"); return;
	case SCSI_STATUS_TIMEOUT: sb_printf(out, "TIMEOUT"); return;
	default:
		break;
	}
	if (r->status == SCSI_STATUS_CANCELLED) {
		/* libiscsi's error text is the previous command's by then. */
		sb_printf(out, "ERROR connection lost: libiscsi cancelled the command");
		return;
	}
	if (r->status == -1 || r->status == SCSI_STATUS_ERROR) {
		char *why = xstrdup(ctx != NULL ? iscsi_get_error(ctx) : "no connection");
		sanitize(why, 0);
		sb_printf(out, "ERROR %s", why[0] != '\0' ? why : "transport failure");
		free(why);
		return;
	}
	sb_printf(out, "STATUS_0x%02x", (unsigned)r->status);
}

static void decode_read_keys(const unsigned char *d, size_t size, struct sb *out)
{
	if (size < 8) {
		sb_printf(out, " malformed=%zu-bytes", size);
		return;
	}
	size_t len = get_be32(d + 4);
	size_t avail = size - 8 < len ? size - 8 : len;
	sb_printf(out, " generation=%" PRIu32 " keys=", get_be32(d));
	if (avail < 8) {
		sb_printf(out, "none");
	}
	for (size_t off = 0; off + 8 <= avail; off += 8) {
		sb_printf(out, "%s0x%" PRIx64, off ? "," : "", get_be64(d + 8 + off));
	}
	if (avail < len || len % 8 != 0) {
		sb_printf(out, " truncated");
	}
}

static void decode_read_reservation(const unsigned char *d, size_t size, struct sb *out)
{
	char type[16];
	if (size < 8) {
		sb_printf(out, " malformed=%zu-bytes", size);
		return;
	}
	size_t len = get_be32(d + 4);
	sb_printf(out, " generation=%" PRIu32 " reservation", get_be32(d));
	if (len == 0) {
		sb_printf(out, " none");
		return;
	}
	if (size < 24 || len < 16) {
		sb_printf(out, " truncated");
		return;
	}
	type_name(d[21] & 0x0f, type, sizeof(type));
	sb_printf(out, " key=0x%" PRIx64 " type=%s", get_be64(d + 8), type);
	if ((d[21] >> 4) != 0) {
		sb_printf(out, " scope=%u", d[21] >> 4);
	}
}

static void decode_capabilities(const unsigned char *d, size_t size, struct sb *out)
{
	static const struct { int byte, bit; const char *name; } types[] = {
		{ 4, 1, "we" }, { 4, 3, "ea" }, { 4, 5, "we-ro" }, { 4, 6, "ea-ro" },
		{ 4, 7, "we-ar" }, { 5, 0, "ea-ar" },
	};
	if (size < 6) {
		sb_printf(out, " malformed=%zu-bytes", size);
		return;
	}
	sb_printf(out, " crh=%d sip_c=%d atp_c=%d ptpl_c=%d tmv=%d allow_commands=%d ptpl_a=%d types=",
		  (d[2] >> 4) & 1, (d[2] >> 3) & 1, (d[2] >> 2) & 1, d[2] & 1, (d[3] >> 7) & 1,
		  (d[3] >> 4) & 7, d[3] & 1);
	int any = 0;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if ((d[types[i].byte] >> types[i].bit) & 1) {
			sb_printf(out, "%s%s", any ? "," : "", types[i].name);
			any = 1;
		}
	}
	if (!any) {
		sb_printf(out, "none");
	}
}

/* A TransportID as one word: the iSCSI name text (with ",i,0xISID" for format 01b), or
 * the protocol and bytes in hex for any other protocol. */
static void format_transport_id(const unsigned char *t, size_t len, struct sb *out)
{
	if (len < 4) {
		sb_printf(out, "tid=malformed");
		return;
	}
	if ((t[0] & 0x0f) != 0x05) {
		sb_printf(out, "tid=proto%u:", t[0] & 0x0f);
		for (size_t i = 0; i < len; i++) {
			sb_printf(out, "%02x", t[i]);
		}
		return;
	}
	size_t text = get_be16(t + 2);
	if (text > len - 4) {
		text = len - 4;
	}
	char *name = xmalloc(text + 1);
	memcpy(name, t + 4, text);
	name[text] = '\0';       /* stops at the first NUL too */
	sanitize(name, 1);
	sb_printf(out, "tid=%s", name[0] != '\0' ? name : "empty");
	free(name);
}

/* READ FULL STATUS (SPC-4 tables 197, 199): the result line counts the descriptors, each
 * becomes a detail line. */
static void decode_full_status(const unsigned char *d, size_t size, struct sb *out, struct sb *details)
{
	char type[16];
	if (size < 8) {
		sb_printf(out, " malformed=%zu-bytes", size);
		return;
	}
	size_t len = get_be32(d + 4);
	size_t end = 8 + (size - 8 < len ? size - 8 : len);
	size_t off = 8;
	int n = 0;
	while (off + 24 <= end) {
		const unsigned char *e = d + off;
		size_t tid_len = get_be32(e + 20);
		if (tid_len > end - off - 24) {
			break;
		}
		if (e[12] & 1) {
			type_name(e[13] & 0x0f, type, sizeof(type));
		} else {
			snprintf(type, sizeof(type), "none");
		}
		sb_printf(details, "key=0x%" PRIx64 " all_tg_pt=%d r_holder=%d type=%s port=%u ",
			  get_be64(e), (e[12] >> 1) & 1, e[12] & 1, type, get_be16(e + 18));
		format_transport_id(e + 24, tid_len, details);
		sb_printf(details, "\n");
		off += 24 + tid_len;
		n++;
	}
	sb_printf(out, " generation=%" PRIu32 " registrants=%d", get_be32(d), n);
	if (off != 8 + len) {
		sb_printf(out, " truncated");
	}
}

/* VPD 83h: the designator of type 4h (relative target port), association 1 (target
 * port); its identifier is in bytes 2-3 of the designator. */
static void decode_target_port(const unsigned char *d, size_t size, struct sb *out)
{
	if (size < 4 || d[1] != 0x83) {
		sb_printf(out, " port=none malformed");
		return;
	}
	size_t end = 4 + get_be16(d + 2);
	if (end > size) {
		end = size;
	}
	for (size_t off = 4; off + 4 <= end;) {
		const unsigned char *des = d + off;
		size_t len = des[3];
		if (off + 4 + len > end) {
			break;
		}
		if ((des[1] & 0x0f) == 4 && ((des[1] >> 4) & 3) == 1 && len >= 4) {
			sb_printf(out, " port=%u", get_be16(des + 6));
			return;
		}
		off += 4 + len;
	}
	sb_printf(out, " port=none");
}

static void decode_read(const unsigned char *d, size_t size, uint32_t bs, struct sb *out)
{
	if (size < bs) {
		sb_printf(out, " short=%zu", size);
		return;
	}
	for (size_t i = 1; i < bs; i++) {
		if (d[i] != d[0]) {
			sb_printf(out, " fill=mixed");
			return;
		}
	}
	sb_printf(out, " fill=0x%02x", d[0]);
}

/* The data words after GOOD for the steps that read something. */
static void decode_good(const struct step *s, const struct reply *r, uint32_t bs, struct sb *out,
			struct sb *details)
{
	switch (s->spec->op) {
	case OP_READ_KEYS: decode_read_keys(r->data, r->size, out); break;
	case OP_READ_RESERVATION: decode_read_reservation(r->data, r->size, out); break;
	case OP_REPORT_CAPABILITIES: decode_capabilities(r->data, r->size, out); break;
	case OP_READ_FULL_STATUS: decode_full_status(r->data, r->size, out, details); break;
	case OP_REPORT_TARGET_PORT: decode_target_port(r->data, r->size, out); break;
	case OP_READ: decode_read(r->data, r->size, bs, out); break;
	case OP_INQUIRY:
		if (r->size >= 1) {
			sb_printf(out, " pdt=0x%02x", r->data[0] & 0x1f);
		}
		break;
	default:
		break;
	}
}

/* ---- expectations ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A value in canonical form: numbers in decimal (also each part of 0x2a/0x05), words in
 * lower case, comma lists sorted, so `keys=0xBB,0xaa` equals `keys=0xaa,0xbb`. */
static char *canonical(const char *value)
{
	char *copy = xstrdup(value);
	size_t n = 1;
	for (const char *p = value; *p; p++) {
		n += *p == ',';
	}
	char **elems = xmalloc(n * sizeof(char *));
	size_t count = 0, total = 1;
	for (char *save, *e = strtok_r(copy, ",", &save); e != NULL; e = strtok_r(NULL, ",", &save)) {
		struct sb part = { 0 };
		int first = 1;
		for (char *s2, *q = strtok_r(e, "/", &s2); q != NULL; q = strtok_r(NULL, "/", &s2)) {
			uint64_t v;
			if (parse_number(q, UINT64_MAX, &v) == 0) {
				sb_printf(&part, "%s%" PRIu64, first ? "" : "/", v);
			} else {
				for (char *c = q; *c; c++) {
					*c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
				}
				sb_printf(&part, "%s%s", first ? "" : "/", q);
			}
			first = 0;
		}
		elems[count] = part.s != NULL ? part.s : xstrdup("");
		total += strlen(elems[count]) + 1;
		count++;
	}
	qsort(elems, count, sizeof(char *), cmp_str);
	char *out = xmalloc(total);
	for (size_t i = 0; i < count; i++) {
		if (i > 0) {
			strcat(out, ",");
		}
		strcat(out, elems[i]);
		free(elems[i]);
	}
	free(elems);
	free(copy);
	return out;
}

static int same_value(const char *a, const char *b)
{
	char *ca = canonical(a), *cb = canonical(b);
	int same = strcmp(ca, cb) == 0;
	free(ca);
	free(cb);
	return same;
}

/* Whether the result's words (after the status) contain `want`. */
static int has_word(char **words, int n, const char *want)
{
	const char *eq = strchr(want, '=');
	for (int i = 0; i < n; i++) {
		if (eq == NULL) {
			if (strcasecmp(words[i], want) == 0 || same_value(words[i], want)) {
				return 1;
			}
			continue;
		}
		size_t name = (size_t)(eq - want);
		if (strncasecmp(words[i], want, name + 1) == 0 && same_value(words[i] + name + 1, eq + 1)) {
			return 1;
		}
	}
	return 0;
}

static int split_words(char *text, char **words, int max)
{
	int n = 0;
	for (char *save, *w = strtok_r(text, " \t", &save); w != NULL && n < max; w = strtok_r(NULL, " \t", &save)) {
		words[n++] = w;
	}
	return n;
}

#define MAX_WORDS 256

static int alternative_holds(char **want, int nwant, char **got, int ngot)
{
	const char *status = ngot > 0 ? got[0] : "";
	int from = 1;
	if (is_status_name(want[0])) {
		if (strcasecmp(want[0], status) != 0) {
			return 0;
		}
	} else if (is_sense_key_name(want[0])) {
		if (strcmp(status, "CHECK_CONDITION") != 0) {
			return 0;
		}
		from = 0;
	} else {
		if (strcmp(status, "GOOD") != 0) {
			return 0;
		}
		from = 0;
	}
	for (int i = from; i < nwant; i++) {
		if (!has_word(got + 1, ngot - 1, want[i])) {
			return 0;
		}
	}
	return 1;
}

static int expectation_holds(const char *expect, const char *result)
{
	char *e = xstrdup(expect), *r = xstrdup(result);
	char *want[MAX_WORDS], *got[MAX_WORDS];
	int nwant = split_words(e, want, MAX_WORDS), ngot = split_words(r, got, MAX_WORDS);
	int holds = 0;
	for (int start = 0; start < nwant && !holds;) {
		int end = start;
		while (end < nwant && strcmp(want[end], "|") != 0) {
			end++;
		}
		if (end > start) {
			holds = alternative_holds(want + start, end - start, got, ngot);
		}
		start = end + 1;
	}
	free(e);
	free(r);
	return holds;
}

/* ---- sessions ---- */

struct session {
	struct iscsi_context *ctx;
	int lun;
	uint32_t bs;
	int logged_in;
	/* Why the session is unusable after a transport failure (its context is abandoned). */
	char *failed;
};

static struct session sessions[MAX_SESSIONS];
static int dry_run;
static int timeout_s = DEFAULT_TIMEOUT_S;

static struct session *session_of(const struct step *s)
{
	return &sessions[s->session - 'A'];
}

/*
 * After a failed sync call libiscsi may still hold a PDU whose callback points into the
 * finished call's stack frame; destroying the context would run it. So the context is
 * abandoned: its socket closed (the target sees the connection go), the memory leaked.
 */
static void abandon(struct session *se, const char *why)
{
	if (se->ctx != NULL) {
		int fd = iscsi_get_fd(se->ctx);
		if (fd >= 0) {
			close(fd);
		}
	}
	free(se->failed);
	se->failed = xstrdup(why);
	sanitize(se->failed, 0);
	se->ctx = NULL;
	se->logged_in = 0;
}

/* Idle sessions must answer the target's NOP-In pings while another session is busy (a
 * long writer, a sleep), or the target drops them as dead. */
static void service_idle(const struct session *busy)
{
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < MAX_SESSIONS; i++) {
			struct session *se = &sessions[i];
			if (se == busy || !se->logged_in || se->ctx == NULL) {
				continue;
			}
			struct pollfd pfd = { .fd = iscsi_get_fd(se->ctx), .events = (short)iscsi_which_events(se->ctx) };
			if (pfd.fd < 0 || poll(&pfd, 1, 0) < 0) {
				continue;
			}
			if (iscsi_service(se->ctx, pfd.revents) < 0) {
				char why[512];
				snprintf(why, sizeof(why), "connection lost while idle: %s", iscsi_get_error(se->ctx));
				iscsi_destroy_context(se->ctx);
				se->ctx = NULL;
				abandon(se, why);
			}
		}
	}
}

static void pause_ms(unsigned ms, const struct session *busy)
{
	double end = now_ms() + ms;
	for (double left = ms; left > 0; left = end - now_ms()) {
		service_idle(busy);
		sleep_ms(left < 50 ? (unsigned)left + 1 : 50);
	}
}

static void set_isid(struct iscsi_context *ctx, const unsigned char *isid)
{
	uint32_t b1 = ((uint32_t)isid[1] << 16) | ((uint32_t)isid[2] << 8) | isid[3];
	uint32_t q16 = ((uint32_t)isid[4] << 8) | isid[5];
	switch (isid[0] >> 6) {
	case 0:
		iscsi_set_isid_oui(ctx, ((uint32_t)isid[0] << 16) | ((uint32_t)isid[1] << 8) | isid[2],
				   ((uint32_t)isid[3] << 16) | q16);
		break;
	case 1:
		iscsi_set_isid_en(ctx, b1, q16);
		break;
	case 2:
		iscsi_set_isid_random(ctx, b1, q16);
		break;
	default:
		iscsi_set_isid_reserved(ctx);
		break;
	}
}

static void do_login(const struct step *s, struct session *se, struct sb *out)
{
	if (se->logged_in) {
		sb_printf(out, "ERROR session %c is already logged in", s->session);
		return;
	}
	struct iscsi_context *ctx = iscsi_create_context(s->iqn);
	if (ctx == NULL) {
		sb_printf(out, "ERROR cannot create an iSCSI context for %s", s->iqn);
		return;
	}
	set_isid(ctx, s->isid);
	struct iscsi_url *url = iscsi_parse_full_url(ctx, s->url);
	if (url == NULL) {
		char *why = xstrdup(iscsi_get_error(ctx));
		sanitize(why, 0);
		sb_printf(out, "ERROR bad URL %s: %s", s->url, why);
		free(why);
		iscsi_destroy_context(ctx);
		return;
	}
	iscsi_set_targetname(ctx, url->target);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
	/* A silent reconnect would hide exactly the nexus changes these tests are about. */
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_timeout(ctx, timeout_s);
	if (url->user[0] != '\0') {
		iscsi_set_initiator_username_pwd(ctx, url->user, url->passwd);
	}
	se->lun = url->lun;
	se->bs = (s->given & A_BS) ? (uint32_t)s->bs : 512;
	const char *portal = url->portal;
	/* Not iscsi_full_connect_sync: it sends TEST UNIT READY until no unit attention is
	 * left, swallowing the very unit attentions a script wants to see. */
	int rc = iscsi_connect_sync(ctx, portal);
	if (rc == 0) {
		rc = iscsi_login_sync(ctx);
	}
	if (rc != 0) {
		char *why = xstrdup(iscsi_get_error(ctx));
		sanitize(why, 0);
		sb_printf(out, "ERROR login to %s failed: %s", portal, why);
		se->ctx = ctx;
		abandon(se, why);
		free(why);
		iscsi_destroy_url(url);
		return;
	}
	iscsi_destroy_url(url);
	se->ctx = ctx;
	se->logged_in = 1;
	free(se->failed);
	se->failed = NULL;
	sb_printf(out, "GOOD isid=0x%02x%02x%02x%02x%02x%02x", s->isid[0], s->isid[1], s->isid[2],
		  s->isid[3], s->isid[4], s->isid[5]);
}

static void do_logout(struct session *se, int drop, struct sb *out)
{
	if (!se->logged_in) {
		sb_printf(out, "ERROR not logged in");
		return;
	}
	if (!drop && iscsi_logout_sync(se->ctx) != 0) {
		char *why = xstrdup(iscsi_get_error(se->ctx));
		sanitize(why, 0);
		sb_printf(out, "ERROR logout failed: %s", why);
		abandon(se, why);
		free(why);
		return;
	}
	/* For a drop this closes the TCP connection with no Logout: the target sees the
	 * connection fail, as on a cable pull. */
	iscsi_destroy_context(se->ctx);
	se->ctx = NULL;
	se->logged_in = 0;
	sb_printf(out, "GOOD");
}

/* Sends `c` on `se`; fills `r` from the finished task (kept in *task for its data). */
static void send_cmd(struct session *se, const struct cmd *c, struct scsi_task **task, struct reply *r)
{
	unsigned char cdb[16];
	memcpy(cdb, c->cdb, sizeof(cdb));
	*task = NULL;
	r->status = -1;
	r->data = NULL;
	r->size = 0;
	struct scsi_task *t = scsi_create_task(c->cdb_len, cdb, c->dir,
					       (int)(c->dir == SCSI_XFER_WRITE ? c->out_len : c->in_len));
	if (t == NULL) {
		return;
	}
	struct iscsi_data data = { .size = c->out_len, .data = c->out };
	*task = iscsi_scsi_command_sync(se->ctx, se->lun, t, c->out_len > 0 ? &data : NULL);
	if (*task == NULL) {
		/* Either it was never queued or the connection failed under it: the task may
		 * still be referenced, so it is not freed (see abandon). */
		return;
	}
	r->status = (*task)->status;
	if ((*task)->datain.data != NULL && (*task)->datain.size > 0) {
		r->data = (*task)->datain.data;
		r->size = (size_t)(*task)->datain.size;
	}
}

/* Runs one SCSI command of step `s` and formats its result into `out`. */
static void run_cmd(const struct step *s, struct session *se, const struct cmd *c, struct sb *out,
		    struct sb *details)
{
	struct scsi_task *task;
	struct reply r;
	send_cmd(se, c, &task, &r);
	format_status(se->ctx, &r, out);
	if (r.status == SCSI_STATUS_GOOD) {
		decode_good(s, &r, se->bs, out, details);
	}
	if (task != NULL) {
		scsi_free_scsi_task(task);
	}
	/* No task, or one libiscsi cancelled: the connection is gone (without auto-reconnect
	 * libiscsi cancels everything and leaves a context that would wait forever). */
	if (task == NULL || r.status == SCSI_STATUS_CANCELLED || r.status == SCSI_STATUS_ERROR) {
		const char *why = sb_str(out);
		abandon(se, strncmp(why, "ERROR ", 6) == 0 ? why + 6 : why);
	}
}

static void emit(const struct step *s, char marker, const char *text)
{
	printf("%d %c %s %c %s\n", s->line, s->session, s->spec->name, marker, text);
	fflush(stdout);
}

static void emit_details(const struct step *s, const struct sb *details)
{
	char *copy = xstrdup(sb_str(details));
	for (char *save, *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		emit(s, '>', l);
	}
	free(copy);
}

static void do_writer(const struct step *s, struct session *se, struct cmd *c, struct sb *out)
{
	uint64_t ok = 0;
	char line[64];
	double next_service = now_ms();
	sb_reset(out);
	for (; ok < s->count; ok++) {
		struct sb details = { 0 };
		if (now_ms() >= next_service) {
			service_idle(se);
			next_service = now_ms() + 500;
		}
		sb_reset(out);
		run_cmd(s, se, c, out, &details);
		free(details.s);
		if (strcmp(sb_str(out), "GOOD") != 0) {
			break;
		}
		snprintf(line, sizeof(line), "write OK %" PRIu64, ok + 1);
		emit(s, '>', line);
	}
	if (ok == s->count) {
		sb_reset(out);
		sb_printf(out, "GOOD");
	}
	sb_printf(out, " writes=%" PRIu64, ok);
}

static void do_clear_ua(const struct step *s, struct session *se, struct cmd *c, struct sb *out,
			struct sb *details)
{
	struct sb cleared = { 0 };
	int n = 0;
	for (;;) {
		sb_reset(out);
		run_cmd(s, se, c, out, details);
		const char *prefix = "CHECK_CONDITION UNIT_ATTENTION";
		if (strncmp(sb_str(out), prefix, strlen(prefix)) != 0 || n == MAX_UAS) {
			break;
		}
		const char *code = sb_str(out) + strlen(prefix);
		code += *code == ' ';
		sb_printf(details, "cleared UNIT_ATTENTION %s\n", code);
		sb_printf(&cleared, "%s%s", n ? "," : "", code[0] ? code : "unknown");
		n++;
	}
	sb_printf(out, " cleared=%s", n ? sb_str(&cleared) : "none");
	free(cleared.s);
}

static void print_hex(struct sb *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sb_printf(out, "%02x", p[i]);
	}
}

/* One attempt at step `s`: its result into `out`, its detail lines into `details`. */
static void attempt(const struct step *s, struct sb *out, struct sb *details)
{
	static unsigned char buf[MAX_PARAM_BYTES > MAX_BLOCK_SIZE ? MAX_PARAM_BYTES : MAX_BLOCK_SIZE];
	struct session *se = s->session == '-' ? NULL : session_of(s);
	struct cmd c;
	uint32_t bs = se != NULL && se->bs != 0 ? se->bs : 512;
	if (s->spec->op == OP_LOGIN && dry_run) {
		se->bs = (s->given & A_BS) ? (uint32_t)s->bs : 512;
	}
	int has_cmd = build_cmd(s, bs, &c, buf);
	if (dry_run) {
		sb_printf(out, "DRY");
		if (has_cmd) {
			sb_printf(out, " cdb=");
			print_hex(out, c.cdb, (size_t)c.cdb_len);
			if (c.out_len > 0) {
				sb_printf(out, " data=");
				print_hex(out, c.out, c.out_len);
			}
		}
		return;
	}
	switch (s->spec->op) {
	case OP_SLEEP:
		pause_ms((unsigned)s->ms, NULL);
		sb_printf(out, "GOOD");
		return;
	case OP_LOGIN:
		do_login(s, se, out);
		return;
	default:
		break;
	}
	if (!se->logged_in) {
		if (se->failed != NULL) {
			sb_printf(out, "ERROR session %c failed earlier: %s", s->session, se->failed);
		} else {
			sb_printf(out, "ERROR session %c is not logged in", s->session);
		}
		return;
	}
	switch (s->spec->op) {
	case OP_LOGOUT:
		do_logout(se, 0, out);
		return;
	case OP_DROP:
		do_logout(se, 1, out);
		return;
	case OP_WRITER:
		do_writer(s, se, &c, out);
		return;
	case OP_CLEAR_UA:
		do_clear_ua(s, se, &c, out, details);
		return;
	default:
		run_cmd(s, se, &c, out, details);
		return;
	}
}

/* Runs step `s` (repeated under within-ms) and checks its expectation; 0 if it holds. */
static int run_step(const struct step *s)
{
	struct sb out = { 0 }, details = { 0 };
	double deadline = now_ms() + (double)s->within_ms;
	int holds = 1;
	struct session *busy = s->session == '-' ? NULL : session_of(s);
	for (int tries = 1;; tries++) {
		sb_reset(&out);
		sb_reset(&details);
		service_idle(busy);
		attempt(s, &out, &details);
		holds = dry_run || s->expect == NULL || expectation_holds(s->expect, sb_str(&out));
		if (holds || !(s->given & A_WITHIN) || now_ms() >= deadline) {
			break;
		}
		char note[64];
		snprintf(note, sizeof(note), "attempt %d: ", tries);
		struct sb line = { 0 };
		sb_printf(&line, "%s%s", note, sb_str(&out));
		emit(s, '>', line.s);
		free(line.s);
		pause_ms(RETRY_PAUSE_MS, busy);
	}
	emit(s, '=', sb_str(&out));
	emit_details(s, &details);
	if (!holds) {
		struct sb line = { 0 };
		sb_printf(&line, "expected %s, got %s", s->expect, sb_str(&out));
		emit(s, '!', line.s);
		fprintf(stderr, "iscsi-pr: line %d (%c %s): %s\n", s->line, s->session, s->spec->name, line.s);
		free(line.s);
	}
	free(out.s);
	free(details.s);
	return holds ? 0 : -1;
}

static void logout_all(void)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *se = &sessions[i];
		if (se->logged_in && se->ctx != NULL) {
			if (iscsi_logout_sync(se->ctx) == 0) {
				iscsi_destroy_context(se->ctx);
			} else {
				fprintf(stderr, "iscsi-pr: logout of session %c failed: %s\n", 'A' + i,
					iscsi_get_error(se->ctx));
			}
			se->ctx = NULL;
			se->logged_in = 0;
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iscsi-pr [--dry-run] [--timeout SECONDS] SCRIPT|-\n"
		"  one step a line: S login URL IQN [isid=0x..] | S register [key=K] sakey=S ...\n"
		"  (the header of tests/initiator/iscsi-pr.c describes the language)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	/* libiscsi writes data-out with writev: a connection the target closed must fail
	 * the step, not kill the tool with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		uint64_t v;
		if (strcmp(argv[i], "--dry-run") == 0) {
			dry_run = 1;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (parse_number(argv[++i], 3600, &v) != 0 || v == 0) {
				usage();
			}
			timeout_s = (int)v;
		} else if (path == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
			path = argv[i];
		} else {
			usage();
		}
	}
	if (path == NULL) {
		usage();
	}
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (in == NULL) {
		fprintf(stderr, "iscsi-pr: cannot read %s: %s\n", path, strerror(errno));
		return 3;
	}
	struct script sc = { 0 };
	if (read_script(in, &sc) != 0) {
		return 2;
	}
	if (in != stdin) {
		fclose(in);
	}
	for (int i = 0; i < sc.n; i++) {
		if (run_step(&sc.steps[i]) != 0) {
			return 1;
		}
	}
	if (!dry_run) {
		logout_all();
	}
	return 0;
}
