/*
 * cases.c - the library's operations, one case each.
 *
 * Every case runs at 1, 2, 4 and 8 threads on one shared circuit, tight and
 * with think time (bench.h).  Trip winners use bench_no_sleep, so a case
 * that trips measures the trip bookkeeping (folding the pending trip,
 * raising seq_floor, backoff and jitter arithmetic, a random draw) and not
 * the kernel's timer.
 *
 * Each teardown checks the exact state the contract promises for the
 * operations performed, e.g. after S shorts with threshold N: S / N callers
 * were told they tripped, total_trips = S / N and times_shorted = S mod N.
 */
#include <stdio.h>
#include <unistd.h>

#include "bench.h"

static int
init_circuit(circuits_circuit_t *circuit, uint32_t n)
{
	circuits_config_t config;
	int rc;

	bench_trip_config(&config, n);
	rc = circuits_circuit_init(circuit, &config);
	if (rc != CIRCUITS_OK) {
		fprintf(stderr, "circuits_circuit_init: %s\n",
			circuits_strerror(rc));
		return -1;
	}
	circuits_circuit_set_sleeper(circuit, bench_no_sleep, NULL);
	return 0;
}

/*
 * After `total` shorts and `trips` trip() calls on a circuit of threshold n,
 * with `told` callers told CIRCUITS_TRIPPED.  Trips interleaved with shorts
 * make the count unpredictable, so callers mix them only when one of the two
 * is 0.
 */
static int
check_circuit(const char *name, const circuits_circuit_t *circuit, uint64_t n,
	      uint64_t shorts, uint64_t trips, uint64_t told)
{
	circuits_snapshot_t snap;
	int rc = 0;

	circuits_circuit_snapshot(circuit, &snap);
	rc |= bench_expect(name, "callers told they tripped", told,
			   shorts / n + trips);
	rc |= bench_expect(name, "total_trips", snap.total_trips,
			   shorts / n + trips);
	rc |= bench_expect(name, "times_shorted", snap.times_shorted,
			   shorts % n);
	return rc;
}

/* --- Circuit short(): no trip, N = 1000, N = 1 ---------------------------- */

/* The hot path: one fetch-and-add on the circuit's word and a compare. */
static uint64_t
op_circuit_short(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return (uint64_t)circuits_circuit_short(&run->circuit);
}
BENCH_BODY(body_circuit_short, op_circuit_short)

static int
setup_short_never(struct bench_run *run)
{
	return init_circuit(&run->circuit, BENCH_NEVER);
}

static int
setup_short_1000(struct bench_run *run)
{
	return init_circuit(&run->circuit, 1000);
}

static int
setup_short_1(struct bench_run *run)
{
	return init_circuit(&run->circuit, 1);
}

static int
teardown_circuit_shorts(struct bench_run *run)
{
	circuits_config_t config;

	circuits_circuit_config(&run->circuit, &config);
	return check_circuit("circuit short", &run->circuit,
			     config.num_shorts_to_trip, bench_total_ops(run), 0,
			     bench_total_sum(run));
}

/* --- Circuit trip() ------------------------------------------------------- */

/* A compare-and-swap loop on the word, then the winner's bookkeeping:
 * every call wins a trip. */
static uint64_t
op_circuit_trip(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return (uint64_t)circuits_circuit_trip(&run->circuit);
}
BENCH_BODY(body_circuit_trip, op_circuit_trip)

static int
teardown_circuit_trips(struct bench_run *run)
{
	return check_circuit("circuit trip", &run->circuit, BENCH_NEVER, 0,
			     bench_total_ops(run), bench_total_sum(run));
}

/* --- Non-blocking variants ------------------------------------------------ */

/* short_nb hands back the sleep owed instead of sleeping it: the same
 * fetch-and-add plus one store to *owed. */
static uint64_t
op_circuit_short_nb(struct bench_run *run, int thread, uint64_t i)
{
	uint64_t owed;

	(void)thread;
	(void)i;
	return (uint64_t)circuits_circuit_short_nb(&run->circuit, &owed);
}
BENCH_BODY(body_circuit_short_nb, op_circuit_short_nb)

