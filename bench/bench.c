/*
 * bench.c - what every case shares: the run, its setup and teardown, the
 * teardown checks, the no-op sleeper and the think-time calibration.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

struct bench_run bench_the_run;

/* Keeps computed values alive. */
static volatile uint64_t bench_sink;

int
bench_setup(const struct bench_case *c, int threads)
{
	struct bench_run *run = &bench_the_run;

	if (threads < 1 || threads > BENCH_MAX_THREADS) {
		fprintf(stderr, "%s: %d threads, at most %d supported\n",
			c->name, threads, BENCH_MAX_THREADS);
		return -1;
	}
	run->threads = threads;
	run->zero = 0;
	run->word = 0;
	/* The chains keep running across runs; only the tallies restart. */
	for (int t = 0; t < BENCH_MAX_THREADS; t++) {
		run->slot[t].counter = 0;
		run->slot[t].ops = 0;
		run->slot[t].sum = 0;
	}
	return c->setup(run);
}

int
bench_teardown(const struct bench_case *c)
{
	return c->teardown(&bench_the_run);
}

uint64_t
bench_total_ops(const struct bench_run *run)
{
	uint64_t total = 0;

	for (int t = 0; t < BENCH_MAX_THREADS; t++)
		total += run->slot[t].ops;
	return total;
}

uint64_t
bench_total_sum(const struct bench_run *run)
{
	uint64_t total = 0;

	for (int t = 0; t < BENCH_MAX_THREADS; t++)
		total += run->slot[t].sum;
	return total;
}

int
bench_expect(const char *name, const char *what, uint64_t got,
	     uint64_t expected)
{
	if (got == expected)
		return 0;
	fprintf(stderr, "%s: %s: got %" PRIu64 ", expected %" PRIu64 "\n", name,
		what, got, expected);
	return -1;
}

void
bench_trip_config(circuits_config_t *config, uint32_t n)
{
	circuits_config_init(config, n);
	config->sleep_time_after_trip = CIRCUITS_MILLISECONDS(1);
	config->max_sleep_time = CIRCUITS_SECONDS(10);
	config->backoff_factor = 2.0;
	config->jitter = 0.25;
}

void
bench_no_sleep(uint64_t ns, void *arg)
{
	(void)ns;
	(void)arg;
}

static double
elapsed_ns(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) * 1e9 +
	       (double)(to->tv_nsec - from->tv_nsec);
}

/* The least time one call of bench_think(x, steps) took, over `tries`
 * timings of `calls` calls each (the least is the one that was not
 * interrupted). */
static double
time_think(unsigned steps, unsigned calls, int tries)
{
	double best = INFINITY;
	uint64_t x = (uint64_t)(uintptr_t)&best;

	for (int t = 0; t < tries; t++) {
		struct timespec from, to;

		clock_gettime(CLOCK_MONOTONIC, &from);
		for (unsigned c = 0; c < calls; c++)
			x = bench_think(x, steps);
		clock_gettime(CLOCK_MONOTONIC, &to);
		if (elapsed_ns(&from, &to) / calls < best)
			best = elapsed_ns(&from, &to) / calls;
	}
	bench_sink = x;
	return best;
}

unsigned
bench_think_calibrate(double target_ns, double *measured_ns)
{
	/* One long chain gives the cost of a step... */
	double per_step = time_think(1u << 16, 16, 9) / (1u << 16);
	double wanted = target_ns / per_step;
	unsigned steps = wanted < 1.0 ? 1u : (unsigned)lround(wanted);

	/* ...and the chosen period is timed as the loops will run it. */
	*measured_ns = time_think(steps, 1u << 14, 9);
	return steps;
}
