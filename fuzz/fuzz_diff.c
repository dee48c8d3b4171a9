/*
 * fuzz_diff.c - libFuzzer target: the library against the sequential model.
 *
 * One input is a configuration and a program:
 *
 *   config   threshold, base, max, factor, jitter (each from fuzz_input.h's
 *            pickers, so 1, 2^32-1, 0, UINT64_MAX, DBL_MAX, subnormal
 *            jitters ... come up often), then the random source's mode and
 *            seed, then flags.
 *   program  opcodes with their arguments, until the input ends.
 *
 * The program runs, step by step, on a Circuit and a BreakingCircuit made
 * from that configuration, and on one tests/model.c model of each.  The
 * library's hooks are replaced by recorders: a sleeper that records what it
 * is asked to sleep, a random source that hands out a fixed sequence and
 * records each draw, and a trip listener that records each event.  After
 * every step the target compares, and aborts on the first difference:
 *
 *   - the returned outcome (COUNTED / TRIPPED / ALREADY_BROKEN, or reset's
 *     bool);
 *   - the owed sleep: the model's planned sleep, jittered by model_owed()
 *     with the very random bits the library drew (a non-blocking call's
 *     *owed_ns, or what a blocking call handed to the sleeper);
 *   - that a random draw happened exactly when the contract needs one (a
 *     trip whose sleep is non-zero, with jitter), that the sleeper ran only
 *     for a blocking call that tripped, and that the listener ran exactly
 *     once per trip, with the owed and planned sleep, the custom flag and the
 *     model's state right after the trip;
 *   - every read: times_shorted, total_trips, current_sleep_time, broken,
 *     the configuration, and the full snapshot.
 *
 * The jitter arithmetic itself is the library's on both sides (the model
 * calls circuits__jitter()); fuzz_arith.c checks it against exact values.
 * Here the question is when it is applied, to what, and with which cap.
 *
 * Two side programs are checked too: circuits_config_validate() on a
 * configuration with one field broken (its own error code, the handle left
 * untouched), and circuits_ns_from_seconds() against exact binary128
 * arithmetic (seconds * 1e9 has at most 83 significant bits, so binary128
 * holds it exactly).
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "model.h"

/* Work per input is bounded so that one input never takes long. */
#define MAX_STEPS 16000
#define MAX_BURST 8192

enum opcode {
	OP_SHORT, /* blocking, fake sleeper */
	OP_SHORT_CUSTOM,
	OP_SHORT_NB,
	OP_SHORT_CUSTOM_NB,
	OP_SHORT_NB_NULL, /* owed_ns == NULL */
	OP_TRIP,
	OP_TRIP_CUSTOM,
	OP_TRIP_NB,
	OP_TRIP_CUSTOM_NB,
	OP_TRIP_NB_NULL,
	OP_RESET, /* breaking only; the circuit has none */
	OP_RESET_BACKOFF,
	OP_SHORT_BURST, /* count, then that many OP_SHORT_NB */
	OP_TRIP_BURST,  /* count, then that many OP_TRIP_NB */
	OP_TOGGLE_LISTENER,
	OP_NS_FROM_SECONDS, /* side program, no circuit */
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"short",          "short_custom",  "short_nb",        "short_custom_nb",
	"short_nb(NULL)", "trip",          "trip_custom",     "trip_nb",
	"trip_custom_nb", "trip_nb(NULL)", "reset",           "reset_backoff",
	"short burst",    "trip burst",    "toggle listener", "ns_from_seconds",
};

/* What the hooks saw during one operation. */
struct recorder {
	unsigned sleeps;
	uint64_t slept_ns;
	unsigned draws;
	uint64_t drawn;
	unsigned trips_heard;
	circuits_trip_event_t event;
	/* The fixed random source. */
	uint8_t random_mode; /* 0 sequence, 1 all zero, 2 all ones */
	uint64_t random_state;
};

