/*
 * fuzz_shm_attach.c - libFuzzer target: arbitrary bytes as a shared segment.
 *
 * The first input byte picks a mode:
 *
 *   raw (bit 0 clear)   the rest of the input is the segment, byte for byte,
 *                       and its length is the size passed to attach;
 *   built (bit 0 set)   the input describes a valid segment (kind,
 *                       configuration, a few operations to move its state
 *                       away from the initial one) made with
 *                       *_init_segment, then a list of patches (xor a byte,
 *                       or store a 64-bit value) and a size change, and
 *                       optionally a recomputed header checksum, so that a
 *                       corrupted field can get past the checksum and reach
 *                       the checks behind it.
 *
 * The segment is then attached as each kind, in three placements:
 *
 *   heap    posix_memalign(64, size): exactly size bytes, so ASan reports
 *           any read past the end;
 *   fenced  ending right before a PROT_NONE guard page, at the highest
 *           64-byte aligned address that fits; the few bytes between the
 *           end and the guard are poisoned for ASan, so any read past the
 *           end faults or is reported;
 *   flush   ending exactly at the guard page, aligned or not (when not, the
 *           only correct answer is CIRCUITS_E_ALIGNMENT).
 *
 * Whatever the bytes, attach must return 0 or one of its documented errors
 * (CIRCUITS_E_TOO_SMALL below circuits_segment_size(), CIRCUITS_E_NOT_READY
 * while the magic is still 0, as the header says),
 * leave the handle untouched when it fails, give the same answer in every
 * aligned placement, and accept at most one kind (the other gets
 * CIRCUITS_E_WRONG_KIND).  When it succeeds, a short program of operations
 * (shorts, trips, custom sleeps, resets, blocking and non-blocking) runs on
 * the attached circuit in both aligned placements, with a recording sleeper,
 * a fixed random source and a listener, and every read is taken after every
 * step:
 *
 *   - always: no crash, no hang, outcomes of the right kind, the listener
 *     exactly once per trip with the owed sleep, the sleeper only for a
 *     blocking trip, no owed sleep without a trip, automatic sleeps within
 *     the ceiling, level <= 8191, current_sleep_time = the backoff of the
 *     level, a circuit's count below N, the reads agreeing with the
 *     snapshot, the configuration valid and unchanged, and both placements
 *     behaving identically;
 *   - when the hot line is a state a live circuit can be in (src/state.h:
 *     bit 63 clear, the count field far from overflowing, a closed breaking
 *     circuit's count at or above its offset, seq_floor behind the true
 *     count by less than 2^15), exactly what tests/model.c does from the
 *     state the first snapshot shows.
 *
 * Attach validates the header and the configuration line, not the hot
 * line (the header's contract), so the strict check is limited to states
 * that can really occur.
 */
#include <inttypes.h>
#include <sanitizer/asan_interface.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "model.h"
#include "state.h"

#define MAX_SEGMENT 65536
#define PROGRAM_STEPS 40
#define FIXED_RANDOM UINT64_C(0x9e3779b97f4a7c15)

/* The header layout of src/shm.c (struct segment_header), needed only to
 * recompute the checksum after a patch: FNV-1a over bytes 8 .. 63 (version
 * through jitter_bits), stored at 64. */
#define CHECKSUM_FROM 8
#define CHECKSUM_AT 64

static void
fail(const char *what, long long got, long long want)
{
	fprintf(stderr, "fuzz_shm_attach: %s (got %lld, want %lld)\n", what,
		got, want);
	abort();
}

static void
expect(bool ok, const char *what, long long got, long long want)
{
	if (!ok)
		fail(what, got, want);
}

/* --- placements ----------------------------------------------------------- */

static uint8_t *fence_area; /* MAX_SEGMENT + 64 bytes, then a guard page */
static size_t page_size;

