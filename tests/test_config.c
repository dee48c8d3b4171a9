/*
 * test_config.c - configuration, validation, error messages and durations
 * (CTest label unit).
 *
 * The contract validates a configuration once, at init: every invalid field
 * has its own error code and its own message, nothing is clamped, and a
 * failed init leaves the handle exactly as it was.  These tests pin each of
 * those promises field by field, for both kinds of circuit.
 */
#include <check.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "support.h"

/* A byte pattern no successful init would leave everywhere. */
#define DIRTY 0xa5

/* --- defaults ------------------------------------------------------------ */

/* circuits_config_init() gives the defaults the contract lists: base 0,
 * max 10 s, factor 1.0, jitter 0, and the threshold it was given. */
START_TEST(defaults)
{
	circuits_config_t config;

	memset(&config, DIRTY, sizeof config);
	circuits_config_init(&config, 7);
	ck_assert_uint_eq(config.num_shorts_to_trip, 7);
	ck_assert_uint_eq(config.sleep_time_after_trip, 0);
	ck_assert_uint_eq(config.max_sleep_time, 10 * CIRCUITS_NSEC_PER_SEC);
	ck_assert(config.backoff_factor == 1.0);
	ck_assert(config.jitter == 0.0);
	ck_assert_int_eq(circuits_config_validate(&config), CIRCUITS_OK);
}
END_TEST

/* The duration macros are the unit conversions they name. */
START_TEST(duration_macros)
{
	ck_assert_uint_eq(CIRCUITS_SECONDS(3), UINT64_C(3000000000));
	ck_assert_uint_eq(CIRCUITS_MILLISECONDS(5), UINT64_C(5000000));
	ck_assert_uint_eq(CIRCUITS_MICROSECONDS(7), UINT64_C(7000));
	/* The cast comes before the product: no int overflow. */
	ck_assert_uint_eq(CIRCUITS_SECONDS(5000), UINT64_C(5000000000000));
}
END_TEST

/* --- validation ---------------------------------------------------------- */

/* One invalid configuration: a valid one with a single field changed. */
struct bad_case {
	const char *what;
	int expected;
	uint32_t n;
	double factor;
	double jitter;
};

static const struct bad_case bad_cases[] = {
	{"threshold 0", CIRCUITS_E_THRESHOLD, 0, 1.0, 0.0},
	{"factor NaN", CIRCUITS_E_FACTOR_NOT_FINITE, 3, NAN, 0.0},
	{"factor +inf", CIRCUITS_E_FACTOR_NOT_FINITE, 3, INFINITY, 0.0},
	{"factor -inf", CIRCUITS_E_FACTOR_NOT_FINITE, 3, -INFINITY, 0.0},
	{"factor 0.5", CIRCUITS_E_FACTOR_BELOW_ONE, 3, 0.5, 0.0},
	{"factor 0", CIRCUITS_E_FACTOR_BELOW_ONE, 3, 0.0, 0.0},
	{"factor -2", CIRCUITS_E_FACTOR_BELOW_ONE, 3, -2.0, 0.0},
	{"factor just below 1", CIRCUITS_E_FACTOR_BELOW_ONE, 3,
	 1.0 - DBL_EPSILON / 2, 0.0},
	{"jitter NaN", CIRCUITS_E_JITTER_NOT_FINITE, 3, 2.0, NAN},
	{"jitter +inf", CIRCUITS_E_JITTER_NOT_FINITE, 3, 2.0, INFINITY},
	{"jitter -inf", CIRCUITS_E_JITTER_NOT_FINITE, 3, 2.0, -INFINITY},
	{"jitter 1.5", CIRCUITS_E_JITTER_RANGE, 3, 2.0, 1.5},
	{"jitter -0.1", CIRCUITS_E_JITTER_RANGE, 3, 2.0, -0.1},
	{"jitter just above 1", CIRCUITS_E_JITTER_RANGE, 3, 2.0,
	 1.0 + DBL_EPSILON},
	{"jitter tiny negative", CIRCUITS_E_JITTER_RANGE, 3, 2.0, -DBL_MIN},
};

#define BAD_CASES ((int)(sizeof bad_cases / sizeof bad_cases[0]))

static void
bad_config(const struct bad_case *bad, circuits_config_t *config)
{
	circuits_config_init(config, bad->n);
	config->sleep_time_after_trip = CIRCUITS_SECONDS(1);
	config->backoff_factor = bad->factor;
	config->jitter = bad->jitter;
}