/* One circuit kind: the library's handle and its model. */
struct side {
	enum model_kind kind;
	circuits_circuit_t circuit;
	circuits_breaking_t breaker;
	struct model model;
	bool listening;
};

/* What the failure message needs. */
static struct {
	const circuits_config_t *config;
	long step;
	const char *op;
	const char *side;
} where;

static void
mismatch(const char *what, uint64_t got, uint64_t want)
{
	const circuits_config_t *c = where.config;

	fprintf(stderr,
		"fuzz_diff: %s differs (library %" PRIu64 ", model %" PRIu64
		")\n  at step %ld: %s on the %s\n  config: N=%" PRIu32
		" base=%" PRIu64 " max=%" PRIu64 " factor=%.17g jitter=%.17g\n",
		what, got, want, where.step, where.op, where.side,
		c->num_shorts_to_trip, c->sleep_time_after_trip,
		c->max_sleep_time, c->backoff_factor, c->jitter);
	abort();
}

static void
expect_eq(const char *what, uint64_t got, uint64_t want)
{
	if (got != want)
		mismatch(what, got, want);
}

/* --- hooks ---------------------------------------------------------------- */

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
	struct recorder *rec = arg;
	uint64_t z;

	rec->draws++;
	switch (rec->random_mode) {
	case 1:
		z = 0;
		break;
	case 2:
		z = UINT64_MAX;
		break;
	default: /* splitmix64 */
		z = rec->random_state += UINT64_C(0x9e3779b97f4a7c15);
		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		z ^= z >> 31;
		break;
	}
	rec->drawn = z;
	return z;
}

static void
record_trip(const circuits_trip_event_t *event, void *arg)
{
	struct recorder *rec = arg;

	rec->trips_heard++;
	rec->event = *event;
}

static void
set_listener(struct side *side, struct recorder *rec, bool on)
{
	circuits_trip_fn fn = on ? record_trip : NULL;

	side->listening = on;
	if (side->kind == MODEL_CIRCUIT)
		circuits_circuit_set_listener(&side->circuit, fn, rec);
	else
		circuits_breaking_set_listener(&side->breaker, fn, rec);
}

/* --- comparing state ------------------------------------------------------ */

/* what.field, formatted only when it differs (this runs every step). */
static void
expect_field(const char *what, const char *field, uint64_t got, uint64_t want)
{
	char name[96];

	if (got == want)
		return;
	snprintf(name, sizeof name, "%s.%s", what, field);
	mismatch(name, got, want);
}

static void
expect_snapshot(const char *what, const circuits_snapshot_t *got,
		const circuits_snapshot_t *want)
{
	expect_field(what, "times_shorted", got->times_shorted,
		     want->times_shorted);
	expect_field(what, "total_trips", got->total_trips, want->total_trips);
	expect_field(what, "current_sleep_time", got->current_sleep_time,
		     want->current_sleep_time);
	expect_field(what, "backoff_level", got->backoff_level,
		     want->backoff_level);
	expect_field(what, "broken", got->broken, want->broken);
}

static void
expect_config(const circuits_config_t *got, const circuits_config_t *want)
{
	expect_eq("config.num_shorts_to_trip", got->num_shorts_to_trip,
		  want->num_shorts_to_trip);
	expect_eq("config.sleep_time_after_trip", got->sleep_time_after_trip,
		  want->sleep_time_after_trip);
	expect_eq("config.max_sleep_time", got->max_sleep_time,
		  want->max_sleep_time);
	if (memcmp(&got->backoff_factor, &want->backoff_factor,
		   sizeof(double)) != 0 ||
	    memcmp(&got->jitter, &want->jitter, sizeof(double)) != 0)
		mismatch("config factor/jitter bits", 0, 1);
}

