/*
 * support.h - pieces the test programs share: a recording fake sleeper, a
 * fixed random source, a start barrier, and the iteration scale; a
 * monotonic clock, a repeatable random sequence, and one set of calls over
 * both kinds of circuit.
 * Header-only so that each test file stays one CTest entry.
 */
#ifndef CIRCUITS_TEST_SUPPORT_H
#define CIRCUITS_TEST_SUPPORT_H

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/*
 * Threads wait here until all have arrived, so they start together.  A
 * pthread barrier alone wakes its sleepers one by one, tens of microseconds
 * apart, long enough for the first thread to finish a short run alone; so
 * after it each thread also spins (yielding) until every thread has left
 * the barrier.  Reusable: "arrived" counts passes over all uses, and a
 * thread cannot start the next use before every thread is done spinning on
 * this one, since the barrier holds it until all arrive again.
 */
struct start_barrier {
	pthread_barrier_t barrier;
	unsigned threads;
	uint64_t arrived; /* atomic */
};

static inline void
start_barrier_init(struct start_barrier *start, unsigned threads)
{
	pthread_barrier_init(&start->barrier, NULL, threads);
	start->threads = threads;
	start->arrived = 0;
}

static inline void
start_barrier_wait(struct start_barrier *start)
{
	uint64_t ticket, all_out;

	pthread_barrier_wait(&start->barrier);
	ticket = __atomic_fetch_add(&start->arrived, 1, __ATOMIC_ACQ_REL);
	all_out = (ticket / start->threads + 1) * start->threads;
	while (__atomic_load_n(&start->arrived, __ATOMIC_ACQUIRE) < all_out)
		sched_yield();
}

static inline void
start_barrier_destroy(struct start_barrier *start)
{
	pthread_barrier_destroy(&start->barrier);
}

/* ------------------------------------------------------------------------ */
/* Added for the core suite (tests/test_*.c).  Names carry a prefix of their  */
/* own so that they cannot clash with helpers a test file defines itself.   */
/* ------------------------------------------------------------------------ */

/*
 * Check's ck_assert_* macros record every assertion that passes (a write to
 * a pipe each), which in a loop of millions costs seconds.  These check
 * silently and go through Check (ck_abort_msg, from <check.h>) only when
 * they fail.  For loops; elsewhere ck_assert_* reads better.
 */
#define QUIET_ASSERT(cond, ...)                                               \
	do {                                                                  \
		if (!(cond))                                                  \
			ck_abort_msg(__VA_ARGS__);                            \
	} while (0)

#define QUIET_EQ_U64(got, want)                                               \
	do {                                                                  \
		uint64_t got_ = (got), want_ = (want);                        \
		if (got_ != want_)                                            \
			ck_abort_msg("%s is %" PRIu64 ", expected %" PRIu64,  \
				     #got, got_, want_);                      \
	} while (0)

/* 1 when this test program is built with ThreadSanitizer (gcc says so with
 * __SANITIZE_THREAD__, clang through __has_feature). */
#if defined(__SANITIZE_THREAD__)
#define TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_UNDER_TSAN 1
#endif
#endif
#ifndef TEST_UNDER_TSAN
#define TEST_UNDER_TSAN 0
#endif

/* CLOCK_MONOTONIC now, in ns. */
static inline uint64_t
test_clock_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * CIRCUITS_NSEC_PER_SEC +
	       (uint64_t)now.tv_nsec;
}

/*
 * A repeatable random source: a splitmix64 sequence from a seed.  It counts
 * its draws and keeps the last one, so that a test can tell whether the
 * library drew and predict the jitter it applied.  One thread only.
 */
struct test_rng {
	uint64_t state;
	uint64_t draws;
	uint64_t last;
};

static inline void
test_rng_seed(struct test_rng *rng, uint64_t seed)
{
	rng->state = seed;
	rng->draws = 0;
	rng->last = 0;
}

