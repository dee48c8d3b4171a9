/*
 * test_cases.c - the shared cases C4 to C8 of ../shared/CASES.md, one named
 * test each (CTest label unit).  C1 to C3 need threads and live in
 * test_cases_stress.c.
 *
 * Each case comes from a failure a widely used breaker, retry or limiter
 * library shipped; the assertions are exactly what the case states, with
 * the expected values from the contract: with jitter 0, trip i sleeps
 * min(base * factor^(i-1), ceiling) and after k trips current_sleep_time
 * is min(base * factor^k, ceiling), ceiling = max(max_sleep_time, base).
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>

#include "support.h"

static struct fake_sleeper sleeper;

static void
make(circuits_circuit_t *circuit, uint32_t n, uint64_t base, uint64_t max,
     double factor, double jitter)
{
	circuits_config_t config;

	circuits_config_init(&config, n);
	config.sleep_time_after_trip = base;
	config.max_sleep_time = max;
	config.backoff_factor = factor;
	config.jitter = jitter;
	ck_assert_int_eq(circuits_circuit_init(circuit, &config), CIRCUITS_OK);
	memset(&sleeper, 0, sizeof sleeper);
	circuits_circuit_set_sleeper(circuit, fake_sleep, &sleeper);
}

/*
 * C4 - backoff saturates, never overflows.  N=1, base 2 s, factor 2, max
 * 300 s, 5000 trips: sleeps 2, 4, ..., 256 s, then exactly 300 s from trip
 * 9 on; total_trips 5000; current_sleep_time 300 s.  And base 10^18 ns,
 * factor 10, max 10^19 ns: no value above 10^19 ns, no wrap.
 */
START_TEST(C4_backoff_saturates_never_overflows)
{
	static circuits_circuit_t circuit;
	const uint64_t e18 = UINT64_C(1000000000000000000);
	const uint64_t e19 = UINT64_C(10000000000000000000);

	make(&circuit, 1, CIRCUITS_SECONDS(2), CIRCUITS_SECONDS(300), 2.0,
	     0.0);
	for (int i = 0; i < 5000; i++)
		QUIET_EQ_U64(circuits_circuit_short(&circuit),
			     CIRCUITS_TRIPPED);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 5000);
	for (int trip = 1; trip <= 8; trip++)
		ck_assert_uint_eq(sleeper.sleeps[trip - 1],
				  CIRCUITS_SECONDS(UINT64_C(1) << trip));
	for (int trip = 9; trip <= 5000; trip++)
		QUIET_EQ_U64(sleeper.sleeps[trip - 1], CIRCUITS_SECONDS(300));
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 5000);
	ck_assert_uint_eq(circuits_circuit_current_sleep_time(&circuit),
			  CIRCUITS_SECONDS(300));

	make(&circuit, 1, e18, e19, 10.0, 0.0);
	for (int i = 0; i < 5000; i++) {
		QUIET_EQ_U64(circuits_circuit_short(&circuit),
			     CIRCUITS_TRIPPED);
		QUIET_ASSERT(circuits_circuit_current_sleep_time(&circuit) ==
				     e19,
			     "trip %d: current_sleep_time %" PRIu64, i + 1,
			     circuits_circuit_current_sleep_time(&circuit));
	}
	ck_assert_uint_eq(sleeper.sleeps[0], e18);
	for (int i = 1; i < 5000; i++)
		QUIET_EQ_U64(sleeper.sleeps[i], e19);
}
END_TEST

/*
 * C5 - zero base stays zero.  N=1, base 0, factor 2, max 10 s, jitter
 * 0.5, 2000 trips: every sleep 0 and current_sleep_time 0.  A varying
 * random source makes sure jitter would show if it were applied to
 * something other than 0.
 */
START_TEST(C5_zero_base_stays_zero)
{
	static circuits_circuit_t circuit;
	struct test_rng rng;

	make(&circuit, 1, 0, CIRCUITS_SECONDS(10), 2.0, 0.5);
	test_rng_seed(&rng, 5);
	circuits_circuit_set_random(&circuit, test_rng_hook, &rng);
	for (int i = 0; i < 2000; i++) {
		QUIET_EQ_U64(circuits_circuit_short(&circuit),
			     CIRCUITS_TRIPPED);
		QUIET_EQ_U64(circuits_circuit_current_sleep_time(&circuit), 0);
	}
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 2000);
	for (int i = 0; i < 2000; i++)
		QUIET_EQ_U64(sleeper.sleeps[i], 0);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 2000);
}
END_TEST

