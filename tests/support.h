/*
 * support.h - pieces the test programs share: a recording fake sleeper, a
 * fixed random source, a start barrier, and the iteration scale.
 * Header-only so that each test file stays one CTest entry.
 */
#ifndef CIRCUITS_TEST_SUPPORT_H
#define CIRCUITS_TEST_SUPPORT_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "circuits.h"

/* Iteration counts are multiplied by $CIRCUITS_TEST_SCALE (default 1), so
 * that sanitizer runs can do less; never below 1. */
static inline long
scaled(long iterations)
{
	const char *text = getenv("CIRCUITS_TEST_SCALE");
	double scale = text != NULL ? strtod(text, NULL) : 1.0;
	long n = (long)((double)iterations * (scale > 0 ? scale : 1.0));

	return n > 0 ? n : 1;
}

/* Records every sleep it is asked for instead of sleeping.  Safe to share
 * between threads (appends with an atomic index). */
#define FAKE_SLEEPER_CAPACITY 100000
struct fake_sleeper {
	uint64_t sleeps[FAKE_SLEEPER_CAPACITY];
	uint64_t count; /* atomic */
};

static inline void
fake_sleep(uint64_t ns, void *arg)
{
	struct fake_sleeper *sleeper = arg;
	uint64_t slot = __atomic_fetch_add(&sleeper->count, 1,
					   __ATOMIC_RELAXED);

	if (slot < FAKE_SLEEPER_CAPACITY)
		sleeper->sleeps[slot] = ns;
}

static inline uint64_t
fake_sleep_count(struct fake_sleeper *sleeper)
{
	return __atomic_load_n(&sleeper->count, __ATOMIC_RELAXED);
}

/* Returns a fixed value (the pointed-to uint64_t), so jitter is repeatable. */
static inline uint64_t
fixed_random(void *arg)
{
	return *(const uint64_t *)arg;
}

/* Threads wait here until all have arrived, so they start together. */
struct start_barrier {
	pthread_barrier_t barrier;
};

static inline void
start_barrier_init(struct start_barrier *start, unsigned threads)
{
	pthread_barrier_init(&start->barrier, NULL, threads);
}

static inline void
start_barrier_wait(struct start_barrier *start)
{
	pthread_barrier_wait(&start->barrier);
}

static inline void
start_barrier_destroy(struct start_barrier *start)
{
	pthread_barrier_destroy(&start->barrier);
}

#endif
