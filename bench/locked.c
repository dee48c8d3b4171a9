/*
 * locked.c - the lock-based Circuit baselines (see locked.h).
 *
 * The critical section is shared by both variants and is as short as the
 * semantics allow: an increment, a compare, and on a trip three stores.
 * The backoff arithmetic and the sleep run after the unlock, on the
 * winner's thread only.
 */
#include <math.h>

#include "locked.h"

/* Counts one short: CIRCUITS_TRIPPED (with *level_before filled) when it
 * trips, else CIRCUITS_COUNTED.  Call with the lock held. */
static inline int
count_short(struct bench_locked_counts *counts,
	    struct bench_locked_config *config, uint32_t *level_before)
{
	if (++counts->count < counts->threshold)
		return CIRCUITS_COUNTED;
	counts->count = 0;
	counts->total_trips++;
	*level_before = config->level;
	if (config->level < CIRCUITS_MAX_BACKOFF_LEVEL)
		config->level++;
	return CIRCUITS_TRIPPED;
}

/* min(base * factor^level, ceiling), the way most implementations do it. */
static uint64_t
backoff(const struct bench_locked_config *config, uint32_t level)
{
	double sleep;

	if (config->base == 0)
		return 0;
	sleep = (double)config->base * pow(config->factor, (double)level);
	if (!(sleep < (double)config->ceiling))
		return config->ceiling;
	return (uint64_t)sleep;
}

static int
fill_config(struct bench_locked_counts *counts,
	    struct bench_locked_config *config, const circuits_config_t *from,
	    circuits_sleep_fn sleep, void *sleep_arg)
{
	int rc = circuits_config_validate(from);

	if (rc != CIRCUITS_OK)
		return rc;
	counts->count = 0;
	counts->threshold = from->num_shorts_to_trip;
	counts->total_trips = 0;
	config->level = 0;
	config->base = from->sleep_time_after_trip;
	config->ceiling = from->max_sleep_time > from->sleep_time_after_trip
				  ? from->max_sleep_time
				  : from->sleep_time_after_trip;
	config->factor = from->backoff_factor;
	config->sleep = sleep;
	config->sleep_arg = sleep_arg;
	return CIRCUITS_OK;
}

int
bench_mutex_circuit_init(struct bench_mutex_circuit *circuit,
			 const circuits_config_t *config,
			 circuits_sleep_fn sleep, void *sleep_arg)
{
	int rc = fill_config(&circuit->counts, &circuit->config, config, sleep,
			     sleep_arg);

	if (rc != CIRCUITS_OK)
		return rc;
	return pthread_mutex_init(&circuit->lock, NULL) == 0
		       ? CIRCUITS_OK
		       : CIRCUITS_E_SYSTEM;
}

void
bench_mutex_circuit_destroy(struct bench_mutex_circuit *circuit)
{
	pthread_mutex_destroy(&circuit->lock);
}

int
bench_mutex_circuit_short(struct bench_mutex_circuit *circuit)
{
	uint32_t level_before = 0;
	int rc;

	pthread_mutex_lock(&circuit->lock);
	rc = count_short(&circuit->counts, &circuit->config, &level_before);
	pthread_mutex_unlock(&circuit->lock);
	if (rc == CIRCUITS_TRIPPED)
		circuit->config.sleep(backoff(&circuit->config, level_before),
				      circuit->config.sleep_arg);
	return rc;
}

uint64_t
bench_mutex_circuit_times_shorted(struct bench_mutex_circuit *c)
{
	uint64_t value;

	pthread_mutex_lock(&c->lock);
	value = c->counts.count;
	pthread_mutex_unlock(&c->lock);
	return value;
}

uint64_t
bench_mutex_circuit_total_trips(struct bench_mutex_circuit *c)
{
	uint64_t value;

	pthread_mutex_lock(&c->lock);
	value = c->counts.total_trips;
	pthread_mutex_unlock(&c->lock);
	return value;
}

int
bench_spin_circuit_init(struct bench_spin_circuit *circuit,
			const circuits_config_t *config,
			circuits_sleep_fn sleep, void *sleep_arg)
{
	int rc = fill_config(&circuit->counts, &circuit->config, config, sleep,
			     sleep_arg);

	if (rc != CIRCUITS_OK)
		return rc;
	return pthread_spin_init(&circuit->lock, PTHREAD_PROCESS_PRIVATE) == 0
		       ? CIRCUITS_OK
		       : CIRCUITS_E_SYSTEM;
}

void
bench_spin_circuit_destroy(struct bench_spin_circuit *circuit)
{
	pthread_spin_destroy(&circuit->lock);
}

int
bench_spin_circuit_short(struct bench_spin_circuit *circuit)
{
	uint32_t level_before = 0;
	int rc;

	pthread_spin_lock(&circuit->lock);
	rc = count_short(&circuit->counts, &circuit->config, &level_before);
	pthread_spin_unlock(&circuit->lock);
	if (rc == CIRCUITS_TRIPPED)
		circuit->config.sleep(backoff(&circuit->config, level_before),
				      circuit->config.sleep_arg);
	return rc;
}

uint64_t
bench_spin_circuit_times_shorted(struct bench_spin_circuit *c)
{
	uint64_t value;

	pthread_spin_lock(&c->lock);
	value = c->counts.count;
	pthread_spin_unlock(&c->lock);
	return value;
}

uint64_t
bench_spin_circuit_total_trips(struct bench_spin_circuit *c)
{
	uint64_t value;

	pthread_spin_lock(&c->lock);
	value = c->counts.total_trips;
	pthread_spin_unlock(&c->lock);
	return value;
}