/*
 * C6 - huge custom sleeps do not wrap.  N=3, base 1 s, max 10 s.  A custom
 * sleep of UINT64_MAX through the non-blocking trip is owed exactly (the
 * case also allows a clear refusal; this library accepts every uint64_t);
 * the blocking one hands the sleeper exactly what was owed; custom 0 trips and sleeps nothing; a valid custom
 * sleep steps the backoff as an ordinary trip does (checked with the
 * case's factor 1 and with factor 2, where the steps show).
 */
START_TEST(C6_huge_custom_sleeps_do_not_wrap)
{
	static circuits_circuit_t circuit, ordinary;
	circuits_snapshot_t before, after;
	uint64_t owed = 12345;
	int rc;

	make(&circuit, 3, CIRCUITS_SECONDS(1), CIRCUITS_SECONDS(10), 1.0,
	     0.0);
	/* The case allows a refusal or the exact value; this library's
	 * contract is the exact value (every uint64_t is a valid custom sleep,
	 * circuits.h), so that is what must come back, with the trip made. */
	circuits_circuit_snapshot(&circuit, &before);
	rc = circuits_circuit_trip_custom_nb(&circuit, UINT64_MAX, &owed);
	circuits_circuit_snapshot(&circuit, &after);
	ck_assert_int_eq(rc, CIRCUITS_TRIPPED);
	ck_assert_uint_eq(owed, UINT64_MAX);
	ck_assert_uint_eq(after.total_trips, before.total_trips + 1);
	ck_assert_uint_eq(after.backoff_level, before.backoff_level + 1);
	ck_assert_uint_eq(after.times_shorted, 0);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 0);
	/* Blocking: the same answer, and the sleeper receives exactly what
	 * was owed. */
	rc = circuits_circuit_trip_custom(&circuit, UINT64_MAX);
	ck_assert_int_eq(rc, CIRCUITS_TRIPPED);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
	ck_assert_uint_eq(sleeper.sleeps[0], UINT64_MAX);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit),
			  before.total_trips + 2);
	/* Custom 0: trips, and sleeps nothing (a call with 0 is nothing). */
	make(&circuit, 3, CIRCUITS_SECONDS(1), CIRCUITS_SECONDS(10), 1.0,
	     0.0);
	ck_assert_int_eq(circuits_circuit_trip_custom_nb(&circuit, 0, &owed),
			 CIRCUITS_TRIPPED);
	ck_assert_uint_eq(owed, 0);
	ck_assert_int_eq(circuits_circuit_trip_custom(&circuit, 0),
			 CIRCUITS_TRIPPED);
	for (uint64_t i = 0; i < fake_sleep_count(&sleeper); i++)
		ck_assert_uint_eq(sleeper.sleeps[i], 0);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 2);
	/* A valid custom sleep steps the backoff like an ordinary trip. */
	for (int f = 1; f <= 2; f++) {
		make(&ordinary, 3, CIRCUITS_SECONDS(1), CIRCUITS_SECONDS(10),
		     f, 0.0);
		make(&circuit, 3, CIRCUITS_SECONDS(1), CIRCUITS_SECONDS(10),
		     f, 0.0);
		for (int i = 0; i < 6; i++) {
			circuits_circuit_trip_custom_nb(&circuit, 123, &owed);
			ck_assert_uint_eq(owed, 123);
			circuits_circuit_trip_nb(&ordinary, NULL);
			ck_assert_uint_eq(
				circuits_circuit_current_sleep_time(&circuit),
				circuits_circuit_current_sleep_time(
					&ordinary));
		}
		ck_assert_uint_eq(
			circuits_circuit_current_sleep_time(&circuit),
			f == 1 ? CIRCUITS_SECONDS(1) : CIRCUITS_SECONDS(10));
	}
}
END_TEST

/*
 * C7 - signals neither cut nor restart a sleep.  N=1, base 300 ms, jitter
 * 0, the default sleeper; SIGALRM every 20 ms with a handler installed
 * without SA_RESTART.  One short() takes 300 to 360 ms.  A sleep cut short
 * by the first signal ends near 20 ms; one restarted in full on each
 * signal never ends (Check's timeout then fails the test); one restarted
 * with the remaining relative time drifts late.
 */
static volatile sig_atomic_t alarms;

static void
on_alarm(int signo)
{
	(void)signo;
	alarms++;
}