static void
map_fence(void)
{
	size_t body;

	if (fence_area != NULL)
		return;
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	body = (MAX_SEGMENT + 64 + page_size - 1) / page_size * page_size;
	fence_area = mmap(NULL, body + page_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fence_area == MAP_FAILED ||
	    mprotect(fence_area + body, page_size, PROT_NONE) != 0)
		abort();
	fence_area += body; /* now the guard page */
}

/* A copy of bytes ending before the guard page; aligned when asked. */
static uint8_t *
place_fenced(const uint8_t *bytes, size_t size, bool aligned)
{
	uint8_t *start = fence_area - size;

	if (aligned)
		start = (uint8_t *)((uintptr_t)start & ~(uintptr_t)63);
	ASAN_UNPOISON_MEMORY_REGION(fence_area - MAX_SEGMENT - 64,
				    MAX_SEGMENT + 64);
	memcpy(start, bytes, size);
	ASAN_POISON_MEMORY_REGION(start + size,
				  (size_t)(fence_area - (start + size)));
	return start;
}

/* --- hooks ---------------------------------------------------------------- */

struct recorder {
	unsigned sleeps;
	uint64_t slept_ns;
	unsigned draws;
	unsigned trips_heard;
	circuits_trip_event_t event;
};

static void
record_sleep(uint64_t ns, void *arg)
{
	struct recorder *rec = arg;

	rec->sleeps++;
	rec->slept_ns = ns;
}

static uint64_t
record_random(void *arg)
{
	((struct recorder *)arg)->draws++;
	return FIXED_RANDOM;
}

static void
record_trip(const circuits_trip_event_t *event, void *arg)
{
	struct recorder *rec = arg;

	rec->trips_heard++;
	rec->event = *event;
}

/* --- one attached circuit, either kind ------------------------------------ */

struct attached {
	enum model_kind kind;
	circuits_circuit_t circuit;
	circuits_breaking_t breaker;
	struct recorder rec;
};

static int
attach(struct attached *a, enum model_kind kind, uint8_t *segment, size_t size)
{
	static circuits_circuit_t circuit_before;
	static circuits_breaking_t breaker_before;
	int rc;

	a->kind = kind;
	memset(&a->rec, 0, sizeof a->rec);
	if (kind == MODEL_CIRCUIT) {
		memset(&a->circuit, 0x5a, sizeof a->circuit);
		circuit_before = a->circuit;
		rc = circuits_circuit_attach_segment(&a->circuit, segment,
						     size);
		if (rc != 0) {
			expect(memcmp(&a->circuit, &circuit_before,
				      sizeof a->circuit) == 0,
			       "failed attach changed the handle", rc, 0);
			return rc;
		}
		circuits_circuit_set_sleeper(&a->circuit, record_sleep,
					     &a->rec);
		circuits_circuit_set_random(&a->circuit, record_random,
					    &a->rec);
		circuits_circuit_set_listener(&a->circuit, record_trip,
					      &a->rec);
	} else {
		memset(&a->breaker, 0xa5, sizeof a->breaker);
		breaker_before = a->breaker;
		rc = circuits_breaking_attach_segment(&a->breaker, segment,
						      size);
		if (rc != 0) {
			expect(memcmp(&a->breaker, &breaker_before,
				      sizeof a->breaker) == 0,
			       "failed attach changed the handle", rc, 0);
			return rc;
		}
		circuits_breaking_set_sleeper(&a->breaker, record_sleep,
					      &a->rec);
		circuits_breaking_set_random(&a->breaker, record_random,
					     &a->rec);
		circuits_breaking_set_listener(&a->breaker, record_trip,
					       &a->rec);
	}
	return 0;
}

