/*
 * test_hooks.c - the non-blocking variants, the trip listener and the hook
 * setters, on both kinds of circuit (CTest label unit).
 *
 * Pinned here: a non-blocking call makes the same state change as the
 * blocking one, returns the sleep owed and never calls the sleeper; the
 * blocking call is the non-blocking one plus a sleep of exactly that value;
 * the listener is called only by the caller that won a trip or break, after
 * the state changed and before it sleeps, with a snapshot and the chosen
 * sleep; a NULL hook restores the default.
 */
#include <check.h>
#include <stdio.h>

#include "support.h"

static struct fake_sleeper sleeper;

static void
init_any(struct any_circuit *c, bool breaking, uint32_t n, double jitter)
{
	circuits_config_t config;

	circuits_config_init(&config, n);
	config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(10);
	config.max_sleep_time = CIRCUITS_SECONDS(1);
	config.backoff_factor = 2.0;
	config.jitter = jitter;
	ck_assert_int_eq(any_init(c, breaking, &config), CIRCUITS_OK);
}

static void
expect_same_state(const struct any_circuit *a, const struct any_circuit *b)
{
	circuits_snapshot_t x, y;

	any_snapshot(a, &x);
	any_snapshot(b, &y);
	ck_assert_uint_eq(x.times_shorted, y.times_shorted);
	ck_assert_uint_eq(x.total_trips, y.total_trips);
	ck_assert_uint_eq(x.current_sleep_time, y.current_sleep_time);
	ck_assert_uint_eq(x.backoff_level, y.backoff_level);
	ck_assert_int_eq(x.broken, y.broken);
}

/* run_op()'s result for the operations that have no outcome. */
#define NO_OUTCOME (-100)

/*
 * One operation chosen by a number in [0, 10): short, custom short, trip,
 * custom trip, and (rarely) reset or reset_backoff.  Returns the outcome,
 * or NO_OUTCOME.
 */
static int
run_op(struct any_circuit *c, uint64_t op, uint64_t custom_ns,
       enum any_mode mode, uint64_t *owed)
{
	switch (op) {
	case 0: case 1: case 2: case 3:
		return any_short(c, false, 0, mode, owed);
	case 4:
		return any_short(c, true, custom_ns, mode, owed);
	case 5:
		return any_trip(c, false, 0, mode, owed);
	case 6:
		return any_trip(c, true, custom_ns, mode, owed);
	case 7: case 8:
		if (c->breaking) {
			circuits_breaking_reset(&c->u.breaker);
			return NO_OUTCOME;
		}
		return any_short(c, false, 0, mode, owed);
	default:
		any_reset_backoff(c);
		return NO_OUTCOME;
	}
}

/* --- non-blocking = blocking minus the sleep ----------------------------- */

/*
 * Two twins run the same 3000 random operations with the same random
 * source, one blocking, one non-blocking.  They give the same outcomes
 * and states; the blocking twin's sleeper is called once per TRIPPED
 * outcome, never otherwise, with exactly what the non-blocking twin was
 * told it owes; the non-blocking twin's sleeper is never called.
 */
