/*
 * state.c - consistent reads of a circuit's state and the seq_floor word.
 * state.h explains the layout and why the reconstruction below is exact.
 */
#include "internal.h"

uint64_t
circuits__logical_seq(const struct circuits_state *state, uint64_t word)
{
	struct circuits__view view;

	if (state->kind == CIRCUITS__KIND_CIRCUIT)
		circuits__circuit_view(state, word, &view);
	else
		circuits__breaking_view(state, word, &view);
	return view.seq;
}

void
circuits__raise_floor(struct circuits_state *state, uint64_t seq_full)
{
	/* Relaxed first look: the compare-and-swap below re-checks. */
	uint64_t floor = circuits__load_relaxed(&state->seq_floor);

	/*
	 * Release: a reader that acquires this value and then loads the word
	 * must see the word at least as new as the one seq_full came from
	 * (which this thread loaded with acquire before calling us).
	 * Retries only when another caller raised the floor meanwhile.
	 */
	while (floor < seq_full &&
	       !circuits__cas_acq_rel(&state->seq_floor, &floor, seq_full))
		;
}

void
circuits__read_floors(struct circuits_state *state, uint64_t *before,
		      uint64_t *word, uint64_t *after)
{
	do {
		/*
		 * Acquire on both loads of this triple: the first pairs with
		 * the release in circuits__raise_floor(), so the word read
		 * next is at least as new as the one behind the floor; the
		 * word's acquire keeps the second floor load after it, and
		 * pairs with the release of the operation that wrote it.
		 */
		*before = circuits__load_acquire(&state->seq_floor);
		*word = circuits__load_acquire(&state->word);
		*after = circuits__load_relaxed(&state->seq_floor);
	} while (*after - *before >= CIRCUITS__SEQ_SPAN / 2);
}

void
circuits__read(struct circuits_state *state, struct circuits__reading *reading)
{
	uint64_t before, word, after, seq;

	circuits__read_floors(state, &before, &word, &after);
	seq = circuits__logical_seq(state, word);
	reading->word = word;
	reading->seq_full = before + ((seq - before) & CIRCUITS__SEQ_MASK);
	/* Keep the lag far from its bound even if every caller that should
	 * have raised the floor was killed. */
	if (reading->seq_full > after &&
	    reading->seq_full - after >= CIRCUITS__FLOOR_HELP_LAG)
		circuits__raise_floor(state, reading->seq_full);
}

void
circuits__snapshot(const struct circuits_state *state,
		   const struct circuits__reading *reading,
		   circuits_snapshot_t *snapshot)
{
	struct circuits__view view;

	if (state->kind == CIRCUITS__KIND_CIRCUIT) {
		circuits__circuit_view(state, reading->word, &view);
		snapshot->total_trips = reading->seq_full;
	} else {
		circuits__breaking_view(state, reading->word, &view);
		/* seq counts breaks and resets; odd while broken. */
		snapshot->total_trips = (reading->seq_full + 1) / 2;
	}
	snapshot->times_shorted = view.count;
	snapshot->backoff_level = view.level;
	snapshot->broken = view.broken;
	snapshot->current_sleep_time =
		circuits__state_backoff(state, view.level);
}
