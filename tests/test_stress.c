/*
 * test_stress.c - concurrency with exact invariants (CTest label stress).
 *
 * Threads start together behind a barrier and hammer one circuit; the
 * checks are exact counts, never timings.  Linearizability gives each
 * invariant: S shorts give S / N trips and S mod N left over, with exactly
 * S / N callers told TRIPPED; every trip sees the level before it, so with
 * no reset_backoff the levels handed out are 0, 1, ..., k-1, each once;
 * one winner per break and per reset; a reader polling meanwhile only ever
 * sees states a sequential run could pass through, in an order that never
 * goes back.  Iteration counts go through scaled() so that sanitizer
 * variants do less.
 */
#include <check.h>
#include <stdio.h>

#include "support.h"

#define WORKERS 4

/* --- running threads ----------------------------------------------------- */

struct team;
typedef void (*body_fn)(struct team *team, int thread);

/* WORKERS worker threads and, when reader is set, one reader thread that
 * runs until every worker has finished. */
struct team {
	struct start_barrier start;
	body_fn worker;
	body_fn reader;
	void *arg;
	int finished; /* atomic: workers done */
};

struct seat {
	struct team *team;
	int thread;
};

static void *
seat_main(void *arg)
{
	struct seat *seat = arg;
	struct team *team = seat->team;

	start_barrier_wait(&team->start);
	if (seat->thread == WORKERS) {
		team->reader(team, seat->thread);
	} else {
		team->worker(team, seat->thread);
		__atomic_fetch_add(&team->finished, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static bool
workers_running(struct team *team)
{
	return __atomic_load_n(&team->finished, __ATOMIC_ACQUIRE) < WORKERS;
}

static void
run_team(body_fn worker, body_fn reader, void *arg)
{
	struct team team = {.worker = worker, .reader = reader, .arg = arg};
	struct seat seats[WORKERS + 1];
	pthread_t ids[WORKERS + 1];
	int threads = WORKERS + (reader != NULL);

	start_barrier_init(&team.start, (unsigned)threads);
	for (int t = 0; t < threads; t++) {
		seats[t] = (struct seat){&team, t};
		ck_assert_int_eq(pthread_create(&ids[t], NULL, seat_main,
						&seats[t]),
				 0);
	}
	for (int t = 0; t < threads; t++)
		pthread_join(ids[t], NULL);
	start_barrier_destroy(&team.start);
}

/* Counts sleeper calls and the total slept, from any thread. */
struct counting_sleeper {
	uint64_t calls;
	uint64_t total;
};

static void
count_sleep(uint64_t ns, void *arg)
{
	struct counting_sleeper *s = arg;

	__atomic_fetch_add(&s->calls, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->total, ns, __ATOMIC_RELAXED);
}

/* Counts listener calls from any thread. */
static void
count_listener(const circuits_trip_event_t *event, void *arg)
{
	(void)event;
	__atomic_fetch_add((uint64_t *)arg, 1, __ATOMIC_RELAXED);
}

/* scaled(n), but never above n: for runs whose size a limit fixes (the
 * saturation level, an array); larger scales add rounds instead. */
static long
scaled_at_most(long n)
{
	long s = scaled(n);

	return s < n ? s : n;
}

static int
compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --- S shorts: S / N trips, S mod N left --------------------------------- */

struct shorts_run {
	circuits_circuit_t circuit;
	struct counting_sleeper sleeper;
	uint64_t heard; /* listener calls */
	uint64_t n;
	long per_thread;
	uint64_t tripped[WORKERS];
	uint64_t counted[WORKERS];
	uint64_t blocking_trips[WORKERS];
	/* What the reader saw. */
	uint64_t polls, over_threshold, went_back, trips_went_back;
};

/* Alternates blocking and non-blocking shorts, and every fourth batch does
 * a reset_backoff, which must not disturb any count. */
static void
shorts_worker(struct team *team, int t)
{
	struct shorts_run *run = team->arg;

	for (long i = 0; i < run->per_thread; i++) {
		bool blocking = (i & 1) != 0;
		int rc = blocking ? circuits_circuit_short(&run->circuit)
				  : circuits_circuit_short_nb(&run->circuit,
							      NULL);

		if (rc == CIRCUITS_TRIPPED) {
			run->tripped[t]++;
			run->blocking_trips[t] += blocking;
		} else if (rc == CIRCUITS_COUNTED) {
			run->counted[t]++;
		}
		if ((i & 1023) == 1023 && t == 0)
			circuits_circuit_reset_backoff(&run->circuit);
	}
}

/* Each reading: count below N; shorts so far (N * trips + count) and
 * trips never go back. */
static void
shorts_reader(struct team *team, int t)
{
	struct shorts_run *run = team->arg;
	uint64_t last_shorts = 0, last_trips = 0;

	(void)t;
	do {
		circuits_snapshot_t snap;
		uint64_t count = circuits_circuit_times_shorted(&run->circuit);
		uint64_t trips = circuits_circuit_total_trips(&run->circuit);
		uint64_t shorts;

		run->over_threshold += count >= run->n;
		run->trips_went_back += trips < last_trips;
		last_trips = trips;
		circuits_circuit_snapshot(&run->circuit, &snap);
		run->over_threshold += snap.times_shorted >= run->n;
		shorts = run->n * snap.total_trips + snap.times_shorted;
		run->went_back += shorts < last_shorts;
		run->trips_went_back += snap.total_trips < last_trips;
		last_shorts = shorts;
		last_trips = snap.total_trips;
		run->polls++;
	} while (workers_running(team));
}

/*
 * For N = 1, 3, 7 and 64: 4 threads x scaled(400000) shorts (with N = 1
 * that is 1.6 million trips, far past the 16-bit sequence in the state
 * word, while a reader polls).  Exact totals, exactly one sleeper per
 * blocking trip, one listener call per trip, and a reader that never sees
 * the count at N or the totals move backwards.
 */
START_TEST(shorts_give_exact_trips)
{
	static const uint32_t thresholds[] = {1, 3, 7, 64};
	static struct shorts_run run;
	circuits_config_t config;
	uint64_t tripped = 0, counted = 0, blocking_trips = 0, total;

	memset(&run, 0, sizeof run);
	run.n = thresholds[_i];
	run.per_thread = scaled(400000);
	circuits_config_init(&config, thresholds[_i]);
	config.sleep_time_after_trip = 5;
	config.backoff_factor = 2.0;
	ck_assert_int_eq(circuits_circuit_init(&run.circuit, &config), 0);
	circuits_circuit_set_sleeper(&run.circuit, count_sleep, &run.sleeper);
	circuits_circuit_set_listener(&run.circuit, count_listener, &run.heard);
	run_team(shorts_worker, shorts_reader, &run);

	for (int t = 0; t < WORKERS; t++) {
		tripped += run.tripped[t];
		counted += run.counted[t];
		blocking_trips += run.blocking_trips[t];
	}
	total = (uint64_t)WORKERS * (uint64_t)run.per_thread;
	ck_assert_uint_eq(tripped + counted, total);
	ck_assert_uint_eq(tripped, total / run.n);
	ck_assert_uint_eq(circuits_circuit_total_trips(&run.circuit),
			  total / run.n);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&run.circuit),
			  total % run.n);
	ck_assert_uint_eq(run.sleeper.calls, blocking_trips);
	ck_assert_uint_eq(run.heard, tripped);
	ck_assert_uint_gt(run.polls, 0);
	ck_assert_uint_eq(run.over_threshold, 0);
	ck_assert_uint_eq(run.went_back, 0);
	ck_assert_uint_eq(run.trips_went_back, 0);
}
END_TEST

/* --- every level handed out once ----------------------------------------- */

#define MAX_OWED 8192

struct levels_run {
	circuits_circuit_t circuit;
	long per_thread;
	uint64_t owed[WORKERS][MAX_OWED / WORKERS];
	int trips[WORKERS];
};

/* Shorts and trips, non-blocking, keeping every owed sleep. */
static void
levels_worker(struct team *team, int t)
{
	struct levels_run *run = team->arg;

	for (long i = 0; i < run->per_thread; i++) {
		uint64_t owed = 0;
		int rc = (i % 3 == 0)
				 ? circuits_circuit_trip_nb(&run->circuit,
							    &owed)
				 : circuits_circuit_short_nb(&run->circuit,
							     &owed);

		if (rc == CIRCUITS_TRIPPED &&
		    run->trips[t] < MAX_OWED / WORKERS)
			run->owed[t][run->trips[t]++] = owed;
	}
}

/*
 * Shorts and trips race on a circuit with no reset_backoff, so each trip
 * takes the level as it was before it: the owed sleeps, taken together,
 * must be the sleeps of levels 0 .. k-1, each exactly once.  The factor
 * 1.001 makes every level's sleep distinct; the expected list comes from a
 * sequential twin.  N = 1 and N = 3, scaled(10) rounds of about 8000 and
 * 5300 trips, below the saturation level.
 */
START_TEST(every_level_owed_once)
{
	static struct levels_run run;
	static circuits_circuit_t twin;
	static uint64_t all[MAX_OWED];
	circuits_config_t config;
	long rounds = scaled(10);

	circuits_config_init(&config, _i == 0 ? 1 : 3);
	config.sleep_time_after_trip = 1000000;
	config.max_sleep_time = UINT64_MAX;
	config.backoff_factor = 1.001;
	for (long r = 0; r < rounds; r++) {
		uint64_t k = 0;

		memset(&run, 0, sizeof run);
		run.per_thread = scaled_at_most(2000);
		ck_assert_int_eq(circuits_circuit_init(&run.circuit, &config),
				 0);
		ck_assert_int_eq(circuits_circuit_init(&twin, &config), 0);
		run_team(levels_worker, NULL, &run);

		for (int t = 0; t < WORKERS; t++)
			for (int i = 0; i < run.trips[t]; i++)
				all[k++] = run.owed[t][i];
		ck_assert_uint_eq(k,
				  circuits_circuit_total_trips(&run.circuit));
		ck_assert_uint_lt(k, CIRCUITS_MAX_BACKOFF_LEVEL);
		qsort(all, k, sizeof all[0], compare_u64);
		for (uint64_t level = 0; level < k; level++) {
			uint64_t want = 0;

			circuits_circuit_trip_nb(&twin, &want);
			QUIET_ASSERT(all[level] == want,
				     "round %ld level %" PRIu64
				     ": owed %" PRIu64 ", want %" PRIu64,
				     r, level, all[level], want);
		}
		ck_assert_uint_eq(
			circuits_circuit_current_sleep_time(&run.circuit),
			circuits_circuit_current_sleep_time(&twin));
	}
}
END_TEST

/* --- powers of two, C3 repeated ------------------------------------------ */

struct powers_run {
	circuits_circuit_t circuit;
	uint64_t owed[WORKERS][15];
};

static void
powers_worker(struct team *team, int t)
{
	struct powers_run *run = team->arg;

	for (int i = 0; i < 15; i++)
		circuits_circuit_short_nb(&run->circuit, &run->owed[t][i]);
}

/* N = 1, base 1 ns, factor 2: in every round, 60 racing shorts owe
 * exactly 2^0 .. 2^59 ns, each once. */
START_TEST(powers_of_two_each_once)
{
	static struct powers_run run;
	circuits_config_t config;
	long rounds = scaled(1000);

	circuits_config_init(&config, 1);
	config.sleep_time_after_trip = 1;
	config.backoff_factor = 2.0;
	config.max_sleep_time = UINT64_C(1) << 62;
	for (long r = 0; r < rounds; r++) {
		uint64_t seen = 0;

		ck_assert_int_eq(circuits_circuit_init(&run.circuit, &config),
				 0);
		run_team(powers_worker, NULL, &run);
		for (int t = 0; t < WORKERS; t++) {
			for (int i = 0; i < 15; i++) {
				uint64_t owed = run.owed[t][i];

				QUIET_ASSERT(owed != 0 &&
						     (owed & (owed - 1)) == 0 &&
						     (seen & owed) == 0,
					     "round %ld: owed %" PRIu64
					     " not a new power of two",
					     r, owed);
				seen |= owed;
			}
		}
		QUIET_EQ_U64(seen, (UINT64_C(1) << 60) - 1);
		QUIET_EQ_U64(circuits_circuit_current_sleep_time(&run.circuit),
			     UINT64_C(1) << 60);
	}
}
END_TEST

/* --- breaking: one winner per break and per reset ------------------------ */

struct rounds_run {
	circuits_breaking_t breaker;
	struct start_barrier phase;
	long rounds;
	/* Per round and phase, added to atomically. */
	uint64_t outcomes[3];
	uint64_t reset_true;
	uint64_t wrong; /* phases whose counts were off */
	uint64_t break_owed[2 * 2000]; /* each break's owed sleep */
};

static void
tally(struct rounds_run *run, int rc)
{
	if (rc >= 0 && rc <= 2)
		__atomic_fetch_add(&run->outcomes[rc], 1, __ATOMIC_RELAXED);
}

/*
 * Ends a phase: thread 0 compares the phase's counts with the expected
 * ones (counting a mismatch in wrong) and clears them, while the others
 * wait at the phase barrier.
 */
static void
phase_end(struct rounds_run *run, int t, uint64_t counted, uint64_t tripped,
	  uint64_t already, uint64_t reset_true)
{
	start_barrier_wait(&run->phase);
	if (t == 0) {
		if (run->outcomes[0] != counted ||
		    run->outcomes[1] != tripped ||
		    run->outcomes[2] != already ||
		    run->reset_true != reset_true)
			run->wrong++;
		memset(run->outcomes, 0, sizeof run->outcomes);
		run->reset_true = 0;
	}
	start_barrier_wait(&run->phase);
}

/*
 * Each round, N = 5: the 4 threads short 3 times each (12 shorts: 4
 * counted, 1 break, 7 already broken); all trip (all already broken); all
 * reset (one true); all trip on the closed breaker (one break, 3 already
 * broken); all reset (one true).
 */
static void
rounds_worker(struct team *team, int t)
{
	struct rounds_run *run = team->arg;
	circuits_breaking_t *b = &run->breaker;

	for (long r = 0; r < run->rounds; r++) {
		uint64_t owed = 0;
		int rc;

		for (int i = 0; i < 3; i++) {
			rc = circuits_breaking_short_nb(b, &owed);
			tally(run, rc);
			if (rc == CIRCUITS_TRIPPED)
				run->break_owed[2 * r] = owed;
		}
		phase_end(run, t, 4, 1, 3 * WORKERS - 5, 0);
		tally(run, circuits_breaking_trip_nb(b, NULL));
		phase_end(run, t, 0, 0, WORKERS, 0);
		__atomic_fetch_add(&run->reset_true,
				   circuits_breaking_reset(b),
				   __ATOMIC_RELAXED);
		phase_end(run, t, 0, 0, 0, 1);
		rc = circuits_breaking_trip_nb(b, &owed);
		tally(run, rc);
		if (rc == CIRCUITS_TRIPPED)
			run->break_owed[2 * r + 1] = owed;
		phase_end(run, t, 0, 1, WORKERS - 1, 0);
		__atomic_fetch_add(&run->reset_true,
				   circuits_breaking_reset(b),
				   __ATOMIC_RELAXED);
		phase_end(run, t, 0, 0, 0, 1);
	}
}

/*
 * Exactly one winner per break and per reset in every round; the level
 * steps once per real reset (2 per round); each break's winner owes the
 * backoff of the level at its break, as a sequential twin does.
 */
START_TEST(one_winner_per_break_and_reset)
{
	static struct rounds_run run;
	static circuits_breaking_t twin;
	circuits_config_t config;
	circuits_snapshot_t snap;

	memset(&run, 0, sizeof run);
	run.rounds = scaled_at_most(2000);
	circuits_config_init(&config, 5);
	config.sleep_time_after_trip = 1000000;
	config.max_sleep_time = UINT64_MAX;
	config.backoff_factor = 1.001;
	ck_assert_int_eq(circuits_breaking_init(&run.breaker, &config), 0);
	ck_assert_int_eq(circuits_breaking_init(&twin, &config), 0);
	start_barrier_init(&run.phase, WORKERS);
	run_team(rounds_worker, NULL, &run);
	start_barrier_destroy(&run.phase);

	ck_assert_uint_eq(run.wrong, 0);
	circuits_breaking_snapshot(&run.breaker, &snap);
	ck_assert(!snap.broken);
	ck_assert_uint_eq(snap.total_trips, 2 * (uint64_t)run.rounds);
	ck_assert_uint_eq(snap.backoff_level, 2 * (uint64_t)run.rounds);
	for (long i = 0; i < 2 * run.rounds; i++) {
		uint64_t want = 0;

		circuits_breaking_trip_nb(&twin, &want);
		circuits_breaking_reset(&twin);
		QUIET_EQ_U64(run.break_owed[i], want);
	}
}
END_TEST

/* --- breaking: everything at once ---------------------------------------- */

struct mixed_run {
	circuits_breaking_t breaker;
	uint64_t heard; /* listener calls */
	long per_thread;
	uint64_t owed[WORKERS][4096];
	int breaks[WORKERS];
	uint64_t resets_true[WORKERS];
	/* What the reader saw. */
	uint64_t polls, inconsistent, went_back;
};

static void
mixed_worker(struct team *team, int t)
{
	struct mixed_run *run = team->arg;
	struct test_rng rng;

	test_rng_seed(&rng, 100 + (uint64_t)t);
	for (long i = 0; i < run->per_thread; i++) {
		uint64_t op = test_rng_below(&rng, 100), owed = 0;
		int rc = CIRCUITS_COUNTED;

		if (op < 80)
			rc = circuits_breaking_short_nb(&run->breaker, &owed);
		else if (op < 84)
			rc = circuits_breaking_trip_nb(&run->breaker, &owed);
		else if (op < 88)
			run->resets_true[t] +=
				circuits_breaking_reset(&run->breaker);
		else
			(void)circuits_breaking_broken(&run->breaker);
		if (rc == CIRCUITS_TRIPPED && run->breaks[t] < 4096)
			run->owed[t][run->breaks[t]++] = owed;
	}
}

/*
 * With no reset_backoff and below saturation, a consistent snapshot has
 * level == total_trips - broken (breaks and resets alternate, each reset
 * steps the level once), no count while broken, a count below N while
 * closed, and totals that never go back.
 */
static void
mixed_reader(struct team *team, int t)
{
	struct mixed_run *run = team->arg;
	uint64_t last_trips = 0, last_level = 0;

	(void)t;
	do {
		circuits_snapshot_t snap;

		circuits_breaking_snapshot(&run->breaker, &snap);
		run->inconsistent +=
			snap.backoff_level != snap.total_trips - snap.broken ||
			(snap.broken && snap.times_shorted != 0) ||
			snap.times_shorted >= 7;
		run->went_back += snap.total_trips < last_trips ||
				  snap.backoff_level < last_level;
		last_trips = snap.total_trips;
		last_level = snap.backoff_level;
		run->polls++;
	} while (workers_running(team));
}

/*
 * Shorts, trips, resets and broken() polls from 4 threads on one breaker
 * (N = 7) with a reader, in scaled(1) rounds.  Exact afterwards: one
 * TRIPPED and one listener call per break, one true reset per level step,
 * total_trips - true resets == broken, and the breaks' owed sleeps are
 * those of levels 0 .. breaks-1, each once.
 */
START_TEST(breaking_mixed_operations)
{
	static struct mixed_run run;
	static circuits_breaking_t twin;
	static uint64_t all[WORKERS * 4096];
	long rounds = scaled(1);
	circuits_config_t config;

	circuits_config_init(&config, 7);
	config.sleep_time_after_trip = 1000000;
	config.max_sleep_time = UINT64_MAX;
	config.backoff_factor = 1.001;
	for (long r = 0; r < rounds; r++) {
		circuits_snapshot_t snap;
		uint64_t breaks = 0, resets = 0;

		memset(&run, 0, sizeof run);
		/* Stays below 4096 breaks a thread and below saturation. */
		run.per_thread = scaled_at_most(30000);
		ck_assert_int_eq(circuits_breaking_init(&run.breaker, &config),
				 0);
		ck_assert_int_eq(circuits_breaking_init(&twin, &config), 0);
		circuits_breaking_set_listener(&run.breaker, count_listener,
					       &run.heard);
		run_team(mixed_worker, mixed_reader, &run);

		for (int t = 0; t < WORKERS; t++) {
			ck_assert_int_lt(run.breaks[t], 4096);
			for (int i = 0; i < run.breaks[t]; i++)
				all[breaks++] = run.owed[t][i];
			resets += run.resets_true[t];
		}
		circuits_breaking_snapshot(&run.breaker, &snap);
		ck_assert_uint_lt(snap.backoff_level,
				  CIRCUITS_MAX_BACKOFF_LEVEL);
		ck_assert_uint_eq(snap.total_trips, breaks);
		ck_assert_uint_eq(run.heard, breaks);
		ck_assert_uint_eq(snap.backoff_level, resets);
		ck_assert_uint_eq(breaks - resets, snap.broken);
		ck_assert_uint_gt(breaks, 10);
		ck_assert_uint_gt(run.polls, 0);
		ck_assert_uint_eq(run.inconsistent, 0);
		ck_assert_uint_eq(run.went_back, 0);
		qsort(all, breaks, sizeof all[0], compare_u64);
		for (uint64_t i = 0; i < breaks; i++) {
			uint64_t want = 0;

			circuits_breaking_trip_nb(&twin, &want);
			circuits_breaking_reset(&twin);
			QUIET_EQ_U64(all[i], want);
		}
	}
}
END_TEST

/* --- breaking: shorts with reset_backoff, no breaks ---------------------- */

struct count_run {
	circuits_breaking_t breaker;
	long per_thread;
};

static void
count_worker(struct team *team, int t)
{
	struct count_run *run = team->arg;

	for (long i = 0; i < run->per_thread; i++) {
		circuits_breaking_short_nb(&run->breaker, NULL);
		if (t == 0 && (i & 255) == 0)
			circuits_breaking_reset_backoff(&run->breaker);
	}
}

/* A breaker far from its threshold counts every racing short exactly,
 * with reset_backoff (a compare-and-swap on the same word) racing them. */
START_TEST(breaking_counts_every_short)
{
	static struct count_run run;
	circuits_config_t config;

	run.per_thread = scaled(100000);
	circuits_config_init(&config, UINT32_MAX);
	ck_assert_int_eq(circuits_breaking_init(&run.breaker, &config), 0);
	run_team(count_worker, NULL, &run);
	ck_assert_uint_eq(circuits_breaking_times_shorted(&run.breaker),
			  (uint64_t)WORKERS * (uint64_t)run.per_thread);
	ck_assert(!circuits_breaking_broken(&run.breaker));
	ck_assert_uint_eq(circuits_breaking_total_trips(&run.breaker), 0);
}
END_TEST

static Suite *
stress_suite(void)
{
	Suite *suite = suite_create("stress");
	TCase *tc = tcase_create("stress");

	tcase_add_loop_test(tc, shorts_give_exact_trips, 0, 4);
	tcase_add_loop_test(tc, every_level_owed_once, 0, 2);
	tcase_add_test(tc, powers_of_two_each_once);
	tcase_add_test(tc, one_winner_per_break_and_reset);
	tcase_add_test(tc, breaking_mixed_operations);
	tcase_add_test(tc, breaking_counts_every_short);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(stress_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