/* Every read the API has, against the model. */
static void
compare_state(struct side *side)
{
	circuits_snapshot_t got, want;
	circuits_config_t config;

	model_snapshot(&side->model, &want);
	if (side->kind == MODEL_CIRCUIT) {
		circuits_circuit_t *c = &side->circuit;

		expect_eq("times_shorted", circuits_circuit_times_shorted(c),
			  want.times_shorted);
		expect_eq("total_trips", circuits_circuit_total_trips(c),
			  want.total_trips);
		expect_eq("current_sleep_time",
			  circuits_circuit_current_sleep_time(c),
			  want.current_sleep_time);
		circuits_circuit_snapshot(c, &got);
		circuits_circuit_config(c, &config);
	} else {
		circuits_breaking_t *b = &side->breaker;

		expect_eq("times_shorted", circuits_breaking_times_shorted(b),
			  want.times_shorted);
		expect_eq("total_trips", circuits_breaking_total_trips(b),
			  want.total_trips);
		expect_eq("current_sleep_time",
			  circuits_breaking_current_sleep_time(b),
			  want.current_sleep_time);
		expect_eq("broken", circuits_breaking_broken(b), want.broken);
		circuits_breaking_snapshot(b, &got);
		circuits_breaking_config(b, &config);
	}
	expect_snapshot("snapshot", &got, &want);
	expect_config(&config, &side->model.config);
}

/* --- running one operation ------------------------------------------------ */

/* The library's call for a short or trip opcode. */
static int
library_call(struct side *side, enum opcode op, uint64_t custom_ns,
	     uint64_t *owed)
{
	circuits_circuit_t *c = &side->circuit;
	circuits_breaking_t *b = &side->breaker;
	bool circuit = side->kind == MODEL_CIRCUIT;

	switch (op) {
	case OP_SHORT:
		return circuit ? circuits_circuit_short(c)
			       : circuits_breaking_short(b);
	case OP_SHORT_CUSTOM:
		return circuit ? circuits_circuit_short_custom(c, custom_ns)
			       : circuits_breaking_short_custom(b, custom_ns);
	case OP_SHORT_NB:
		return circuit ? circuits_circuit_short_nb(c, owed)
			       : circuits_breaking_short_nb(b, owed);
	case OP_SHORT_CUSTOM_NB:
		return circuit ? circuits_circuit_short_custom_nb(c, custom_ns,
								  owed)
			       : circuits_breaking_short_custom_nb(b, custom_ns,
								   owed);
	case OP_SHORT_NB_NULL:
		return circuit ? circuits_circuit_short_nb(c, NULL)
			       : circuits_breaking_short_nb(b, NULL);
	case OP_TRIP:
		return circuit ? circuits_circuit_trip(c)
			       : circuits_breaking_trip(b);
	case OP_TRIP_CUSTOM:
		return circuit ? circuits_circuit_trip_custom(c, custom_ns)
			       : circuits_breaking_trip_custom(b, custom_ns);
	case OP_TRIP_NB:
		return circuit ? circuits_circuit_trip_nb(c, owed)
			       : circuits_breaking_trip_nb(b, owed);
	case OP_TRIP_CUSTOM_NB:
		return circuit ? circuits_circuit_trip_custom_nb(c, custom_ns,
								 owed)
			       : circuits_breaking_trip_custom_nb(b, custom_ns,
								  owed);
	case OP_TRIP_NB_NULL:
		return circuit ? circuits_circuit_trip_nb(c, NULL)
			       : circuits_breaking_trip_nb(b, NULL);
	default:
		abort();
	}
}

static bool
is_custom(enum opcode op)
{
	return op == OP_SHORT_CUSTOM || op == OP_SHORT_CUSTOM_NB ||
	       op == OP_TRIP_CUSTOM || op == OP_TRIP_CUSTOM_NB;
}

static bool
is_blocking(enum opcode op)
{
	return op == OP_SHORT || op == OP_SHORT_CUSTOM || op == OP_TRIP ||
	       op == OP_TRIP_CUSTOM;
}

static bool
is_trip(enum opcode op)
{
	return op >= OP_TRIP && op <= OP_TRIP_NB_NULL;
}

/* A short or trip on the library and the model; compares everything the
 * call returned and everything its hooks saw. */
