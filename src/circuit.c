/*
 * circuit.c - the auto-resetting circuit.
 *
 * short() is one fetch-and-add on the state word, inlined into the caller
 * from circuits.h; the old value it returns says whether this short tripped
 * the circuit (state.h draws the word and explains "pending" trips).  Only
 * the rare cases come here: a trip, or a short that lands while a trip is
 * still pending.
 */
#include "internal.h"

/*
 * Writes pending trips (count >= N) back into the word's fields.  Changes no
 * logical value, so any thread may do it and doing it twice is harmless.
 * Retries only when another operation changed the word.
 */
static void
fold_pending(struct circuits_state *state)
{
	/* Acquire: pairs with the release of whichever operation wrote it. */
	uint64_t word = circuits__load_acquire(&state->word);
	struct circuits__view view;

	while (circuits__word_count(word) >= state->threshold) {
		circuits__circuit_view(state, word, &view);
		if (circuits__cas_acq_rel(&state->word, &word,
					  circuits__circuit_word(&view)))
			break;
	}
}

static int
short_slow(circuits_circuit_t *circuit, uint64_t old_word, uint64_t count,
	   bool custom, uint64_t custom_ns, uint64_t *owed_ns)
{
	struct circuits_state *state = circuit->state;
	struct circuits__trip trip = {0, custom, custom_ns};

	fold_pending(state);
	if (count % state->threshold != 0) {
		/* Landed while someone else's trip was pending. */
		*owed_ns = 0;
		return CIRCUITS_COUNTED;
	}
	/* Our short is trip number count / N in the old word's window; the
	 * ones before it were pending when we added. */
	trip.level_before = circuits__level_add(circuits__word_level(old_word),
						count / state->threshold - 1);
	*owed_ns = circuits__won_trip(&circuit->hooks, state, &trip);
	return CIRCUITS_TRIPPED;
}

static int
circuit_trip(circuits_circuit_t *circuit, bool custom, uint64_t custom_ns,
	     uint64_t *owed_ns)
{
	struct circuits_state *state = circuit->state;
	uint64_t word = circuits__load_acquire(&state->word);
	struct circuits__trip trip = {0, custom, custom_ns};
	struct circuits__view view;

	/* Retries only when another operation changed the word; the
	 * successful compare-and-swap is the linearization point. */
	do {
		circuits__circuit_view(state, word, &view);
		trip.level_before = view.level;
		view.count = 0;
		view.seq = (view.seq + 1) & CIRCUITS__SEQ_MASK;
		view.level = circuits__level_add(view.level, 1);
	} while (!circuits__cas_acq_rel(&state->word, &word,
					circuits__circuit_word(&view)));
	*owed_ns = circuits__won_trip(&circuit->hooks, state, &trip);
	return CIRCUITS_TRIPPED;
}

int
circuits_circuit_init(circuits_circuit_t *circuit,
		      const circuits_config_t *config)
{
	int rc = circuits_config_validate(config);

	if (rc != CIRCUITS_OK)
		return rc;
	if (circuit == NULL)
		return CIRCUITS_E_NULL;
	circuits__hooks_init(&circuit->hooks);
	circuits__state_init(&circuit->local, config, CIRCUITS__KIND_CIRCUIT);
	circuit->state = &circuit->local;
	circuit->mapping = NULL;
	return CIRCUITS_OK;
}

/* Every trip entry point is this with constant arguments, which the
 * compiler folds away. */
static inline int
run(circuits_circuit_t *circuit, bool custom, uint64_t sleep_ns,
    uint64_t *owed_ns, bool blocking)
{
	uint64_t owed;
	int rc = circuit_trip(circuit, custom, sleep_ns, &owed);

	return circuits__deliver(&circuit->hooks, rc, owed, owed_ns, blocking);
}

int
circuits_circuit_short_rest_(circuits_circuit_t *circuit, uint64_t old_word,
			     bool custom, uint64_t sleep_ns, uint64_t *owed_ns,
			     bool blocking)
{
	uint64_t owed;
	int rc = short_slow(circuit, old_word,
			    circuits__word_count(old_word) + 1, custom,
			    sleep_ns, &owed);

	return circuits__deliver(&circuit->hooks, rc, owed, owed_ns, blocking);
}

int
circuits_circuit_trip(circuits_circuit_t *circuit)
{
	return run(circuit, false, 0, NULL, true);
}

int
circuits_circuit_trip_custom(circuits_circuit_t *circuit, uint64_t sleep_ns)
{
	return run(circuit, true, sleep_ns, NULL, true);
}

int
circuits_circuit_trip_nb(circuits_circuit_t *circuit, uint64_t *owed_ns)
{
	return run(circuit, false, 0, owed_ns, false);
}

int
circuits_circuit_trip_custom_nb(circuits_circuit_t *circuit, uint64_t sleep_ns,
				uint64_t *owed_ns)
{
	return run(circuit, true, sleep_ns, owed_ns, false);
}

void
circuits_circuit_reset_backoff(circuits_circuit_t *circuit)
{
	struct circuits_state *state = circuit->state;
	uint64_t word = circuits__load_acquire(&state->word);
	struct circuits__view view;

	for (;;) {
		circuits__circuit_view(state, word, &view);
		/* Already level 0 with nothing pending: the load was the
		 * linearization point; write nothing. */
		if (view.level == 0 &&
		    circuits__word_count(word) < state->threshold)
			return;
		view.level = 0;
		if (circuits__cas_acq_rel(&state->word, &word,
					  circuits__circuit_word(&view)))
			return;
	}
}

uint64_t
circuits_circuit_times_shorted(const circuits_circuit_t *circuit)
{
	struct circuits__view view;

	circuits__circuit_view(circuit->state,
			       circuits__load_acquire(&circuit->state->word),
			       &view);
	return view.count;
}

uint64_t
circuits_circuit_total_trips(const circuits_circuit_t *circuit)
{
	struct circuits__reading reading;

	circuits__read(circuit->state, &reading);
	return reading.seq_full;
}

uint64_t
circuits_circuit_current_sleep_time(const circuits_circuit_t *circuit)
{
	const struct circuits_state *state = circuit->state;
	struct circuits__view view;

	circuits__circuit_view(state, circuits__load_acquire(&state->word),
			       &view);
	return circuits__state_backoff(state, view.level);
}

void
circuits_circuit_snapshot(const circuits_circuit_t *circuit,
			  circuits_snapshot_t *snapshot)
{
	struct circuits__reading reading;

	circuits__read(circuit->state, &reading);
	circuits__snapshot(circuit->state, &reading, snapshot);
}

void
circuits_circuit_config(const circuits_circuit_t *circuit,
			circuits_config_t *config)
{
	circuits__state_config(circuit->state, config);
}

void
circuits_circuit_set_sleeper(circuits_circuit_t *circuit,
			     circuits_sleep_fn sleep, void *arg)
{
	circuits__set_sleeper(&circuit->hooks, sleep, arg);
}

void
circuits_circuit_set_random(circuits_circuit_t *circuit,
			    circuits_random_fn random, void *arg)
{
	circuits__set_random(&circuit->hooks, random, arg);
}

void
circuits_circuit_set_listener(circuits_circuit_t *circuit,
			      circuits_trip_fn on_trip, void *arg)
{
	circuits__set_listener(&circuit->hooks, on_trip, arg);
}