static bool
known_attach_error(int rc)
{
	switch (rc) {
	case CIRCUITS_E_TOO_SMALL:
	case CIRCUITS_E_BAD_MAGIC:
	case CIRCUITS_E_BAD_VERSION:
	case CIRCUITS_E_BAD_CHECKSUM:
	case CIRCUITS_E_BAD_CONFIG:
	case CIRCUITS_E_NOT_READY:
	case CIRCUITS_E_WRONG_KIND:
	case CIRCUITS_E_ALIGNMENT:
	case CIRCUITS_E_BAD_STATE:
		return true;
	default:
		return false;
	}
}

static void
read_all(struct attached *a, circuits_snapshot_t *snap,
	 circuits_config_t *config)
{
	uint64_t times_shorted, total_trips, sleep_time;
	bool broken = false;

	if (a->kind == MODEL_CIRCUIT) {
		circuits_circuit_snapshot(&a->circuit, snap);
		times_shorted = circuits_circuit_times_shorted(&a->circuit);
		total_trips = circuits_circuit_total_trips(&a->circuit);
		sleep_time = circuits_circuit_current_sleep_time(&a->circuit);
		circuits_circuit_config(&a->circuit, config);
	} else {
		circuits_breaking_snapshot(&a->breaker, snap);
		times_shorted = circuits_breaking_times_shorted(&a->breaker);
		total_trips = circuits_breaking_total_trips(&a->breaker);
		sleep_time = circuits_breaking_current_sleep_time(&a->breaker);
		broken = circuits_breaking_broken(&a->breaker);
		circuits_breaking_config(&a->breaker, config);
	}
	/* Single-threaded, so every read sees the same state. */
	expect(times_shorted == snap->times_shorted,
	       "times_shorted disagrees with the snapshot",
	       (long long)times_shorted, (long long)snap->times_shorted);
	expect(total_trips == snap->total_trips,
	       "total_trips disagrees with the snapshot",
	       (long long)total_trips, (long long)snap->total_trips);
	expect(sleep_time == snap->current_sleep_time,
	       "current_sleep_time disagrees with the snapshot",
	       (long long)sleep_time, (long long)snap->current_sleep_time);
	if (a->kind == MODEL_BREAKING)
		expect(broken == snap->broken,
		       "broken() disagrees with the snapshot", broken,
		       snap->broken);
}

/* --- the state a live circuit can be in ----------------------------------- */

static bool
reachable(const struct circuits_state *state, enum model_kind kind)
{
	/* Far more headroom than the program's operations use. */
	const uint64_t margin = UINT64_C(1) << 20;
	uint64_t word = state->word, count = circuits__word_count(word);
	struct circuits__view view;

	if ((word >> 63) != 0 || count > CIRCUITS__COUNT_MASK - margin)
		return false;
	if (kind == MODEL_CIRCUIT) {
		circuits__circuit_view(state, word, &view);
	} else {
		circuits__breaking_view(state, word, &view);
		if (!view.broken && count < state->reset_count)
			return false;
	}
	return ((view.seq - state->seq_floor) & CIRCUITS__SEQ_MASK) <
	       CIRCUITS__SEQ_SPAN / 2;
}

/* --- the program ---------------------------------------------------------- */

enum step_kind {
	STEP_SHORT_NB,
	STEP_SHORT,
	STEP_SHORT_CUSTOM_NB,
	STEP_TRIP_NB,
	STEP_TRIP,
	STEP_TRIP_CUSTOM,
	STEP_RESET,
	STEP_RESET_BACKOFF,
	STEP_KINDS
};

/* What one step returned, to compare the two placements. */
struct trace {
	int outcome[PROGRAM_STEPS];
	uint64_t owed[PROGRAM_STEPS];
	circuits_snapshot_t snap[PROGRAM_STEPS];
};

static uint64_t
custom_sleep(uint64_t seed, int i)
{
	static const uint64_t values[] = {0, 1, UINT64_C(1000000000),
					  UINT64_MAX};

	return values[(seed >> (2 * i)) & 3];
}

