/*
 * test_lincheck.c - every operation of both circuits is linearizable
 * (CTest label lincheck).
 *
 * HOW A ROUND RUNS
 *
 *   1. The main thread draws a configuration (small thresholds, so trips
 *      and breaks happen inside rounds; jitter 0, 0.5 or 1 with a fixed
 *      random source), initialises the circuit, and moves it to a random
 *      starting state with a few sequential operations, checked against the
 *      model as it goes.  The model in that state is the history's start.
 *   2. It draws 2 to 4 threads and 1 to 5 operations for each, from every
 *      operation the circuit has: shorts and trips, blocking and
 *      non-blocking, with and without custom sleeps; reset and
 *      reset_backoff; times_shorted, total_trips, current_sleep_time,
 *      broken and snapshot.  Each operation gets a random delay before it.
 *   3. It releases the round with one store that the waiting threads spin
 *      on (the start barrier), and runs thread 0's operations itself.  Each
 *      operation takes a ticket from one shared counter right before the
 *      call and another right after it returns, so "returned before the
 *      other was called" is exact.  The hooks record, per thread, what the
 *      sleeper and the trip listener were given during the call.
 *   4. When every thread is done, the history goes to lin_check()
 *      (lincheck.c), which searches for an order that respects real time
 *      and that the sequential model (tests/model.c) agrees with, result
 *      for result.  A history with no such order is printed and fails the
 *      test.
 *
 * The tickets are seq_cst read-modify-writes: on x86-64 a locked
 * instruction, so the circuit's own atomic steps cannot move across them.
 *
 * THE CHECKER IS CHECKED
 *
 * Hand-made histories with a known answer, and two deliberately broken
 * Circuits run through the same machinery, which the checker must catch:
 * one whose trip bookkeeping (total_trips and the level) is a second atomic
 * step after the count's, and one whose short is a load and a store instead
 * of one read-modify-write.  Each has a widened window between its two
 * steps, as a preempted thread would have.
 */
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lincheck.h"
#include "support.h"

#define MAX_THREADS 4
#define MAX_OPS 5

/* --- random numbers for the test itself (splitmix64) ---------------------- */

static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = *state += UINT64_C(0x9e3779b97f4a7c15);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t
rng_below(uint64_t *state, uint64_t bound)
{
	return rng_next(state) % bound;
}

static void
spin(unsigned iterations)
{
	for (unsigned i = 0; i < iterations; i++)
		__asm__ __volatile__("" ::: "memory");
}

/* --- what the hooks saw during one call, per thread ----------------------- */

struct call_record {
	unsigned slept;
	uint64_t slept_ns;
	unsigned heard;
	circuits_trip_event_t event;
};

static _Thread_local struct call_record record;

static void
record_sleep(uint64_t ns, void *arg)
{
	(void)arg;
	record.slept++;
	record.slept_ns = ns;
}

static void
record_trip(const circuits_trip_event_t *event, void *arg)
{
	(void)arg;
	record.heard++;
	record.event = *event;
}

static bool
kind_is_blocking(enum lin_kind kind)
{
	return kind == LIN_SHORT_BLOCKING ||
	       kind == LIN_SHORT_CUSTOM_BLOCKING || kind == LIN_TRIP_BLOCKING ||
	       kind == LIN_TRIP_CUSTOM_BLOCKING;
}

/* Copies the hooks' record into the result; a blocking call's owed sleep is
 * what the sleeper was handed. */
static void
finish_call(struct lin_event *event)
{
	struct lin_result *r = &event->result;

	r->slept = record.slept;
	r->heard = record.heard;
	r->heard_sleep = record.event.sleep;
	r->heard_planned = record.event.planned_sleep;
	r->heard_custom = record.event.custom;
	if (kind_is_blocking(event->kind))
		r->owed = record.slept ? record.slept_ns : 0;
}

/* --- the implementations under test --------------------------------------- */

struct target {
	const char *name;
	void (*init)(enum model_kind kind, const circuits_config_t *config,
		     uint64_t random_bits);
	void (*run)(struct lin_event *event);
};

/* The library. */
static struct {
	enum model_kind kind;
	uint64_t random_bits;
	circuits_circuit_t circuit;
	circuits_breaking_t breaker;
} lib;

static void
library_init(enum model_kind kind, const circuits_config_t *config,
	     uint64_t random_bits)
{
	lib.kind = kind;
	lib.random_bits = random_bits;
	if (kind == MODEL_CIRCUIT) {
		ck_assert_int_eq(circuits_circuit_init(&lib.circuit, config),
				 0);
		circuits_circuit_set_sleeper(&lib.circuit, record_sleep, NULL);
		circuits_circuit_set_random(&lib.circuit, fixed_random,
					    &lib.random_bits);
		circuits_circuit_set_listener(&lib.circuit, record_trip, NULL);
	} else {
		ck_assert_int_eq(circuits_breaking_init(&lib.breaker, config),
				 0);
		circuits_breaking_set_sleeper(&lib.breaker, record_sleep, NULL);
		circuits_breaking_set_random(&lib.breaker, fixed_random,
					     &lib.random_bits);
		circuits_breaking_set_listener(&lib.breaker, record_trip, NULL);
	}
}

