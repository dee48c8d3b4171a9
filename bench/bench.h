/*
 * bench.h - what the benchmark bodies, the Google Benchmark shim and the
 * allocation/system-call checker share.
 *
 * A case is a C description of one measured operation: a setup that builds
 * the objects it works on (run once per benchmark run, by one thread, before
 * the threads start), a body that performs n operations from one thread, and
 * a teardown that checks the run left an exact, expected state (a benchmark
 * that silently did something else would measure nothing).
 *
 * Everything a run touches lives in one statically allocated struct
 * bench_run, laid out so that no two objects written by different threads
 * share a cache line: the measured loops never allocate, and the only
 * sharing is the sharing a case means to measure.
 *
 * The loop around every operation is bench_loop() below, inlined into each
 * case with the operation as a constant function pointer, so the compiler
 * sees the operation's body (or the call into the library) directly in the
 * loop: no indirect call is measured.
 */
#ifndef CIRCUITS_BENCH_H
#define CIRCUITS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "circuits.h"
#include "locked.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Thread counts measured are 1, 2, 4 and 8. */
#define BENCH_MAX_THREADS 8

/* A threshold no run reaches (2^32 - 1 shorts take seconds), for shorts
 * that never trip.  The teardown checks would hold even if one did. */
#define BENCH_NEVER UINT32_MAX

/* Per-thread state, one cache line each. */
struct bench_slot {
	/* The per-thread counter baseline increments this. */
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) uint64_t counter;
	uint64_t ops;   /* operations this thread ran in this run */
	uint64_t sum;   /* sum of the values the operations returned */
	uint64_t chain; /* the think-time chain's running value */
};

/* Everything one benchmark run works on. */
struct bench_run {
	/* Read-only while the threads run. */
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) int threads;
	unsigned think_steps; /* dependent steps in one think period */
	uint64_t zero;        /* always 0; the compiler cannot know that */
	char shm_name[64];

	/* The objects under test, each on lines of its own. */
	circuits_circuit_t circuit;
	circuits_breaking_t breaker;
	circuits_circuit_t shared; /* state in named shared memory */
	struct bench_mutex_circuit mutex_circuit;
	struct bench_spin_circuit spin_circuit;
	/* The baselines' shared word, alone on its line. */
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) uint64_t word;

	struct bench_slot slot[BENCH_MAX_THREADS];
};

/* Case flags. */
enum {
	BENCH_BASELINE = 1, /* not the library: a reference point */
	BENCH_PLOT = 2      /* drawn in the ns/op-against-threads plot */
};

struct bench_case {
	const char *name;
	/* Builds the objects; 0, or -1 after printing why it failed. */
	int (*setup)(struct bench_run *run);
	/* n operations from thread `thread`; think adds the think period
	 * after each. */
	void (*body)(struct bench_run *run, int thread, uint64_t n, bool think);
	/* Checks the final state against the operations counted in the
	 * slots and frees what setup made; 0, or -1 after printing what did
	 * not match. */
	int (*teardown)(struct bench_run *run);
	unsigned flags;
};

/* The cases: the library's (cases.c), then the baselines (baselines.c). */
extern const struct bench_case bench_library_cases[];
extern const size_t bench_library_case_count;
extern const struct bench_case bench_baseline_cases[];
extern const size_t bench_baseline_case_count;

/* The one run (benchmarks run one at a time). */
extern struct bench_run bench_the_run;

/*
 * Prepares bench_the_run for a run of c with `threads` threads (clears the
 * slots, keeps think_steps) and calls c->setup.  Then c->teardown after the
 * run.  Both return 0 or -1.
 */
int bench_setup(const struct bench_case *c, int threads);
int bench_teardown(const struct bench_case *c);

/* Sum of the slots' ops (total operations) and sums. */
uint64_t bench_total_ops(const struct bench_run *run);
uint64_t bench_total_sum(const struct bench_run *run);

/* A teardown check: prints "case: what: got G, expected E" and returns -1
 * when got != expected, else 0. */
int bench_expect(const char *name, const char *what, uint64_t got,
		 uint64_t expected);

/*
 * The configuration of every case, so that a trip costs what it costs in
 * real use: threshold n, a 1 ms base doubling up to 10 s, 25 % jitter (every
 * trip draws a random number).  Its sleep is bench_no_sleep.
 */
void bench_trip_config(circuits_config_t *config, uint32_t n);

/* A sleep hook that returns at once: trip winners in the benchmarks owe
 * their sleep, but paying it would measure the kernel's timer, not us. */
void bench_no_sleep(uint64_t ns, void *arg);

/*
 * Think time: `steps` dependent 64-bit multiply-adds (a linear congruential
 * step, about 4 cycles of latency each, which no compiler or CPU can
 * shortcut).  bench_think_calibrate() measures one step on this machine and
 * returns the steps that take about target_ns, storing the measured cost of
 * that many in *measured_ns.
 */
static inline uint64_t
bench_think(uint64_t x, unsigned steps)
{
	for (unsigned k = 0; k < steps; k++)
		x = x * UINT64_C(6364136223846793005) +
		    UINT64_C(1442695040888963407);
	return x;
}
unsigned bench_think_calibrate(double target_ns, double *measured_ns);

/* ck_pr_faa_64(word, 1) in a function of its own (call.c). */
uint64_t bench_faa_call(uint64_t *word);

/* One operation: returns a value that the loop sums, so that the compiler
 * must perform it and the teardown can check it. */
typedef uint64_t (*bench_op_fn)(struct bench_run *run, int thread, uint64_t i);

/*
 * Runs n operations of one thread.  Without think time it is the bare loop.
 * With it, a chain of dependent work runs between operations, and the next
 * operation's address depends on the chain's value (through `zero`, a 0 the
 * compiler cannot see), so the CPU cannot start the next operation before
 * the think period ends.  The chain does not consume the operation's
 * result: code that only branches on an outcome does not wait for it either
 * (the CPU predicts the branch), and every case, library or baseline, is
 * treated alike.  So the think period may overlap the tail of a slow
 * operation, as it would in a server; the operations themselves still run
 * one at a time per thread.
 */
static inline __attribute__((always_inline)) void
bench_loop(struct bench_run *run, int thread, uint64_t n, bool think,
	   bench_op_fn op)
{
	struct bench_slot *slot = &run->slot[thread];
	uint64_t sum = 0;

	if (!think) {
		for (uint64_t i = 0; i < n; i++)
			sum += op(run, thread, i);
	} else {
		const uint64_t zero = run->zero;
		const unsigned steps = run->think_steps;
		uint64_t chain = slot->chain;

		for (uint64_t i = 0; i < n; i++) {
			struct bench_run *r =
				(struct bench_run *)((uintptr_t)run +
						     (chain & zero));
			sum += op(r, thread, i);
			chain = bench_think(chain, steps);
		}
		slot->chain = chain;
	}
	slot->ops += n;
	slot->sum += sum;
}

/* Defines the body of a case from its operation. */
#define BENCH_BODY(body_name, op_name)                                         \
	static void body_name(struct bench_run *run, int thread, uint64_t n,   \
			      bool think)                                      \
	{                                                                      \
		bench_loop(run, thread, n, think, op_name);                    \
	}

#ifdef __cplusplus
}
#endif

#endif /* CIRCUITS_BENCH_H */