static uint64_t
op_circuit_trip_nb(struct bench_run *run, int thread, uint64_t i)
{
	uint64_t owed;

	(void)thread;
	(void)i;
	return (uint64_t)circuits_circuit_trip_nb(&run->circuit, &owed);
}
BENCH_BODY(body_circuit_trip_nb, op_circuit_trip_nb)

/* --- Reads ---------------------------------------------------------------- */

/* Nobody writes the circuit during these, so its line stays shared in every
 * core's cache: the cost of the decode, not of contention. */
static int
setup_reads(struct bench_run *run)
{
	if (init_circuit(&run->circuit, 10) != 0)
		return -1;
	for (int k = 0; k < 23; k++) /* 2 trips, count 3 */
		circuits_circuit_short(&run->circuit);
	return 0;
}

/* One acquire load and the decode of pending trips. */
static uint64_t
op_times_shorted(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return circuits_circuit_times_shorted(&run->circuit);
}
BENCH_BODY(body_times_shorted, op_times_shorted)

/* seq_floor, the word, seq_floor again, and the full decode including the
 * backoff of the current level. */
static uint64_t
op_snapshot(struct bench_run *run, int thread, uint64_t i)
{
	circuits_snapshot_t snap;

	(void)thread;
	(void)i;
	circuits_circuit_snapshot(&run->circuit, &snap);
	return snap.times_shorted + snap.total_trips;
}
BENCH_BODY(body_snapshot, op_snapshot)

static int
teardown_snapshot(struct bench_run *run)
{
	/* Every read saw times_shorted 3 and total_trips 2. */
	return bench_expect("circuit snapshot", "sum of values read",
			    bench_total_sum(run), 5 * bench_total_ops(run));
}

static int
teardown_times_shorted(struct bench_run *run)
{
	return bench_expect("circuit times_shorted", "sum of values read",
			    bench_total_sum(run), 3 * bench_total_ops(run));
}

/* --- BreakingCircuit short(), broken poll, reset racing with shorts ------- */

static int
init_breaker(circuits_breaking_t *breaker, uint32_t n)
{
	circuits_config_t config;
	int rc;

	bench_trip_config(&config, n);
	rc = circuits_breaking_init(breaker, &config);
	if (rc != CIRCUITS_OK) {
		fprintf(stderr, "circuits_breaking_init: %s\n",
			circuits_strerror(rc));
		return -1;
	}
	circuits_breaking_set_sleeper(breaker, bench_no_sleep, NULL);
	return 0;
}

static int
setup_breaker_never(struct bench_run *run)
{
	return init_breaker(&run->breaker, BENCH_NEVER);
}

/* One fetch-and-add on the offset count and two bit tests. */
static uint64_t
op_breaking_short(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return (uint64_t)circuits_breaking_short(&run->breaker);
}
BENCH_BODY(body_breaking_short, op_breaking_short)

static int
teardown_breaking_short(struct bench_run *run)
{
	uint64_t total = bench_total_ops(run);

	return bench_expect("breaking short", "outcomes (all counted)",
			    bench_total_sum(run), 0) |
	       bench_expect("breaking short", "times_shorted",
			    circuits_breaking_times_shorted(&run->breaker),
			    total);
}

/* The inline `while (!broken)` poll: a load of the handle's state pointer,
 * one acquire load of the word and a bit test. */
static uint64_t
op_broken(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return circuits_breaking_broken(&run->breaker);
}
BENCH_BODY(body_broken, op_broken)

static int
teardown_broken(struct bench_run *run)
{
	return bench_expect("breaking broken", "polls that saw it broken",
			    bench_total_sum(run), 0);
}

/*
 * Each thread makes one reset() every 16 operations (staggered by thread)
 * and shorts otherwise, on a threshold of 8: a thread alone breaks the
 * circuit after 8 shorts, sees it already broken for 7 more, and resets it.
 * With more threads, shorts and resets of different threads race on the
 * word: breaks (fetch-and-add carrying into the broken bit), already-broken
 * shorts, winning and losing resets (compare-and-swap).
 */
#define RESET_EVERY 16
#define RACE_THRESHOLD 8
#define RESET_WON (UINT64_C(1) << 32)

static int
setup_reset_race(struct bench_run *run)
{
	return init_breaker(&run->breaker, RACE_THRESHOLD);
}

