/*
 * state.h - the state word of a circuit and how to read it.
 *
 * THE WORD
 *
 * All of a circuit's mutable state that operations must see change together
 * lives in one 64-bit word, so that each operation takes effect with a single
 * atomic instruction:
 *
 *    63 62          50 49            34 33                              0
 *   +--+-------------+----------------+---------------------------------+
 *   |0 | level (13)  |   seq (16)     |           count (34)            |
 *   +--+-------------+----------------+---------------------------------+
 *
 *   count  shorts in the current window (its encoding differs per kind,
 *          see below); 34 bits so that N up to 2^32-1 leaves headroom.
 *   seq    the low 16 bits of a transition counter: trips for a circuit,
 *          breaks plus resets for a breaking circuit.
 *   level  backoff level, saturating at CIRCUITS_MAX_BACKOFF_LEVEL (8191).
 *   bit 63 always 0.
 *
 * The full 64-bit transition count does not fit, so a second word of the same
 * cache line, seq_floor, holds a recent full value of it: every operation
 * that advances seq afterwards raises seq_floor to the full count it read
 * (compare-and-swap, only upwards), so seq_floor is always a count the word
 * really had, never above the true count, and behind it only by transitions
 * whose callers have not finished yet (or died).  A reader loads seq_floor,
 * the word, seq_floor again; if the floor moved by less than 2^15 in between,
 * the full count at the instant the word was read is the one value congruent
 * to the word's seq modulo 2^16 in [floor, floor + 2^16).  That is exact
 * while fewer than 2^15 transitions at once belong to callers that have not
 * finished: a bound on threads stopped inside a trip, not on load.
 *
 * CIRCUIT (auto-resetting)
 *
 * count is a plain count.  short() is one fetch-and-add of 1 on the word; the
 * value it returns tells the caller everything:
 *   - old count + 1 < N: an ordinary short (the fast path, nothing else).
 *   - old count + 1 a multiple of N: this short tripped the circuit.
 * The trip takes effect at that fetch-and-add, but the fields still show it as
 * "pending": count >= N.  A word with count c >= N means p = c / N trips
 * happened that are not yet folded in, so the logical state is
 *   count = c mod N,  seq = seq + p,  level = min(level + p, 8191).
 * Every reader decodes the word this way, so the pending form is already the
 * exact state; folding it (a compare-and-swap that writes the decoded fields
 * back) changes no logical value.  The winner folds right after its trip, and
 * so does any short that sees count >= N, so a winner killed before folding
 * is cleaned up by the next short.  trip() and reset_backoff() are
 * compare-and-swap loops on the decoded word and fold as they go.
 *
 * BREAKING CIRCUIT
 *
 * count is stored offset by 2^34 - N (reset_count): a closed circuit with k
 * shorts holds 2^34 - N + k.  The N-th short carries out of the count field
 * into bit 34, the lowest bit of seq, so the fetch-and-add of that short
 * itself sets seq odd: the circuit is broken exactly while seq is odd, and
 * the break needs no second step.  That is why circuits_breaking_broken() is
 * one load and a bit test.  Shorts on a broken circuit still add 1 to count
 * (counting "nothing" would need a compare-and-swap); the logical count of a
 * broken circuit is 0 whatever count holds.  A short that sees count past
 * 2^33 while broken puts it back to 0, far before it could carry again.
 * trip() (seq even -> odd, count 0), reset() (odd -> even, count
 * reset_count, level + 1) and reset_backoff() are compare-and-swap loops,
 * so exactly one of racing callers wins each transition.
 *
 * INVARIANTS (checked by tests/, the fuzzers and the linearizability checker)
 *   1. Each operation's effect is one atomic instruction on the word; a read
 *      decodes one load of it.  Hence linearizability.
 *   2. A circuit's decoded count is always < N; S shorts with no other
 *      operation give seq_full = S / N and count = S mod N.
 *   3. Exactly one caller sees each trip or break as its own.
 *   4. seq_floor <= true transition count, and only grows.
 *   5. level <= 8191 in the word and after decoding.
 */
#ifndef CIRCUITS_STATE_H
#define CIRCUITS_STATE_H

#include "atomic.h"
#include "circuits.h"

#define CIRCUITS__COUNT_BITS 34
#define CIRCUITS__COUNT_MASK ((UINT64_C(1) << CIRCUITS__COUNT_BITS) - 1)
#define CIRCUITS__SEQ_SHIFT 34
#define CIRCUITS__SEQ_MASK UINT64_C(0xffff)
#define CIRCUITS__SEQ_SPAN (UINT64_C(1) << 16)
#define CIRCUITS__LEVEL_SHIFT 50
#define CIRCUITS__LEVEL_MASK UINT64_C(0x1fff)
/* A broken circuit's count is put back to 0 past this. */
#define CIRCUITS__BROKEN_COUNT_LIMIT (UINT64_C(1) << 33)
/* A reader raises seq_floor itself once it lags this far behind. */
#define CIRCUITS__FLOOR_HELP_LAG (UINT64_C(1) << 12)

