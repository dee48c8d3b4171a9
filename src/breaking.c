/*
 * breaking.c - the breaking circuit: breaks at N and stays broken until
 * reset.
 *
 * short() is one fetch-and-add, inlined into the caller from circuits.h: the
 * count is stored offset by 2^34 - N, so the N-th short's addition carries
 * into the broken bit by itself (state.h).
 * trip(), reset() and reset_backoff() are compare-and-swap loops, so exactly
 * one of any number of racing callers wins each break and each reset.
 */
#include "internal.h"

/* Breaking: seq odd <=> broken; CIRCUITS_BROKEN_BIT_ is seq's lowest bit. */
static inline bool
word_broken(uint64_t word)
{
	return (word & CIRCUITS_BROKEN_BIT_) != 0;
}

/*
 * Shorts on a broken circuit keep adding to a count nobody reads; put it
 * back to 0 long before it could carry into the broken bit.  Changes no
 * logical value.  Retries only when another operation changed the word.
 */
CIRCUITS__COLD static void
trim_broken_count(struct circuits_state *state)
{
	uint64_t word = circuits__load_acquire(&state->word);

	while (word_broken(word) &&
	       circuits__word_count(word) >= CIRCUITS__BROKEN_COUNT_LIMIT &&
	       !circuits__cas_acq_rel(&state->word, &word,
				      word & ~CIRCUITS__COUNT_MASK))
		;
}

/* The rare end of a short: this short's addition carried, so it broke the
 * circuit.  A break leaves the backoff level as it is. */
static int
short_broke(circuits_breaking_t *breaker, uint64_t old_word, bool custom,
	    uint64_t custom_ns, uint64_t *owed_ns)
{
	struct circuits__trip trip = {circuits__word_level(old_word), custom,
				      custom_ns};

	*owed_ns = circuits__won_trip(&breaker->hooks, breaker->state, &trip);
	return CIRCUITS_TRIPPED;
}

static int
breaking_trip(circuits_breaking_t *breaker, bool custom, uint64_t custom_ns,
	      uint64_t *owed_ns)
{
	struct circuits_state *state = breaker->state;
	uint64_t word = circuits__load_acquire(&state->word);
	struct circuits__trip trip = {0, custom, custom_ns};

	*owed_ns = 0;
	do {
		/* Broken already: the load (or the failed compare-and-swap)
		 * that saw it is the linearization point. */
		if (word_broken(word))
			return CIRCUITS_ALREADY_BROKEN;
	} while (!circuits__cas_acq_rel(
		&state->word, &word,
		circuits__word_make(0, circuits__word_seq(word) + 1,
				    circuits__word_level(word))));
	trip.level_before = circuits__word_level(word);
	*owed_ns = circuits__won_trip(&breaker->hooks, state, &trip);
	return CIRCUITS_TRIPPED;
}

/* As run() in circuit.c. */
static inline int
run(circuits_breaking_t *breaker, bool custom, uint64_t sleep_ns,
    uint64_t *owed_ns, bool blocking)
{
	uint64_t owed;
	int rc = breaking_trip(breaker, custom, sleep_ns, &owed);

	return circuits__deliver(&breaker->hooks, rc, owed, owed_ns, blocking);
}

int
circuits_breaking_init(circuits_breaking_t *breaker,
		       const circuits_config_t *config)
{
	int rc = circuits_config_validate(config);

	if (rc != CIRCUITS_OK)
		return rc;
	if (breaker == NULL)
		return CIRCUITS_E_NULL;
	circuits__hooks_init(&breaker->hooks);
	circuits__state_init(&breaker->local, config, CIRCUITS__KIND_BREAKING);
	breaker->state = &breaker->local;
	breaker->mapping = NULL;
	return CIRCUITS_OK;
}

/* The rest of a short whose inline fast path (circuits.h) saw the circuit
 * broken, or saw its own addition carry into the broken bit. */
int
circuits_breaking_short_rest_(circuits_breaking_t *breaker, uint64_t old_word,
			      bool custom, uint64_t sleep_ns, uint64_t *owed_ns,
			      bool blocking)
{
	uint64_t owed = 0;
	int rc;

	if (word_broken(old_word)) {
		if (circuits__word_count(old_word) >=
		    CIRCUITS__BROKEN_COUNT_LIMIT)
			trim_broken_count(breaker->state);
		rc = CIRCUITS_ALREADY_BROKEN;
	} else {
		rc = short_broke(breaker, old_word, custom, sleep_ns, &owed);
	}
	return circuits__deliver(&breaker->hooks, rc, owed, owed_ns, blocking);
}

