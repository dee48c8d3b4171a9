/*
 * test_circuit.c - the auto-resetting circuit, one rule at a time (CTest
 * label unit).
 *
 * Single-threaded, with a recording fake sleeper and a repeatable random
 * source, so that every expected value follows from the contract alone:
 * the short that brings the count to N trips (count 0, total_trips + 1,
 * level + 1); only that caller sleeps, the pre-trip current_sleep_time or
 * its custom sleep; shorts made during that sleep count toward the next
 * window; trip() trips at once; reset_backoff() zeroes the level only.
 */
#include <check.h>
#include <stdio.h>

#include "support.h"

static struct fake_sleeper sleeper;

/* A circuit with the fake sleeper and the given config. */
static void
make(circuits_circuit_t *circuit, uint32_t n, uint64_t base, uint64_t max,
     double factor)
{
	circuits_config_t config;

	circuits_config_init(&config, n);
	config.sleep_time_after_trip = base;
	config.max_sleep_time = max;
	config.backoff_factor = factor;
	ck_assert_int_eq(circuits_circuit_init(circuit, &config), CIRCUITS_OK);
	memset(&sleeper, 0, sizeof sleeper);
	circuits_circuit_set_sleeper(circuit, fake_sleep, &sleeper);
}

/* --- the threshold ------------------------------------------------------- */

/*
 * For several N: the first N-1 shorts of each window are counted (and
 * times_shorted shows them), the N-th trips; k windows give k trips, and
 * every trip's count starts the next window from 0.
 */
START_TEST(threshold_trips_every_nth_short)
{
	static const uint32_t thresholds[] = {1, 2, 3, 5, 64, 1000};
	uint32_t n = thresholds[_i];
	static circuits_circuit_t circuit;

	make(&circuit, n, 100, CIRCUITS_SECONDS(1), 1.0);
	for (uint64_t window = 0; window < 4; window++) {
		for (uint32_t k = 1; k < n; k++) {
			ck_assert_int_eq(circuits_circuit_short(&circuit),
					 CIRCUITS_COUNTED);
			ck_assert_uint_eq(
				circuits_circuit_times_shorted(&circuit), k);
			ck_assert_uint_eq(
				circuits_circuit_total_trips(&circuit), window);
		}
		ck_assert_int_eq(circuits_circuit_short(&circuit),
				 CIRCUITS_TRIPPED);
		ck_assert_uint_eq(circuits_circuit_times_shorted(&circuit), 0);
		ck_assert_uint_eq(circuits_circuit_total_trips(&circuit),
				  window + 1);
	}
}
END_TEST

/* The largest threshold is representable: shorts are counted, not taken
 * for trips (a narrow count field would wrap or carry). */
START_TEST(largest_threshold_counts)
{
	static circuits_circuit_t circuit;
	circuits_snapshot_t snap;

	make(&circuit, UINT32_MAX, 0, 0, 1.0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(circuits_circuit_short(&circuit),
				 CIRCUITS_COUNTED);
	circuits_circuit_snapshot(&circuit, &snap);
	ck_assert_uint_eq(snap.times_shorted, 1000);
	ck_assert_uint_eq(snap.total_trips, 0);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 0);
}
END_TEST

/* --- who sleeps ---------------------------------------------------------- */

/*
 * Only the tripping caller sleeps, once per trip, the current_sleep_time
 * as it was before its trip; counted shorts return without calling the
 * sleeper at all.
 */
START_TEST(only_the_tripping_caller_sleeps)
{
	static circuits_circuit_t circuit;
	uint64_t trips = 0;

	make(&circuit, 3, 1000, CIRCUITS_SECONDS(1), 2.0);
	for (int i = 1; i <= 30; i++) {
		uint64_t before = circuits_circuit_current_sleep_time(&circuit);
		uint64_t slept = fake_sleep_count(&sleeper);
		int rc = circuits_circuit_short(&circuit);

		if (i % 3 != 0) {
			ck_assert_int_eq(rc, CIRCUITS_COUNTED);
			ck_assert_uint_eq(fake_sleep_count(&sleeper), slept);
			continue;
		}
		ck_assert_int_eq(rc, CIRCUITS_TRIPPED);
		ck_assert_uint_eq(fake_sleep_count(&sleeper), slept + 1);
		ck_assert_uint_eq(sleeper.sleeps[slept], before);
		trips++;
	}
	ck_assert_uint_eq(fake_sleep_count(&sleeper), trips);
}
END_TEST