enum circuits__kind { CIRCUITS__KIND_CIRCUIT = 1, CIRCUITS__KIND_BREAKING = 2 };

#if CIRCUITS_MAX_BACKOFF_LEVEL != 8191
#error "the level field is 13 bits wide"
#endif

/* The logical state a word stands for (pending trips folded in). */
struct circuits__view {
	uint64_t count; /* shorts in the current window */
	uint64_t seq;   /* low 16 bits of the transition count */
	uint32_t level; /* backoff level */
	bool broken;    /* breaking circuit only */
};

static inline uint64_t
circuits__word_count(uint64_t word)
{
	return word & CIRCUITS__COUNT_MASK;
}

static inline uint64_t
circuits__word_seq(uint64_t word)
{
	return (word >> CIRCUITS__SEQ_SHIFT) & CIRCUITS__SEQ_MASK;
}

static inline uint32_t
circuits__word_level(uint64_t word)
{
	return (uint32_t)((word >> CIRCUITS__LEVEL_SHIFT) &
			  CIRCUITS__LEVEL_MASK);
}

static inline uint32_t
circuits__level_add(uint32_t level, uint64_t steps)
{
	uint64_t sum = (uint64_t)level + steps;

	return sum > CIRCUITS_MAX_BACKOFF_LEVEL ? CIRCUITS_MAX_BACKOFF_LEVEL
						: (uint32_t)sum;
}

static inline uint64_t
circuits__word_make(uint64_t count, uint64_t seq, uint32_t level)
{
	return count | ((seq & CIRCUITS__SEQ_MASK) << CIRCUITS__SEQ_SHIFT) |
	       ((uint64_t)level << CIRCUITS__LEVEL_SHIFT);
}

/* Decodes a circuit word, folding in p = count / N pending trips. */
static inline void
circuits__circuit_view(const struct circuits_state *state, uint64_t word,
		       struct circuits__view *view)
{
	uint64_t raw = circuits__word_count(word);
	uint64_t pending = 0;

	if (raw >= state->threshold) {
		pending = raw / state->threshold;
		raw %= state->threshold;
	}
	view->count = raw;
	view->seq = (circuits__word_seq(word) + pending) & CIRCUITS__SEQ_MASK;
	view->level = circuits__level_add(circuits__word_level(word), pending);
	view->broken = false;
}

/* Encodes a circuit view: no pending trips left. */
static inline uint64_t
circuits__circuit_word(const struct circuits__view *view)
{
	return circuits__word_make(view->count, view->seq, view->level);
}

static inline void
circuits__breaking_view(const struct circuits_state *state, uint64_t word,
			struct circuits__view *view)
{
	view->seq = circuits__word_seq(word);
	view->level = circuits__word_level(word);
	view->broken = (view->seq & 1) != 0;
	view->count = view->broken
			      ? 0
			      : circuits__word_count(word) - state->reset_count;
}

/* A word read together with the full transition count at that instant. */
struct circuits__reading {
	uint64_t word;
	uint64_t seq_full;
};

/* Loads seq_floor (*before), the word, and seq_floor again (*after), until
 * the floor moved by less than 2^15 in between: the floor at the instant the
 * word was read lies in [*before, *after].  Writes nothing.  Lock-free: it
 * retries only when 2^15 transitions by others completed meanwhile. */
void circuits__read_floors(struct circuits_state *state, uint64_t *before,
			   uint64_t *word, uint64_t *after);

/* Reads the word and reconstructs the full transition count (see above).
 * Lock-free: it retries only when seq_floor moved 2^15 in between, which
 * takes that many completed transitions by others. */
void circuits__read(struct circuits_state *state,
		    struct circuits__reading *reading);

/* Raises seq_floor to seq_full (a count that the word really had). */
void circuits__raise_floor(struct circuits_state *state, uint64_t seq_full);

/* The logical seq (low 16 bits) of a word of either kind. */
uint64_t circuits__logical_seq(const struct circuits_state *state,
			       uint64_t word);

/* Fills a public snapshot from a reading. */
void circuits__snapshot(const struct circuits_state *state,
			const struct circuits__reading *reading,
			circuits_snapshot_t *snapshot);

#endif /* CIRCUITS_STATE_H */
