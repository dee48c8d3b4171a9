/*
 * test_breaking.c - the breaking (manual-reset) circuit, one rule at a time
 * (CTest label unit).
 *
 * Single-threaded, with a recording fake sleeper.  The rules pinned: the
 * short that brings the count to N breaks it (broken, count 0, total_trips
 * + 1, level unchanged) and that caller alone sleeps; while broken, shorts
 * and trips count nothing, sleep nothing and say "already broken"; reset()
 * closes it and steps the level once per real break, and only zeroes the
 * count when it was not broken; reset_backoff() leaves the broken flag.
 */
#include <check.h>
#include <stdio.h>

#include "support.h"

static struct fake_sleeper sleeper;

static void
make(circuits_breaking_t *breaker, uint32_t n, uint64_t base, uint64_t max,
     double factor)
{
	circuits_config_t config;

	circuits_config_init(&config, n);
	config.sleep_time_after_trip = base;
	config.max_sleep_time = max;
	config.backoff_factor = factor;
	ck_assert_int_eq(circuits_breaking_init(breaker, &config), CIRCUITS_OK);
	memset(&sleeper, 0, sizeof sleeper);
	circuits_breaking_set_sleeper(breaker, fake_sleep, &sleeper);
}

/* Everything one can read, so that "no state change" can be asserted. */
static void
expect_state(circuits_breaking_t *breaker, uint64_t shorted, uint64_t trips,
	     uint32_t level, bool broken)
{
	circuits_snapshot_t snap;

	circuits_breaking_snapshot(breaker, &snap);
	ck_assert_uint_eq(snap.times_shorted, shorted);
	ck_assert_uint_eq(snap.total_trips, trips);
	ck_assert_uint_eq(snap.backoff_level, level);
	ck_assert_int_eq(snap.broken, broken);
	ck_assert_int_eq(circuits_breaking_broken(breaker), broken);
	ck_assert_uint_eq(circuits_breaking_times_shorted(breaker), shorted);
	ck_assert_uint_eq(circuits_breaking_total_trips(breaker), trips);
	ck_assert_uint_eq(circuits_breaking_current_sleep_time(breaker),
			  snap.current_sleep_time);
}

/* --- breaking ------------------------------------------------------------ */

/*
 * For several N: N-1 shorts are counted, the N-th breaks it; a break does
 * not step the level (a breaker steps it on reset), and the breaking caller
 * sleeps current_sleep_time.
 */
START_TEST(nth_short_breaks)
{
	static const uint32_t thresholds[] = {1, 2, 5, 77};
	uint32_t n = thresholds[_i];
	static circuits_breaking_t breaker;

	make(&breaker, n, 250, CIRCUITS_SECONDS(1), 2.0);
	for (uint32_t k = 1; k < n; k++) {
		ck_assert_int_eq(circuits_breaking_short(&breaker),
				 CIRCUITS_COUNTED);
		expect_state(&breaker, k, 0, 0, false);
	}
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 0);
	ck_assert_int_eq(circuits_breaking_short(&breaker), CIRCUITS_TRIPPED);
	expect_state(&breaker, 0, 1, 0, true);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
	ck_assert_uint_eq(sleeper.sleeps[0], 250);
	ck_assert_uint_eq(circuits_breaking_current_sleep_time(&breaker), 250);
}
END_TEST

/* The largest threshold: counted, never mistaken for a break (the count is
 * stored offset from 2^34 - N, so this pins that arithmetic). */