static void
short_or_trip(struct side *side, struct recorder *rec, enum opcode op,
	      uint64_t custom_ns)
{
	bool custom = is_custom(op);
	uint64_t sentinel = UINT64_C(0xdeadbeefdeadbeef);
	uint64_t owed = sentinel, planned, want_owed = 0;
	unsigned want_draws = 0;
	int got, want;
	circuits_snapshot_t after;

	rec->sleeps = rec->draws = rec->trips_heard = 0;
	got = library_call(side, op, custom_ns, &owed);
	want = is_trip(op)
		       ? model_trip(&side->model, custom, custom_ns, &planned)
		       : model_short(&side->model, custom, custom_ns, &planned);
	expect_eq("outcome", (uint64_t)got, (uint64_t)want);

	if (want == CIRCUITS_TRIPPED) {
		if (side->model.config.jitter != 0.0 && planned != 0)
			want_draws = 1;
		want_owed = model_owed(&side->model, planned, custom,
				       want_draws ? rec->drawn : 0);
	}
	expect_eq("random draws", rec->draws, want_draws);

	if (op == OP_SHORT_NB || op == OP_SHORT_CUSTOM_NB || op == OP_TRIP_NB ||
	    op == OP_TRIP_CUSTOM_NB)
		expect_eq("owed_ns", owed, want_owed);
	else
		expect_eq("owed_ns written without being asked", owed,
			  sentinel);

	/* A blocking call sleeps exactly what it owes, once, and only when
	 * it tripped (a zero sleep may be skipped). */
	if (is_blocking(op) && want == CIRCUITS_TRIPPED &&
	    (want_owed != 0 || rec->sleeps != 0)) {
		expect_eq("sleeper calls", rec->sleeps, 1);
		expect_eq("slept ns", rec->slept_ns, want_owed);
	} else {
		expect_eq("sleeper calls", rec->sleeps, 0);
	}

	expect_eq("listener calls", rec->trips_heard,
		  side->listening && want == CIRCUITS_TRIPPED);
	if (rec->trips_heard == 1) {
		expect_eq("event.sleep", rec->event.sleep, want_owed);
		expect_eq("event.planned_sleep", rec->event.planned_sleep,
			  planned);
		expect_eq("event.custom", rec->event.custom, custom);
		model_snapshot(&side->model, &after);
		expect_snapshot("event.state", &rec->event.state, &after);
	}
}

static void
reset(struct side *side, struct recorder *rec)
{
	bool got;

	if (side->kind != MODEL_BREAKING)
		return;
	rec->sleeps = rec->draws = rec->trips_heard = 0;
	got = circuits_breaking_reset(&side->breaker);
	expect_eq("reset result", got, model_reset(&side->model));
	expect_eq("hook calls during reset",
		  rec->sleeps + rec->draws + rec->trips_heard, 0);
}

static void
reset_backoff(struct side *side)
{
	if (side->kind == MODEL_CIRCUIT)
		circuits_circuit_reset_backoff(&side->circuit);
	else
		circuits_breaking_reset_backoff(&side->breaker);
	model_reset_backoff(&side->model);
}

/* --- side programs -------------------------------------------------------- */

/* The contract's validation order: the first invalid field decides. */
static int
expected_validation(const circuits_config_t *c)
{
	if (c->num_shorts_to_trip == 0)
		return CIRCUITS_E_THRESHOLD;
	if (isnan(c->backoff_factor) || isinf(c->backoff_factor))
		return CIRCUITS_E_FACTOR_NOT_FINITE;
	if (c->backoff_factor < 1.0)
		return CIRCUITS_E_FACTOR_BELOW_ONE;
	if (isnan(c->jitter) || isinf(c->jitter))
		return CIRCUITS_E_JITTER_NOT_FINITE;
	if (c->jitter < 0.0 || c->jitter > 1.0)
		return CIRCUITS_E_JITTER_RANGE;
	return CIRCUITS_OK;
}