static int
run_step(struct attached *a, enum step_kind kind, uint64_t custom,
	 uint64_t *owed)
{
	circuits_circuit_t *c = &a->circuit;
	circuits_breaking_t *b = &a->breaker;
	bool circuit = a->kind == MODEL_CIRCUIT;

	*owed = 0;
	switch (kind) {
	case STEP_SHORT_NB:
		return circuit ? circuits_circuit_short_nb(c, owed)
			       : circuits_breaking_short_nb(b, owed);
	case STEP_SHORT:
		return circuit ? circuits_circuit_short(c)
			       : circuits_breaking_short(b);
	case STEP_SHORT_CUSTOM_NB:
		return circuit ? circuits_circuit_short_custom_nb(c, custom,
								  owed)
			       : circuits_breaking_short_custom_nb(b, custom,
								   owed);
	case STEP_TRIP_NB:
		return circuit ? circuits_circuit_trip_nb(c, owed)
			       : circuits_breaking_trip_nb(b, owed);
	case STEP_TRIP:
		return circuit ? circuits_circuit_trip(c)
			       : circuits_breaking_trip(b);
	case STEP_TRIP_CUSTOM:
		return circuit ? circuits_circuit_trip_custom(c, custom)
			       : circuits_breaking_trip_custom(b, custom);
	case STEP_RESET:
		return circuit ? 0 : circuits_breaking_reset(b);
	case STEP_RESET_BACKOFF:
		if (circuit)
			circuits_circuit_reset_backoff(c);
		else
			circuits_breaking_reset_backoff(b);
		return 0;
	default:
		abort();
	}
}

static bool
step_is_blocking(enum step_kind kind)
{
	return kind == STEP_SHORT || kind == STEP_TRIP ||
	       kind == STEP_TRIP_CUSTOM;
}

static bool
step_is_custom(enum step_kind kind)
{
	return kind == STEP_SHORT_CUSTOM_NB || kind == STEP_TRIP_CUSTOM;
}

/* The model's answer to a step. */
static int
model_step(struct model *m, enum step_kind kind, uint64_t custom,
	   uint64_t *owed)
{
	bool is_custom = step_is_custom(kind);
	uint64_t planned = 0;
	int outcome = 0;

	switch (kind) {
	case STEP_SHORT_NB:
	case STEP_SHORT:
	case STEP_SHORT_CUSTOM_NB:
		outcome = model_short(m, is_custom, custom, &planned);
		break;
	case STEP_TRIP_NB:
	case STEP_TRIP:
	case STEP_TRIP_CUSTOM:
		outcome = model_trip(m, is_custom, custom, &planned);
		break;
	case STEP_RESET:
		if (m->kind == MODEL_BREAKING)
			outcome = model_reset(m);
		break;
	default:
		model_reset_backoff(m);
		break;
	}
	*owed = outcome == CIRCUITS_TRIPPED
			? model_owed(m, planned, is_custom, FIXED_RANDOM)
			: 0;
	return outcome;
}

/* Field by field: the struct has padding. */
static bool
same_config(const circuits_config_t *x, const circuits_config_t *y)
{
	return x->num_shorts_to_trip == y->num_shorts_to_trip &&
	       x->sleep_time_after_trip == y->sleep_time_after_trip &&
	       x->max_sleep_time == y->max_sleep_time &&
	       memcmp(&x->backoff_factor, &y->backoff_factor, sizeof(double)) ==
		       0 &&
	       memcmp(&x->jitter, &y->jitter, sizeof(double)) == 0;
}

/* Runs the program on a freshly attached circuit; checks the invariants
 * after every step and, from a reachable state, the model's answers. */