START_TEST(blocking_is_non_blocking_plus_sleep)
{
	static struct fake_sleeper nb_sleeper;

	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit blocking, nb;
		struct test_rng ops, rng_a, rng_b;
		uint64_t trips = 0;

		init_any(&blocking, kind == 1, 3, 0.3);
		init_any(&nb, kind == 1, 3, 0.3);
		memset(&sleeper, 0, sizeof sleeper);
		memset(&nb_sleeper, 0, sizeof nb_sleeper);
		any_set_sleeper(&blocking, fake_sleep, &sleeper);
		any_set_sleeper(&nb, fake_sleep, &nb_sleeper);
		test_rng_seed(&rng_a, 11);
		test_rng_seed(&rng_b, 11);
		any_set_random(&blocking, test_rng_hook, &rng_a);
		any_set_random(&nb, test_rng_hook, &rng_b);
		test_rng_seed(&ops, 12 + kind);
		for (int i = 0; i < 3000; i++) {
			uint64_t op = test_rng_below(&ops, 10);
			uint64_t custom = test_rng_below(&ops, 1000000);
			uint64_t owed = UINT64_MAX;
			uint64_t slept = fake_sleep_count(&sleeper);
			int a = run_op(&blocking, op, custom, ANY_BLOCKING,
				       NULL);
			int b = run_op(&nb, op, custom, ANY_NB, &owed);

			ck_assert_int_eq(a, b);
			if (a == CIRCUITS_TRIPPED) {
				ck_assert_uint_eq(fake_sleep_count(&sleeper),
						  slept + 1);
				ck_assert_uint_eq(sleeper.sleeps[slept], owed);
				trips++;
			} else {
				ck_assert_uint_eq(fake_sleep_count(&sleeper),
						  slept);
				if (a != NO_OUTCOME)
					ck_assert_uint_eq(owed, 0);
			}
			expect_same_state(&blocking, &nb);
		}
		ck_assert_uint_gt(trips, 300);
		ck_assert_uint_eq(fake_sleep_count(&nb_sleeper), 0);
		ck_assert_uint_eq(rng_a.draws, rng_b.draws);
	}
}
END_TEST

/* owed_ns may be NULL: the call still makes its state change, draws the
 * same jitter, and (like every non-blocking call) sleeps nothing. */
START_TEST(non_blocking_with_null_owed)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit with, without;
		struct test_rng ops, rng_a, rng_b;

		init_any(&with, kind == 1, 2, 0.5);
		init_any(&without, kind == 1, 2, 0.5);
		memset(&sleeper, 0, sizeof sleeper);
		any_set_sleeper(&with, fake_sleep, &sleeper);
		any_set_sleeper(&without, fake_sleep, &sleeper);
		test_rng_seed(&rng_a, 21);
		test_rng_seed(&rng_b, 21);
		any_set_random(&with, test_rng_hook, &rng_a);
		any_set_random(&without, test_rng_hook, &rng_b);
		test_rng_seed(&ops, 22);
		for (int i = 0; i < 1000; i++) {
			uint64_t op = test_rng_below(&ops, 10), owed;

			ck_assert_int_eq(run_op(&with, op, 5, ANY_NB, &owed),
					 run_op(&without, op, 5, ANY_NB_NULL,
						&owed));
			expect_same_state(&with, &without);
		}
		ck_assert_uint_eq(rng_a.draws, rng_b.draws);
		ck_assert_uint_gt(rng_a.draws, 100);
		ck_assert_uint_eq(fake_sleep_count(&sleeper), 0);
	}
}
END_TEST

/* --- the trip listener --------------------------------------------------- */

/* What the listener saw, and when. */
struct watch {
	struct any_circuit *c;
	int calls;
	void *arg_seen;
	circuits_trip_event_t event;
	circuits_snapshot_t inside;  /* public snapshot read in the listener */
	uint64_t sleeps_before;	     /* sleeper calls when it ran */
	int listener_calls_at_sleep; /* listener calls when the sleep ran */
	int sleeps;
	uint64_t slept; /* the last sleep asked for */
};

static void
watch_listener(const circuits_trip_event_t *event, void *arg)
{
	struct watch *w = arg;

	w->calls++;
	w->arg_seen = arg;
	w->event = *event;
	any_snapshot(w->c, &w->inside);
	w->sleeps_before = (uint64_t)w->sleeps;
}

static void
watch_sleep(uint64_t ns, void *arg)
{
	struct watch *w = arg;

	w->slept = ns;
	w->sleeps++;
	w->listener_calls_at_sleep = w->calls;
}

/*
 * Over a random sequence on both kinds, blocking and not: the listener
 * runs exactly when the call returns TRIPPED (never for COUNTED, ALREADY
 * BROKEN, resets or reset_backoff), gets its own arg, sees the trip
 * already in the public state, runs before the sleep, and reports the
 * snapshot right after the trip, the sleep owed, the un-jittered planned
 * sleep (the pre-trip backoff or the custom value) and whether it was
 * custom.
 */