/* Breaks one field of a valid configuration (or none) and checks that
 * both inits return the contract's code and, on error, leave the handle
 * exactly as it was. */
static void
check_validation(const circuits_config_t *valid, uint8_t how, uint64_t bits)
{
	static circuits_circuit_t circuit, circuit_before;
	static circuits_breaking_t breaker, breaker_before;
	circuits_config_t c = *valid;
	double raw;
	int want;

	memcpy(&raw, &bits, sizeof raw);
	switch (how % 6) {
	case 0:
		c.num_shorts_to_trip = 0;
		break;
	case 1:
		c.backoff_factor = raw; /* anything, NaN and -0 included */
		break;
	case 2:
		c.jitter = raw;
		break;
	case 3:
		c.backoff_factor = (how & 0x80) ? INFINITY : NAN;
		break;
	case 4:
		c.jitter = (how & 0x80) ? -INFINITY : nextafter(1.0, 2.0);
		break;
	default:
		break; /* unchanged: valid */
	}
	want = expected_validation(&c);
	where.op = "config validation";
	where.side = "circuit";
	expect_eq("circuits_config_validate",
		  (uint64_t)circuits_config_validate(&c), (uint64_t)want);
	memset(&circuit, 0x5a, sizeof circuit);
	circuit_before = circuit;
	expect_eq("circuits_circuit_init",
		  (uint64_t)circuits_circuit_init(&circuit, &c),
		  (uint64_t)want);
	if (want != CIRCUITS_OK &&
	    memcmp(&circuit, &circuit_before, sizeof circuit) != 0)
		mismatch("failed circuit init changed the handle", 1, 0);
	where.side = "breaker";
	memset(&breaker, 0xa5, sizeof breaker);
	breaker_before = breaker;
	expect_eq("circuits_breaking_init",
		  (uint64_t)circuits_breaking_init(&breaker, &c),
		  (uint64_t)want);
	if (want != CIRCUITS_OK &&
	    memcmp(&breaker, &breaker_before, sizeof breaker) != 0)
		mismatch("failed breaking init changed the handle", 1, 0);
	if (strcmp(circuits_strerror(want), "unknown circuits error") == 0)
		mismatch("error without a message", (uint64_t)want, 0);
}

/* circuits_ns_from_seconds(): round(seconds * 1e9) when that is a valid
 * uint64_t, else CIRCUITS_E_DURATION with *ns untouched.  seconds has 53
 * significant bits and 1e9 has 21 (1e9 = 2^9 * 1953125), so the binary128
 * product is exact and so is the rounding decision below. */
static void
check_ns_from_seconds(double seconds)
{
	uint64_t ns = UINT64_C(0x0123456789abcdef), want = ns;
	int rc, want_rc = CIRCUITS_OK;
	__float128 exact, whole;

	rc = circuits_ns_from_seconds(seconds, &ns);
	if (!(seconds >= 0.0) || isinf(seconds)) {
		want_rc = CIRCUITS_E_DURATION;
	} else {
		exact = (__float128)seconds * 1000000000;
		/* Nearest, halves away from zero, as the header says. */
		whole = exact + 0.5Q;
		if (whole >= 0x1p64Q) {
			want_rc = CIRCUITS_E_DURATION;
		} else {
			want = (uint64_t)whole; /* truncates: floor */
		}
	}
	where.op = "ns_from_seconds";
	where.side = "-";
	if (rc != want_rc || ns != want) {
		fprintf(stderr,
			"fuzz_diff: circuits_ns_from_seconds(%.17g = %a)"
			" gave rc %d ns %" PRIu64 ", want rc %d ns %" PRIu64
			"\n",
			seconds, seconds, rc, ns, want_rc, want);
		abort();
	}
}

/* A duration in seconds: raw bits (NaN, negative, huge ...), or a random
 * mantissa in the binade [2^k, 2^(k+1)) for k from -40 to 40, which puts
 * results at every magnitude of nanoseconds, the top ones included. */
