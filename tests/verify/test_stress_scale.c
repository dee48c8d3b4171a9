/*
 * test_stress_scale.c - exact totals at scale (CTest label stress).
 *
 * 10^7 shorts per run (scaled down for the sanitizer builds) from 2, 4, 8
 * and 16 threads on a 2-core machine, so most runs have more threads than
 * cores and threads are preempted in the middle of operations.  Threads
 * start together behind a barrier and use the non-blocking calls, so the
 * owed sleeps come back as values.  Every configuration has base 1 ns,
 * factor 2, no ceiling to speak of (UINT64_MAX) and no jitter, which makes
 * the k-th trip (or break) owe exactly min(2^(k-1), UINT64_MAX): the sleeps
 * handed out, taken together, are 2^0 .. 2^63 once each and UINT64_MAX for
 * every further trip.  A trip that read a stale level, or two callers that
 * both won one trip, shows up there.
 *
 * Circuit, N in {1, 2, 7, 1000003} (1, a power of two, two primes), S
 * shorts in all:
 *   total_trips == S / N, times_shorted == S mod N, exactly S / N calls
 *   told TRIPPED and the rest COUNTED, the sleeps as above, level ==
 *   min(S / N, 8191), current_sleep_time == min(2^(S / N), UINT64_MAX).
 *
 * BreakingCircuit, N in {1, 13}, with resets, in two ways:
 *   winner resets: the caller told TRIPPED resets at once, and nobody else
 *     resets.  Every reset must return true, and no counted short is ever
 *     thrown away, so COUNTED + TRIPPED == N * breaks + times_shorted:
 *     every break consumed exactly N counted shorts.
 *   racing resets: every thread told ALREADY_BROKEN resets now and then,
 *     so resets race each other and shorts.  Exactly one reset per break
 *     returns true: resets won == breaks - (broken at the end ? 1 : 0).
 *   Both: total_trips == calls told TRIPPED, outcomes add up to S, level ==
 *   min(resets won, 8191), the sleeps as above.
 *
 * A reader thread polls snapshots during every run and checks what must
 * hold at every instant: times_shorted < N; a broken circuit has count 0;
 * total_trips and the level never go down; and the level equals the trips
 * (a Circuit) or the trips minus the current break (a BreakingCircuit),
 * both saturating at 8191.  A snapshot that mixed two instants breaks that.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "support.h"

#define SHORTS_PER_RUN 10000000L
#define MAX_THREADS 16
#define SLEEP_BINS 65 /* 2^0 .. 2^63, then UINT64_MAX */

/* Per-thread tallies, each on its own cache lines. */
struct tally {
	_Alignas(64) uint64_t counted;
	uint64_t tripped;
	uint64_t already_broken;
	uint64_t resets_won;
	uint64_t resets_lost;
	uint64_t odd_sleeps; /* neither a power of two nor UINT64_MAX */
	uint64_t sleeps[SLEEP_BINS];
};

enum mode { CIRCUIT, BREAKING_WINNER_RESETS, BREAKING_RACING_RESETS };

static struct {
	enum mode mode;
	circuits_circuit_t circuit;
	circuits_breaking_t breaker;
	uint64_t n;
	long shorts_per_thread;
	struct start_barrier start;
	struct tally tally[MAX_THREADS];
	uint64_t writers_done; /* atomic */
	/* The reader's findings. */
	uint64_t polls;
	char reader_error[256];
} run;

static void
record_sleep(struct tally *t, uint64_t owed)
{
	if (owed == UINT64_MAX)
		t->sleeps[SLEEP_BINS - 1]++;
	else if (owed != 0 && (owed & (owed - 1)) == 0)
		t->sleeps[__builtin_ctzll(owed)]++;
	else
		t->odd_sleeps++;
}