START_TEST(listener_called_by_winner_only)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		struct watch w = {0};
		struct test_rng ops, rng;
		int trips = 0;

		init_any(&c, kind == 1, 3, 0.25);
		w.c = &c;
		any_set_listener(&c, watch_listener, &w);
		any_set_sleeper(&c, watch_sleep, &w);
		test_rng_seed(&rng, 31);
		any_set_random(&c, test_rng_hook, &rng);
		test_rng_seed(&ops, 32);
		for (int i = 0; i < 2000; i++) {
			uint64_t op = test_rng_below(&ops, 10);
			uint64_t custom = test_rng_below(&ops, 5000000);
			enum any_mode mode =
				test_rng_below(&ops, 2) ? ANY_NB : ANY_BLOCKING;
			circuits_snapshot_t after, before;
			uint64_t owed = 0;
			int calls = w.calls, sleeps = w.sleeps, rc;

			any_snapshot(&c, &before);
			rc = run_op(&c, op, custom, mode, &owed);
			any_snapshot(&c, &after);
			if (rc != CIRCUITS_TRIPPED) {
				ck_assert_int_eq(w.calls, calls);
				continue;
			}
			trips++;
			ck_assert_int_eq(w.calls, calls + 1);
			ck_assert_ptr_eq(w.arg_seen, &w);
			/* After the state change, before the sleep. */
			ck_assert_uint_eq(w.inside.total_trips,
					  before.total_trips + 1);
			ck_assert_uint_eq(w.sleeps_before, (uint64_t)sleeps);
			if (mode == ANY_BLOCKING) {
				ck_assert_int_eq(w.sleeps, sleeps + 1);
				ck_assert_int_eq(w.listener_calls_at_sleep,
						 calls + 1);
				ck_assert_uint_eq(w.slept, w.event.sleep);
			} else {
				ck_assert_int_eq(w.sleeps, sleeps);
				ck_assert_uint_eq(w.event.sleep, owed);
			}
			/* The event's snapshot is the state after the trip. */
			ck_assert_uint_eq(w.event.state.total_trips,
					  after.total_trips);
			ck_assert_uint_eq(w.event.state.times_shorted,
					  after.times_shorted);
			ck_assert_uint_eq(w.event.state.backoff_level,
					  after.backoff_level);
			ck_assert_uint_eq(w.event.state.current_sleep_time,
					  after.current_sleep_time);
			ck_assert_int_eq(w.event.state.broken, after.broken);
			ck_assert_int_eq(w.event.custom, op == 4 || op == 6);
			ck_assert_uint_eq(w.event.planned_sleep,
					  w.event.custom
						  ? custom
						  : before.current_sleep_time);
			/* Jitter 0.25 around the planned sleep. */
			ck_assert_uint_ge(w.event.sleep,
					  w.event.planned_sleep * 3 / 4);
			ck_assert_uint_le(w.event.sleep,
					  w.event.planned_sleep * 5 / 4 + 1);
		}
		ck_assert_int_gt(trips, 200);
	}
}
END_TEST

/* A broken breaker's shorts and trips do not call the listener; neither
 * do reset() and reset_backoff(), which are not trips. */
START_TEST(listener_not_called_when_already_broken)
{
	static struct any_circuit c;
	struct watch w = {0};

	init_any(&c, true, 2, 0.0);
	w.c = &c;
	any_set_listener(&c, watch_listener, &w);
	any_set_sleeper(&c, watch_sleep, &w);
	ck_assert_int_eq(any_trip(&c, false, 0, ANY_BLOCKING, NULL),
			 CIRCUITS_TRIPPED);
	ck_assert_int_eq(w.calls, 1);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(any_short(&c, false, 0, ANY_BLOCKING, NULL),
				 CIRCUITS_ALREADY_BROKEN);
		ck_assert_int_eq(any_trip(&c, true, 5, ANY_NB_NULL, NULL),
				 CIRCUITS_ALREADY_BROKEN);
	}
	circuits_breaking_reset_backoff(&c.u.breaker);
	ck_assert(circuits_breaking_reset(&c.u.breaker));
	ck_assert(!circuits_breaking_reset(&c.u.breaker));
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(w.sleeps, 1);
}
END_TEST