START_TEST(largest_threshold_counts)
{
	static circuits_breaking_t breaker;

	make(&breaker, UINT32_MAX, 0, 0, 1.0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(circuits_breaking_short(&breaker),
				 CIRCUITS_COUNTED);
	expect_state(&breaker, 1000, 0, 0, false);
	ck_assert_int_eq(circuits_breaking_trip(&breaker), CIRCUITS_TRIPPED);
	expect_state(&breaker, 0, 1, 0, true);
	ck_assert(circuits_breaking_reset(&breaker));
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(circuits_breaking_short(&breaker),
				 CIRCUITS_COUNTED);
	expect_state(&breaker, 1000, 1, 1, false);
}
END_TEST

/*
 * While broken, shorts (custom or not, blocking or not) and trips change
 * nothing, owe nothing, sleep nothing and say ALREADY_BROKEN.
 */
START_TEST(broken_counts_nothing)
{
	static circuits_breaking_t breaker;
	uint64_t owed;

	make(&breaker, 3, 500, CIRCUITS_SECONDS(1), 2.0);
	ck_assert_int_eq(circuits_breaking_trip(&breaker), CIRCUITS_TRIPPED);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
	for (int i = 0; i < 10; i++) {
		owed = 12345;
		ck_assert_int_eq(circuits_breaking_short(&breaker),
				 CIRCUITS_ALREADY_BROKEN);
		ck_assert_int_eq(circuits_breaking_short_custom(&breaker, 9),
				 CIRCUITS_ALREADY_BROKEN);
		ck_assert_int_eq(circuits_breaking_short_nb(&breaker, &owed),
				 CIRCUITS_ALREADY_BROKEN);
		ck_assert_uint_eq(owed, 0);
		owed = 12345;
		ck_assert_int_eq(circuits_breaking_short_custom_nb(&breaker, 9,
								   &owed),
				 CIRCUITS_ALREADY_BROKEN);
		ck_assert_uint_eq(owed, 0);
		ck_assert_int_eq(circuits_breaking_trip(&breaker),
				 CIRCUITS_ALREADY_BROKEN);
		ck_assert_int_eq(circuits_breaking_trip_custom(&breaker, 9),
				 CIRCUITS_ALREADY_BROKEN);
		owed = 12345;
		ck_assert_int_eq(circuits_breaking_trip_nb(&breaker, &owed),
				 CIRCUITS_ALREADY_BROKEN);
		ck_assert_uint_eq(owed, 0);
		owed = 12345;
		ck_assert_int_eq(circuits_breaking_trip_custom_nb(&breaker, 9,
								  &owed),
				 CIRCUITS_ALREADY_BROKEN);
		ck_assert_uint_eq(owed, 0);
		expect_state(&breaker, 0, 1, 0, true);
	}
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
}
END_TEST

/*
 * Shorts on a broken circuit must not leak into the next window: after
 * many of them and a reset, it still takes exactly N fresh shorts to break
 * again.  (The implementation keeps adding to a hidden count while broken;
 * this pins that the hidden count is discarded.)
 */
START_TEST(shorts_while_broken_do_not_leak)
{
	static circuits_breaking_t breaker;

	make(&breaker, 4, 0, 0, 1.0);
	circuits_breaking_short(&breaker);
	circuits_breaking_short(&breaker);
	circuits_breaking_trip(&breaker);
	for (int i = 0; i < 100003; i++)
		circuits_breaking_short_nb(&breaker, NULL);
	ck_assert(circuits_breaking_reset(&breaker));
	expect_state(&breaker, 0, 1, 1, false);
	for (int k = 1; k < 4; k++)
		ck_assert_int_eq(circuits_breaking_short(&breaker),
				 CIRCUITS_COUNTED);
	ck_assert_int_eq(circuits_breaking_short(&breaker), CIRCUITS_TRIPPED);
	expect_state(&breaker, 0, 2, 1, true);
}
END_TEST

/*
 * White-box: the hidden count of a broken circuit is put back to 0 once it
 * passes 2^33 (src/state.h), long before it could carry out of its 34 bits
 * and flip the broken bit.  Reaching 2^33 by calling short() would take
 * hours, so the word is set just below the limit by hand.  (Tests can see
 * the word: it is the first field of the handle's public state.)
 */
START_TEST(hidden_count_is_trimmed_before_it_carries)
{
	static circuits_breaking_t breaker;
	const uint64_t limit = UINT64_C(1) << 33;
	uint64_t word;

	make(&breaker, 4, 0, 0, 1.0);
	circuits_breaking_trip(&breaker);
	word = __atomic_load_n(&breaker.state->word, __ATOMIC_RELAXED);
	ck_assert(word & CIRCUITS_BROKEN_BIT_);
	/* Keep seq, level and the broken bit; hidden count just below 2^33. */
	word = (word & ~((UINT64_C(1) << 34) - 1)) | (limit - 1);
	__atomic_store_n(&breaker.state->word, word, __ATOMIC_RELAXED);

	/* It saw a count below the limit: added to it, nothing trimmed. */
	ck_assert_int_eq(circuits_breaking_short(&breaker),
			 CIRCUITS_ALREADY_BROKEN);
	ck_assert_uint_eq(__atomic_load_n(&breaker.state->word,
					  __ATOMIC_RELAXED) &
				  ((UINT64_C(1) << 34) - 1),
			  limit);
	/* The short that sees the limit trims the count back to 0... */
	ck_assert_int_eq(circuits_breaking_short(&breaker),
			 CIRCUITS_ALREADY_BROKEN);
	ck_assert_uint_eq(__atomic_load_n(&breaker.state->word,
					  __ATOMIC_RELAXED) &
				  ((UINT64_C(1) << 34) - 1),
			  0);
	/* ...and nothing else changed: still broken, one break, level 0. */
	expect_state(&breaker, 0, 1, 0, true);
	ck_assert(circuits_breaking_broken(&breaker));
}
END_TEST

/* trip() on a closed circuit breaks it at once, whatever the count, and
 * its caller sleeps current_sleep_time. */
START_TEST(trip_breaks_at_once)
{
	static circuits_breaking_t breaker;

	make(&breaker, 10, 700, CIRCUITS_SECONDS(1), 2.0);
	for (int i = 0; i < 6; i++)
		circuits_breaking_short(&breaker);
	expect_state(&breaker, 6, 0, 0, false);
	ck_assert_int_eq(circuits_breaking_trip(&breaker), CIRCUITS_TRIPPED);
	expect_state(&breaker, 0, 1, 0, true);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
	ck_assert_uint_eq(sleeper.sleeps[0], 700);
}
END_TEST

/* --- reset() ------------------------------------------------------------- */

/*
 * reset() on a broken circuit closes it, zeroes the count, steps the level
 * once and returns true; a second reset() finds it closed, returns false
 * and steps nothing.  The next break sleeps the stepped backoff.
 */
START_TEST(reset_closes_and_steps_once)
{
	static circuits_breaking_t breaker;

	make(&breaker, 2, 100, CIRCUITS_SECONDS(1), 3.0);
	circuits_breaking_trip(&breaker);
	ck_assert(circuits_breaking_reset(&breaker));
	expect_state(&breaker, 0, 1, 1, false);
	ck_assert_uint_eq(circuits_breaking_current_sleep_time(&breaker), 300);
	ck_assert(!circuits_breaking_reset(&breaker));
	ck_assert(!circuits_breaking_reset(&breaker));
	expect_state(&breaker, 0, 1, 1, false);
	ck_assert_int_eq(circuits_breaking_short(&breaker), CIRCUITS_COUNTED);
	ck_assert_int_eq(circuits_breaking_short(&breaker), CIRCUITS_TRIPPED);
	ck_assert_uint_eq(sleeper.sleeps[1], 300);
	ck_assert(circuits_breaking_reset(&breaker));
	ck_assert_uint_eq(circuits_breaking_current_sleep_time(&breaker), 900);
	expect_state(&breaker, 0, 2, 2, false);
}
END_TEST

/* reset() on a closed circuit zeroes the count (so the window starts
 * over) and steps no backoff. */
START_TEST(reset_when_closed_zeroes_count_only)
{
	static circuits_breaking_t breaker;

	make(&breaker, 3, 100, CIRCUITS_SECONDS(1), 2.0);
	circuits_breaking_short(&breaker);
	circuits_breaking_short(&breaker);
	expect_state(&breaker, 2, 0, 0, false);
	ck_assert(!circuits_breaking_reset(&breaker));
	expect_state(&breaker, 0, 0, 0, false);
	ck_assert_int_eq(circuits_breaking_short(&breaker), CIRCUITS_COUNTED);
	ck_assert_int_eq(circuits_breaking_short(&breaker), CIRCUITS_COUNTED);
	ck_assert_int_eq(circuits_breaking_short(&breaker), CIRCUITS_TRIPPED);
	ck_assert_uint_eq(sleeper.sleeps[0], 100);
}
END_TEST

/* --- reset_backoff() ----------------------------------------------------- */

/* reset_backoff() zeroes the level, broken or not, and leaves the broken
 * flag, the count and total_trips alone. */
START_TEST(reset_backoff_leaves_broken_flag)
{
	static circuits_breaking_t breaker;

	make(&breaker, 3, 100, CIRCUITS_SECONDS(1), 2.0);
	for (int i = 0; i < 3; i++) {
		circuits_breaking_trip(&breaker);
		circuits_breaking_reset(&breaker);
	}
	circuits_breaking_trip(&breaker);
	expect_state(&breaker, 0, 4, 3, true);
	circuits_breaking_reset_backoff(&breaker);
	expect_state(&breaker, 0, 4, 0, true);
	ck_assert_uint_eq(circuits_breaking_current_sleep_time(&breaker), 100);
	ck_assert(circuits_breaking_reset(&breaker));
	expect_state(&breaker, 0, 4, 1, false);
	circuits_breaking_short(&breaker);
	circuits_breaking_short(&breaker);
	circuits_breaking_reset_backoff(&breaker);
	expect_state(&breaker, 2, 4, 0, false);
	circuits_breaking_reset_backoff(&breaker);
	expect_state(&breaker, 2, 4, 0, false);
}
END_TEST

/* --- reads --------------------------------------------------------------- */

/*
 * total_trips counts breaks past 2^16 (the word's sequence is 16 bits and
 * counts breaks plus resets), and the broken flag stays right through the
 * wrap.
 */
START_TEST(total_trips_past_16_bits)
{
	static circuits_breaking_t breaker;
	const uint64_t breaks = (UINT64_C(1) << 16) + 777;

	make(&breaker, 1, 0, 0, 1.0);
	for (uint64_t i = 0; i < breaks; i++) {
		ck_assert_int_eq((i & 1) ? circuits_breaking_short_nb(&breaker,
								      NULL)
					 : circuits_breaking_trip_nb(&breaker,
								     NULL),
				 CIRCUITS_TRIPPED);
		ck_assert(circuits_breaking_broken(&breaker));
		ck_assert(circuits_breaking_reset(&breaker));
		ck_assert(!circuits_breaking_broken(&breaker));
	}
	circuits_breaking_trip_nb(&breaker, NULL);
	expect_state(&breaker, 0, breaks + 1, CIRCUITS_MAX_BACKOFF_LEVEL,
		     true);
}
END_TEST

/* A breaker's snapshot, single reads and the inline broken() agree after
 * every operation of a long random sequence. */
START_TEST(snapshot_agrees_with_reads)
{
	static circuits_breaking_t breaker;
	struct test_rng rng;

	make(&breaker, 3, 3, 1000, 1.5);
	test_rng_seed(&rng, 7);
	for (int i = 0; i < 3000; i++) {
		circuits_snapshot_t snap;
		uint64_t op = test_rng_below(&rng, 10);

		if (op < 6)
			circuits_breaking_short_nb(&breaker, NULL);
		else if (op < 7)
			circuits_breaking_trip_nb(&breaker, NULL);
		else if (op < 9)
			circuits_breaking_reset(&breaker);
		else
			circuits_breaking_reset_backoff(&breaker);
		circuits_breaking_snapshot(&breaker, &snap);
		ck_assert_uint_eq(snap.times_shorted,
				  circuits_breaking_times_shorted(&breaker));
		ck_assert_uint_eq(snap.total_trips,
				  circuits_breaking_total_trips(&breaker));
		ck_assert_uint_eq(
			snap.current_sleep_time,
			circuits_breaking_current_sleep_time(&breaker));
		ck_assert_int_eq(snap.broken,
				 circuits_breaking_broken(&breaker));
		/* Broken circuits have no count; closed ones below N. */
		ck_assert_uint_lt(snap.times_shorted, snap.broken ? 1 : 3);
	}
}
END_TEST

static Suite *
breaking_suite(void)
{
	Suite *suite = suite_create("breaking");
	TCase *tc = tcase_create("breaking");

	tcase_add_loop_test(tc, nth_short_breaks, 0, 4);
	tcase_add_test(tc, largest_threshold_counts);
	tcase_add_test(tc, broken_counts_nothing);
	tcase_add_test(tc, shorts_while_broken_do_not_leak);
	tcase_add_test(tc, hidden_count_is_trimmed_before_it_carries);
	tcase_add_test(tc, trip_breaks_at_once);
	tcase_add_test(tc, reset_closes_and_steps_once);
	tcase_add_test(tc, reset_when_closed_zeroes_count_only);
	tcase_add_test(tc, reset_backoff_leaves_broken_flag);
	tcase_add_test(tc, total_trips_past_16_bits);
	tcase_add_test(tc, snapshot_agrees_with_reads);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(breaking_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