static void
library_run_circuit(struct lin_event *e)
{
	circuits_circuit_t *c = &lib.circuit;
	struct lin_result *r = &e->result;

	switch (e->kind) {
	case LIN_SHORT:
		r->outcome = circuits_circuit_short_nb(c, &r->owed);
		break;
	case LIN_SHORT_CUSTOM:
		r->outcome = circuits_circuit_short_custom_nb(c, e->custom_ns,
							      &r->owed);
		break;
	case LIN_SHORT_BLOCKING:
		r->outcome = circuits_circuit_short(c);
		break;
	case LIN_SHORT_CUSTOM_BLOCKING:
		r->outcome = circuits_circuit_short_custom(c, e->custom_ns);
		break;
	case LIN_TRIP:
		r->outcome = circuits_circuit_trip_nb(c, &r->owed);
		break;
	case LIN_TRIP_CUSTOM:
		r->outcome = circuits_circuit_trip_custom_nb(c, e->custom_ns,
							     &r->owed);
		break;
	case LIN_TRIP_BLOCKING:
		r->outcome = circuits_circuit_trip(c);
		break;
	case LIN_TRIP_CUSTOM_BLOCKING:
		r->outcome = circuits_circuit_trip_custom(c, e->custom_ns);
		break;
	case LIN_RESET_BACKOFF:
		circuits_circuit_reset_backoff(c);
		break;
	case LIN_TIMES_SHORTED:
		r->value = circuits_circuit_times_shorted(c);
		break;
	case LIN_TOTAL_TRIPS:
		r->value = circuits_circuit_total_trips(c);
		break;
	case LIN_CURRENT_SLEEP_TIME:
		r->value = circuits_circuit_current_sleep_time(c);
		break;
	case LIN_SNAPSHOT:
		circuits_circuit_snapshot(c, &r->snapshot);
		break;
	default:
		ck_abort_msg("%s on a Circuit", lin_kind_name(e->kind));
	}
}

static void
library_run_breaking(struct lin_event *e)
{
	circuits_breaking_t *b = &lib.breaker;
	struct lin_result *r = &e->result;

	switch (e->kind) {
	case LIN_SHORT:
		r->outcome = circuits_breaking_short_nb(b, &r->owed);
		break;
	case LIN_SHORT_CUSTOM:
		r->outcome = circuits_breaking_short_custom_nb(b, e->custom_ns,
							       &r->owed);
		break;
	case LIN_SHORT_BLOCKING:
		r->outcome = circuits_breaking_short(b);
		break;
	case LIN_SHORT_CUSTOM_BLOCKING:
		r->outcome = circuits_breaking_short_custom(b, e->custom_ns);
		break;
	case LIN_TRIP:
		r->outcome = circuits_breaking_trip_nb(b, &r->owed);
		break;
	case LIN_TRIP_CUSTOM:
		r->outcome = circuits_breaking_trip_custom_nb(b, e->custom_ns,
							      &r->owed);
		break;
	case LIN_TRIP_BLOCKING:
		r->outcome = circuits_breaking_trip(b);
		break;
	case LIN_TRIP_CUSTOM_BLOCKING:
		r->outcome = circuits_breaking_trip_custom(b, e->custom_ns);
		break;
	case LIN_RESET:
		r->outcome = circuits_breaking_reset(b);
		break;
	case LIN_RESET_BACKOFF:
		circuits_breaking_reset_backoff(b);
		break;
	case LIN_TIMES_SHORTED:
		r->value = circuits_breaking_times_shorted(b);
		break;
	case LIN_TOTAL_TRIPS:
		r->value = circuits_breaking_total_trips(b);
		break;
	case LIN_CURRENT_SLEEP_TIME:
		r->value = circuits_breaking_current_sleep_time(b);
		break;
	case LIN_BROKEN:
		r->value = circuits_breaking_broken(b);
		break;
	case LIN_SNAPSHOT:
		circuits_breaking_snapshot(b, &r->snapshot);
		break;
	default:
		ck_abort_msg("%s on a BreakingCircuit", lin_kind_name(e->kind));
	}
}

static void
library_run(struct lin_event *e)
{
	memset(&record, 0, sizeof record);
	if (lib.kind == MODEL_CIRCUIT)
		library_run_circuit(e);
	else
		library_run_breaking(e);
	finish_call(e);
}

static const struct target library_target = {"library", library_init,
					     library_run};

/*
 * Two broken Circuits.  Both use the model's arithmetic for sleeps, so the
 * only thing wrong with them is how their steps are made atomic.
 *
 * split: count in one word, total_trips and level in two others.  A short
 * adds 1 to the count and trips when the count reaches a multiple of N (so
 * times_shorted is count mod N, the library's own encoding); the winner
 * then bumps total_trips and the level in a second and third step.  Reads
 * load the words one by one.  Between the steps a reader sees the count
 * already reset but the trip not yet counted.
 *
 * lossy: count, level and total_trips packed in one word, read in one
 * load, so reads are consistent, but a short loads the word and later
 * stores the new value instead of one read-modify-write: two shorts that
 * overlap can both count on the same old value and one of them is lost.
 */