/*
 * Shorts made while the tripping caller sleeps count toward the next
 * window.  The sleeper below makes them itself, from inside the sleep of
 * the trip: they must be counted (not swallowed by the trip, and not trip
 * again), and one more short afterwards completes the next window.
 */
struct during_sleep {
	circuits_circuit_t *circuit;
	int shorts;
	int counted;
	uint64_t seen_count; /* times_shorted read at the start of the sleep */
	uint64_t calls;
};

static void
short_while_sleeping(uint64_t ns, void *arg)
{
	struct during_sleep *d = arg;

	(void)ns;
	d->calls++;
	d->seen_count = circuits_circuit_times_shorted(d->circuit);
	for (int i = 0; i < d->shorts; i++)
		if (circuits_circuit_short(d->circuit) == CIRCUITS_COUNTED)
			d->counted++;
}

START_TEST(shorts_during_the_sleep_count_toward_next_window)
{
	static circuits_circuit_t circuit;
	struct during_sleep d = {&circuit, 3, 0, 99, 0};

	make(&circuit, 4, 50, CIRCUITS_SECONDS(1), 1.0);
	circuits_circuit_set_sleeper(&circuit, short_while_sleeping, &d);
	for (int i = 0; i < 3; i++)
		circuits_circuit_short(&circuit);
	ck_assert_int_eq(circuits_circuit_short(&circuit), CIRCUITS_TRIPPED);
	/* The trip had already taken effect when the sleep began. */
	ck_assert_uint_eq(d.calls, 1);
	ck_assert_uint_eq(d.seen_count, 0);
	ck_assert_int_eq(d.counted, 3);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&circuit), 3);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 1);
	/* The fourth short of the new window trips it. */
	d.shorts = 0;
	ck_assert_int_eq(circuits_circuit_short(&circuit), CIRCUITS_TRIPPED);
	ck_assert_uint_eq(d.calls, 2);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 2);
}
END_TEST

/* --- trip() -------------------------------------------------------------- */

/*
 * trip() trips immediately whatever the count: count to 0, total_trips and
 * level up by one, the caller sleeps the pre-trip backoff and is told
 * TRIPPED.  Both on a fresh circuit and in the middle of a window.
 */
START_TEST(trip_trips_at_once)
{
	static circuits_circuit_t circuit;
	circuits_snapshot_t snap;

	make(&circuit, 5, 1000, CIRCUITS_SECONDS(1), 3.0);
	ck_assert_int_eq(circuits_circuit_trip(&circuit), CIRCUITS_TRIPPED);
	circuits_circuit_snapshot(&circuit, &snap);
	ck_assert_uint_eq(snap.total_trips, 1);
	ck_assert_uint_eq(snap.backoff_level, 1);
	ck_assert_uint_eq(snap.times_shorted, 0);
	ck_assert_uint_eq(snap.current_sleep_time, 3000);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
	ck_assert_uint_eq(sleeper.sleeps[0], 1000);

	for (int i = 0; i < 4; i++)
		circuits_circuit_short(&circuit);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&circuit), 4);
	ck_assert_int_eq(circuits_circuit_trip(&circuit), CIRCUITS_TRIPPED);
	circuits_circuit_snapshot(&circuit, &snap);
	ck_assert_uint_eq(snap.total_trips, 2);
	ck_assert_uint_eq(snap.backoff_level, 2);
	ck_assert_uint_eq(snap.times_shorted, 0);
	ck_assert_uint_eq(snap.current_sleep_time, 9000);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 2);
	ck_assert_uint_eq(sleeper.sleeps[1], 3000);
	/* The window restarted: four shorts count, the fifth trips. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(circuits_circuit_short(&circuit),
				 CIRCUITS_COUNTED);
	ck_assert_int_eq(circuits_circuit_short(&circuit), CIRCUITS_TRIPPED);
	ck_assert_uint_eq(sleeper.sleeps[2], 9000);
}
END_TEST

/* --- custom sleeps ------------------------------------------------------- */

/*
 * A custom sleep replaces the backoff of the caller that trips, with no
 * ceiling; a short_custom that does not trip owes and sleeps nothing; the
 * backoff level still steps, so current_sleep_time progresses exactly as
 * for ordinary trips.
 */