/* Each invalid field gives its own code from validate(). */
START_TEST(validate_rejects_each_field)
{
	const struct bad_case *bad = &bad_cases[_i];
	circuits_config_t config;

	bad_config(bad, &config);
	ck_assert_msg(circuits_config_validate(&config) == bad->expected,
		      "%s: got %d, want %d", bad->what,
		      circuits_config_validate(&config), bad->expected);
}
END_TEST

/*
 * A failed init returns the same code and leaves every byte of the handle
 * as it was (nothing half-initialised), for both kinds.
 */
START_TEST(init_rejects_and_leaves_handle_untouched)
{
	const struct bad_case *bad = &bad_cases[_i];
	static circuits_circuit_t circuit, circuit_copy;
	static circuits_breaking_t breaker, breaker_copy;
	circuits_config_t config;

	bad_config(bad, &config);
	memset(&circuit, DIRTY, sizeof circuit);
	memset(&circuit_copy, DIRTY, sizeof circuit_copy);
	memset(&breaker, DIRTY, sizeof breaker);
	memset(&breaker_copy, DIRTY, sizeof breaker_copy);
	ck_assert_msg(circuits_circuit_init(&circuit, &config) ==
			      bad->expected,
		      "%s: circuit init", bad->what);
	ck_assert_msg(circuits_breaking_init(&breaker, &config) ==
			      bad->expected,
		      "%s: breaking init", bad->what);
	ck_assert_msg(memcmp(&circuit, &circuit_copy, sizeof circuit) == 0,
		      "%s: circuit handle changed", bad->what);
	ck_assert_msg(memcmp(&breaker, &breaker_copy, sizeof breaker) == 0,
		      "%s: breaking handle changed", bad->what);
}
END_TEST

/* The values at the edges of the valid ranges are accepted as they are. */
START_TEST(validate_accepts_edges)
{
	circuits_config_t config;

	circuits_config_init(&config, 1);
	ck_assert_int_eq(circuits_config_validate(&config), CIRCUITS_OK);
	config.num_shorts_to_trip = UINT32_MAX;
	config.backoff_factor = 1.0;
	config.jitter = 1.0;
	ck_assert_int_eq(circuits_config_validate(&config), CIRCUITS_OK);
	config.backoff_factor = DBL_MAX;
	config.jitter = 0.0;
	ck_assert_int_eq(circuits_config_validate(&config), CIRCUITS_OK);
	config.jitter = -0.0; /* negative zero is zero, not below it */
	ck_assert_int_eq(circuits_config_validate(&config), CIRCUITS_OK);
	/* Durations: every uint64_t is valid, and max below base too. */
	config.sleep_time_after_trip = UINT64_MAX;
	config.max_sleep_time = 0;
	ck_assert_int_eq(circuits_config_validate(&config), CIRCUITS_OK);
	config.sleep_time_after_trip = 0;
	config.max_sleep_time = UINT64_MAX;
	ck_assert_int_eq(circuits_config_validate(&config), CIRCUITS_OK);
}
END_TEST

/* With several invalid fields, the first in declaration order wins, as the
 * header says; so each code always names the earliest problem. */
START_TEST(validate_reports_first_invalid_field)
{
	circuits_config_t config;

	circuits_config_init(&config, 0);
	config.backoff_factor = NAN;
	config.jitter = 2.0;
	ck_assert_int_eq(circuits_config_validate(&config),
			 CIRCUITS_E_THRESHOLD);
	config.num_shorts_to_trip = 1;
	ck_assert_int_eq(circuits_config_validate(&config),
			 CIRCUITS_E_FACTOR_NOT_FINITE);
	config.backoff_factor = 0.5;
	ck_assert_int_eq(circuits_config_validate(&config),
			 CIRCUITS_E_FACTOR_BELOW_ONE);
	config.backoff_factor = 1.5;
	config.jitter = NAN;
	ck_assert_int_eq(circuits_config_validate(&config),
			 CIRCUITS_E_JITTER_NOT_FINITE);
	config.jitter = 2.0;
	ck_assert_int_eq(circuits_config_validate(&config),
			 CIRCUITS_E_JITTER_RANGE);
}
END_TEST

/* NULL pointers are reported, not dereferenced; a NULL config leaves the
 * handle untouched as any other invalid configuration does. */
