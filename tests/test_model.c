/*
 * test_model.c - the library against the sequential reference model
 * (CTest label unit).
 *
 * Random but repeatable sequences of every operation (shorts and trips,
 * custom or not, blocking, non-blocking, non-blocking with a NULL owed_ns;
 * reset and reset_backoff; every read) run on a circuit and on
 * tests/model.c side by side, over many configurations of both kinds.
 * After every step the two must agree on the outcome, on whether a random
 * number was drawn, on the sleep owed (predicted by model_owed() from the
 * number drawn), on who slept and how long, on the listener's event, and on
 * the full snapshot.  A failure names the seed, configuration and step.
 */
#include <check.h>
#include <float.h>
#include <inttypes.h>
#include <stdio.h>

#include "model.h"
#include "support.h"

/* Where a failure happened, for the messages. */
struct where {
	int config;
	int kind;
	int step;
	int op;
};

/* Quiet on success (see QUIET_ASSERT in support.h): millions of them. */
#define EXPECT_U64(w, got, want, what)                                        \
	QUIET_ASSERT((uint64_t)(got) == (uint64_t)(want),                     \
		     "config %d kind %d step %d op %d: %s = %" PRIu64         \
		     ", model %" PRIu64,                                      \
		     (w)->config, (w)->kind, (w)->step, (w)->op, what,        \
		     (uint64_t)(got), (uint64_t)(want))

static struct fake_sleeper sleeper;

/* The listener's record of the last call. */
struct heard {
	int calls;
	circuits_trip_event_t event;
};

static void
hear(const circuits_trip_event_t *event, void *arg)
{
	struct heard *heard = arg;

	heard->calls++;
	heard->event = *event;
}

static void
expect_snapshot(const struct where *w, const struct any_circuit *c,
		const struct model *m)
{
	circuits_snapshot_t got, want;

	any_snapshot(c, &got);
	model_snapshot(m, &want);
	EXPECT_U64(w, got.times_shorted, want.times_shorted, "times_shorted");
	EXPECT_U64(w, got.total_trips, want.total_trips, "total_trips");
	EXPECT_U64(w, got.current_sleep_time, want.current_sleep_time,
		   "current_sleep_time");
	EXPECT_U64(w, got.backoff_level, want.backoff_level, "backoff_level");
	EXPECT_U64(w, got.broken, want.broken, "broken");
	if (c->breaking)
		EXPECT_U64(w, circuits_breaking_broken(&c->u.breaker),
			   want.broken, "broken()");
}

static void
expect_reads(const struct where *w, const struct any_circuit *c,
	     const struct model *m)
{
	circuits_snapshot_t want;

	model_snapshot(m, &want);
	EXPECT_U64(w, any_times_shorted(c), want.times_shorted,
		   "times_shorted()");
	EXPECT_U64(w, any_total_trips(c), want.total_trips, "total_trips()");
	EXPECT_U64(w, any_current_sleep_time(c), want.current_sleep_time,
		   "current_sleep_time()");
}

static const uint32_t thresholds[] = {1, 1, 2, 3, 4, 7, 16, UINT32_MAX};
static const uint64_t durations[] = {
	0,
	1,
	1000,
	1000000,
	CIRCUITS_SECONDS(1),
	CIRCUITS_SECONDS(10),
	CIRCUITS_SECONDS(60),
	UINT64_MAX / 3,
	UINT64_MAX,
};
static const double factors[] = {1.0, 1.0001, 1.5, 2.0, 3.0, 10.0,
				 1e300, DBL_MAX};
static const double jitters[] = {0.0, 0.0, 0.1, 0.5, 1.0};

#define PICK(rng, array)                                                      \
	array[test_rng_below(rng, sizeof array / sizeof array[0])]

/* A random valid configuration: mostly from the tables above, sometimes
 * arbitrary values in range. */
