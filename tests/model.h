/*
 * model.h - a plain sequential reference model of the circuits contract.
 *
 * No atomics, no packing, no cleverness: each operation is written the way the
 * contract in README.md states it, so that it reads as a specification.  The
 * unit tests, the differential fuzzer and the linearizability checker compare
 * the library against it.
 *
 * The model returns the *planned* sleep (before jitter); model_owed() applies
 * jitter the same way the library does for a given 64-bit random draw.
 */
#ifndef CIRCUITS_TEST_MODEL_H
#define CIRCUITS_TEST_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "circuits.h"

enum model_kind { MODEL_CIRCUIT = 1, MODEL_BREAKING = 2 };

struct model {
	enum model_kind kind;
	circuits_config_t config;
	uint64_t ceiling; /* max(max_sleep_time, sleep_time_after_trip) */
	uint64_t times_shorted;
	uint64_t total_trips;
	uint32_t level; /* saturates at CIRCUITS_MAX_BACKOFF_LEVEL */
	bool broken;
};

/* config must be valid. */
void model_init(struct model *m, enum model_kind kind,
		const circuits_config_t *config);

/* Outcome as the library returns it; *planned_ns = the un-jittered sleep the
 * caller owes (0 when it did not trip). */
int model_short(struct model *m, bool custom, uint64_t custom_ns,
		uint64_t *planned_ns);
int model_trip(struct model *m, bool custom, uint64_t custom_ns,
	       uint64_t *planned_ns);
/* Breaking circuit only; true when this reset closed a broken circuit. */
bool model_reset(struct model *m);
void model_reset_backoff(struct model *m);

void model_snapshot(const struct model *m, circuits_snapshot_t *snapshot);

/* min(base * factor^level, ceiling). */
uint64_t model_sleep_for_level(const struct model *m, uint32_t level);

/* The jittered sleep for a planned one, given the 64 random bits the
 * circuit's random source returned (only drawn when jitter > 0 and
 * planned > 0); automatic sleeps are capped at the ceiling, custom ones
 * are not. */
uint64_t model_owed(const struct model *m, uint64_t planned, bool custom,
		    uint64_t random_bits);

#endif