START_TEST(C7_signals_neither_cut_nor_restart_a_sleep)
{
	static circuits_circuit_t circuit;
	circuits_config_t config;
	struct sigaction action;
	struct itimerval every_20ms = {{0, 20000}, {0, 20000}};
	struct itimerval stop = {{0, 0}, {0, 0}};
	uint64_t start, elapsed;
	int rc, seen;

	circuits_config_init(&config, 1);
	config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(300);
	ck_assert_int_eq(circuits_circuit_init(&circuit, &config), 0);
	memset(&action, 0, sizeof action);
	action.sa_handler = on_alarm;
	action.sa_flags = 0; /* no SA_RESTART: sleeps see EINTR */
	sigemptyset(&action.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &action, NULL), 0);
	alarms = 0;
	ck_assert_int_eq(setitimer(ITIMER_REAL, &every_20ms, NULL), 0);
	start = test_clock_ns();
	rc = circuits_circuit_short(&circuit);
	elapsed = test_clock_ns() - start;
	seen = alarms;
	setitimer(ITIMER_REAL, &stop, NULL);
	ck_assert_int_eq(rc, CIRCUITS_TRIPPED);
	/*
	 * The signals really came during the sleep.  ThreadSanitizer runs
	 * a handler only at its next interception point and keeps one
	 * pending signal per number, so there the handler runs about once;
	 * the kernel still interrupts the sleep at every signal.
	 */
	ck_assert_int_ge(seen, TEST_UNDER_TSAN ? 1 : 10);
	ck_assert_msg(elapsed >= CIRCUITS_MILLISECONDS(300) &&
			      elapsed <= CIRCUITS_MILLISECONDS(360),
		      "short() took %.1f ms", (double)elapsed / 1e6);
}
END_TEST

/*
 * C8 - configuration edge cases.  N=0 is an error; N=1 trips on every
 * short (10 shorts, 10 trips); factor 0.5, NaN and infinity are errors;
 * jitter 1.5 and -0.1 are errors; base 5 s with max 2 s is valid, sleeps
 * 5 s first and stays at 5 s with factor 2.  Each kind of error has its
 * own code and its own message.
 */
START_TEST(C8_configuration_edge_cases)
{
	static circuits_circuit_t circuit;
	static circuits_breaking_t breaker;
	circuits_config_t config;
	int codes[6];
	const struct {
		uint32_t n;
		double factor, jitter;
	} bad[6] = {
		{0, 1.0, 0.0},	     {1, 0.5, 0.0},  {1, NAN, 0.0},
		{1, INFINITY, 0.0}, {1, 1.0, 1.5}, {1, 1.0, -0.1},
	};

	for (int i = 0; i < 6; i++) {
		circuits_config_init(&config, bad[i].n);
		config.backoff_factor = bad[i].factor;
		config.jitter = bad[i].jitter;
		codes[i] = circuits_circuit_init(&circuit, &config);
		ck_assert_int_lt(codes[i], 0);
		ck_assert_int_eq(circuits_breaking_init(&breaker, &config),
				 codes[i]);
	}
	/* Threshold, factor below 1, factor not finite (NaN and infinity
	 * alike), jitter out of range (above and below alike). */
	ck_assert_int_eq(codes[2], codes[3]);
	ck_assert_int_eq(codes[4], codes[5]);
	{
		const int kinds[4] = {codes[0], codes[1], codes[2], codes[4]};

		for (int i = 0; i < 4; i++)
			for (int j = 0; j < i; j++) {
				ck_assert_int_ne(kinds[i], kinds[j]);
				ck_assert_str_ne(circuits_strerror(kinds[i]),
						 circuits_strerror(kinds[j]));
			}
	}

	make(&circuit, 1, 0, CIRCUITS_SECONDS(10), 1.0, 0.0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(circuits_circuit_short(&circuit),
				 CIRCUITS_TRIPPED);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 10);

	make(&circuit, 1, CIRCUITS_SECONDS(5), CIRCUITS_SECONDS(2), 2.0, 0.0);
	ck_assert_uint_eq(circuits_circuit_current_sleep_time(&circuit),
			  CIRCUITS_SECONDS(5));
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(circuits_circuit_short(&circuit),
				 CIRCUITS_TRIPPED);
		ck_assert_uint_eq(sleeper.sleeps[i], CIRCUITS_SECONDS(5));
		ck_assert_uint_eq(circuits_circuit_current_sleep_time(&circuit),
				  CIRCUITS_SECONDS(5));
	}
}
END_TEST

static Suite *
cases_suite(void)
{
	Suite *suite = suite_create("cases");
	TCase *tc = tcase_create("cases");

	tcase_add_test(tc, C4_backoff_saturates_never_overflows);
	tcase_add_test(tc, C5_zero_base_stays_zero);
	tcase_add_test(tc, C6_huge_custom_sleeps_do_not_wrap);
	tcase_add_test(tc, C7_signals_neither_cut_nor_restart_a_sleep);
	tcase_add_test(tc, C8_configuration_edge_cases);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(cases_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
