/*
 * lincheck.c - the linearizability check (see lincheck.h).
 *
 * THE SEARCH (Wing and Gong, 1993; memoized as in Lowe, 2017)
 *
 * A history of n operations is linearizable when its operations can be put
 * in one sequence that respects real time and that the sequential model
 * accepts.  The search builds that sequence from the front:
 *
 *   1. State: the set of operations already placed (a bit mask) and the
 *      model after running them in the order chosen.
 *   2. Candidates for the next place: every unplaced operation that was
 *      called before the earliest return among the unplaced ones.  Any
 *      other operation must come after that earliest-returning one, so
 *      placing it now would break real time; and every candidate can go
 *      next without breaking it, because nothing unplaced returned before
 *      it was called.
 *   3. For each candidate: copy the model, apply the operation, and keep
 *      going only if the model returns exactly what the operation returned
 *      (lin_apply()).  All placed: the history is linearizable.
 *   4. Every candidate failed: backtrack.  Remember the state (placed set
 *      and model) as a dead end; reaching the same state again by another
 *      order would fail the same way, so it is skipped.  This memo is what
 *      keeps the search small: with t threads of k operations each there
 *      are at most (k + 1)^t placed sets that respect program order, and
 *      only a few model states per set.
 *
 * Why a candidate set this narrow is complete: an operation o can be
 * placed next in some valid sequence only if no unplaced operation returned
 * before o was called; the earliest return among the unplaced is exactly
 * the bound.  Operations of one thread never overlap, so each thread
 * contributes at most one candidate at a time.
 *
 * The memo is a fixed open-addressing table, cleared by bumping an epoch
 * instead of touching memory.  If it fills up the search stays correct and
 * only stops remembering.
 */
#include <inttypes.h>
#include <string.h>

#include "lincheck.h"

static const char *const kind_names[LIN_KINDS] = {
	[LIN_SHORT] = "short_nb",
	[LIN_SHORT_CUSTOM] = "short_custom_nb",
	[LIN_SHORT_BLOCKING] = "short",
	[LIN_SHORT_CUSTOM_BLOCKING] = "short_custom",
	[LIN_TRIP] = "trip_nb",
	[LIN_TRIP_CUSTOM] = "trip_custom_nb",
	[LIN_TRIP_BLOCKING] = "trip",
	[LIN_TRIP_CUSTOM_BLOCKING] = "trip_custom",
	[LIN_RESET] = "reset",
	[LIN_RESET_BACKOFF] = "reset_backoff",
	[LIN_TIMES_SHORTED] = "times_shorted",
	[LIN_TOTAL_TRIPS] = "total_trips",
	[LIN_CURRENT_SLEEP_TIME] = "current_sleep_time",
	[LIN_BROKEN] = "broken",
	[LIN_SNAPSHOT] = "snapshot",
};

const char *
lin_kind_name(enum lin_kind kind)
{
	return kind < LIN_KINDS ? kind_names[kind] : "?";
}

bool
lin_is_custom(enum lin_kind kind)
{
	return kind == LIN_SHORT_CUSTOM || kind == LIN_SHORT_CUSTOM_BLOCKING ||
	       kind == LIN_TRIP_CUSTOM || kind == LIN_TRIP_CUSTOM_BLOCKING;
}

static bool
is_blocking(enum lin_kind kind)
{
	return kind == LIN_SHORT_BLOCKING ||
	       kind == LIN_SHORT_CUSTOM_BLOCKING || kind == LIN_TRIP_BLOCKING ||
	       kind == LIN_TRIP_CUSTOM_BLOCKING;
}

/* A short or trip: outcome, owed sleep, sleeper and listener. */
static bool
matches_trip_result(const struct model *m, const struct lin_event *event,
		    int outcome, uint64_t planned, uint64_t random_bits)
{
	const struct lin_result *r = &event->result;
	bool custom = lin_is_custom(event->kind);
	bool tripped = outcome == CIRCUITS_TRIPPED;
	uint64_t owed =
		tripped ? model_owed(m, planned, custom, random_bits) : 0;

	if (r->outcome != outcome || r->owed != owed)
		return false;
	/* Only a blocking call that tripped sleeps (a zero sleep may be
	 * skipped). */
	if (r->slept > (is_blocking(event->kind) && tripped ? 1u : 0u))
		return false;
	if (!tripped)
		return r->heard == 0;
	return r->heard == 1 && r->heard_sleep == owed &&
	       r->heard_planned == planned && r->heard_custom == custom;
}