int
circuits_breaking_trip(circuits_breaking_t *breaker)
{
	return run(breaker, false, 0, NULL, true);
}

int
circuits_breaking_trip_custom(circuits_breaking_t *breaker, uint64_t sleep_ns)
{
	return run(breaker, true, sleep_ns, NULL, true);
}

int
circuits_breaking_trip_nb(circuits_breaking_t *breaker, uint64_t *owed_ns)
{
	return run(breaker, false, 0, owed_ns, false);
}

int
circuits_breaking_trip_custom_nb(circuits_breaking_t *breaker,
				 uint64_t sleep_ns, uint64_t *owed_ns)
{
	return run(breaker, true, sleep_ns, owed_ns, false);
}

bool
circuits_breaking_reset(circuits_breaking_t *breaker)
{
	struct circuits_state *state = breaker->state;
	uint64_t word = circuits__load_acquire(&state->word);
	struct circuits__reading reading;

	for (;;) {
		if (word_broken(word)) {
			/* broken -> closed: seq even again, one level up. */
			uint64_t next = circuits__word_make(
				state->reset_count,
				circuits__word_seq(word) + 1,
				circuits__level_add(circuits__word_level(word),
						    1));

			if (!circuits__cas_acq_rel(&state->word, &word, next))
				continue;
			/* seq advanced: raise the floor past it. */
			circuits__read(state, &reading);
			circuits__raise_floor(state, reading.seq_full);
			return true;
		}
		/* Closed with a count of 0 already: nothing to write. */
		if (circuits__word_count(word) == state->reset_count)
			return false;
		if (circuits__cas_acq_rel(&state->word, &word,
					  (word & ~CIRCUITS__COUNT_MASK) |
						  state->reset_count))
			return false;
	}
}

void
circuits_breaking_reset_backoff(circuits_breaking_t *breaker)
{
	struct circuits_state *state = breaker->state;
	uint64_t word = circuits__load_acquire(&state->word);
	const uint64_t level_bits = CIRCUITS__LEVEL_MASK
				    << CIRCUITS__LEVEL_SHIFT;

	while ((word & level_bits) != 0 &&
	       !circuits__cas_acq_rel(&state->word, &word, word & ~level_bits))
		;
}

uint64_t
circuits_breaking_times_shorted(const circuits_breaking_t *breaker)
{
	struct circuits__view view;

	circuits__breaking_view(breaker->state,
				circuits__load_acquire(&breaker->state->word),
				&view);
	return view.count;
}

uint64_t
circuits_breaking_total_trips(const circuits_breaking_t *breaker)
{
	struct circuits__reading reading;

	circuits__read(breaker->state, &reading);
	return (reading.seq_full + 1) / 2;
}

uint64_t
circuits_breaking_current_sleep_time(const circuits_breaking_t *breaker)
{
	const struct circuits_state *state = breaker->state;
	uint64_t word = circuits__load_acquire(&state->word);

	return circuits__state_backoff(state, circuits__word_level(word));
}

void
circuits_breaking_snapshot(const circuits_breaking_t *breaker,
			   circuits_snapshot_t *snapshot)
{
	struct circuits__reading reading;

	circuits__read(breaker->state, &reading);
	circuits__snapshot(breaker->state, &reading, snapshot);
}

void
circuits_breaking_config(const circuits_breaking_t *breaker,
			 circuits_config_t *config)
{
	circuits__state_config(breaker->state, config);
}

void
circuits_breaking_set_sleeper(circuits_breaking_t *breaker,
			      circuits_sleep_fn sleep, void *arg)
{
	circuits__set_sleeper(&breaker->hooks, sleep, arg);
}

void
circuits_breaking_set_random(circuits_breaking_t *breaker,
			     circuits_random_fn random, void *arg)
{
	circuits__set_random(&breaker->hooks, random, arg);
}

void
circuits_breaking_set_listener(circuits_breaking_t *breaker,
			       circuits_trip_fn on_trip, void *arg)
{
	circuits__set_listener(&breaker->hooks, on_trip, arg);
}