static inline uint64_t
test_rng_next(struct test_rng *rng)
{
	uint64_t z = (rng->state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A value in [0, bound), bound > 0; the tiny modulo bias does not matter
 * for choosing test operations. */
static inline uint64_t
test_rng_below(struct test_rng *rng, uint64_t bound)
{
	return test_rng_next(rng) % bound;
}

/* As a circuits_random_fn: arg is a struct test_rng. */
static inline uint64_t
test_rng_hook(void *arg)
{
	struct test_rng *rng = arg;

	rng->draws++;
	rng->last = test_rng_next(rng);
	return rng->last;
}

/*
 * Either kind of circuit behind one set of calls, so that a rule both kinds
 * share is tested on both by the same code.  ANY_BLOCKING calls the blocking
 * function (the owed sleep goes to the sleeper and *owed is left alone),
 * ANY_NB the non-blocking one, ANY_NB_NULL the non-blocking one with a NULL
 * owed_ns (allowed by the contract).
 */
enum any_mode { ANY_BLOCKING, ANY_NB, ANY_NB_NULL };

struct any_circuit {
	bool breaking;
	union {
		circuits_circuit_t circuit;
		circuits_breaking_t breaker;
	} u;
};

static inline int
any_init(struct any_circuit *c, bool breaking, const circuits_config_t *cfg)
{
	c->breaking = breaking;
	return breaking ? circuits_breaking_init(&c->u.breaker, cfg)
			: circuits_circuit_init(&c->u.circuit, cfg);
}

static inline int
any_short(struct any_circuit *c, bool custom, uint64_t custom_ns,
	  enum any_mode mode, uint64_t *owed)
{
	uint64_t *out = mode == ANY_NB ? owed : NULL;

	if (c->breaking) {
		circuits_breaking_t *b = &c->u.breaker;

		if (mode == ANY_BLOCKING)
			return custom ? circuits_breaking_short_custom(
						b, custom_ns)
				      : circuits_breaking_short(b);
		return custom ? circuits_breaking_short_custom_nb(b, custom_ns,
								  out)
			      : circuits_breaking_short_nb(b, out);
	}
	if (mode == ANY_BLOCKING)
		return custom ? circuits_circuit_short_custom(&c->u.circuit,
							      custom_ns)
			      : circuits_circuit_short(&c->u.circuit);
	return custom ? circuits_circuit_short_custom_nb(&c->u.circuit,
							 custom_ns, out)
		      : circuits_circuit_short_nb(&c->u.circuit, out);
}

static inline int
any_trip(struct any_circuit *c, bool custom, uint64_t custom_ns,
	 enum any_mode mode, uint64_t *owed)
{
	uint64_t *out = mode == ANY_NB ? owed : NULL;

	if (c->breaking) {
		circuits_breaking_t *b = &c->u.breaker;

		if (mode == ANY_BLOCKING)
			return custom ? circuits_breaking_trip_custom(
						b, custom_ns)
				      : circuits_breaking_trip(b);
		return custom ? circuits_breaking_trip_custom_nb(b, custom_ns,
								 out)
			      : circuits_breaking_trip_nb(b, out);
	}
	if (mode == ANY_BLOCKING)
		return custom ? circuits_circuit_trip_custom(&c->u.circuit,
							     custom_ns)
			      : circuits_circuit_trip(&c->u.circuit);
	return custom ? circuits_circuit_trip_custom_nb(&c->u.circuit,
							custom_ns, out)
		      : circuits_circuit_trip_nb(&c->u.circuit, out);
}

static inline void
any_reset_backoff(struct any_circuit *c)
{
	if (c->breaking)
		circuits_breaking_reset_backoff(&c->u.breaker);
	else
		circuits_circuit_reset_backoff(&c->u.circuit);
}

static inline void
any_snapshot(const struct any_circuit *c, circuits_snapshot_t *snapshot)
{
	if (c->breaking)
		circuits_breaking_snapshot(&c->u.breaker, snapshot);
	else
		circuits_circuit_snapshot(&c->u.circuit, snapshot);
}

static inline uint64_t
any_times_shorted(const struct any_circuit *c)
{
	return c->breaking ? circuits_breaking_times_shorted(&c->u.breaker)
			   : circuits_circuit_times_shorted(&c->u.circuit);
}

static inline uint64_t
any_total_trips(const struct any_circuit *c)
{
	return c->breaking ? circuits_breaking_total_trips(&c->u.breaker)
			   : circuits_circuit_total_trips(&c->u.circuit);
}

static inline uint64_t
any_current_sleep_time(const struct any_circuit *c)
{
	return c->breaking
		       ? circuits_breaking_current_sleep_time(&c->u.breaker)
		       : circuits_circuit_current_sleep_time(&c->u.circuit);
}

static inline void
any_config(const struct any_circuit *c, circuits_config_t *config)
{
	if (c->breaking)
		circuits_breaking_config(&c->u.breaker, config);
	else
		circuits_circuit_config(&c->u.circuit, config);
}

static inline void
any_set_sleeper(struct any_circuit *c, circuits_sleep_fn fn, void *arg)
{
	if (c->breaking)
		circuits_breaking_set_sleeper(&c->u.breaker, fn, arg);
	else
		circuits_circuit_set_sleeper(&c->u.circuit, fn, arg);
}

static inline void
any_set_random(struct any_circuit *c, circuits_random_fn fn, void *arg)
{
	if (c->breaking)
		circuits_breaking_set_random(&c->u.breaker, fn, arg);
	else
		circuits_circuit_set_random(&c->u.circuit, fn, arg);
}

static inline void
any_set_listener(struct any_circuit *c, circuits_trip_fn fn, void *arg)
{
	if (c->breaking)
		circuits_breaking_set_listener(&c->u.breaker, fn, arg);
	else
		circuits_circuit_set_listener(&c->u.circuit, fn, arg);
}

#endif
