/*
 * test_cases_stress.c - the shared cases C1 to C3 of ../shared/CASES.md,
 * which race threads, one named test each (CTest label stress).
 *
 * Threads wait on a start barrier so that they really run together, and
 * every count is checked exactly: under contention a lock-free circuit
 * must still give the answers a sequential one would.  The sizes are the
 * cases' own (small enough for every sanitizer variant as they are).
 */
#include <check.h>
#include <stdio.h>

#include "support.h"

static struct fake_sleeper sleeper;

/* Counts of outcomes, one slot per outcome code (0, 1, 2). */
struct tally {
	uint64_t outcome[3];
	uint64_t errors;
};

static void
tally_add(struct tally *tally, int rc)
{
	if (rc >= 0 && rc <= 2)
		tally->outcome[rc]++;
	else
		tally->errors++;
}

/* --- C1 ------------------------------------------------------------------ */

struct c1_worker {
	circuits_circuit_t *circuit;
	struct start_barrier *start;
	struct tally tally;
};

struct c1_reader {
	circuits_circuit_t *circuit;
	struct start_barrier *start;
	int *done; /* atomic */
	uint64_t polls;
	uint64_t bad; /* readings with times_shorted >= 4 */
	uint64_t went_back; /* snapshots with fewer shorts than before */
};

static void *
c1_work(void *arg)
{
	struct c1_worker *w = arg;

	start_barrier_wait(w->start);
	for (int i = 0; i < 1000; i++)
		tally_add(&w->tally, circuits_circuit_short(w->circuit));
	return NULL;
}

/* Polls both reads until the workers are done.  A snapshot's shorts
 * (4 * total_trips + times_shorted) can only grow: only shorts run. */
static void *
c1_read(void *arg)
{
	struct c1_reader *r = arg;
	uint64_t last = 0;

	start_barrier_wait(r->start);
	do {
		circuits_snapshot_t snap;
		uint64_t shorts;

		r->bad += circuits_circuit_times_shorted(r->circuit) >= 4;
		circuits_circuit_snapshot(r->circuit, &snap);
		r->bad += snap.times_shorted >= 4;
		shorts = 4 * snap.total_trips + snap.times_shorted;
		r->went_back += shorts < last;
		last = shorts;
		r->polls++;
	} while (!__atomic_load_n(r->done, __ATOMIC_ACQUIRE));
	return NULL;
}

/*
 * C1 - exact trips under contention.  Circuit N=4, fake sleeper, 8 threads
 * x 1000 short(): total_trips 2000, exactly 2000 calls told TRIPPED,
 * times_shorted 0; then 3 more shorts: 2000 and 3.  A reader polling during
 * the run never sees times_shorted >= 4.
 */
START_TEST(C1_exact_trips_under_contention)
{
	static circuits_circuit_t circuit;
	struct c1_worker workers[8];
	struct c1_reader reader;
	struct start_barrier start;
	pthread_t threads[9];
	circuits_config_t config;
	uint64_t tripped = 0, counted = 0;
	int done = 0;

	circuits_config_init(&config, 4);
	config.sleep_time_after_trip = 1000;
	ck_assert_int_eq(circuits_circuit_init(&circuit, &config), 0);
	memset(&sleeper, 0, sizeof sleeper);
	circuits_circuit_set_sleeper(&circuit, fake_sleep, &sleeper);
	start_barrier_init(&start, 9);
	reader = (struct c1_reader){&circuit, &start, &done, 0, 0, 0};
	ck_assert_int_eq(pthread_create(&threads[8], NULL, c1_read, &reader),
			 0);
	for (int t = 0; t < 8; t++) {
		workers[t] = (struct c1_worker){&circuit, &start, {{0}, 0}};
		ck_assert_int_eq(pthread_create(&threads[t], NULL, c1_work,
						&workers[t]),
				 0);
	}
	for (int t = 0; t < 8; t++) {
		pthread_join(threads[t], NULL);
		ck_assert_uint_eq(workers[t].tally.errors, 0);
		ck_assert_uint_eq(workers[t].tally.outcome[2], 0);
		tripped += workers[t].tally.outcome[CIRCUITS_TRIPPED];
		counted += workers[t].tally.outcome[CIRCUITS_COUNTED];
	}
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	pthread_join(threads[8], NULL);
	start_barrier_destroy(&start);

	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 2000);
	ck_assert_uint_eq(tripped, 2000);
	ck_assert_uint_eq(counted, 6000);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&circuit), 0);
	/* Exactly one sleeper per trip. */
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 2000);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(circuits_circuit_short(&circuit),
				 CIRCUITS_COUNTED);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 2000);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&circuit), 3);
	ck_assert_uint_gt(reader.polls, 0);
	ck_assert_uint_eq(reader.bad, 0);
	ck_assert_uint_eq(reader.went_back, 0);
}
END_TEST