static struct {
	bool lossy;
	struct model config; /* configuration and arithmetic only */
	uint64_t random_bits;
	uint64_t count; /* split: shorts; lossy: the packed word */
	uint64_t trips; /* split only */
	uint64_t level; /* split only */
} broken;

/* lossy's word: count bits 0..19, level 20..32, total_trips 33..63. */
#define LOSSY_LEVEL_SHIFT 20
#define LOSSY_TRIPS_SHIFT 33

static _Thread_local uint64_t window_rng;

/* The gap between two steps that should have been one: a random spin, and
 * sometimes a yield, as a preempted thread would leave. */
static void
window(void)
{
	uint64_t r = rng_next(&window_rng);

	spin((unsigned)(r % 2048));
	if ((r >> 20) % 4 == 0)
		sched_yield();
}

static void
broken_init(enum model_kind kind, const circuits_config_t *config,
	    uint64_t random_bits)
{
	ck_assert_int_eq(kind, MODEL_CIRCUIT);
	model_init(&broken.config, MODEL_CIRCUIT, config);
	broken.random_bits = random_bits;
	broken.count = broken.trips = broken.level = 0;
}

/* The winner's part of a trip: the sleep for the level before it, jitter,
 * listener, sleeper (all simulated, like the library's). */
static void
broken_won(struct lin_event *e, uint32_t level_before)
{
	bool custom = lin_is_custom(e->kind);
	uint64_t planned =
		custom ? e->custom_ns
		       : model_sleep_for_level(&broken.config, level_before);
	uint64_t owed =
		model_owed(&broken.config, planned, custom, broken.random_bits);

	e->result.outcome = CIRCUITS_TRIPPED;
	e->result.owed = owed;
	record.heard = 1;
	record.event.sleep = owed;
	record.event.planned_sleep = planned;
	record.event.custom = custom;
	if (kind_is_blocking(e->kind)) {
		record.slept = 1;
		record.slept_ns = owed;
	}
}