/* --- setters ------------------------------------------------------------- */

static void *random_arg_seen;

static uint64_t
arg_random(void *arg)
{
	random_arg_seen = arg;
	return 0;
}

/*
 * Each hook receives the arg it was installed with; NULL restores the
 * default: no listener, the default random source (draws vary from trip to
 * trip, where the fixed source gave one value) and the default sleeper (a
 * real sleep, no call to the fake one).
 */
START_TEST(null_restores_defaults)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		struct watch w = {0};
		uint64_t fixed = UINT64_C(1) << 62, owed, first, start;
		int distinct = 0;

		init_any(&c, kind == 1, 1, 1.0);
		w.c = &c;
		any_set_listener(&c, watch_listener, &w);
		any_set_random(&c, arg_random, &fixed);
		memset(&sleeper, 0, sizeof sleeper);
		any_set_sleeper(&c, fake_sleep, &sleeper);
		ck_assert_int_eq(any_trip(&c, false, 0, ANY_BLOCKING, NULL),
				 CIRCUITS_TRIPPED);
		ck_assert_ptr_eq(random_arg_seen, &fixed);
		ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
		ck_assert_int_eq(w.calls, 1);
		if (kind == 1)
			circuits_breaking_reset(&c.u.breaker);

		/* Listener NULL: no more calls. */
		any_set_listener(&c, NULL, &w);
		any_trip(&c, false, 0, ANY_NB, &owed);
		ck_assert_int_eq(w.calls, 1);

		/* Random NULL: the default source varies. */
		any_set_random(&c, NULL, &fixed);
		any_reset_backoff(&c);
		first = 0;
		for (int i = 0; i < 50; i++) {
			if (kind == 1)
				circuits_breaking_reset(&c.u.breaker);
			any_reset_backoff(&c);
			any_trip(&c, false, 0, ANY_NB, &owed);
			ck_assert_uint_le(owed, 2 * CIRCUITS_MILLISECONDS(10));
			distinct += i > 0 && owed != first;
			first = i == 0 ? owed : first;
		}
		ck_assert_int_gt(distinct, 40);

		/* Sleeper NULL: a real sleep of what the trip owed (the
		 * listener says how much), and no call to the fake one. */
		fixed = UINT64_C(1) << 63;
		any_set_random(&c, fixed_random, &fixed);
		any_set_sleeper(&c, NULL, &sleeper);
		any_set_listener(&c, watch_listener, &w);
		if (kind == 1)
			circuits_breaking_reset(&c.u.breaker);
		any_reset_backoff(&c);
		start = test_clock_ns();
		ck_assert_int_eq(any_trip(&c, false, 0, ANY_BLOCKING, NULL),
				 CIRCUITS_TRIPPED);
		ck_assert_int_eq(w.calls, 2);
		ck_assert_uint_gt(w.event.sleep, CIRCUITS_MILLISECONDS(1));
		ck_assert_uint_ge(test_clock_ns() - start, w.event.sleep);
		ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
	}
}
END_TEST

static Suite *
hooks_suite(void)
{
	Suite *suite = suite_create("hooks");
	TCase *tc = tcase_create("hooks");

	tcase_add_test(tc, blocking_is_non_blocking_plus_sleep);
	tcase_add_test(tc, non_blocking_with_null_owed);
	tcase_add_test(tc, listener_called_by_winner_only);
	tcase_add_test(tc, listener_not_called_when_already_broken);
	tcase_add_test(tc, null_restores_defaults);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(hooks_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