static void
run_program(struct attached *a, uint64_t seed, bool strict, struct trace *trace)
{
	circuits_snapshot_t snap, want;
	circuits_config_t config, first_config;
	struct model m;

	read_all(a, &snap, &first_config);
	expect(circuits_config_validate(&first_config) == CIRCUITS_OK,
	       "attached circuit has an invalid configuration", 0, 0);
	model_init(&m, a->kind, &first_config);
	m.times_shorted = snap.times_shorted;
	m.total_trips = snap.total_trips;
	m.level = snap.backoff_level;
	m.broken = snap.broken;

	for (int i = 0; i < PROGRAM_STEPS; i++) {
		/* Shorts twice as likely: small thresholds then trip. */
		enum step_kind kind =
			(enum step_kind)((seed >> (i % 61)) % (STEP_KINDS + 2));
		uint64_t custom = custom_sleep(seed, i % 32), owed, want_owed;
		int outcome, want_outcome;

		if (kind >= STEP_KINDS)
			kind = STEP_SHORT_NB;
		a->rec.sleeps = a->rec.draws = a->rec.trips_heard = 0;
		a->rec.slept_ns = 0;
		outcome = run_step(a, kind, custom, &owed);
		if (step_is_blocking(kind))
			owed = a->rec.slept_ns;
		want_outcome = model_step(&m, kind, custom, &want_owed);

		/* Invariants that hold whatever the hot line held. */
		if (kind <= STEP_TRIP_CUSTOM) {
			expect(outcome == CIRCUITS_COUNTED ||
				       outcome == CIRCUITS_TRIPPED ||
				       (a->kind == MODEL_BREAKING &&
					outcome == CIRCUITS_ALREADY_BROKEN),
			       "bad outcome", outcome, 0);
			expect(a->rec.trips_heard ==
				       (outcome == CIRCUITS_TRIPPED),
			       "listener calls", a->rec.trips_heard,
			       outcome == CIRCUITS_TRIPPED);
			expect(a->rec.sleeps <= (step_is_blocking(kind) &&
						 outcome == CIRCUITS_TRIPPED),
			       "sleeper calls", a->rec.sleeps, 0);
			if (outcome != CIRCUITS_TRIPPED)
				expect(owed == 0, "owed without a trip",
				       (long long)owed, 0);
			else
				expect(a->rec.event.sleep == owed,
				       "listener's sleep differs from owed",
				       (long long)a->rec.event.sleep,
				       (long long)owed);
			if (!step_is_custom(kind))
				expect(owed <= m.ceiling,
				       "automatic sleep above the ceiling",
				       (long long)owed, (long long)m.ceiling);
		}
		read_all(a, &snap, &config);
		expect(same_config(&config, &first_config),
		       "configuration changed", 0, 0);
		expect(snap.backoff_level <= CIRCUITS_MAX_BACKOFF_LEVEL,
		       "level above the maximum", snap.backoff_level,
		       CIRCUITS_MAX_BACKOFF_LEVEL);
		expect(snap.current_sleep_time ==
			       model_sleep_for_level(&m, snap.backoff_level),
		       "current_sleep_time is not the level's backoff",
		       (long long)snap.current_sleep_time,
		       (long long)model_sleep_for_level(&m,
							snap.backoff_level));
		if (a->kind == MODEL_CIRCUIT) {
			expect(snap.times_shorted < config.num_shorts_to_trip,
			       "count at or above N",
			       (long long)snap.times_shorted,
			       config.num_shorts_to_trip);
			expect(!snap.broken, "a circuit reads broken", 1, 0);
		}
		trace->outcome[i] = outcome;
		trace->owed[i] = owed;
		trace->snap[i] = snap;

		if (!strict)
			continue;
		expect(outcome == want_outcome, "outcome differs from model",
		       outcome, want_outcome);
		expect(owed == want_owed, "owed sleep differs from model",
		       (long long)owed, (long long)want_owed);
		model_snapshot(&m, &want);
		expect(snap.times_shorted == want.times_shorted,
		       "times_shorted differs from model",
		       (long long)snap.times_shorted,
		       (long long)want.times_shorted);
		expect(snap.total_trips == want.total_trips,
		       "total_trips differs from model",
		       (long long)snap.total_trips,
		       (long long)want.total_trips);
		expect(snap.backoff_level == want.backoff_level,
		       "level differs from model", snap.backoff_level,
		       want.backoff_level);
		expect(snap.broken == want.broken, "broken differs from model",
		       snap.broken, want.broken);
	}
}