static void
random_config(struct test_rng *rng, circuits_config_t *config)
{
	circuits_config_init(config, PICK(rng, thresholds));
	if (test_rng_below(rng, 4) == 0)
		config->num_shorts_to_trip =
			1 + (uint32_t)test_rng_below(rng, 50);
	config->sleep_time_after_trip =
		test_rng_below(rng, 4) == 0 ? test_rng_next(rng) >> 20
					    : PICK(rng, durations);
	config->max_sleep_time = test_rng_below(rng, 4) == 0
					 ? test_rng_next(rng) >> 16
					 : PICK(rng, durations);
	config->backoff_factor =
		test_rng_below(rng, 4) == 0
			? 1.0 + (double)test_rng_below(rng, 1000) / 100.0
			: PICK(rng, factors);
	config->jitter = test_rng_below(rng, 4) == 0
				 ? (double)test_rng_below(rng, 1001) / 1000.0
				 : PICK(rng, jitters);
	ck_assert_int_eq(circuits_config_validate(config), CIRCUITS_OK);
}

static uint64_t
random_custom(struct test_rng *rng)
{
	switch (test_rng_below(rng, 5)) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX;
	case 2:
		return test_rng_next(rng);
	default:
		return test_rng_below(rng, CIRCUITS_SECONDS(2));
	}
}

/* Operation weights out of 100: short, custom short, trip, custom trip,
 * reset (breaker; reads for a circuit), reset_backoff, the rest reads. */
struct weights {
	int op[6];
};

enum { OP_SHORT, OP_SHORT_CUSTOM, OP_TRIP, OP_TRIP_CUSTOM, OP_RESET,
       OP_RESET_BACKOFF, OP_READ };

static int
pick_op(struct test_rng *rng, const struct weights *weights)
{
	int roll = (int)test_rng_below(rng, 100);

	for (int op = 0; op < 6; op++) {
		if (roll < weights->op[op])
			return op;
		roll -= weights->op[op];
	}
	return OP_READ;
}

/* One step: the same operation on both, then every comparison. */
static void
step(const struct where *w, struct any_circuit *c, struct model *m,
     struct test_rng *ops, struct test_rng *draws, struct heard *heard)
{
	bool custom = w->op == OP_SHORT_CUSTOM || w->op == OP_TRIP_CUSTOM;
	uint64_t custom_ns = custom ? random_custom(ops) : 0;
	enum any_mode mode = (enum any_mode)test_rng_below(ops, 3);
	uint64_t draws_before = draws->draws, owed = UINT64_MAX - 1;
	uint64_t slept_before = fake_sleep_count(&sleeper);
	int calls_before = heard->calls, rc, want;
	uint64_t planned, expected;
	bool drew;

	switch (w->op) {
	case OP_SHORT:
	case OP_SHORT_CUSTOM:
		rc = any_short(c, custom, custom_ns, mode, &owed);
		want = model_short(m, custom, custom_ns, &planned);
		break;
	case OP_TRIP:
	case OP_TRIP_CUSTOM:
		rc = any_trip(c, custom, custom_ns, mode, &owed);
		want = model_trip(m, custom, custom_ns, &planned);
		break;
	case OP_RESET:
		if (c->breaking) {
			EXPECT_U64(w, circuits_breaking_reset(&c->u.breaker),
				   model_reset(m), "reset()");
			return;
		}
		expect_reads(w, c, m);
		return;
	case OP_RESET_BACKOFF:
		any_reset_backoff(c);
		model_reset_backoff(m);
		return;
	default:
		expect_reads(w, c, m);
		return;
	}
	EXPECT_U64(w, rc, want, "outcome");
	/* A random number is drawn only for a trip with something to
	 * spread; the model says what that number makes of the sleep. */
	drew = rc == CIRCUITS_TRIPPED && m->config.jitter > 0 && planned > 0;
	EXPECT_U64(w, draws->draws, draws_before + drew, "draws");
	expected = rc == CIRCUITS_TRIPPED
			   ? model_owed(m, planned, custom,
					drew ? draws->last : 0)
			   : 0;
	if (mode == ANY_NB)
		EXPECT_U64(w, owed, expected, "owed");
	if (mode == ANY_BLOCKING && rc == CIRCUITS_TRIPPED) {
		EXPECT_U64(w, fake_sleep_count(&sleeper), slept_before + 1,
			   "sleeper calls");
		EXPECT_U64(w, sleeper.sleeps[slept_before], expected, "slept");
	} else {
		EXPECT_U64(w, fake_sleep_count(&sleeper), slept_before,
			   "sleeper calls");
	}
	EXPECT_U64(w, heard->calls, calls_before + (rc == CIRCUITS_TRIPPED),
		   "listener calls");
	if (rc == CIRCUITS_TRIPPED) {
		circuits_snapshot_t snap;

		model_snapshot(m, &snap);
		EXPECT_U64(w, heard->event.sleep, expected, "event.sleep");
		EXPECT_U64(w, heard->event.planned_sleep, planned,
			   "event.planned_sleep");
		EXPECT_U64(w, heard->event.custom, custom, "event.custom");
		EXPECT_U64(w, heard->event.state.total_trips, snap.total_trips,
			   "event total_trips");
		EXPECT_U64(w, heard->event.state.times_shorted,
			   snap.times_shorted, "event times_shorted");
		EXPECT_U64(w, heard->event.state.backoff_level,
			   snap.backoff_level, "event backoff_level");
		EXPECT_U64(w, heard->event.state.current_sleep_time,
			   snap.current_sleep_time,
			   "event current_sleep_time");
		EXPECT_U64(w, heard->event.state.broken, snap.broken,
			   "event broken");
	}
}

