/*
 * model.c - the sequential reference model (see model.h).
 *
 * The backoff and jitter arithmetic is the library's own pure functions,
 * checked separately against exact arithmetic by fuzz/fuzz_arith.c; the model
 * specifies *when* they are applied and to what.
 */
#include "model.h"

/* The library's pure arithmetic (src/backoff.c, internal symbols). */
uint64_t circuits__backoff(uint64_t base, double factor, uint64_t ceiling,
			   uint32_t level);
uint64_t circuits__jitter(uint64_t planned, double jitter,
			  uint64_t random_bits, uint64_t cap);

static void
level_up(struct model *m)
{
	if (m->level < CIRCUITS_MAX_BACKOFF_LEVEL)
		m->level++;
}

void
model_init(struct model *m, enum model_kind kind,
	   const circuits_config_t *config)
{
	m->kind = kind;
	m->config = *config;
	m->ceiling = config->max_sleep_time > config->sleep_time_after_trip
			     ? config->max_sleep_time
			     : config->sleep_time_after_trip;
	m->times_shorted = 0;
	m->total_trips = 0;
	m->level = 0;
	m->broken = false;
}

uint64_t
model_sleep_for_level(const struct model *m, uint32_t level)
{
	return circuits__backoff(m->config.sleep_time_after_trip,
				 m->config.backoff_factor, m->ceiling, level);
}

uint64_t
model_owed(const struct model *m, uint64_t planned, bool custom,
	   uint64_t random_bits)
{
	return circuits__jitter(planned, m->config.jitter, random_bits,
				custom ? UINT64_MAX : m->ceiling);
}

/* The trip itself: the winner's planned sleep uses the level before it. */
static int
trip_now(struct model *m, bool custom, uint64_t custom_ns,
	 uint64_t *planned_ns)
{
	*planned_ns = custom ? custom_ns : model_sleep_for_level(m, m->level);
	m->times_shorted = 0;
	m->total_trips++;
	if (m->kind == MODEL_CIRCUIT)
		level_up(m); /* a circuit steps its backoff on every trip */
	else
		m->broken = true; /* a breaker steps it on reset instead */
	return CIRCUITS_TRIPPED;
}

int
model_short(struct model *m, bool custom, uint64_t custom_ns,
	    uint64_t *planned_ns)
{
	*planned_ns = 0;
	if (m->kind == MODEL_BREAKING && m->broken)
		return CIRCUITS_ALREADY_BROKEN;
	m->times_shorted++;
	if (m->times_shorted < m->config.num_shorts_to_trip)
		return CIRCUITS_COUNTED;
	return trip_now(m, custom, custom_ns, planned_ns);
}

int
model_trip(struct model *m, bool custom, uint64_t custom_ns,
	   uint64_t *planned_ns)
{
	*planned_ns = 0;
	if (m->kind == MODEL_BREAKING && m->broken)
		return CIRCUITS_ALREADY_BROKEN;
	return trip_now(m, custom, custom_ns, planned_ns);
}

bool
model_reset(struct model *m)
{
	bool was_broken = m->broken;

	m->times_shorted = 0;
	if (was_broken) {
		m->broken = false;
		level_up(m);
	}
	return was_broken;
}

void
model_reset_backoff(struct model *m)
{
	m->level = 0;
}

void
model_snapshot(const struct model *m, circuits_snapshot_t *snapshot)
{
	snapshot->times_shorted = m->times_shorted;
	snapshot->total_trips = m->total_trips;
	snapshot->current_sleep_time = model_sleep_for_level(m, m->level);
	snapshot->backoff_level = m->level;
	snapshot->broken = m->broken;
}