static uint64_t
op_reset_race(struct bench_run *run, int thread, uint64_t i)
{
	if ((i + (uint64_t)thread) % RESET_EVERY == RESET_EVERY - 1)
		return circuits_breaking_reset(&run->breaker) ? RESET_WON : 0;
	return circuits_breaking_short(&run->breaker) == CIRCUITS_TRIPPED;
}
BENCH_BODY(body_reset_race, op_reset_race)

static int
teardown_reset_race(struct bench_run *run)
{
	uint64_t breaks = bench_total_sum(run) % RESET_WON;
	uint64_t resets_won = bench_total_sum(run) / RESET_WON;
	bool broken = circuits_breaking_broken(&run->breaker);

	/* Breaks and winning resets alternate, starting with a break. */
	return bench_expect("reset race", "total_trips",
			    circuits_breaking_total_trips(&run->breaker),
			    breaks) |
	       bench_expect("reset race", "breaks - resets won", breaks,
			    resets_won + (broken ? 1 : 0));
}

/* --- Circuit short() in named shared memory ------------------------------- */

static unsigned shm_serial;

/* A name no other process or run uses; unlinked at teardown. */
static int
setup_shared(struct bench_run *run)
{
	circuits_config_t config;
	int rc;

	snprintf(run->shm_name, sizeof run->shm_name, "/circuits-bench-%ld-%u",
		 (long)getpid(), shm_serial++);
	bench_trip_config(&config, BENCH_NEVER);
	rc = circuits_circuit_open_shared(&run->shared, run->shm_name,
					  CIRCUITS_SHM_CREATE, &config, 0600);
	if (rc != CIRCUITS_OK) {
		fprintf(stderr, "circuits_circuit_open_shared(%s): %s\n",
			run->shm_name, circuits_strerror(rc));
		return -1;
	}
	circuits_circuit_set_sleeper(&run->shared, bench_no_sleep, NULL);
	return 0;
}

/* The same short() as circuit_short: only where the word lives differs. */
static uint64_t
op_shared_short(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return (uint64_t)circuits_circuit_short(&run->shared);
}
BENCH_BODY(body_shared_short, op_shared_short)

static int
teardown_shared(struct bench_run *run)
{
	int rc = check_circuit("shared short", &run->shared, BENCH_NEVER,
			       bench_total_ops(run), 0, bench_total_sum(run));

	if (circuits_circuit_detach(&run->shared) != CIRCUITS_OK ||
	    circuits_shared_unlink(run->shm_name) != CIRCUITS_OK) {
		fprintf(stderr, "shared short: cannot remove %s\n",
			run->shm_name);
		rc = -1;
	}
	return rc;
}

const struct bench_case bench_library_cases[] = {
	{"circuit_short", setup_short_never, body_circuit_short,
	 teardown_circuit_shorts, BENCH_PLOT},
	{"circuit_short_n1000", setup_short_1000, body_circuit_short,
	 teardown_circuit_shorts, 0},
	{"circuit_short_n1", setup_short_1, body_circuit_short,
	 teardown_circuit_shorts, 0},
	{"circuit_trip", setup_short_never, body_circuit_trip,
	 teardown_circuit_trips, 0},
	{"circuit_short_nb", setup_short_never, body_circuit_short_nb,
	 teardown_circuit_shorts, 0},
	{"circuit_short_nb_n1", setup_short_1, body_circuit_short_nb,
	 teardown_circuit_shorts, 0},
	{"circuit_trip_nb", setup_short_never, body_circuit_trip_nb,
	 teardown_circuit_trips, 0},
	{"circuit_times_shorted", setup_reads, body_times_shorted,
	 teardown_times_shorted, 0},
	{"circuit_snapshot", setup_reads, body_snapshot, teardown_snapshot, 0},
	{"breaking_short", setup_breaker_never, body_breaking_short,
	 teardown_breaking_short, 0},
	{"breaking_broken_poll", setup_breaker_never, body_broken,
	 teardown_broken, 0},
	{"breaking_reset_race", setup_reset_race, body_reset_race,
	 teardown_reset_race, 0},
	{"circuit_short_shared", setup_shared, body_shared_short,
	 teardown_shared, 0},
};
const size_t bench_library_case_count =
	sizeof bench_library_cases / sizeof bench_library_cases[0];