static void
tally_outcome(struct tally *t, int outcome, uint64_t owed)
{
	if (outcome == CIRCUITS_TRIPPED) {
		t->tripped++;
		record_sleep(t, owed);
	} else if (outcome == CIRCUITS_COUNTED) {
		t->counted++;
	} else {
		t->already_broken++;
	}
}

static void *
writer(void *arg)
{
	struct tally *t = arg;
	uint64_t owed;

	start_barrier_wait(&run.start);
	for (long i = 0; i < run.shorts_per_thread; i++) {
		int outcome;

		if (run.mode == CIRCUIT) {
			outcome =
				circuits_circuit_short_nb(&run.circuit, &owed);
			tally_outcome(t, outcome, owed);
			continue;
		}
		outcome = circuits_breaking_short_nb(&run.breaker, &owed);
		tally_outcome(t, outcome, owed);
		if ((run.mode == BREAKING_WINNER_RESETS &&
		     outcome == CIRCUITS_TRIPPED) ||
		    (run.mode == BREAKING_RACING_RESETS &&
		     outcome == CIRCUITS_ALREADY_BROKEN &&
		     t->already_broken % 4 == 0)) {
			if (circuits_breaking_reset(&run.breaker))
				t->resets_won++;
			else
				t->resets_lost++;
		}
	}
	__atomic_fetch_add(&run.writers_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
reader_fail(const char *what, const circuits_snapshot_t *s)
{
	if (run.reader_error[0] != '\0')
		return;
	snprintf(run.reader_error, sizeof run.reader_error,
		 "%s: times_shorted %" PRIu64 ", total_trips %" PRIu64
		 ", level %" PRIu32 ", broken %d",
		 what, s->times_shorted, s->total_trips, s->backoff_level,
		 s->broken);
}

static void *
reader(void *arg)
{
	uint64_t writers = (uint64_t)(uintptr_t)arg;
	circuits_snapshot_t s, last = {0, 0, 0, 0, false};

	start_barrier_wait(&run.start);
	while (__atomic_load_n(&run.writers_done, __ATOMIC_ACQUIRE) < writers) {
		uint64_t settled;

		if (run.mode == CIRCUIT)
			circuits_circuit_snapshot(&run.circuit, &s);
		else
			circuits_breaking_snapshot(&run.breaker, &s);
		run.polls++;
		/* Trips done that stepped the level: all of a Circuit's;
		 * all of a breaker's but the current break. */
		settled = s.total_trips - (s.broken ? 1 : 0);
		if (s.times_shorted >= run.n)
			reader_fail("count at or above N", &s);
		if (s.broken && s.times_shorted != 0)
			reader_fail("broken with a count", &s);
		if (s.total_trips < last.total_trips)
			reader_fail("total_trips went down", &s);
		if (s.backoff_level < last.backoff_level)
			reader_fail("level went down", &s);
		if (s.backoff_level != (settled < CIRCUITS_MAX_BACKOFF_LEVEL
						? settled
						: CIRCUITS_MAX_BACKOFF_LEVEL))
			reader_fail("level does not match the trips", &s);
		last = s;
	}
	return NULL;
}

static double
seconds_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* Runs one configuration and sums the tallies into *sum. */
static void
run_threads(enum mode mode, uint64_t n, int threads, struct tally *sum,
	    double *elapsed)
{
	pthread_t ids[MAX_THREADS + 1];
	circuits_config_t config;
	long total = scaled(SHORTS_PER_RUN);
	double start;

	memset(&run, 0, sizeof run);
	run.mode = mode;
	run.n = n;
	run.shorts_per_thread = total / threads;
	circuits_config_init(&config, (uint32_t)n);
	config.sleep_time_after_trip = 1;
	config.max_sleep_time = UINT64_MAX;
	config.backoff_factor = 2.0;
	if (mode == CIRCUIT)
		ck_assert_int_eq(circuits_circuit_init(&run.circuit, &config),
				 0);
	else
		ck_assert_int_eq(circuits_breaking_init(&run.breaker, &config),
				 0);

	start_barrier_init(&run.start, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++)
		ck_assert_int_eq(
			pthread_create(&ids[i], NULL, writer, &run.tally[i]),
			0);
	ck_assert_int_eq(pthread_create(&ids[threads], NULL, reader,
					(void *)(uintptr_t)threads),
			 0);
	start = seconds_now();
	for (int i = 0; i <= threads; i++)
		pthread_join(ids[i], NULL);
	*elapsed = seconds_now() - start;
	start_barrier_destroy(&run.start);

	memset(sum, 0, sizeof *sum);
	for (int i = 0; i < threads; i++) {
		const struct tally *t = &run.tally[i];

		sum->counted += t->counted;
		sum->tripped += t->tripped;
		sum->already_broken += t->already_broken;
		sum->resets_won += t->resets_won;
		sum->resets_lost += t->resets_lost;
		sum->odd_sleeps += t->odd_sleeps;
		for (int b = 0; b < SLEEP_BINS; b++)
			sum->sleeps[b] += t->sleeps[b];
	}
	ck_assert_msg(run.reader_error[0] == '\0', "reader saw %s",
		      run.reader_error);
}

/* The k-th trip owed min(2^(k-1), UINT64_MAX): 2^0 .. 2^63 once each (as
 * far as there were trips), UINT64_MAX for every trip past the 64th. */
static void
check_sleeps(const struct tally *sum, uint64_t trips)
{
	ck_assert_uint_eq(sum->odd_sleeps, 0);
	for (uint64_t b = 0; b < SLEEP_BINS - 1; b++)
		ck_assert_msg(sum->sleeps[b] == (b < trips ? 1u : 0u),
			      "sleep 2^%" PRIu64 " handed out %" PRIu64
			      " times in %" PRIu64 " trips",
			      b, sum->sleeps[b], trips);
	ck_assert_uint_eq(sum->sleeps[SLEEP_BINS - 1],
			  trips > SLEEP_BINS - 1 ? trips - (SLEEP_BINS - 1)
						 : 0);
}

static uint64_t
saturated_level(uint64_t steps)
{
	return steps < CIRCUITS_MAX_BACKOFF_LEVEL ? steps
						  : CIRCUITS_MAX_BACKOFF_LEVEL;
}

static uint64_t
sleep_for_level(uint64_t level)
{
	return level < 64 ? UINT64_C(1) << level : UINT64_MAX;
}

static const int thread_counts[] = {2, 4, 8, 16};
#define THREAD_COUNTS 4

/* --- Circuit -------------------------------------------------------------- */

static const uint64_t circuit_thresholds[] = {1, 2, 7, 1000003};
#define CIRCUIT_THRESHOLDS 4

START_TEST(circuit_exact_totals)
{
	int threads = thread_counts[_i % THREAD_COUNTS];
	uint64_t n = circuit_thresholds[_i / THREAD_COUNTS];
	struct tally sum;
	circuits_snapshot_t s;
	uint64_t shorts, trips;
	double elapsed;

	run_threads(CIRCUIT, n, threads, &sum, &elapsed);
	shorts = (uint64_t)run.shorts_per_thread * (uint64_t)threads;
	trips = shorts / n;
	printf("stress: Circuit         N=%-7" PRIu64 " %2d threads: %9" PRIu64
	       " shorts, %8" PRIu64 " trips, %6.2f s (%5.1f M shorts/s), "
	       "%" PRIu64 " snapshots read\n",
	       n, threads, shorts, trips, elapsed,
	       (double)shorts / elapsed / 1e6, run.polls);
	fflush(stdout);

	ck_assert_uint_eq(sum.counted + sum.tripped, shorts);
	ck_assert_uint_eq(sum.already_broken, 0);
	ck_assert_uint_eq(sum.tripped, trips);
	ck_assert_uint_eq(circuits_circuit_total_trips(&run.circuit), trips);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&run.circuit),
			  shorts % n);
	check_sleeps(&sum, trips);
	circuits_circuit_snapshot(&run.circuit, &s);
	ck_assert_uint_eq(s.total_trips, trips);
	ck_assert_uint_eq(s.times_shorted, shorts % n);
	ck_assert_uint_eq(s.backoff_level, saturated_level(trips));
	ck_assert_uint_eq(s.current_sleep_time,
			  sleep_for_level(saturated_level(trips)));
}
END_TEST

