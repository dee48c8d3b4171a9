/*
 * internal.h - what the library's source files share and nothing outside
 * sees.  Internal names carry a double-underscore after the prefix.
 */
#ifndef CIRCUITS_INTERNAL_H
#define CIRCUITS_INTERNAL_H

#include "circuits.h"
#include "state.h"

#define CIRCUITS__LIKELY(x) __builtin_expect(!!(x), 1)
#define CIRCUITS__UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Keeps a rare path out of line so that the fast path it leaves needs no
 * stack frame. */
#define CIRCUITS__COLD __attribute__((noinline, cold))

/* Arithmetic (backoff.c): pure functions, no state. */

/* min(base * factor^level, ceiling) in ns; base 0 gives 0.  Requires
 * base <= ceiling and a valid factor. */
uint64_t circuits__backoff(uint64_t base, double factor, uint64_t ceiling,
			   uint32_t level);

/* planned spread uniformly over [planned * (1 - jitter), planned * (1 +
 * jitter)] by the 64 random bits, rounded to the nearest ns and limited to
 * cap.  jitter 0 or planned 0 returns planned (limited to cap) exactly. */
uint64_t circuits__jitter(uint64_t planned, double jitter, uint64_t random_bits,
			  uint64_t cap);

/* The backoff of a circuit at a level: the ceiling, without computing it,
 * from the first level that reaches it on. */
static inline uint64_t
circuits__state_backoff(const struct circuits_state *state, uint32_t level)
{
	if (level >= state->ceiling_level)
		return state->ceiling;
	return circuits__backoff(state->base, state->factor, state->ceiling,
				 level);
}

/* Default hooks (random.c, sleep.c). */
uint64_t circuits__default_random(void *arg);
void circuits__default_sleep(uint64_t ns, void *arg);
void circuits__hooks_init(struct circuits_hooks *hooks);
void circuits__set_sleeper(struct circuits_hooks *hooks,
			   circuits_sleep_fn sleep, void *arg);
void circuits__set_random(struct circuits_hooks *hooks,
			  circuits_random_fn random, void *arg);
void circuits__set_listener(struct circuits_hooks *hooks,
			    circuits_trip_fn on_trip, void *arg);

/* Configuration (config.c). */
void circuits__state_init(struct circuits_state *state,
			  const circuits_config_t *config, uint32_t kind);
void circuits__state_config(const struct circuits_state *state,
			    circuits_config_t *config);

/* Everything the winner of a trip or break does after the state changed
 * (trip.c): raises seq_floor, chooses the sleep (backoff for level_before
 * or the custom one), applies jitter, calls the listener.  Returns the sleep
 * owed. */
struct circuits__trip {
	uint32_t level_before;
	bool custom;
	uint64_t custom_ns;
};
uint64_t circuits__won_trip(const struct circuits_hooks *hooks,
			    struct circuits_state *state,
			    const struct circuits__trip *trip);

/* Hands the owed sleep to the caller (non-blocking variants) or sleeps it
 * (blocking ones): a blocking call is its non-blocking variant plus the
 * sleep. */
static inline int
circuits__deliver(const struct circuits_hooks *hooks, int outcome,
		  uint64_t owed, uint64_t *owed_ns, bool blocking)
{
	if (owed_ns != NULL)
		*owed_ns = owed;
	if (blocking && outcome == CIRCUITS_TRIPPED)
		hooks->sleep(owed, hooks->sleep_arg);
	return outcome;
}

#endif /* CIRCUITS_INTERNAL_H */
