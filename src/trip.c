/*
 * trip.c - the bookkeeping that only the winner of a trip or break does,
 * after its single atomic step has already changed the state.
 */
#include "internal.h"

uint64_t
circuits__won_trip(const struct circuits_hooks *hooks,
		   struct circuits_state *state,
		   const struct circuits__trip *trip)
{
	struct circuits__reading reading;
	circuits_trip_event_t event;
	uint64_t planned, cap, owed, random_bits = 0;

	/* The trip advanced seq: raise the floor past it (state.h). */
	circuits__read(state, &reading);
	circuits__raise_floor(state, reading.seq_full);

	if (trip->custom) {
		/* A custom sleep gets jitter but no ceiling. */
		planned = trip->custom_ns;
		cap = UINT64_MAX;
	} else {
		planned = circuits__state_backoff(state, trip->level_before);
		cap = state->ceiling;
	}
	if (state->jitter != 0.0 && planned != 0)
		random_bits = hooks->random(hooks->random_arg);
	owed = circuits__jitter(planned, state->jitter, random_bits, cap);

	if (hooks->on_trip != NULL) {
		circuits__snapshot(state, &reading, &event.state);
		event.sleep = owed;
		event.planned_sleep = planned;
		event.custom = trip->custom;
		hooks->on_trip(&event, hooks->on_trip_arg);
	}
	return owed;
}