static bool
same_trace(const struct trace *x, const struct trace *y)
{
	for (int i = 0; i < PROGRAM_STEPS; i++) {
		if (x->outcome[i] != y->outcome[i] ||
		    x->owed[i] != y->owed[i] ||
		    x->snap[i].times_shorted != y->snap[i].times_shorted ||
		    x->snap[i].total_trips != y->snap[i].total_trips ||
		    x->snap[i].backoff_level != y->snap[i].backoff_level ||
		    x->snap[i].broken != y->snap[i].broken)
			return false;
	}
	return true;
}

/* --- attaching a segment every way ---------------------------------------- */

static uint64_t
hash_bytes(const uint8_t *bytes, size_t size)
{
	uint64_t hash = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < size; i++)
		hash = (hash ^ bytes[i]) * UINT64_C(0x100000001b3);
	return hash;
}

static void
check_segment(const uint8_t *bytes, size_t size)
{
	static struct attached heap_handle, fenced_handle, flush_handle;
	static struct trace heap_trace, fenced_trace;
	enum model_kind kinds[2] = {MODEL_CIRCUIT, MODEL_BREAKING};
	size_t header = circuits_segment_size() - sizeof(struct circuits_state);
	uint64_t seed = hash_bytes(bytes, size);
	int rc[2];

	for (int k = 0; k < 2; k++) {
		uint8_t *heap = NULL, *fenced, *flush;
		int rc_fenced, rc_flush;
		bool strict;

		/* Exactly size bytes (1 for 0, which must not be NULL). */
		if (posix_memalign((void **)&heap, 64, size ? size : 1) != 0)
			abort();
		if (size > 0)
			memcpy(heap, bytes, size);
		rc[k] = attach(&heap_handle, kinds[k], heap, size);
		expect(rc[k] == 0 || known_attach_error(rc[k]),
		       "attach returned an unknown code", rc[k], 0);
		/* What the header promises outright. */
		if (size < circuits_segment_size())
			expect(rc[k] == CIRCUITS_E_TOO_SMALL,
			       "short segment not TOO_SMALL", rc[k],
			       CIRCUITS_E_TOO_SMALL);
		else if (memcmp(heap, "\0\0\0\0\0\0\0\0", 8) == 0)
			expect(rc[k] == CIRCUITS_E_NOT_READY,
			       "unpublished segment not NOT_READY", rc[k],
			       CIRCUITS_E_NOT_READY);
		fenced = place_fenced(bytes, size, true);
		rc_fenced = attach(&fenced_handle, kinds[k], fenced, size);
		expect(rc_fenced == rc[k],
		       "placements disagree (heap vs fenced)", rc_fenced,
		       rc[k]);
		if (rc[k] == 0) {
			/* Decide before any operation changes the state. */
			strict = reachable(
				(const struct circuits_state *)(heap + header),
				kinds[k]);
			run_program(&heap_handle, seed, strict, &heap_trace);
			run_program(&fenced_handle, seed, strict,
				    &fenced_trace);
			expect(same_trace(&heap_trace, &fenced_trace),
			       "placements behave differently", 0, 0);
		}
		flush = place_fenced(bytes, size, false);
		rc_flush = attach(&flush_handle, kinds[k], flush, size);
		expect(rc_flush == ((uintptr_t)flush % 64 != 0
					    ? CIRCUITS_E_ALIGNMENT
					    : rc[k]),
		       "unaligned placement", rc_flush, CIRCUITS_E_ALIGNMENT);
		free(heap);
	}
	expect(!(rc[0] == 0 && rc[1] == 0), "attached as both kinds", 0, 1);
	if (rc[0] == 0)
		expect(rc[1] == CIRCUITS_E_WRONG_KIND,
		       "other kind not refused as WRONG_KIND", rc[1],
		       CIRCUITS_E_WRONG_KIND);
	if (rc[1] == 0)
		expect(rc[0] == CIRCUITS_E_WRONG_KIND,
		       "other kind not refused as WRONG_KIND", rc[0],
		       CIRCUITS_E_WRONG_KIND);
}