START_TEST(custom_sleeps_replace_the_backoff)
{
	static circuits_circuit_t circuit, twin;
	const uint64_t huge = CIRCUITS_SECONDS(3600); /* above the ceiling */
	uint64_t owed = 1;

	make(&twin, 2, 1000, CIRCUITS_SECONDS(1), 2.0);
	make(&circuit, 2, 1000, CIRCUITS_SECONDS(1), 2.0);
	ck_assert_int_eq(circuits_circuit_short_custom_nb(&circuit, huge,
							  &owed),
			 CIRCUITS_COUNTED);
	ck_assert_uint_eq(owed, 0);
	ck_assert_int_eq(circuits_circuit_short_custom_nb(&circuit, huge,
							  &owed),
			 CIRCUITS_TRIPPED);
	ck_assert_uint_eq(owed, huge);
	ck_assert_int_eq(circuits_circuit_trip_custom_nb(&circuit, 7, &owed),
			 CIRCUITS_TRIPPED);
	ck_assert_uint_eq(owed, 7);
	ck_assert_int_eq(circuits_circuit_short_custom(&circuit, 11),
			 CIRCUITS_COUNTED);
	ck_assert_int_eq(circuits_circuit_short_custom(&circuit, 11),
			 CIRCUITS_TRIPPED);
	ck_assert_int_eq(circuits_circuit_trip_custom(&circuit, 0),
			 CIRCUITS_TRIPPED);
	/* The blocking ones slept exactly their custom values. */
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 2);
	ck_assert_uint_eq(sleeper.sleeps[0], 11);
	ck_assert_uint_eq(sleeper.sleeps[1], 0);
	/* Four trips, as four ordinary ones would leave it. */
	for (int i = 0; i < 4; i++)
		circuits_circuit_trip_nb(&twin, NULL);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 4);
	ck_assert_uint_eq(circuits_circuit_current_sleep_time(&circuit),
			  circuits_circuit_current_sleep_time(&twin));
	ck_assert_uint_eq(circuits_circuit_current_sleep_time(&circuit),
			  16000);
}
END_TEST

/* --- reset_backoff() ----------------------------------------------------- */

/*
 * reset_backoff() puts the level (and so current_sleep_time) back to the
 * base and leaves the counts alone: times_shorted and total_trips are
 * unchanged, and the window in progress completes as before.
 */
START_TEST(reset_backoff_zeroes_level_only)
{
	static circuits_circuit_t circuit;
	circuits_snapshot_t snap;

	make(&circuit, 3, 10, CIRCUITS_SECONDS(1), 2.0);
	for (int i = 0; i < 5; i++)
		circuits_circuit_trip(&circuit);
	circuits_circuit_short(&circuit);
	circuits_circuit_short(&circuit);
	circuits_circuit_snapshot(&circuit, &snap);
	ck_assert_uint_eq(snap.backoff_level, 5);
	ck_assert_uint_eq(snap.current_sleep_time, 320);

	circuits_circuit_reset_backoff(&circuit);
	circuits_circuit_snapshot(&circuit, &snap);
	ck_assert_uint_eq(snap.backoff_level, 0);
	ck_assert_uint_eq(snap.current_sleep_time, 10);
	ck_assert_uint_eq(snap.times_shorted, 2);
	ck_assert_uint_eq(snap.total_trips, 5);
	/* Twice is the same as once. */
	circuits_circuit_reset_backoff(&circuit);
	circuits_circuit_snapshot(&circuit, &snap);
	ck_assert_uint_eq(snap.backoff_level, 0);
	ck_assert_uint_eq(snap.times_shorted, 2);
	/* The third short of the window trips and sleeps the base. */
	ck_assert_int_eq(circuits_circuit_short(&circuit), CIRCUITS_TRIPPED);
	ck_assert_uint_eq(sleeper.sleeps[5], 10);
	ck_assert_uint_eq(circuits_circuit_current_sleep_time(&circuit), 20);
}
END_TEST

/* --- reads --------------------------------------------------------------- */

/* Sequentially, the snapshot agrees with each single read after every
 * operation, and a circuit is never "broken". */