/* --- C2 ------------------------------------------------------------------ */

/* T threads call one breaker operation once each, together. */
enum c2_op { C2_SHORT, C2_TRIP, C2_RESET };

struct c2_race {
	circuits_breaking_t *breaker;
	struct start_barrier start;
	enum c2_op op;
	struct tally tally; /* atomic adds */
	uint64_t reset_true; /* atomic */
};

static void *
c2_racer(void *arg)
{
	struct c2_race *race = arg;
	int rc;

	start_barrier_wait(&race->start);
	switch (race->op) {
	case C2_SHORT:
		rc = circuits_breaking_short(race->breaker);
		break;
	case C2_TRIP:
		rc = circuits_breaking_trip(race->breaker);
		break;
	default:
		__atomic_fetch_add(&race->reset_true,
				   circuits_breaking_reset(race->breaker),
				   __ATOMIC_RELAXED);
		return NULL;
	}
	if (rc >= 0 && rc <= 2)
		__atomic_fetch_add(&race->tally.outcome[rc], 1,
				   __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&race->tally.errors, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void
c2_run(struct c2_race *race, enum c2_op op, int threads)
{
	pthread_t ids[50];

	race->op = op;
	memset(&race->tally, 0, sizeof race->tally);
	race->reset_true = 0;
	start_barrier_init(&race->start, (unsigned)threads);
	for (int t = 0; t < threads; t++)
		ck_assert_int_eq(pthread_create(&ids[t], NULL, c2_racer, race),
				 0);
	for (int t = 0; t < threads; t++)
		pthread_join(ids[t], NULL);
	start_barrier_destroy(&race->start);
	ck_assert_uint_eq(race->tally.errors, 0);
}

/*
 * C2 - one winner per break.  BreakingCircuit N=5, base 1 s, factor 2, max
 * 60 s, jitter 0, fake sleeper.  50 threads short() once: broken, one
 * break, 1 TRIPPED, 4 COUNTED, 45 ALREADY_BROKEN, one sleep of 1 s,
 * current_sleep_time still 1 s.  10 threads trip(): nothing changes, all
 * ALREADY_BROKEN.  reset(): closed, 2 s.  Five shorts: broken, two breaks.
 * 8 threads reset() together: closed, 4 s (one step, not eight).
 */
START_TEST(C2_one_winner_per_break)
{
	static circuits_breaking_t breaker;
	static struct c2_race race;
	circuits_config_t config;

	circuits_config_init(&config, 5);
	config.sleep_time_after_trip = CIRCUITS_SECONDS(1);
	config.backoff_factor = 2.0;
	config.max_sleep_time = CIRCUITS_SECONDS(60);
	ck_assert_int_eq(circuits_breaking_init(&breaker, &config), 0);
	memset(&sleeper, 0, sizeof sleeper);
	circuits_breaking_set_sleeper(&breaker, fake_sleep, &sleeper);
	race.breaker = &breaker;

	c2_run(&race, C2_SHORT, 50);
	ck_assert(circuits_breaking_broken(&breaker));
	ck_assert_uint_eq(circuits_breaking_total_trips(&breaker), 1);
	ck_assert_uint_eq(race.tally.outcome[CIRCUITS_TRIPPED], 1);
	ck_assert_uint_eq(race.tally.outcome[CIRCUITS_COUNTED], 4);
	ck_assert_uint_eq(race.tally.outcome[CIRCUITS_ALREADY_BROKEN], 45);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
	ck_assert_uint_eq(sleeper.sleeps[0], CIRCUITS_SECONDS(1));
	ck_assert_uint_eq(circuits_breaking_current_sleep_time(&breaker),
			  CIRCUITS_SECONDS(1));

	c2_run(&race, C2_TRIP, 10);
	ck_assert_uint_eq(circuits_breaking_total_trips(&breaker), 1);
	ck_assert_uint_eq(fake_sleep_count(&sleeper), 1);
	ck_assert_uint_eq(race.tally.outcome[CIRCUITS_ALREADY_BROKEN], 10);

	ck_assert(circuits_breaking_reset(&breaker));
	ck_assert(!circuits_breaking_broken(&breaker));
	ck_assert_uint_eq(circuits_breaking_current_sleep_time(&breaker),
			  CIRCUITS_SECONDS(2));
	for (int i = 0; i < 5; i++)
		circuits_breaking_short(&breaker);
	ck_assert(circuits_breaking_broken(&breaker));
	ck_assert_uint_eq(circuits_breaking_total_trips(&breaker), 2);

	c2_run(&race, C2_RESET, 8);
	ck_assert(!circuits_breaking_broken(&breaker));
	ck_assert_uint_eq(race.reset_true, 1);
	ck_assert_uint_eq(circuits_breaking_current_sleep_time(&breaker),
			  CIRCUITS_SECONDS(4));
}
END_TEST

/* --- C3 ------------------------------------------------------------------ */

struct c3_worker {
	circuits_circuit_t *circuit;
	struct start_barrier *start;
	uint64_t owed[3];
	int rc[3];
};

static void *
c3_work(void *arg)
{
	struct c3_worker *w = arg;

	start_barrier_wait(w->start);
	for (int i = 0; i < 3; i++)
		w->rc[i] = circuits_circuit_short_nb(w->circuit, &w->owed[i]);
	return NULL;
}

/* One run of C3 on a fresh circuit. */
static void
c3_once(long repetition)
{
	static circuits_circuit_t circuit;
	struct c3_worker workers[16];
	struct start_barrier start;
	pthread_t threads[16];
	circuits_config_t config;
	uint64_t seen = 0; /* bit k set: 2^k was owed */

	circuits_config_init(&config, 1);
	config.sleep_time_after_trip = 1;
	config.backoff_factor = 2.0;
	config.max_sleep_time = UINT64_C(1) << 60;
	ck_assert_int_eq(circuits_circuit_init(&circuit, &config), 0);
	start_barrier_init(&start, 16);
	for (int t = 0; t < 16; t++) {
		workers[t] = (struct c3_worker){&circuit, &start, {0}, {0}};
		ck_assert_int_eq(pthread_create(&threads[t], NULL, c3_work,
						&workers[t]),
				 0);
	}
	for (int t = 0; t < 16; t++)
		pthread_join(threads[t], NULL);
	start_barrier_destroy(&start);
	for (int t = 0; t < 16; t++) {
		for (int i = 0; i < 3; i++) {
			uint64_t owed = workers[t].owed[i];

			QUIET_EQ_U64(workers[t].rc[i], CIRCUITS_TRIPPED);
			/* A power of two below 2^48, not seen before. */
			QUIET_ASSERT(owed != 0 && (owed & (owed - 1)) == 0 &&
					     owed < (UINT64_C(1) << 48) &&
					     (seen & owed) == 0,
				     "run %ld: owed %" PRIu64
				     " is not a new power of two below 2^48",
				     repetition, owed);
			seen |= owed;
		}
	}
	QUIET_EQ_U64(seen, (UINT64_C(1) << 48) - 1);
	QUIET_EQ_U64(circuits_circuit_total_trips(&circuit), 48);
	QUIET_EQ_U64(circuits_circuit_current_sleep_time(&circuit),
		     UINT64_C(1) << 48);
}

/*
 * C3 - no lost backoff updates.  Circuit N=1, base 1 ns, factor 2, max
 * 2^60 ns, jitter 0, non-blocking.  16 threads x 3 short(): 48 trips, the
 * owed sleeps together exactly {2^0, ..., 2^47} ns, each once, and
 * current_sleep_time 2^48 ns.  One run of 48 shorts rarely overlaps enough
 * to catch a lost update, so the case runs scaled(200) times.
 */
START_TEST(C3_no_lost_backoff_updates)
{
	long repetitions = scaled(200);

	for (long r = 0; r < repetitions; r++)
		c3_once(r);
}
END_TEST

static Suite *
cases_stress_suite(void)
{
	Suite *suite = suite_create("cases_stress");
	TCase *tc = tcase_create("cases_stress");

	tcase_add_test(tc, C1_exact_trips_under_contention);
	tcase_add_test(tc, C2_one_winner_per_break);
	tcase_add_test(tc, C3_no_lost_backoff_updates);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(cases_stress_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