START_TEST(null_arguments)
{
	static circuits_circuit_t circuit, circuit_copy;
	static circuits_breaking_t breaker, breaker_copy;
	circuits_config_t config;

	circuits_config_init(&config, 3);
	ck_assert_int_eq(circuits_config_validate(NULL), CIRCUITS_E_NULL);
	ck_assert_int_eq(circuits_circuit_init(NULL, &config),
			 CIRCUITS_E_NULL);
	ck_assert_int_eq(circuits_breaking_init(NULL, &config),
			 CIRCUITS_E_NULL);
	memset(&circuit, DIRTY, sizeof circuit);
	memset(&circuit_copy, DIRTY, sizeof circuit_copy);
	memset(&breaker, DIRTY, sizeof breaker);
	memset(&breaker_copy, DIRTY, sizeof breaker_copy);
	ck_assert_int_eq(circuits_circuit_init(&circuit, NULL),
			 CIRCUITS_E_NULL);
	ck_assert_int_eq(circuits_breaking_init(&breaker, NULL),
			 CIRCUITS_E_NULL);
	ck_assert(memcmp(&circuit, &circuit_copy, sizeof circuit) == 0);
	ck_assert(memcmp(&breaker, &breaker_copy, sizeof breaker) == 0);
}
END_TEST

/*
 * init on a handle full of garbage gives a fresh circuit: count 0, no
 * trips, level 0, not broken, and the default hooks (no listener call).
 */
static int garbage_listener_calls;

static void
count_listener(const circuits_trip_event_t *event, void *arg)
{
	(void)event;
	(void)arg;
	garbage_listener_calls++;
}

START_TEST(init_over_garbage_is_fresh)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		circuits_config_t config;
		circuits_snapshot_t snap;
		uint64_t owed = 1;

		circuits_config_init(&config, 2);
		config.sleep_time_after_trip = 40;
		memset(&c, DIRTY, sizeof c);
		ck_assert_int_eq(any_init(&c, kind == 1, &config), 0);
		any_snapshot(&c, &snap);
		ck_assert_uint_eq(snap.times_shorted, 0);
		ck_assert_uint_eq(snap.total_trips, 0);
		ck_assert_uint_eq(snap.backoff_level, 0);
		ck_assert_uint_eq(snap.current_sleep_time, 40);
		ck_assert(!snap.broken);
		if (kind == 1)
			ck_assert(!circuits_breaking_broken(&c.u.breaker));
		/* No listener is installed by init. */
		garbage_listener_calls = 0;
		ck_assert_int_eq(any_trip(&c, false, 0, ANY_NB, &owed),
				 CIRCUITS_TRIPPED);
		ck_assert_uint_eq(owed, 40);
		ck_assert_int_eq(garbage_listener_calls, 0);
		any_set_listener(&c, count_listener, NULL);
		any_reset_backoff(&c);
		if (kind == 1)
			circuits_breaking_reset(&c.u.breaker);
		any_trip(&c, false, 0, ANY_NB, &owed);
		ck_assert_int_eq(garbage_listener_calls, 1);
	}
}
END_TEST

/* --- config readback ----------------------------------------------------- */

/* circuits_*_config() gives back exactly what init was given: max below
 * base stays as given (the ceiling is derived, not stored over it), and the
 * largest threshold survives the round trip. */
START_TEST(config_readback)
{
	static const struct {
		uint32_t n;
		uint64_t base, max;
		double factor, jitter;
	} cases[] = {
		{1, 0, CIRCUITS_SECONDS(10), 1.0, 0.0},
		{UINT32_MAX, UINT64_MAX, 0, DBL_MAX, 1.0},
		{5, CIRCUITS_SECONDS(5), CIRCUITS_SECONDS(2), 2.0, 0.25},
		{12345, 1, UINT64_MAX, 1.0000001, 0.75},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int kind = 0; kind < 2; kind++) {
			static struct any_circuit c;
			circuits_config_t in, out;

			circuits_config_init(&in, cases[i].n);
			in.sleep_time_after_trip = cases[i].base;
			in.max_sleep_time = cases[i].max;
			in.backoff_factor = cases[i].factor;
			in.jitter = cases[i].jitter;
			ck_assert_int_eq(any_init(&c, kind == 1, &in), 0);
			memset(&out, DIRTY, sizeof out);
			any_config(&c, &out);
			ck_assert_uint_eq(out.num_shorts_to_trip,
					  in.num_shorts_to_trip);
			ck_assert_uint_eq(out.sleep_time_after_trip,
					  in.sleep_time_after_trip);
			ck_assert_uint_eq(out.max_sleep_time,
					  in.max_sleep_time);
			ck_assert(out.backoff_factor == in.backoff_factor);
			ck_assert(out.jitter == in.jitter);
		}
	}
}
END_TEST