START_TEST(snapshot_agrees_with_reads)
{
	static circuits_circuit_t circuit;
	struct test_rng rng;

	make(&circuit, 4, 3, 1000, 1.5);
	test_rng_seed(&rng, 42);
	for (int i = 0; i < 2000; i++) {
		circuits_snapshot_t snap;
		uint64_t op = test_rng_below(&rng, 10);

		if (op < 7)
			circuits_circuit_short_nb(&circuit, NULL);
		else if (op < 9)
			circuits_circuit_trip_nb(&circuit, NULL);
		else
			circuits_circuit_reset_backoff(&circuit);
		circuits_circuit_snapshot(&circuit, &snap);
		ck_assert_uint_eq(snap.times_shorted,
				  circuits_circuit_times_shorted(&circuit));
		ck_assert_uint_eq(snap.total_trips,
				  circuits_circuit_total_trips(&circuit));
		ck_assert_uint_eq(
			snap.current_sleep_time,
			circuits_circuit_current_sleep_time(&circuit));
		ck_assert(!snap.broken);
		ck_assert_uint_lt(snap.times_shorted, 4);
	}
}
END_TEST

/*
 * total_trips is a 64-bit count, not the 16-bit sequence the state word
 * holds: well past 2^16 (and 2^17) trips it is still exact, through shorts
 * and trips alike.
 */
START_TEST(total_trips_past_16_bits)
{
	static circuits_circuit_t circuit;
	const uint64_t trips = (UINT64_C(1) << 17) + 4321;
	circuits_snapshot_t snap;

	make(&circuit, 1, 0, 0, 1.0);
	for (uint64_t i = 0; i < trips; i++) {
		int rc = (i & 1) ? circuits_circuit_short_nb(&circuit, NULL)
				 : circuits_circuit_trip_nb(&circuit, NULL);

		ck_assert_int_eq(rc, CIRCUITS_TRIPPED);
		if ((i & 0x3fff) == 0)
			ck_assert_uint_eq(
				circuits_circuit_total_trips(&circuit), i + 1);
	}
	circuits_circuit_snapshot(&circuit, &snap);
	ck_assert_uint_eq(snap.total_trips, trips);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), trips);
	ck_assert_uint_eq(snap.backoff_level, CIRCUITS_MAX_BACKOFF_LEVEL);
}
END_TEST

/*
 * Circuits side by side in an array do not share a hot cache line: the
 * handle is cache-line aligned and sized, the state a handle uses starts a
 * line, and the read-only configuration starts the next one, so that
 * reading it never contends with the operations' writes.
 */
START_TEST(handles_own_their_cache_lines)
{
	static circuits_circuit_t array[3];
	static circuits_breaking_t barray[3];

	ck_assert_uint_eq(sizeof(circuits_circuit_t) % CIRCUITS_CACHE_LINE, 0);
	ck_assert_uint_eq(sizeof(circuits_breaking_t) % CIRCUITS_CACHE_LINE,
			  0);
	for (int i = 0; i < 3; i++) {
		circuits_config_t config;

		circuits_config_init(&config, 2);
		ck_assert_int_eq(circuits_circuit_init(&array[i], &config), 0);
		ck_assert_int_eq(circuits_breaking_init(&barray[i], &config),
				 0);
		ck_assert_uint_eq((uintptr_t)array[i].state %
					  CIRCUITS_CACHE_LINE,
				  0);
		ck_assert_uint_eq((uintptr_t)barray[i].state %
					  CIRCUITS_CACHE_LINE,
				  0);
		ck_assert_uint_eq((uintptr_t)&array[i].state->threshold -
					  (uintptr_t)array[i].state,
				  CIRCUITS_CACHE_LINE);
	}
	/* Separate circuits are independent. */
	circuits_circuit_short(&array[0]);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&array[0]), 1);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&array[1]), 0);
}
END_TEST

static Suite *
circuit_suite(void)
{
	Suite *suite = suite_create("circuit");
	TCase *tc = tcase_create("circuit");

	tcase_add_loop_test(tc, threshold_trips_every_nth_short, 0, 6);
	tcase_add_test(tc, largest_threshold_counts);
	tcase_add_test(tc, only_the_tripping_caller_sleeps);
	tcase_add_test(tc, shorts_during_the_sleep_count_toward_next_window);
	tcase_add_test(tc, trip_trips_at_once);
	tcase_add_test(tc, custom_sleeps_replace_the_backoff);
	tcase_add_test(tc, reset_backoff_zeroes_level_only);
	tcase_add_test(tc, snapshot_agrees_with_reads);
	tcase_add_test(tc, total_trips_past_16_bits);
	tcase_add_test(tc, handles_own_their_cache_lines);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(circuit_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
