/*
 * baselines.c - the reference points every library case is compared with,
 * measured in the same binary and the same run.
 *
 *   faa_shared      one ck_pr_faa_64 (lock xadd) on one word alone on its
 *                   cache line, shared by all threads: the physical limit
 *                   for any design that keeps its state in one shared word.
 *   faa_call        the same, but through a function that is not inlined
 *                   (call.c): the floor for any API that is a function call.
 *   cas_loop        a ck_pr_cas_64 retry loop incrementing that word: what a
 *                   short costs when it needs a compare-and-swap.
 *   mutex_circuit   the Circuit's short() under a pthread_mutex_t, and
 *   spin_circuit    under a pthread_spinlock_t (locked.c): the lock-based
 *                   design of the reference library.
 *   per_thread_faa  ck_pr_faa_64 on a counter per thread, each on its own
 *                   cache line: the same instruction with no sharing, the
 *                   floor that more threads can only approach.
 *   plain_load      ck_pr_load_64 of one word: the target of the broken
 *                   poll.
 */
#include <stdio.h>

#include <ck_pr.h>

#include "bench.h"

/* Shared word baselines: after S increments the word holds S. */
static int
setup_word(struct bench_run *run)
{
	(void)run; /* bench_setup() zeroed the word */
	return 0;
}

static int
teardown_word(struct bench_run *run)
{
	return bench_expect("shared word", "final value",
			    ck_pr_load_64(&run->word), bench_total_ops(run));
}

static uint64_t
op_faa(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return ck_pr_faa_64(&run->word, 1);
}
BENCH_BODY(body_faa, op_faa)

static uint64_t
op_faa_call(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return bench_faa_call(&run->word);
}
BENCH_BODY(body_faa_call, op_faa_call)

/* The textbook loop: read, then compare-and-swap old -> old + 1 until it
 * succeeds; a failed attempt hands back the value it saw. */
static uint64_t
op_cas(struct bench_run *run, int thread, uint64_t i)
{
	uint64_t seen = ck_pr_load_64(&run->word);

	(void)thread;
	(void)i;
	while (!ck_pr_cas_64_value(&run->word, seen, seen + 1, &seen))
		;
	return seen;
}
BENCH_BODY(body_cas, op_cas)

/* Plain load of a word nobody writes: the cheapest possible poll. */
static uint64_t
op_load(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return ck_pr_load_64(&run->word);
}
BENCH_BODY(body_load, op_load)

static int
teardown_load(struct bench_run *run)
{
	return bench_expect("plain load", "sum of values read",
			    bench_total_sum(run), 0);
}

/* No sharing: each thread's counter is on its own line (struct bench_slot). */
static uint64_t
op_per_thread(struct bench_run *run, int thread, uint64_t i)
{
	(void)i;
	return ck_pr_faa_64(&run->slot[thread].counter, 1);
}
BENCH_BODY(body_per_thread, op_per_thread)

static int
teardown_per_thread(struct bench_run *run)
{
	int rc = 0;

	for (int t = 0; t < BENCH_MAX_THREADS; t++)
		rc |= bench_expect("per-thread counters", "a thread's counter",
				   run->slot[t].counter, run->slot[t].ops);
	return rc;
}

/* --- The lock-based circuit ----------------------------------------------- */

static int
setup_mutex(struct bench_run *run)
{
	circuits_config_t config;

	bench_trip_config(&config, BENCH_NEVER);
	if (bench_mutex_circuit_init(&run->mutex_circuit, &config,
				     bench_no_sleep, NULL) != CIRCUITS_OK) {
		fprintf(stderr, "mutex circuit: init failed\n");
		return -1;
	}
	return 0;
}

static uint64_t
op_mutex(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return (uint64_t)bench_mutex_circuit_short(&run->mutex_circuit);
}
BENCH_BODY(body_mutex, op_mutex)

static int
teardown_mutex(struct bench_run *run)
{
	struct bench_mutex_circuit *c = &run->mutex_circuit;
	uint64_t total = bench_total_ops(run);
	int rc = bench_expect("mutex circuit", "times_shorted",
			      bench_mutex_circuit_times_shorted(c),
			      total % BENCH_NEVER) |
		 bench_expect("mutex circuit", "total_trips",
			      bench_mutex_circuit_total_trips(c),
			      total / BENCH_NEVER);

	bench_mutex_circuit_destroy(c);
	return rc;
}

static int
setup_spin(struct bench_run *run)
{
	circuits_config_t config;

	bench_trip_config(&config, BENCH_NEVER);
	if (bench_spin_circuit_init(&run->spin_circuit, &config, bench_no_sleep,
				    NULL) != CIRCUITS_OK) {
		fprintf(stderr, "spin circuit: init failed\n");
		return -1;
	}
	return 0;
}

static uint64_t
op_spin(struct bench_run *run, int thread, uint64_t i)
{
	(void)thread;
	(void)i;
	return (uint64_t)bench_spin_circuit_short(&run->spin_circuit);
}
BENCH_BODY(body_spin, op_spin)

static int
teardown_spin(struct bench_run *run)
{
	struct bench_spin_circuit *c = &run->spin_circuit;
	uint64_t total = bench_total_ops(run);
	int rc = bench_expect("spin circuit", "times_shorted",
			      bench_spin_circuit_times_shorted(c),
			      total % BENCH_NEVER) |
		 bench_expect("spin circuit", "total_trips",
			      bench_spin_circuit_total_trips(c),
			      total / BENCH_NEVER);

	bench_spin_circuit_destroy(c);
	return rc;
}

const struct bench_case bench_baseline_cases[] = {
	{"faa_shared", setup_word, body_faa, teardown_word,
	 BENCH_BASELINE | BENCH_PLOT},
	{"faa_call", setup_word, body_faa_call, teardown_word,
	 BENCH_BASELINE | BENCH_PLOT},
	{"cas_loop", setup_word, body_cas, teardown_word,
	 BENCH_BASELINE | BENCH_PLOT},
	{"mutex_circuit", setup_mutex, body_mutex, teardown_mutex,
	 BENCH_BASELINE | BENCH_PLOT},
	{"spin_circuit", setup_spin, body_spin, teardown_spin,
	 BENCH_BASELINE | BENCH_PLOT},
	{"per_thread_faa", setup_word, body_per_thread, teardown_per_thread,
	 BENCH_BASELINE | BENCH_PLOT},
	{"plain_load", setup_word, body_load, teardown_load,
	 BENCH_BASELINE | BENCH_PLOT},
};
const size_t bench_baseline_case_count =
	sizeof bench_baseline_cases / sizeof bench_baseline_cases[0];