/* --- BreakingCircuit ------------------------------------------------------ */

static const uint64_t breaking_thresholds[] = {1, 13};
#define BREAKING_THRESHOLDS 2

static void
breaking_run(enum mode mode, int index)
{
	int threads = thread_counts[index % THREAD_COUNTS];
	uint64_t n = breaking_thresholds[index / THREAD_COUNTS];
	struct tally sum;
	circuits_snapshot_t s;
	uint64_t shorts, breaks;
	double elapsed;

	run_threads(mode, n, threads, &sum, &elapsed);
	shorts = (uint64_t)run.shorts_per_thread * (uint64_t)threads;
	breaks = sum.tripped;
	circuits_breaking_snapshot(&run.breaker, &s);
	printf("stress: Breaking %-6s N=%-7" PRIu64 " %2d threads: %9" PRIu64
	       " shorts, %8" PRIu64 " breaks, %8" PRIu64
	       " resets won, %8" PRIu64 " lost, %6.2f s, %" PRIu64
	       " snapshots read\n",
	       mode == BREAKING_WINNER_RESETS ? "winner" : "racing", n, threads,
	       shorts, breaks, sum.resets_won, sum.resets_lost, elapsed,
	       run.polls);
	fflush(stdout);

	ck_assert_uint_eq(sum.counted + sum.tripped + sum.already_broken,
			  shorts);
	ck_assert_uint_gt(breaks, 0);
	ck_assert_uint_eq(s.total_trips, breaks);
	ck_assert_uint_eq(circuits_breaking_total_trips(&run.breaker), breaks);
	/* One successful reset per break, except a break still standing. */
	ck_assert_uint_eq(sum.resets_won, breaks - (s.broken ? 1 : 0));
	ck_assert_uint_eq(s.backoff_level, saturated_level(sum.resets_won));
	ck_assert_uint_eq(s.current_sleep_time,
			  sleep_for_level(s.backoff_level));
	check_sleeps(&sum, breaks);
	if (mode == BREAKING_WINNER_RESETS) {
		ck_assert(!s.broken);
		ck_assert_uint_eq(sum.resets_lost, 0);
		/* No counted short was thrown away. */
		ck_assert_uint_eq(sum.counted + sum.tripped,
				  n * breaks + s.times_shorted);
	}
}

START_TEST(breaking_winner_resets)
{
	breaking_run(BREAKING_WINNER_RESETS, _i);
}
END_TEST

START_TEST(breaking_racing_resets)
{
	breaking_run(BREAKING_RACING_RESETS, _i);
}
END_TEST

static Suite *
stress_suite(void)
{
	Suite *suite = suite_create("stress at scale");
	TCase *circuit = tcase_create("circuit");
	TCase *breaking = tcase_create("breaking");

	tcase_add_loop_test(circuit, circuit_exact_totals, 0,
			    THREAD_COUNTS * CIRCUIT_THRESHOLDS);
	tcase_add_loop_test(breaking, breaking_winner_resets, 0,
			    THREAD_COUNTS * BREAKING_THRESHOLDS);
	tcase_add_loop_test(breaking, breaking_racing_resets, 0,
			    THREAD_COUNTS * BREAKING_THRESHOLDS);
	suite_add_tcase(suite, circuit);
	suite_add_tcase(suite, breaking);
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
	return failed == 0 ? 0 : 1;
}