/* Runs one configuration on both kinds for the given number of steps. */
static void
run_config(int index, const circuits_config_t *config,
	   const struct weights *weights, int steps, uint64_t seed)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		struct model m;
		struct test_rng ops, draws;
		struct heard heard = {0};
		struct where w = {index, kind, -1, -1};

		ck_assert_int_eq(any_init(&c, kind == 1, config), CIRCUITS_OK);
		model_init(&m, kind == 1 ? MODEL_BREAKING : MODEL_CIRCUIT,
			   config);
		sleeper.count = 0;
		any_set_sleeper(&c, fake_sleep, &sleeper);
		test_rng_seed(&draws, seed ^ 0x5eed);
		any_set_random(&c, test_rng_hook, &draws);
		any_set_listener(&c, hear, &heard);
		test_rng_seed(&ops, seed + (uint64_t)kind);
		expect_snapshot(&w, &c, &m);
		for (w.step = 0; w.step < steps; w.step++) {
			w.op = pick_op(&ops, weights);
			step(&w, &c, &m, &ops, &draws, &heard);
			expect_snapshot(&w, &c, &m);
		}
	}
}

/*
 * 300 random configurations, 600 steps each, on both kinds.  The weights
 * change with the configuration so that some runs trip often and some
 * mostly count.
 */
START_TEST(random_configs_match_model)
{
	const uint64_t seed = UINT64_C(0xc1c0175) + (uint64_t)_i;
	struct test_rng rng;

	test_rng_seed(&rng, seed);
	for (int i = 0; i < 100; i++) {
		circuits_config_t config;
		struct weights weights = {{
			30 + (int)test_rng_below(&rng, 30),
			(int)test_rng_below(&rng, 10),
			(int)test_rng_below(&rng, 15),
			(int)test_rng_below(&rng, 10),
			(int)test_rng_below(&rng, 15),
			(int)test_rng_below(&rng, 6),
		}};

		random_config(&rng, &config);
		run_config(_i * 100 + i, &config, &weights, 600,
			   test_rng_next(&rng));
	}
}
END_TEST

/*
 * Long runs that reach the level's saturation: N = 1, mostly shorts and
 * trips and (for the breaker) resets, no reset_backoff, 34000 steps, with a
 * factor close enough to 1 that the ceiling is not reached first.
 */
START_TEST(long_runs_saturate_like_model)
{
	static const struct weights weights = {{50, 5, 10, 5, 25, 0}};
	circuits_config_t config;

	circuits_config_init(&config, 1);
	config.sleep_time_after_trip = 1000;
	config.max_sleep_time = UINT64_MAX;
	config.backoff_factor = 1.001;
	config.jitter = 0.2;
	run_config(1000, &config, &weights, 34000, 77);
	/* N = 2 and a factor that reaches the ceiling quickly. */
	config.num_shorts_to_trip = 2;
	config.backoff_factor = 2.0;
	config.max_sleep_time = CIRCUITS_SECONDS(30);
	run_config(1001, &config, &weights, 9000, 78);
}
END_TEST

static Suite *
model_suite(void)
{
	Suite *suite = suite_create("model");
	TCase *tc = tcase_create("model");

	tcase_add_loop_test(tc, random_configs_match_model, 0, 3);
	tcase_add_test(tc, long_runs_saturate_like_model);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(model_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