bool
lin_apply(struct model *m, const struct lin_event *event, uint64_t random_bits)
{
	const struct lin_result *r = &event->result;
	bool custom = lin_is_custom(event->kind);
	circuits_snapshot_t snap;
	uint64_t planned;
	int outcome;

	switch (event->kind) {
	case LIN_SHORT:
	case LIN_SHORT_CUSTOM:
	case LIN_SHORT_BLOCKING:
	case LIN_SHORT_CUSTOM_BLOCKING:
		outcome = model_short(m, custom, event->custom_ns, &planned);
		return matches_trip_result(m, event, outcome, planned,
					   random_bits);
	case LIN_TRIP:
	case LIN_TRIP_CUSTOM:
	case LIN_TRIP_BLOCKING:
	case LIN_TRIP_CUSTOM_BLOCKING:
		outcome = model_trip(m, custom, event->custom_ns, &planned);
		return matches_trip_result(m, event, outcome, planned,
					   random_bits);
	case LIN_RESET:
		return r->outcome == (int)model_reset(m);
	case LIN_RESET_BACKOFF:
		model_reset_backoff(m);
		return true;
	case LIN_TIMES_SHORTED:
		return r->value == m->times_shorted;
	case LIN_TOTAL_TRIPS:
		return r->value == m->total_trips;
	case LIN_CURRENT_SLEEP_TIME:
		return r->value == model_sleep_for_level(m, m->level);
	case LIN_BROKEN:
		return r->value == (uint64_t)m->broken;
	case LIN_SNAPSHOT:
		model_snapshot(m, &snap);
		return r->snapshot.times_shorted == snap.times_shorted &&
		       r->snapshot.total_trips == snap.total_trips &&
		       r->snapshot.current_sleep_time ==
			       snap.current_sleep_time &&
		       r->snapshot.backoff_level == snap.backoff_level &&
		       r->snapshot.broken == snap.broken;
	default:
		return false;
	}
}

/* --- memo of dead ends ---------------------------------------------------- */

#define MEMO_BITS 15
#define MEMO_SIZE (1u << MEMO_BITS)
#define MEMO_PROBES 32

struct memo_entry {
	uint32_t epoch; /* entry valid only in its own search */
	uint32_t level;
	uint64_t placed;
	uint64_t times_shorted;
	uint64_t total_trips;
	bool broken;
};

/* lin_check() is not reentrant: one search at a time per process. */
static struct memo_entry memo[MEMO_SIZE];
static uint32_t memo_epoch;

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The model's configuration never changes during a search, so the state
 * is the four fields that operations change. */
static bool
memo_same(const struct memo_entry *e, uint64_t placed, const struct model *m)
{
	return e->placed == placed && e->times_shorted == m->times_shorted &&
	       e->total_trips == m->total_trips && e->level == m->level &&
	       e->broken == m->broken;
}

static uint32_t
memo_slot(uint64_t placed, const struct model *m)
{
	uint64_t h = mix64(placed ^
			   mix64(m->times_shorted ^
				 mix64(m->total_trips ^
				       ((uint64_t)m->level << 1 | m->broken))));

	return (uint32_t)(h >> (64 - MEMO_BITS));
}

static bool
memo_seen(uint64_t placed, const struct model *m)
{
	uint32_t slot = memo_slot(placed, m);

	for (int i = 0; i < MEMO_PROBES; i++) {
		const struct memo_entry *e = &memo[(slot + i) % MEMO_SIZE];

		if (e->epoch != memo_epoch)
			return false;
		if (memo_same(e, placed, m))
			return true;
	}
	return false;
}

static void
memo_add(uint64_t placed, const struct model *m)
{
	uint32_t slot = memo_slot(placed, m);

	for (int i = 0; i < MEMO_PROBES; i++) {
		struct memo_entry *e = &memo[(slot + i) % MEMO_SIZE];

		if (e->epoch != memo_epoch) {
			*e = (struct memo_entry){
				.epoch = memo_epoch,
				.level = m->level,
				.placed = placed,
				.times_shorted = m->times_shorted,
				.total_trips = m->total_trips,
				.broken = m->broken,
			};
			return;
		}
	}
	/* Neighbourhood full: forget this one; the search stays correct. */
}

/* --- the search ----------------------------------------------------------- */

struct search {
	const struct lin_history *history;
	uint64_t all;
	struct lin_stats *stats;
};