static uint32_t
split_level_up(void)
{
	uint64_t level = __atomic_load_n(&broken.level, __ATOMIC_SEQ_CST);

	while (!__atomic_compare_exchange_n(
		&broken.level, &level,
		level < CIRCUITS_MAX_BACKOFF_LEVEL ? level + 1 : level, false,
		__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	return (uint32_t)level;
}

static void
split_run(struct lin_event *e)
{
	uint64_t n = broken.config.config.num_shorts_to_trip, c;
	struct lin_result *r = &e->result;
	bool is_trip =
		e->kind >= LIN_TRIP && e->kind <= LIN_TRIP_CUSTOM_BLOCKING;

	switch (e->kind) {
	case LIN_RESET_BACKOFF:
		__atomic_store_n(&broken.level, 0, __ATOMIC_SEQ_CST);
		return;
	case LIN_TIMES_SHORTED:
		r->value = __atomic_load_n(&broken.count, __ATOMIC_SEQ_CST) % n;
		return;
	case LIN_TOTAL_TRIPS:
		r->value = __atomic_load_n(&broken.trips, __ATOMIC_SEQ_CST);
		return;
	case LIN_CURRENT_SLEEP_TIME:
		r->value = model_sleep_for_level(
			&broken.config,
			(uint32_t)__atomic_load_n(&broken.level,
						  __ATOMIC_SEQ_CST));
		return;
	case LIN_SNAPSHOT:
		r->snapshot.times_shorted =
			__atomic_load_n(&broken.count, __ATOMIC_SEQ_CST) % n;
		r->snapshot.total_trips =
			__atomic_load_n(&broken.trips, __ATOMIC_SEQ_CST);
		r->snapshot.backoff_level = (uint32_t)__atomic_load_n(
			&broken.level, __ATOMIC_SEQ_CST);
		r->snapshot.current_sleep_time = model_sleep_for_level(
			&broken.config, r->snapshot.backoff_level);
		r->snapshot.broken = false;
		return;
	default:
		break;
	}
	if (is_trip) {
		/* Step 1: the count to the next multiple of N. */
		c = __atomic_load_n(&broken.count, __ATOMIC_SEQ_CST);
		while (!__atomic_compare_exchange_n(
			&broken.count, &c, c - c % n + n, false,
			__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			;
	} else {
		c = __atomic_add_fetch(&broken.count, 1, __ATOMIC_SEQ_CST);
		if (c % n != 0) {
			r->outcome = CIRCUITS_COUNTED;
			return;
		}
	}
	window();
	/* Steps 2 and 3: the bookkeeping, separately. */
	__atomic_fetch_add(&broken.trips, 1, __ATOMIC_SEQ_CST);
	broken_won(e, split_level_up());
}

static uint64_t
lossy_pack(uint64_t count, uint64_t level, uint64_t trips)
{
	return count | level << LOSSY_LEVEL_SHIFT | trips << LOSSY_TRIPS_SHIFT;
}

static void
lossy_run(struct lin_event *e)
{
	uint64_t n = broken.config.config.num_shorts_to_trip;
	uint64_t word = __atomic_load_n(&broken.count, __ATOMIC_SEQ_CST);
	uint64_t count = word & ((UINT64_C(1) << LOSSY_LEVEL_SHIFT) - 1);
	uint64_t level =
		(word >> LOSSY_LEVEL_SHIFT) & CIRCUITS_MAX_BACKOFF_LEVEL;
	uint64_t trips = word >> LOSSY_TRIPS_SHIFT;
	uint64_t next_level =
		level < CIRCUITS_MAX_BACKOFF_LEVEL ? level + 1 : level;
	struct lin_result *r = &e->result;

	switch (e->kind) {
	case LIN_TIMES_SHORTED:
		r->value = count;
		return;
	case LIN_TOTAL_TRIPS:
		r->value = trips;
		return;
	case LIN_CURRENT_SLEEP_TIME:
		r->value =
			model_sleep_for_level(&broken.config, (uint32_t)level);
		return;
	case LIN_SNAPSHOT:
		r->snapshot.times_shorted = count;
		r->snapshot.total_trips = trips;
		r->snapshot.backoff_level = (uint32_t)level;
		r->snapshot.current_sleep_time =
			model_sleep_for_level(&broken.config, (uint32_t)level);
		r->snapshot.broken = false;
		return;
	case LIN_RESET_BACKOFF:
		/* Correct: compare-and-swap. */
		while (!__atomic_compare_exchange_n(
			&broken.count, &word,
			word & ~(UINT64_C(0x1fff) << LOSSY_LEVEL_SHIFT), false,
			__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			;
		return;
	case LIN_TRIP:
	case LIN_TRIP_CUSTOM:
	case LIN_TRIP_BLOCKING:
	case LIN_TRIP_CUSTOM_BLOCKING:
		/* Correct: compare-and-swap. */
		for (;;) {
			level = (word >> LOSSY_LEVEL_SHIFT) &
				CIRCUITS_MAX_BACKOFF_LEVEL;
			next_level = level < CIRCUITS_MAX_BACKOFF_LEVEL
					     ? level + 1
					     : level;
			if (__atomic_compare_exchange_n(
				    &broken.count, &word,
				    lossy_pack(0, next_level,
					       (word >> LOSSY_TRIPS_SHIFT) + 1),
				    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				break;
		}
		broken_won(e, (uint32_t)level);
		return;
	default:
		break;
	}
	/* The defect: load (above), compute, store. */
	window();
	if (count + 1 < n) {
		__atomic_store_n(&broken.count,
				 lossy_pack(count + 1, level, trips),
				 __ATOMIC_SEQ_CST);
		r->outcome = CIRCUITS_COUNTED;
		return;
	}
	__atomic_store_n(&broken.count, lossy_pack(0, next_level, trips + 1),
			 __ATOMIC_SEQ_CST);
	broken_won(e, (uint32_t)level);
}

static void
broken_run(struct lin_event *e)
{
	memset(&record, 0, sizeof record);
	if (broken.lossy)
		lossy_run(e);
	else
		split_run(e);
	finish_call(e);
}

static const struct target broken_target = {"broken", broken_init, broken_run};

/* --- rounds --------------------------------------------------------------- */

struct plan {
	int threads;
	int ops[MAX_THREADS];
	struct lin_event events[MAX_THREADS][MAX_OPS];
	unsigned delay[MAX_THREADS][MAX_OPS];
};

static struct {
	const struct target *target;
	struct plan plan;
	uint64_t clock;      /* atomic: the ticket counter */
	uint32_t generation; /* atomic: round number; 0 = not started */
	uint64_t ready;      /* atomic: threads at this round's barrier */
	uint32_t finished;   /* atomic: workers done with this round */
	bool stop;
} pool;

/*
 * Idle waiting (for the next round, for the end of a round) sleeps in the
 * kernel on a futex after a short spin, so that idle threads leave the
 * cores to the threads of the round; yielding in a loop instead cost more
 * in system time than the rounds themselves on a busy machine.  The futex
 * is only a way to sleep: what is published travels through the atomics
 * (the kernel re-checks the value before sleeping, so no wake-up is lost).
 */
static void
futex_wait(uint32_t *word, uint32_t value)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void
futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Returns the new value of *word once it differs from value (acquire). */
static uint32_t
wait_while_equal(uint32_t *word, uint32_t value)
{
	uint32_t seen;

	for (unsigned i = 0;
	     (seen = __atomic_load_n(word, __ATOMIC_ACQUIRE)) == value; i++)
		if (i > 1024)
			futex_wait(word, value);
	return seen;
}

/*
 * The start barrier: every thread of the round arrives, then all spin until
 * the last one has.  A thread that is spinning here is running, so when the
 * last one arrives the threads that hold a core start together.  (Waiting
 * for the release of the round alone is not enough: a thread still in
 * sched_yield() when it comes would start long after the others are done.)
 */
static void
start_barrier(void)
{
	uint64_t threads = (uint64_t)pool.plan.threads;

	__atomic_fetch_add(&pool.ready, 1, __ATOMIC_ACQ_REL);
	for (unsigned i = 0;
	     __atomic_load_n(&pool.ready, __ATOMIC_ACQUIRE) < threads; i++)
		if (i > 4096) /* more threads than cores: let them arrive */
			sched_yield();
}

static void
run_thread_ops(int t)
{
	struct plan *p = &pool.plan;

	start_barrier();
	for (int i = 0; i < p->ops[t]; i++) {
		struct lin_event *e = &p->events[t][i];

		spin(p->delay[t][i]);
		e->called =
			__atomic_fetch_add(&pool.clock, 1, __ATOMIC_SEQ_CST);
		pool.target->run(e);
		e->returned =
			__atomic_fetch_add(&pool.clock, 1, __ATOMIC_SEQ_CST);
	}
}

static void *
worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint32_t seen = 0;

	window_rng = (uint64_t)t * UINT64_C(0x632be59bd9b4e019);
	for (;;) {
		/* Acquire: pairs with the release that published the
		 * round's plan and the circuit's state. */
		seen = wait_while_equal(&pool.generation, seen);
		if (pool.stop)
			return NULL;
		if (t < pool.plan.threads)
			run_thread_ops(t);
		/* Release: the main thread reads our events after this. */
		if (__atomic_add_fetch(&pool.finished, 1, __ATOMIC_ACQ_REL) ==
		    MAX_THREADS - 1)
			futex_wake_all(&pool.finished);
	}
}

static pthread_t workers[MAX_THREADS];

static void
pool_start(const struct target *target)
{
	memset(&pool, 0, sizeof pool);
	pool.target = target;
	window_rng = UINT64_C(0x5851f42d4c957f2d);
	for (int t = 1; t < MAX_THREADS; t++)
		ck_assert_int_eq(pthread_create(&workers[t], NULL, worker,
						(void *)(intptr_t)t),
				 0);
}

static void
pool_stop(void)
{
	pool.stop = true;
	__atomic_fetch_add(&pool.generation, 1, __ATOMIC_RELEASE);
	futex_wake_all(&pool.generation);
	for (int t = 1; t < MAX_THREADS; t++)
		pthread_join(workers[t], NULL);
}

/* Runs the planned round on every thread and collects the history. */
static void
pool_round(struct lin_history *history)
{
	struct plan *p = &pool.plan;
	uint32_t finished = 0;

	__atomic_store_n(&pool.finished, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pool.ready, 0, __ATOMIC_RELAXED);
	/* Release: the plan and the circuit's initial state. */
	__atomic_fetch_add(&pool.generation, 1, __ATOMIC_RELEASE);
	futex_wake_all(&pool.generation);
	run_thread_ops(0);
	while (finished < MAX_THREADS - 1)
		finished = wait_while_equal(&pool.finished, finished);
	history->count = 0;
	for (int t = 0; t < p->threads; t++)
		for (int i = 0; i < p->ops[t]; i++)
			history->events[history->count++] = p->events[t][i];
}

/* --- drawing rounds ------------------------------------------------------- */

static enum lin_kind
draw_kind(uint64_t *rng, enum model_kind kind)
{
	/* Weights: shorts most, then reads, then the rest. */
	static const struct {
		enum lin_kind kind;
		unsigned weight;
	} table[] = {
		{LIN_SHORT, 30},
		{LIN_SHORT_CUSTOM, 5},
		{LIN_SHORT_BLOCKING, 6},
		{LIN_SHORT_CUSTOM_BLOCKING, 3},
		{LIN_TRIP, 8},
		{LIN_TRIP_CUSTOM, 3},
		{LIN_TRIP_BLOCKING, 3},
		{LIN_TRIP_CUSTOM_BLOCKING, 2},
		{LIN_RESET, 8},
		{LIN_RESET_BACKOFF, 5},
		{LIN_TIMES_SHORTED, 8},
		{LIN_TOTAL_TRIPS, 8},
		{LIN_CURRENT_SLEEP_TIME, 5},
		{LIN_BROKEN, 5},
		{LIN_SNAPSHOT, 10},
	};
	unsigned total = 0;

	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		total += table[i].weight;
	for (;;) {
		uint64_t r = rng_below(rng, total);
		size_t i = 0;

		while (r >= table[i].weight)
			r -= table[i++].weight;
		if (kind == MODEL_CIRCUIT &&
		    (table[i].kind == LIN_RESET || table[i].kind == LIN_BROKEN))
			continue; /* the Circuit has neither */
		return table[i].kind;
	}
}

static uint64_t
draw_custom(uint64_t *rng)
{
	static const uint64_t values[] = {0, 1, 999, UINT64_C(1000000000),
					  UINT64_MAX};

	return values[rng_below(rng, 5)];
}

static void
draw_config(uint64_t *rng, circuits_config_t *config, uint64_t *bits)
{
	static const uint32_t thresholds[] = {1, 1, 2, 2, 3, 5, 1000};
	static const uint64_t bases[] = {0, 1, 1000, UINT64_C(1000000000)};
	static const uint64_t maxes[] = {UINT64_C(1000000),
					 UINT64_C(10000000000), UINT64_MAX};
	static const double factors[] = {1.0, 2.0, 3.0, 1.5};
	static const double jitters[] = {0.0, 0.0, 0.5, 1.0};

	circuits_config_init(config, thresholds[rng_below(rng, 7)]);
	config->sleep_time_after_trip = bases[rng_below(rng, 4)];
	config->max_sleep_time = maxes[rng_below(rng, 3)];
	config->backoff_factor = factors[rng_below(rng, 4)];
	config->jitter = jitters[rng_below(rng, 4)];
	*bits = rng_next(rng);
}

/* Runs one operation alone and checks it against the model. */
static bool
sequential_step(const struct target *target, struct model *m,
		struct lin_history *h, enum lin_kind kind, uint64_t custom)
{
	struct lin_event *e = &h->events[0];

	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->custom_ns = custom;
	target->run(e);
	h->count = 1;
	return lin_apply(m, e, h->random_bits);
}

/* Sets up the circuit and the model for a round and draws its plan; false
 * when a sequential step already disagreed with the model (printed). */
static bool
setup_round(const struct target *target, enum model_kind kind, uint64_t *rng,
	    struct lin_history *h)
{
	struct plan *p = &pool.plan;
	circuits_config_t config;
	struct model m;
	int steps;

	draw_config(rng, &config, &h->random_bits);
	target->init(kind, &config, h->random_bits);
	model_init(&m, kind, &config);
	h->initial = m;
	/* A random starting state: up to 16 shorts, trips and resets;
	 * now and then, after those, the level pushed to saturation
	 * (trips, and for a breaker resets, which step its level). */
	steps = (int)rng_below(rng, 17);
	if (rng_below(rng, 256) == 0)
		steps = 16 + 2 * (CIRCUITS_MAX_BACKOFF_LEVEL + 1);
	for (int i = 0; i < steps; i++) {
		enum lin_kind step = LIN_SHORT;
		uint64_t r = rng_below(rng, 20);

		if (i >= 16)
			step = kind == MODEL_BREAKING && i % 2 ? LIN_RESET
							       : LIN_TRIP;
		else if (r < 3)
			step = LIN_TRIP;
		else if (r < 5)
			step = kind == MODEL_BREAKING ? LIN_RESET
						      : LIN_RESET_BACKOFF;
		if (!sequential_step(target, &m, h, step, 0)) {
			fprintf(stderr,
				"sequential step %d disagrees with "
				"the model:\n",
				i);
			h->initial = m;
			lin_print(stderr, h);
			return false;
		}
	}
	h->initial = m;

	p->threads = 2 + (int)rng_below(rng, MAX_THREADS - 1);
	for (int t = 0; t < p->threads; t++) {
		p->ops[t] = 1 + (int)rng_below(rng, MAX_OPS);
		for (int i = 0; i < p->ops[t]; i++) {
			struct lin_event *e = &p->events[t][i];

			memset(e, 0, sizeof *e);
			e->thread = (unsigned)t;
			e->kind = draw_kind(rng, kind);
			e->custom_ns = draw_custom(rng);
			p->delay[t][i] =
				rng_below(rng, 2)
					? 0
					: (unsigned)rng_below(rng, 400);
		}
	}
	return true;
}

/* Some pair of operations of different threads overlapped in time. */
static bool
has_overlap(const struct lin_history *h)
{
	for (int i = 0; i < h->count; i++)
		for (int j = 0; j < h->count; j++)
			if (h->events[i].thread != h->events[j].thread &&
			    h->events[i].called < h->events[j].returned &&
			    h->events[j].called < h->events[i].returned)
				return true;
	return false;
}

struct campaign {
	long rounds;
	long overlapping;
	long violations;
	long first_violation; /* round, or -1 */
	struct lin_stats stats;
};

/*
 * Runs rounds on one target until it has done min_rounds rounds of which
 * min_overlapping had operations of different threads overlapping in time,
 * or max_rounds in all, or (when stop_at_violation) a violation.  The first
 * violating history is printed.
 *
 * Overlap needs two cores at once.  When other work holds the machine's
 * cores, our threads share one and whole rounds go by with nothing
 * overlapping, so the campaign runs on until it has seen enough real
 * concurrency instead of counting rounds that tested none.
 */
static void
run_campaign(const struct target *target, enum model_kind kind, uint64_t seed,
	     long min_rounds, long min_overlapping, long max_rounds,
	     bool stop_at_violation, struct campaign *out)
{
	static struct lin_history history;
	uint64_t rng = seed;

	memset(out, 0, sizeof *out);
	out->first_violation = -1;
	pool_start(target);
	for (long round = 0;
	     round < max_rounds &&
	     (round < min_rounds || out->overlapping < min_overlapping);
	     round++) {
		if (!setup_round(target, kind, &rng, &history)) {
			out->violations++;
			break;
		}
		pool_round(&history);
		out->rounds++;
		out->overlapping += has_overlap(&history);
		if (lin_check(&history, &out->stats))
			continue;
		out->violations++;
		if (out->first_violation < 0) {
			out->first_violation = round;
			fprintf(stderr,
				"%s: round %ld (seed 0x%" PRIx64
				") is not linearizable:\n",
				target->name, round, seed);
			lin_print(stderr, &history);
		}
		if (stop_at_violation)
			break;
	}
	pool_stop();
}

static void
print_campaign(const char *what, const struct campaign *c)
{
	printf("lincheck: %-26s %6ld histories, %6ld with overlapping "
	       "operations, %ld violations, %" PRIu64 " search steps, %" PRIu64
	       " memo hits\n",
	       what, c->rounds, c->overlapping, c->violations, c->stats.nodes,
	       c->stats.memo_hits);
	fflush(stdout);
}

/* --- tests: the library --------------------------------------------------- */

/*
 * Histories per circuit kind in the plain run (scaled for the sanitizer
 * runs), and how many of them at least must have had operations overlap.
 * (A times_shorted that ignored pending trips, a window of nanoseconds, was
 * caught in about 1 of 100 histories, so 100000 leave a wide margin.)
 * On an idle 2-core machine 60-90% do; with the cores busy with other work
 * it fell to 9%, so the bar is 1 in 8 and a busy machine simply takes more
 * rounds to clear it.  Past four times the rounds the test gives up: a run
 * without concurrency proves nothing.
 */
#define LIBRARY_ROUNDS 100000
#define LIBRARY_OVERLAP_SHARE 8 /* at least 1 in 8 */
#define LIBRARY_MAX_FACTOR 4

static void
library_campaign(enum model_kind kind, uint64_t seed, const char *what)
{
	struct campaign c;
	long rounds = scaled(LIBRARY_ROUNDS);
	long overlapping = rounds / LIBRARY_OVERLAP_SHARE;

	run_campaign(&library_target, kind, seed, rounds, overlapping,
		     rounds * LIBRARY_MAX_FACTOR, false, &c);
	print_campaign(what, &c);
	ck_assert_int_eq(c.violations, 0);
	ck_assert_msg(c.overlapping >= overlapping,
		      "only %ld of %ld histories had overlapping operations "
		      "(want %ld): the machine gave the test no parallelism",
		      c.overlapping, c.rounds, overlapping);
}

START_TEST(library_circuit_is_linearizable)
{
	library_campaign(MODEL_CIRCUIT, UINT64_C(0xc1c1c1c1), "Circuit");
}
END_TEST

START_TEST(library_breaking_is_linearizable)
{
	library_campaign(MODEL_BREAKING, UINT64_C(0xb2b2b2b2),
			 "BreakingCircuit");
}
END_TEST

/* --- tests: the checker catches broken implementations -------------------- */

/* Not scaled: the point is to find a violation, and a round that finds
 * one stops the campaign; the bound is only a failsafe. */
#define BROKEN_MAX_ROUNDS 200000

START_TEST(checker_catches_split_trip_bookkeeping)
{
	struct campaign c;

	broken.lossy = false;
	run_campaign(&broken_target, MODEL_CIRCUIT, UINT64_C(0x5b11),
		     BROKEN_MAX_ROUNDS, 0, BROKEN_MAX_ROUNDS, true, &c);
	print_campaign("split trip (broken)", &c);
	ck_assert_msg(c.violations == 1,
		      "the checker missed split trip bookkeeping in %ld "
		      "rounds",
		      c.rounds);
}
END_TEST

START_TEST(checker_catches_lost_updates)
{
	struct campaign c;

	broken.lossy = true;
	run_campaign(&broken_target, MODEL_CIRCUIT, UINT64_C(0x1055),
		     BROKEN_MAX_ROUNDS, 0, BROKEN_MAX_ROUNDS, true, &c);
	print_campaign("load/store short (broken)", &c);
	ck_assert_msg(c.violations == 1,
		      "the checker missed lost updates in %ld rounds",
		      c.rounds);
}
END_TEST

/* --- tests: hand-made histories with known answers ------------------------ */

static struct lin_history handmade;

static void
handmade_start(enum model_kind kind, uint32_t n, uint64_t base, double factor)
{
	circuits_config_t config;

	circuits_config_init(&config, n);
	config.sleep_time_after_trip = base;
	config.max_sleep_time = UINT64_MAX;
	config.backoff_factor = factor;
	memset(&handmade, 0, sizeof handmade);
	model_init(&handmade.initial, kind, &config);
}

/* Appends an operation; returns its result to fill in. */
static struct lin_result *
add(unsigned thread, enum lin_kind kind, uint64_t called, uint64_t returned)
{
	struct lin_event *e = &handmade.events[handmade.count++];

	e->thread = thread;
	e->kind = kind;
	e->called = called;
	e->returned = returned;
	return &e->result;
}

static struct lin_result *
add_short(unsigned thread, uint64_t called, uint64_t returned, int outcome,
	  uint64_t owed)
{
	struct lin_result *r = add(thread, LIN_SHORT, called, returned);

	r->outcome = outcome;
	r->owed = owed;
	if (outcome == CIRCUITS_TRIPPED) {
		/* jitter 0: planned == owed */
		r->heard = 1;
		r->heard_sleep = r->heard_planned = owed;
	}
	return r;
}

START_TEST(checker_on_handmade_histories)
{
	struct lin_result *r;

	/* Sequential and right: two shorts, then a read of 2. */
	handmade_start(MODEL_CIRCUIT, 5, 0, 1.0);
	add_short(0, 1, 2, CIRCUITS_COUNTED, 0);
	add_short(0, 3, 4, CIRCUITS_COUNTED, 0);
	add(1, LIN_TIMES_SHORTED, 5, 6)->value = 2;
	ck_assert(lin_check(&handmade, NULL));
	/* The same with a stale read: both shorts had returned. */
	handmade.events[2].result.value = 1;
	ck_assert(!lin_check(&handmade, NULL));

	/* A read overlapping a short may see it or not, nothing else. */
	handmade_start(MODEL_CIRCUIT, 5, 0, 1.0);
	add_short(0, 1, 10, CIRCUITS_COUNTED, 0);
	r = add(1, LIN_TIMES_SHORTED, 2, 3);
	for (uint64_t v = 0; v < 3; v++) {
		r->value = v;
		ck_assert_int_eq(lin_check(&handmade, NULL), v <= 1);
	}

	/* Real time: a read that starts after a short returned sees it. */
	handmade_start(MODEL_CIRCUIT, 5, 0, 1.0);
	add_short(0, 1, 2, CIRCUITS_COUNTED, 0);
	add(1, LIN_TIMES_SHORTED, 3, 4)->value = 0;
	ck_assert(!lin_check(&handmade, NULL));

	/* A reader's own order: 0 shorts after 1 needs a reset between. */
	handmade_start(MODEL_CIRCUIT, 2, 0, 1.0);
	add_short(0, 1, 20, CIRCUITS_TRIPPED, 0); /* count 1 -> trip */
	handmade.initial.times_shorted = 1;
	add(1, LIN_TIMES_SHORTED, 2, 3)->value = 0; /* after the trip */
	add(1, LIN_TOTAL_TRIPS, 4, 5)->value = 0;   /* before it: no */
	ck_assert(!lin_check(&handmade, NULL));
	handmade.events[2].result.value = 1; /* after it: yes */
	ck_assert(lin_check(&handmade, NULL));

	/* N = 1, factor 2: two racing trips owe 1 and 2, never 1 and 1. */
	handmade_start(MODEL_CIRCUIT, 1, 1, 2.0);
	add_short(0, 1, 4, CIRCUITS_TRIPPED, 2);
	add_short(1, 2, 3, CIRCUITS_TRIPPED, 1);
	ck_assert(lin_check(&handmade, NULL));
	handmade.events[0].result.owed = 1;
	handmade.events[0].result.heard_sleep = 1;
	handmade.events[0].result.heard_planned = 1;
	ck_assert(!lin_check(&handmade, NULL));

	/* One winner per break. */
	handmade_start(MODEL_BREAKING, 3, 0, 1.0);
	r = add(0, LIN_TRIP, 1, 4);
	r->outcome = CIRCUITS_TRIPPED;
	r->heard = 1;
	r = add(1, LIN_TRIP, 2, 3);
	r->outcome = CIRCUITS_ALREADY_BROKEN;
	ck_assert(lin_check(&handmade, NULL));
	r->outcome = CIRCUITS_TRIPPED;
	r->heard = 1;
	ck_assert(!lin_check(&handmade, NULL));

	/* A snapshot is one instant: broken with a non-zero count never. */
	handmade_start(MODEL_BREAKING, 2, 0, 1.0);
	add_short(0, 1, 10, CIRCUITS_COUNTED, 0);
	add_short(1, 2, 9, CIRCUITS_TRIPPED, 0);
	r = add(2, LIN_SNAPSHOT, 3, 8);
	r->snapshot = (circuits_snapshot_t){
		.times_shorted = 0, .total_trips = 1, .broken = true};
	ck_assert(lin_check(&handmade, NULL));
	r->snapshot.times_shorted = 1;
	ck_assert(!lin_check(&handmade, NULL));

	/* A listener that stayed silent on a trip is a wrong result too. */
	handmade_start(MODEL_CIRCUIT, 1, 0, 1.0);
	r = add_short(0, 1, 2, CIRCUITS_TRIPPED, 0);
	ck_assert(lin_check(&handmade, NULL));
	r->heard = 0;
	ck_assert(!lin_check(&handmade, NULL));
}
END_TEST

static Suite *
lincheck_suite(void)
{
	Suite *suite = suite_create("lincheck");
	TCase *checker = tcase_create("checker");
	TCase *library = tcase_create("library");

	tcase_add_test(checker, checker_on_handmade_histories);
	tcase_add_test(checker, checker_catches_split_trip_bookkeeping);
	tcase_add_test(checker, checker_catches_lost_updates);
	tcase_add_test(library, library_circuit_is_linearizable);
	tcase_add_test(library, library_breaking_is_linearizable);
	suite_add_tcase(suite, checker);
	suite_add_tcase(suite, library);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(lincheck_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