/* --- messages ------------------------------------------------------------ */

static const int all_codes[] = {
	CIRCUITS_COUNTED,
	CIRCUITS_TRIPPED,
	CIRCUITS_ALREADY_BROKEN,
	CIRCUITS_E_NULL,
	CIRCUITS_E_THRESHOLD,
	CIRCUITS_E_FACTOR_NOT_FINITE,
	CIRCUITS_E_FACTOR_BELOW_ONE,
	CIRCUITS_E_JITTER_NOT_FINITE,
	CIRCUITS_E_JITTER_RANGE,
	CIRCUITS_E_DURATION,
	CIRCUITS_E_EXISTS,
	CIRCUITS_E_NOT_FOUND,
	CIRCUITS_E_TOO_SMALL,
	CIRCUITS_E_BAD_MAGIC,
	CIRCUITS_E_BAD_VERSION,
	CIRCUITS_E_BAD_CHECKSUM,
	CIRCUITS_E_BAD_CONFIG,
	CIRCUITS_E_NOT_READY,
	CIRCUITS_E_WRONG_KIND,
	CIRCUITS_E_SYSTEM,
	CIRCUITS_E_NAME,
	CIRCUITS_E_ALIGNMENT,
	CIRCUITS_E_BAD_STATE,
};

#define ALL_CODES ((int)(sizeof all_codes / sizeof all_codes[0]))

/* Every outcome and error has a message of its own: non-empty, not the
 * "unknown" one, and different from every other code's message. */
START_TEST(strerror_every_code_distinct)
{
	const char *unknown = circuits_strerror(INT_MIN);

	ck_assert_ptr_nonnull(unknown);
	ck_assert_str_eq(unknown, "unknown circuits error");
	for (int i = 0; i < ALL_CODES; i++) {
		const char *message = circuits_strerror(all_codes[i]);

		ck_assert_ptr_nonnull(message);
		ck_assert_msg(strlen(message) > 8, "code %d: too short",
			      all_codes[i]);
		ck_assert_msg(strcmp(message, unknown) != 0,
			      "code %d has no message", all_codes[i]);
		for (int j = 0; j < i; j++)
			ck_assert_msg(strcmp(message, circuits_strerror(
							      all_codes[j])) !=
					      0,
				      "codes %d and %d share a message",
				      all_codes[i], all_codes[j]);
	}
}
END_TEST

/* The codes themselves are distinct (a code shared by two errors could not
 * tell them apart), errors are negative and outcomes are not. */
START_TEST(codes_distinct_and_signed)
{
	for (int i = 0; i < ALL_CODES; i++) {
		ck_assert_int_eq(all_codes[i] < 0, i >= 3);
		for (int j = 0; j < i; j++)
			ck_assert_int_ne(all_codes[i], all_codes[j]);
	}
}
END_TEST

/* Codes outside the enum are "unknown", not someone else's message. */
START_TEST(strerror_unknown_codes)
{
	const int unknown[] = {3, 4, 100, -8, -19, -33, -1000, INT_MAX};
	const char *expected = circuits_strerror(INT_MIN);

	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		ck_assert_str_eq(circuits_strerror(unknown[i]), expected);
}
END_TEST

/* A configuration error's message names the field at fault, so that a log
 * line tells the operator what to fix. */
START_TEST(config_messages_name_the_field)
{
	for (int i = 0; i < BAD_CASES; i++) {
		const char *message = circuits_strerror(bad_cases[i].expected);
		const char *field =
			bad_cases[i].expected == CIRCUITS_E_THRESHOLD
				? "num_shorts_to_trip"
			: bad_cases[i].expected <= CIRCUITS_E_JITTER_NOT_FINITE
				? "jitter"
				: "backoff_factor";

		ck_assert_msg(strstr(message, field) != NULL,
			      "%s: message \"%s\" does not name %s",
			      bad_cases[i].what, message, field);
	}
}
END_TEST

/* --- seconds to nanoseconds ---------------------------------------------- */

