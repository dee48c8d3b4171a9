/*
 * lincheck.h - histories of concurrent operations and a linearizability
 * checker for them.
 *
 * A history is what a few threads did to one circuit during one short round:
 * for each operation, which thread ran it, what it was (kind and custom
 * sleep), when it was called and when it returned (tickets from one shared
 * counter, so "returned before called" is exact), and everything it returned.
 * lin_check() decides whether some order of the operations (1) respects real
 * time: an operation that returned before another was called comes first,
 * and (2) makes tests/model.c, applied from the history's initial state,
 * return exactly what each operation returned.  That is linearizability
 * (Herlihy and Wing); the search is Wing and Gong's, with memoization
 * (Lowe's refinement), see lincheck.c.
 */
#ifndef CIRCUITS_LINCHECK_H
#define CIRCUITS_LINCHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

/* The operations a history can hold.  Shorts and trips come in
 * non-blocking form (the owed sleep is returned) and blocking form (the
 * owed sleep is what the recording sleeper was handed). */
enum lin_kind {
	LIN_SHORT,
	LIN_SHORT_CUSTOM,
	LIN_SHORT_BLOCKING,
	LIN_SHORT_CUSTOM_BLOCKING,
	LIN_TRIP,
	LIN_TRIP_CUSTOM,
	LIN_TRIP_BLOCKING,
	LIN_TRIP_CUSTOM_BLOCKING,
	LIN_RESET, /* breaking circuit only */
	LIN_RESET_BACKOFF,
	LIN_TIMES_SHORTED,
	LIN_TOTAL_TRIPS,
	LIN_CURRENT_SLEEP_TIME,
	LIN_BROKEN, /* breaking circuit only */
	LIN_SNAPSHOT,
	LIN_KINDS
};

/* Everything one operation returned. */
struct lin_result {
	int outcome;    /* short/trip outcome; reset's bool */
	uint64_t owed;  /* short/trip: the sleep owed (jitter applied) */
	unsigned slept; /* times the sleeper was called */
	uint64_t value; /* scalar reads (broken() as 0/1) */
	circuits_snapshot_t snapshot;
	/* What the trip listener heard during this call, if anything. */
	unsigned heard;
	uint64_t heard_sleep;
	uint64_t heard_planned;
	bool heard_custom;
};

struct lin_event {
	unsigned thread;
	enum lin_kind kind;
	uint64_t custom_ns;
	uint64_t called;   /* ticket taken just before the call */
	uint64_t returned; /* ticket taken just after it returned */
	struct lin_result result;
};

#define LIN_MAX_EVENTS 32

struct lin_history {
	/* The model in the state the circuit had when the round started
	 * (its configuration included). */
	struct model initial;
	/* What the circuit's fixed random source returns; the model jitters
	 * with the same bits. */
	uint64_t random_bits;
	int count;
	struct lin_event events[LIN_MAX_EVENTS];
};

const char *lin_kind_name(enum lin_kind kind);

bool lin_is_custom(enum lin_kind kind);

/*
 * Applies one operation to the model and says whether the model returns
 * exactly what the event recorded.  The model changes either way; callers
 * that search work on copies.
 */
bool lin_apply(struct model *m, const struct lin_event *event,
	       uint64_t random_bits);

/* Statistics of one search, for the summaries. */
struct lin_stats {
	uint64_t nodes;     /* search steps taken */
	uint64_t memo_hits; /* configurations skipped as already seen */
};

/* True when the history is linearizable with respect to the model.  Not
 * reentrant: one check at a time per process. */
bool lin_check(const struct lin_history *history, struct lin_stats *stats);

/* Prints the history, in call order, with the configuration and the
 * initial state, so that a failure can be read and replayed by hand. */
void lin_print(FILE *out, const struct lin_history *history);

#endif /* CIRCUITS_LINCHECK_H */