static double
seconds_pick(struct fuzz_input *in)
{
	uint8_t selector = fuzz_u8(in);
	uint64_t bits = fuzz_u64(in);
	double value;

	if (selector < 32) {
		memcpy(&value, &bits, sizeof value);
		return value;
	}
	return ldexp(1.0 + (double)(bits >> 12) * 0x1p-52,
		     (int)(selector % 81) - 40);
}

/* --- entry point ---------------------------------------------------------- */

static void
init_side(struct side *side, enum model_kind kind,
	  const circuits_config_t *config, struct recorder *rec)
{
	int rc;

	side->kind = kind;
	if (kind == MODEL_CIRCUIT) {
		rc = circuits_circuit_init(&side->circuit, config);
		circuits_circuit_set_sleeper(&side->circuit, record_sleep, rec);
		circuits_circuit_set_random(&side->circuit, record_random, rec);
	} else {
		rc = circuits_breaking_init(&side->breaker, config);
		circuits_breaking_set_sleeper(&side->breaker, record_sleep,
					      rec);
		circuits_breaking_set_random(&side->breaker, record_random,
					     rec);
	}
	expect_eq("init of a valid configuration", (uint64_t)rc, 0);
	set_listener(side, rec, true);
	model_init(&side->model, kind, config);
}

static void
step(struct side *side, struct recorder *rec, enum opcode op,
     uint64_t custom_ns)
{
	where.op = op_names[op];
	where.side = side->kind == MODEL_CIRCUIT ? "circuit" : "breaker";
	switch (op) {
	case OP_RESET:
		reset(side, rec);
		break;
	case OP_RESET_BACKOFF:
		reset_backoff(side);
		break;
	case OP_TOGGLE_LISTENER:
		set_listener(side, rec, !side->listening);
		break;
	default:
		short_or_trip(side, rec, op, custom_ns);
		break;
	}
	compare_state(side);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct side sides[2];
	static struct recorder rec;
	struct fuzz_input in;
	circuits_config_t config;
	uint8_t validation;
	uint64_t validation_bits;

	fuzz_input_init(&in, data, size);
	circuits_config_init(&config, fuzz_threshold_pick(&in));
	config.sleep_time_after_trip = fuzz_u64_pick(&in);
	config.max_sleep_time = fuzz_u64_pick(&in);
	config.backoff_factor = fuzz_factor_pick(&in);
	config.jitter = fuzz_jitter_pick(&in);
	memset(&rec, 0, sizeof rec);
	rec.random_mode = fuzz_u8(&in) % 3;
	rec.random_state = fuzz_u64(&in);
	validation = fuzz_u8(&in);
	validation_bits = fuzz_u64(&in);

	where.config = &config;
	where.step = -1;
	check_validation(&config, validation, validation_bits);
	init_side(&sides[0], MODEL_CIRCUIT, &config, &rec);
	init_side(&sides[1], MODEL_BREAKING, &config, &rec);
	for (int s = 0; s < 2; s++)
		compare_state(&sides[s]);

	for (long steps = 0; fuzz_left(&in) > 0 && steps < MAX_STEPS;) {
		enum opcode op = (enum opcode)(fuzz_u8(&in) % OP_COUNT);
		uint64_t arg = 0, repeat = 1;

		where.step = steps;
		if (is_custom(op))
			arg = fuzz_u64_pick(&in);
		if (op == OP_NS_FROM_SECONDS) {
			check_ns_from_seconds(seconds_pick(&in));
			steps++;
			continue;
		}
		if (op == OP_SHORT_BURST || op == OP_TRIP_BURST) {
			repeat = 1 + fuzz_u16(&in) % MAX_BURST;
			op = op == OP_SHORT_BURST ? OP_SHORT_NB : OP_TRIP_NB;
		}
		for (uint64_t r = 0; r < repeat && steps < MAX_STEPS;
		     r++, steps++) {
			where.step = steps;
			step(&sides[0], &rec, op, arg);
			step(&sides[1], &rec, op, arg);
		}
	}
	return 0;
}