/* Values convert to the nearest nanosecond. */
START_TEST(ns_from_seconds_converts_and_rounds)
{
	static const struct {
		double seconds;
		uint64_t ns;
	} cases[] = {
		{0.0, 0},
		{-0.0, 0},
		{1.0, UINT64_C(1000000000)},
		{0.5, UINT64_C(500000000)},
		{2.25, UINT64_C(2250000000)},
		{1e-9, 1},
		{0.4e-9, 0},		/* below half a ns: down */
		{0.6e-9, 1},		/* above half a ns: up */
		{1.0000000004, UINT64_C(1000000000)},
		{1.0000000006, UINT64_C(1000000001)},
		{60.0, UINT64_C(60000000000)},
		{18446744073.0, UINT64_C(18446744073000000000)},
		/* Binary fractions, exact in a double: the true product is
		 * known to the last bit, so the rounding must be exact. */
		{0x1p-11, UINT64_C(488281)},	/* 488281.25 */
		{0x1p-12, UINT64_C(244141)},	/* 244140.625 */
		{0x1p34, UINT64_C(17179869184000000000)}, /* above 2^63 */
		{0x1p34 + 0x1p-18, UINT64_C(17179869184000003815)},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t ns = 12345;

		ck_assert_int_eq(circuits_ns_from_seconds(cases[i].seconds,
							  &ns),
				 CIRCUITS_OK);
		ck_assert_msg(ns == cases[i].ns, "%.17g s: got %llu, want %llu",
			      cases[i].seconds, (unsigned long long)ns,
			      (unsigned long long)cases[i].ns);
	}
}
END_TEST

/* A product exactly halfway between two nanoseconds goes to one of them
 * (which one the contract leaves open), never elsewhere. */
START_TEST(ns_from_seconds_halves)
{
	uint64_t ns = 0;

	/* 2^-10 s = 976562.5 ns; 3 * 2^-10 s = 2929687.5 ns. */
	ck_assert_int_eq(circuits_ns_from_seconds(0x1p-10, &ns), CIRCUITS_OK);
	ck_assert(ns == 976562 || ns == 976563);
	ck_assert_int_eq(circuits_ns_from_seconds(0x3p-10, &ns), CIRCUITS_OK);
	ck_assert(ns == 2929687 || ns == 2929688);
}
END_TEST

/* The largest double whose value in ns is below 2^64 converts (to within
 * the rounding of the product); the next double up is past 2^64 ns and is
 * refused rather than wrapped. */
START_TEST(ns_from_seconds_limit)
{
	/* 2^64 ns = 18446744073.709551616 s; the double nearest to it is
	 * above it, the one before that 2665.8 ns below 2^64. */
	double over = 18446744073.709551616;
	double under = nextafter(over, 0.0);
	uint64_t ns = 7;

	ck_assert_int_eq(circuits_ns_from_seconds(over, &ns),
			 CIRCUITS_E_DURATION);
	ck_assert_uint_eq(ns, 7);
	ck_assert_int_eq(circuits_ns_from_seconds(under, &ns), CIRCUITS_OK);
	ck_assert_uint_ge(ns, UINT64_C(18446744073709548949));
	ck_assert_uint_le(ns, UINT64_C(18446744073709548951));
}
END_TEST

/* Negative, NaN, infinite and too large are refused with
 * CIRCUITS_E_DURATION, and *ns is not written. */
START_TEST(ns_from_seconds_rejects)
{
	const double bad[] = {-1.0,	     -1e-300,	 -DBL_MIN, NAN, -NAN,
			      INFINITY,	     -INFINITY, 1e300,	   DBL_MAX,
			      18446744074.0, 1e20};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t ns = 99;

		ck_assert_msg(circuits_ns_from_seconds(bad[i], &ns) ==
				      CIRCUITS_E_DURATION,
			      "%g accepted", bad[i]);
		ck_assert_uint_eq(ns, 99);
	}
	ck_assert_int_eq(circuits_ns_from_seconds(1.0, NULL), CIRCUITS_E_NULL);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *suite = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, duration_macros);
	tcase_add_loop_test(tc, validate_rejects_each_field, 0, BAD_CASES);
	tcase_add_loop_test(tc, init_rejects_and_leaves_handle_untouched, 0,
			    BAD_CASES);
	tcase_add_test(tc, validate_accepts_edges);
	tcase_add_test(tc, validate_reports_first_invalid_field);
	tcase_add_test(tc, null_arguments);
	tcase_add_test(tc, init_over_garbage_is_fresh);
	tcase_add_test(tc, config_readback);
	tcase_add_test(tc, strerror_every_code_distinct);
	tcase_add_test(tc, codes_distinct_and_signed);
	tcase_add_test(tc, strerror_unknown_codes);
	tcase_add_test(tc, config_messages_name_the_field);
	tcase_add_test(tc, ns_from_seconds_converts_and_rounds);
	tcase_add_test(tc, ns_from_seconds_halves);
	tcase_add_test(tc, ns_from_seconds_limit);
	tcase_add_test(tc, ns_from_seconds_rejects);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(config_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