static bool
extend(struct search *s, uint64_t placed, const struct model *m)
{
	const struct lin_history *h = s->history;
	uint64_t earliest_return = UINT64_MAX;

	if (placed == s->all)
		return true;
	if (memo_seen(placed, m)) {
		s->stats->memo_hits++;
		return false;
	}
	s->stats->nodes++;
	for (int i = 0; i < h->count; i++)
		if (!(placed >> i & 1) &&
		    h->events[i].returned < earliest_return)
			earliest_return = h->events[i].returned;
	for (int i = 0; i < h->count; i++) {
		struct model next = *m;

		if ((placed >> i & 1) || h->events[i].called > earliest_return)
			continue;
		if (lin_apply(&next, &h->events[i], h->random_bits) &&
		    extend(s, placed | UINT64_C(1) << i, &next))
			return true;
	}
	memo_add(placed, m);
	return false;
}

bool
lin_check(const struct lin_history *history, struct lin_stats *stats)
{
	struct lin_stats ignored = {0, 0};
	struct search s = {
		.history = history,
		.all = (UINT64_C(1) << history->count) - 1, /* count <= 32 */
		.stats = stats != NULL ? stats : &ignored,
	};

	if (++memo_epoch == 0) { /* wrapped: old entries would look valid */
		memset(memo, 0, sizeof memo);
		memo_epoch = 1;
	}
	return extend(&s, 0, &history->initial);
}

/* --- printing ------------------------------------------------------------- */

static const char *
outcome_name(int outcome)
{
	switch (outcome) {
	case CIRCUITS_COUNTED:
		return "COUNTED";
	case CIRCUITS_TRIPPED:
		return "TRIPPED";
	case CIRCUITS_ALREADY_BROKEN:
		return "ALREADY_BROKEN";
	default:
		return "?";
	}
}

static void
print_event(FILE *out, const struct lin_event *e)
{
	const struct lin_result *r = &e->result;

	fprintf(out, "  thread %u  [%6" PRIu64 ", %6" PRIu64 "]  %s", e->thread,
		e->called, e->returned, lin_kind_name(e->kind));
	if (lin_is_custom(e->kind))
		fprintf(out, "(%" PRIu64 ")", e->custom_ns);
	switch (e->kind) {
	case LIN_RESET:
		fprintf(out, " -> %s\n", r->outcome ? "true" : "false");
		return;
	case LIN_RESET_BACKOFF:
		fprintf(out, "\n");
		return;
	case LIN_TIMES_SHORTED:
	case LIN_TOTAL_TRIPS:
	case LIN_CURRENT_SLEEP_TIME:
	case LIN_BROKEN:
		fprintf(out, " -> %" PRIu64 "\n", r->value);
		return;
	case LIN_SNAPSHOT:
		fprintf(out,
			" -> {times_shorted %" PRIu64 ", total_trips %" PRIu64
			", current_sleep_time %" PRIu64 ", level %" PRIu32
			", broken %d}\n",
			r->snapshot.times_shorted, r->snapshot.total_trips,
			r->snapshot.current_sleep_time,
			r->snapshot.backoff_level, r->snapshot.broken);
		return;
	default:
		fprintf(out, " -> %s owed %" PRIu64, outcome_name(r->outcome),
			r->owed);
		if (r->slept)
			fprintf(out, " (slept %u time)", r->slept);
		if (r->heard)
			fprintf(out,
				" listener x%u: planned %" PRIu64
				" sleep %" PRIu64 "%s",
				r->heard, r->heard_planned, r->heard_sleep,
				r->heard_custom ? " custom" : "");
		fprintf(out, "\n");
		return;
	}
}

void
lin_print(FILE *out, const struct lin_history *h)
{
	const struct model *m = &h->initial;
	const circuits_config_t *c = &m->config;
	bool printed[LIN_MAX_EVENTS] = {false};

	fprintf(out,
		"history on a %s: N=%" PRIu32 " base=%" PRIu64 " max=%" PRIu64
		" factor=%g jitter=%g random bits=0x%016" PRIx64 "\n",
		m->kind == MODEL_CIRCUIT ? "Circuit" : "BreakingCircuit",
		c->num_shorts_to_trip, c->sleep_time_after_trip,
		c->max_sleep_time, c->backoff_factor, c->jitter,
		h->random_bits);
	fprintf(out,
		"initial state: times_shorted %" PRIu64 ", total_trips %" PRIu64
		", level %" PRIu32 ", broken %d\n",
		m->times_shorted, m->total_trips, m->level, m->broken);
	fprintf(out,
		"operations in call order ([call ticket, return ticket]):\n");
	/* Selection by call ticket: n is at most 32. */
	for (int printed_count = 0; printed_count < h->count; printed_count++) {
		int next = -1;

		for (int i = 0; i < h->count; i++)
			if (!printed[i] &&
			    (next < 0 ||
			     h->events[i].called < h->events[next].called))
				next = i;
		printed[next] = true;
		print_event(out, &h->events[next]);
	}
}