/* --- built segments ------------------------------------------------------- */

static void
fix_checksum(uint8_t *segment, size_t size)
{
	uint64_t hash;

	if (size < CHECKSUM_AT + 8)
		return;
	hash = hash_bytes(segment + CHECKSUM_FROM, CHECKSUM_AT - CHECKSUM_FROM);
	memcpy(segment + CHECKSUM_AT, &hash, sizeof hash);
}

static void
ignore_sleep(uint64_t ns, void *arg)
{
	(void)ns;
	(void)arg;
}

/* Builds a valid segment from the input, moves its state, then patches
 * it.  Returns the size to attach with. */
static size_t
build_segment(struct fuzz_input *in, uint8_t *segment)
{
	static circuits_circuit_t circuit;
	static circuits_breaking_t breaker;
	size_t full = circuits_segment_size(), size;
	uint8_t flags = fuzz_u8(in);
	circuits_config_t config;
	unsigned shorts, trips;
	int delta;

	circuits_config_init(&config, fuzz_threshold_pick(in));
	config.sleep_time_after_trip = fuzz_u64_pick(in);
	config.max_sleep_time = fuzz_u64_pick(in);
	config.backoff_factor = fuzz_factor_pick(in);
	config.jitter = fuzz_jitter_pick(in);
	shorts = fuzz_u8(in);
	trips = fuzz_u8(in) % 16;
	delta = (int8_t)fuzz_u8(in);
	memset(segment, 0, full + INT8_MAX); /* the largest size below */

	if (flags & 1) {
		if (circuits_breaking_init_segment(&breaker, segment, full,
						   &config) != 0)
			abort();
		circuits_breaking_set_sleeper(&breaker, ignore_sleep, NULL);
		for (unsigned i = 0; i < shorts; i++)
			circuits_breaking_short(&breaker);
		for (unsigned i = 0; i < trips; i++) {
			circuits_breaking_trip(&breaker);
			if (flags & 4)
				circuits_breaking_reset(&breaker);
		}
	} else {
		if (circuits_circuit_init_segment(&circuit, segment, full,
						  &config) != 0)
			abort();
		circuits_circuit_set_sleeper(&circuit, ignore_sleep, NULL);
		for (unsigned i = 0; i < shorts; i++)
			circuits_circuit_short(&circuit);
		for (unsigned i = 0; i < trips; i++)
			circuits_circuit_trip(&circuit);
	}

	size = delta < 0 && (size_t)-delta > full ? 0 : full + (size_t)delta;
	/* Patches: (type, offset, value) until the input ends. */
	while (fuzz_left(in) > 0) {
		uint8_t type = fuzz_u8(in);
		size_t offset = fuzz_u16(in) % full;

		if (type & 1) {
			uint64_t value = fuzz_u64_pick(in);

			offset &= ~(size_t)7;
			memcpy(segment + offset, &value, sizeof value);
		} else {
			segment[offset] ^= fuzz_u8(in);
		}
	}
	if (flags & 2)
		fix_checksum(segment, full);
	return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t built[MAX_SEGMENT];
	struct fuzz_input in;

	map_fence();
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		size_t length = size - 1;

		check_segment(data + 1,
			      length > MAX_SEGMENT ? MAX_SEGMENT : length);
		return 0;
	}
	fuzz_input_init(&in, data + 1, size - 1);
	check_segment(built, build_segment(&in, built));
	return 0;
}
