/*
 * locked.h - the Circuit semantics implemented the obvious way, under a
 * lock: the design the reference library (and most circuit breakers) use,
 * kept here as the baseline the lock-free short() is compared with.
 *
 * Same contract as circuits_circuit_short() for what the benchmarks use:
 * count one short; the short that brings the count to N resets it to 0,
 * adds one trip and one backoff level (saturating), and that caller alone
 * sleeps the backoff of the level before the trip.  The sleep happens after
 * the lock is released, as any sensible implementation would do.
 *
 * Two variants that differ only in the lock: pthread_mutex_t (default type)
 * and pthread_spinlock_t.  Each keeps the lock and the fields a short
 * touches on one cache line, so a short moves exactly one line between
 * cores, as the lock-free one does; the configuration, read only by a trip,
 * is on the next line.
 */
#ifndef CIRCUITS_BENCH_LOCKED_H
#define CIRCUITS_BENCH_LOCKED_H

#include <pthread.h>
#include <stdint.h>

#include "circuits.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a short reads and writes under the lock. */
struct bench_locked_counts {
	uint64_t count;
	uint64_t threshold;
	uint64_t total_trips;
};

/* Read only by a trip. */
struct bench_locked_config {
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) uint32_t level;
	uint64_t base;
	uint64_t ceiling;
	double factor;
	circuits_sleep_fn sleep;
	void *sleep_arg;
};

struct bench_mutex_circuit {
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) pthread_mutex_t lock;
	struct bench_locked_counts counts;
	struct bench_locked_config config;
};

struct bench_spin_circuit {
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) pthread_spinlock_t lock;
	struct bench_locked_counts counts;
	struct bench_locked_config config;
};

/* Validates like circuits_circuit_init() and initialises; 0 or the error.
 * sleep is the sleep hook (required). */
int bench_mutex_circuit_init(struct bench_mutex_circuit *circuit,
			     const circuits_config_t *config,
			     circuits_sleep_fn sleep, void *sleep_arg);
void bench_mutex_circuit_destroy(struct bench_mutex_circuit *circuit);
/* CIRCUITS_COUNTED or CIRCUITS_TRIPPED, as circuits_circuit_short(). */
int bench_mutex_circuit_short(struct bench_mutex_circuit *circuit);
/* times_shorted and total_trips, read under the lock. */
uint64_t bench_mutex_circuit_times_shorted(struct bench_mutex_circuit *c);
uint64_t bench_mutex_circuit_total_trips(struct bench_mutex_circuit *c);

int bench_spin_circuit_init(struct bench_spin_circuit *circuit,
			    const circuits_config_t *config,
			    circuits_sleep_fn sleep, void *sleep_arg);
void bench_spin_circuit_destroy(struct bench_spin_circuit *circuit);
int bench_spin_circuit_short(struct bench_spin_circuit *circuit);
uint64_t bench_spin_circuit_times_shorted(struct bench_spin_circuit *c);
uint64_t bench_spin_circuit_total_trips(struct bench_spin_circuit *c);

#ifdef __cplusplus
}
#endif

#endif /* CIRCUITS_BENCH_LOCKED_H */
