/*
 * circuits.h - lock-free circuit breakers with exponential backoff and jitter.
 *
 * Two primitives:
 *
 *   circuits_circuit_t   counts failures ("shorts").  The short that brings
 *                        the count to the threshold N trips it: that caller,
 *                        and only that caller, sleeps a backoff and the count
 *                        starts over.  Every other caller returns at once.
 *
 *   circuits_breaking_t  breaks when the count reaches N and stays broken until
 *                        someone calls circuits_breaking_reset(), so every
 *                        thread or process polling circuits_breaking_broken()
 *                        stops together.
 *
 * Every operation is lock-free and linearizable: it takes effect atomically at
 * one instant between its call and its return, and no thread stopped or killed
 * at any instruction can keep another from finishing.  Every operation may run
 * concurrently with every other operation on the same circuit, from any number
 * of threads, or of processes when the state lives in shared memory (see the
 * "Sharing between processes" section below).  The only exceptions are
 * circuits_*_init, which must finish before the circuit is used, and the
 * circuits_*_set_* hook setters, which must not race with operations on the
 * same handle.
 *
 * Memory ordering: every operation that changes the state is a release and
 * every read of the state is an acquire.  Writes a thread made before a trip,
 * a break or a reset are visible to any thread that then observes its effect
 * (for example a thread whose circuits_breaking_broken() returns true).
 *
 * Durations are integer nanoseconds (uint64_t).  Results are int: an outcome
 * (CIRCUITS_COUNTED, CIRCUITS_TRIPPED, CIRCUITS_ALREADY_BROKEN, all >= 0) or a
 * negative error code that circuits_strerror() turns into a message.
 *
 * The hot path checks nothing: configurations are validated once, at init, and
 * passing an uninitialised or NULL handle to an operation is undefined.
 */
#ifndef CIRCUITS_H
#define CIRCUITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CIRCUITS_BUILDING) && defined(__GNUC__)
#define CIRCUITS_API __attribute__((visibility("default")))
#else
#define CIRCUITS_API
#endif

#define CIRCUITS_VERSION_MAJOR 0
#define CIRCUITS_VERSION_MINOR 1
#define CIRCUITS_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Durations                                                                */
/* ------------------------------------------------------------------------ */

#define CIRCUITS_NSEC_PER_SEC UINT64_C(1000000000)
/* Whole seconds, milliseconds and microseconds as nanoseconds. */
#define CIRCUITS_SECONDS(s) ((uint64_t)(s) * CIRCUITS_NSEC_PER_SEC)
#define CIRCUITS_MILLISECONDS(ms) ((uint64_t)(ms) * UINT64_C(1000000))
#define CIRCUITS_MICROSECONDS(us) ((uint64_t)(us) * UINT64_C(1000))

/*
 * Converts a duration in seconds, for example a parsed Retry-After header, to
 * nanoseconds, rounding to the nearest nanosecond.  Returns 0, or
 * CIRCUITS_E_DURATION (and leaves *ns alone) when seconds is negative, NaN,
 * infinite or beyond UINT64_MAX nanoseconds.  Every uint64_t value is a valid
 * custom sleep, so this is where a custom sleep from outside is validated.
 */
CIRCUITS_API int circuits_ns_from_seconds(double seconds, uint64_t *ns);

/* ------------------------------------------------------------------------ */
/* Outcomes and errors                                                      */
/* ------------------------------------------------------------------------ */

enum circuits_outcome {
	/* The short was counted; the circuit did not trip.  Never sleeps. */
	CIRCUITS_COUNTED = 0,
	/* This call tripped the circuit (or broke the breaking circuit); it is
	 * the only caller that owes a sleep for this trip. */
	CIRCUITS_TRIPPED = 1,
	/* Breaking circuit only: it was already broken; nothing was counted
	 * and nothing is owed. */
	CIRCUITS_ALREADY_BROKEN = 2
};

enum circuits_error {
	CIRCUITS_OK = 0,
	CIRCUITS_E_NULL = -1,		   /* a required pointer was NULL */
	CIRCUITS_E_THRESHOLD = -2,	   /* num_shorts_to_trip is 0 */
	CIRCUITS_E_FACTOR_NOT_FINITE = -3, /* backoff_factor NaN or infinite */
	CIRCUITS_E_FACTOR_BELOW_ONE = -4,  /* backoff_factor < 1.0 */
	CIRCUITS_E_JITTER_NOT_FINITE = -5, /* jitter NaN or infinite */
	CIRCUITS_E_JITTER_RANGE = -6,	   /* jitter outside [0, 1] */
	CIRCUITS_E_DURATION = -7,	   /* seconds not convertible to ns */
	/* Shared memory (see below). */
	CIRCUITS_E_EXISTS = -20,      /* a segment of that name exists */
	CIRCUITS_E_NOT_FOUND = -21,   /* no segment of that name */
	CIRCUITS_E_TOO_SMALL = -22,   /* segment smaller than a circuit */
	CIRCUITS_E_BAD_MAGIC = -23,   /* not a circuits segment */
	CIRCUITS_E_BAD_VERSION = -24, /* made by another layout version */
	CIRCUITS_E_BAD_CHECKSUM = -25, /* header checksum does not match */
	CIRCUITS_E_BAD_CONFIG = -26,   /* stored configuration invalid */
	CIRCUITS_E_NOT_READY = -27,    /* creator has not finished yet */
	CIRCUITS_E_WRONG_KIND = -28,   /* holds the other kind of circuit */
	CIRCUITS_E_SYSTEM = -29,       /* a system call failed; see errno */
	CIRCUITS_E_NAME = -30,	       /* shared-memory name not valid */
	CIRCUITS_E_ALIGNMENT = -31,    /* segment not 64-byte aligned */
	CIRCUITS_E_BAD_STATE = -32     /* state no live circuit can be in */
};

/* A static, human-readable message for an outcome or error code; never NULL
 * (unknown codes give "unknown circuits error"). */
CIRCUITS_API const char *circuits_strerror(int code);

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

typedef struct circuits_config {
	/* Shorts that trip (or break) the circuit: 1 .. 2^32-1. */
	uint32_t num_shorts_to_trip;
	/* Base sleep after a trip, ns.  Default 0. */
	uint64_t sleep_time_after_trip;
	/* Cap on automatic sleeps, ns.  Default 10 s.  The effective ceiling
	 * is max(max_sleep_time, sleep_time_after_trip): a base larger than
	 * the max is honoured as is. */
	uint64_t max_sleep_time;
	/* Multiplier per backoff level: finite and >= 1.0.  Default 1.0. */
	double backoff_factor;
	/* Jitter fraction in [0, 1]: a sleep s becomes a uniform draw in
	 * [s * (1 - jitter), s * (1 + jitter)].  Default 0. */
	double jitter;
} circuits_config_t;

/* Fills *config with the defaults above and the given threshold. */
CIRCUITS_API void circuits_config_init(circuits_config_t *config,
				       uint32_t num_shorts_to_trip);

/* 0 when *config is valid, otherwise the error code of the first invalid
 * field, in the order the fields are declared. */
CIRCUITS_API int circuits_config_validate(const circuits_config_t *config);

/*
 * Backoff levels saturate here.  The sleep for level L is
 * min(base * factor^L, ceiling); with any factor >= 1.0055 the ceiling is
 * reached long before this level, so the saturation only shows with factors
 * closer to 1 than that and ceiling/base ratios near 2^64.
 */
#define CIRCUITS_MAX_BACKOFF_LEVEL 8191u

/* ------------------------------------------------------------------------ */
/* Hooks (process-local)                                                    */
/* ------------------------------------------------------------------------ */

/* Sleeps ns nanoseconds.  The default waits on CLOCK_MONOTONIC until an
 * absolute deadline, so signals neither cut the sleep short nor restart it. */
typedef void (*circuits_sleep_fn)(uint64_t ns, void *arg);

/* Returns 64 uniformly random bits.  The default is a per-thread generator
 * seeded from a key the library draws from the kernel when it is loaded, and
 * draws again in a child after fork() (through pthread_atfork: a child made
 * by _Fork() or a raw clone() replays the parent's draws unless it sets its
 * own source); it makes no system call itself. */
typedef uint64_t (*circuits_random_fn)(void *arg);

/* A mutually consistent view of one circuit, read at a single instant. */
typedef struct circuits_snapshot {
	uint64_t times_shorted;	     /* shorts in the current window */
	uint64_t total_trips;	     /* lifetime trips (breaks) */
	uint64_t current_sleep_time; /* un-jittered sleep of the next trip */
	uint32_t backoff_level;	     /* trips (resets) since reset_backoff */
	bool broken;		     /* breaking circuit only; else false */
} circuits_snapshot_t;

/* What a trip listener is told. */
typedef struct circuits_trip_event {
	/* The state read right after this trip took effect.  Under
	 * concurrency it may already include operations that came after. */
	circuits_snapshot_t state;
	/* The sleep this trip's caller owes (jitter applied), ns. */
	uint64_t sleep;
	/* The un-jittered sleep the trip chose: the backoff for the level
	 * before the trip, or the custom sleep. */
	uint64_t planned_sleep;
	/* True when the sleep was a custom one. */
	bool custom;
} circuits_trip_event_t;

/* Called by the caller that won a trip or break, after the state changed
 * and before it sleeps.  It runs on that caller's thread. */
typedef void (*circuits_trip_fn)(const circuits_trip_event_t *event,
				 void *arg);

/* ------------------------------------------------------------------------ */
/* Layout (treat every field below as private)                              */
/* ------------------------------------------------------------------------ */

#if defined(__cplusplus) && __cplusplus >= 201103L
#define CIRCUITS_ALIGNED(n) alignas(n)
#else
#define CIRCUITS_ALIGNED(n) __attribute__((aligned(n)))
#endif

#define CIRCUITS_CACHE_LINE 64

/*
 * The state of one circuit: plain data of fixed width, no pointers, so that it
 * can live in memory shared between processes.  The first cache line is the
 * hot state (written by operations); the second holds the configuration,
 * written once at init and only read afterwards, so reading it never contends
 * with the hot line.  src/state.h explains the state word.
 */
struct circuits_state {
	/* Line 0: hot. */
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) uint64_t word;
	uint64_t seq_floor;
	uint8_t hot_pad_[CIRCUITS_CACHE_LINE - 2 * sizeof(uint64_t)];
	/* Line 1: configuration, read-only after init. */
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) uint64_t threshold;
	uint64_t base;
	uint64_t ceiling;
	uint64_t max_sleep;
	double factor;
	double jitter;
	uint64_t reset_count; /* breaking: count-field value meaning 0 */
	uint32_t kind;
	uint32_t ceiling_level; /* first level whose backoff is the ceiling */
};

/* Process-local part of a handle. */
struct circuits_hooks {
	circuits_sleep_fn sleep;
	void *sleep_arg;
	circuits_random_fn random;
	void *random_arg;
	circuits_trip_fn on_trip;
	void *on_trip_arg;
};

/*
 * A handle: process-local hooks, a pointer to the state, and room for the
 * state itself when it is not in shared memory.  Handles are 64-byte aligned
 * and a multiple of 64 bytes, so two circuits in an array never share a hot
 * cache line.  Do not copy an initialised handle: the copy's state pointer
 * would still point into the original.
 */
typedef struct circuits_circuit {
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) struct circuits_hooks hooks;
	struct circuits_state *state;
	void *mapping; /* set by *_open_shared, for *_detach */
	struct circuits_state local;
} circuits_circuit_t;

typedef struct circuits_breaking {
	CIRCUITS_ALIGNED(CIRCUITS_CACHE_LINE) struct circuits_hooks hooks;
	struct circuits_state *state;
	void *mapping; /* set by *_open_shared, for *_detach */
	struct circuits_state local;
} circuits_breaking_t;

/* ------------------------------------------------------------------------ */
/* Circuit: auto-resetting                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Validates *config and initialises *circuit with it, in its own memory: count
 * 0, no trips, backoff level 0, default hooks.  Returns 0 or the config error;
 * on error *circuit is left untouched.  Not thread-safe: finish it before any
 * other call on the circuit.
 */
CIRCUITS_API int circuits_circuit_init(circuits_circuit_t *circuit,
				       const circuits_config_t *config);

/*
 * The shorts are inline: the common case, a short that does not trip, is one
 * atomic fetch-and-add and a compare in the caller, with no call.  The rare
 * rest (a trip, or a short landing while a trip is still being tidied) is the
 * exported function below, which is not meant to be called directly.
 *
 * Like circuits_breaking_broken() further down, this fetch-and-add is a
 * compiler __atomic builtin rather than src/atomic.h, so that it can be
 * inlined without ck's headers; its ordering, acq_rel, is the one atomic.h
 * gives every read-modify-write.  Release: a short that trips publishes the
 * caller's earlier writes to whoever observes the trip; acquire: the trip
 * winner's bookkeeping reads the state its trip came from.
 */
/* ABI: the inline shorts and circuits_breaking_broken() read struct
 * circuits_state's fields and the word's bit layout in the caller's code, so
 * both are part of the ABI; changing either needs a new SONAME (and a new
 * shared-segment layout version, src/shm.c). */
#define CIRCUITS_COUNT_MASK_ ((UINT64_C(1) << 34) - 1)

CIRCUITS_API int circuits_circuit_short_rest_(circuits_circuit_t *circuit,
					      uint64_t old_word, bool custom,
					      uint64_t sleep_ns,
					      uint64_t *owed_ns, bool blocking);

static inline int
circuits_circuit_short_inline_(circuits_circuit_t *circuit, bool custom,
			       uint64_t sleep_ns, uint64_t *owed_ns,
			       bool blocking)
{
	struct circuits_state *state = circuit->state;
	/* The linearization point of every short (src/state.h). */
	uint64_t old_word =
		__atomic_fetch_add(&state->word, 1, __ATOMIC_ACQ_REL);

	if (__builtin_expect((old_word & CIRCUITS_COUNT_MASK_) + 1 <
				     state->threshold,
			     1)) {
		if (owed_ns != NULL)
			*owed_ns = 0;
		return CIRCUITS_COUNTED;
	}
	return circuits_circuit_short_rest_(circuit, old_word, custom,
					    sleep_ns, owed_ns, blocking);
}

/*
 * Counts one short.  The short that brings the count to N trips the circuit:
 * the count goes to 0, total_trips and the backoff level go up by one, and
 * this caller alone sleeps the jittered current_sleep_time as it was before
 * the trip, then returns CIRCUITS_TRIPPED.  Every other call returns
 * CIRCUITS_COUNTED at once without sleeping.  Shorts made while the tripping
 * caller sleeps count toward the next window.  Blocks only when it trips.
 * Uncontended it costs one atomic fetch-and-add.
 */
static inline int
circuits_circuit_short(circuits_circuit_t *circuit)
{
	return circuits_circuit_short_inline_(circuit, false, 0, NULL, true);
}

/* As circuits_circuit_short(), but a tripping caller sleeps sleep_ns (with
 * jitter, and no ceiling) instead of the backoff.  The backoff level still
 * goes up by one. */
static inline int
circuits_circuit_short_custom(circuits_circuit_t *circuit, uint64_t sleep_ns)
{
	return circuits_circuit_short_inline_(circuit, true, sleep_ns, NULL,
					      true);
}

/* Trips now (count to 0, total_trips and level up by one), sleeps the jittered
 * backoff of the level before the trip, returns CIRCUITS_TRIPPED. */
CIRCUITS_API int circuits_circuit_trip(circuits_circuit_t *circuit);

/* As circuits_circuit_trip(), sleeping sleep_ns (jittered, no ceiling). */
CIRCUITS_API int circuits_circuit_trip_custom(circuits_circuit_t *circuit,
					      uint64_t sleep_ns);

/*
 * Non-blocking variants: the same state change and the same listener call as
 * the blocking ones, but nothing sleeps.  *owed_ns receives the jittered sleep
 * the caller owes (0 when it did not trip), for an event loop or coroutine
 * runtime to wait out.  owed_ns may be NULL.  Never block.
 */
static inline int
circuits_circuit_short_nb(circuits_circuit_t *circuit, uint64_t *owed_ns)
{
	return circuits_circuit_short_inline_(circuit, false, 0, owed_ns,
					      false);
}
static inline int
circuits_circuit_short_custom_nb(circuits_circuit_t *circuit, uint64_t sleep_ns,
				 uint64_t *owed_ns)
{
	return circuits_circuit_short_inline_(circuit, true, sleep_ns, owed_ns,
					      false);
}
CIRCUITS_API int circuits_circuit_trip_nb(circuits_circuit_t *circuit,
					  uint64_t *owed_ns);
CIRCUITS_API int circuits_circuit_trip_custom_nb(circuits_circuit_t *circuit,
						 uint64_t sleep_ns,
						 uint64_t *owed_ns);

/* Backoff level to 0; counts untouched.  Never blocks. */
CIRCUITS_API void circuits_circuit_reset_backoff(circuits_circuit_t *circuit);

/* Reads.  Each is linearizable and never blocks. */
CIRCUITS_API uint64_t
circuits_circuit_times_shorted(const circuits_circuit_t *circuit);
CIRCUITS_API uint64_t
circuits_circuit_total_trips(const circuits_circuit_t *circuit);
/* min(base * factor^level, ceiling), before jitter. */
CIRCUITS_API uint64_t
circuits_circuit_current_sleep_time(const circuits_circuit_t *circuit);
/* All of the above read at one instant. */
CIRCUITS_API void circuits_circuit_snapshot(const circuits_circuit_t *circuit,
					    circuits_snapshot_t *snapshot);
/* The configuration the circuit was initialised (or created) with. */
CIRCUITS_API void circuits_circuit_config(const circuits_circuit_t *circuit,
					  circuits_config_t *config);

/*
 * Hooks for this handle (process-local; NULL restores the default).  Set them
 * before the handle is shared between threads; they must not race with
 * operations on the same handle.
 */
CIRCUITS_API void circuits_circuit_set_sleeper(circuits_circuit_t *circuit,
					       circuits_sleep_fn sleep,
					       void *arg);
CIRCUITS_API void circuits_circuit_set_random(circuits_circuit_t *circuit,
					      circuits_random_fn random,
					      void *arg);
CIRCUITS_API void circuits_circuit_set_listener(circuits_circuit_t *circuit,
						circuits_trip_fn on_trip,
						void *arg);

/* ------------------------------------------------------------------------ */
/* Breaking circuit: manual reset                                           */
/* ------------------------------------------------------------------------ */

/* As circuits_circuit_init(): not broken, count 0, level 0. */
CIRCUITS_API int circuits_breaking_init(circuits_breaking_t *breaker,
					const circuits_config_t *config);

/* Bit of the state word that is set exactly while the circuit is broken
 * (src/state.h draws the whole word). */
#define CIRCUITS_BROKEN_BIT_ (UINT64_C(1) << 34)

/* Inline shorts, as for the circuit above: the fetch-and-add itself breaks the
 * circuit when it carries into the broken bit (src/state.h), so the common
 * case is the add and two bit tests; the rest is out of line. */
CIRCUITS_API int circuits_breaking_short_rest_(circuits_breaking_t *breaker,
					       uint64_t old_word, bool custom,
					       uint64_t sleep_ns,
					       uint64_t *owed_ns,
					       bool blocking);

static inline int
circuits_breaking_short_inline_(circuits_breaking_t *breaker, bool custom,
				uint64_t sleep_ns, uint64_t *owed_ns,
				bool blocking)
{
	/* The linearization point of every short; acq_rel as above: the
	 * short that breaks releases to every poller that acquires the bit. */
	uint64_t old_word = __atomic_fetch_add(&breaker->state->word, 1,
					       __ATOMIC_ACQ_REL);

	if (__builtin_expect((old_word & CIRCUITS_BROKEN_BIT_) == 0 &&
				     (old_word & CIRCUITS_COUNT_MASK_) !=
					     CIRCUITS_COUNT_MASK_,
			     1)) {
		if (owed_ns != NULL)
			*owed_ns = 0;
		return CIRCUITS_COUNTED;
	}
	return circuits_breaking_short_rest_(breaker, old_word, custom,
					     sleep_ns, owed_ns, blocking);
}

/*
 * When not broken, counts one short; the short that brings the count to N
 * breaks the circuit (broken, count 0, total_trips + 1), sleeps the jittered
 * current_sleep_time and returns CIRCUITS_TRIPPED.  Other shorts return
 * CIRCUITS_COUNTED.  When already broken it counts nothing, never sleeps and
 * returns CIRCUITS_ALREADY_BROKEN.  Blocks only when it breaks.
 */
static inline int
circuits_breaking_short(circuits_breaking_t *breaker)
{
	return circuits_breaking_short_inline_(breaker, false, 0, NULL, true);
}
static inline int
circuits_breaking_short_custom(circuits_breaking_t *breaker, uint64_t sleep_ns)
{
	return circuits_breaking_short_inline_(breaker, true, sleep_ns, NULL,
					       true);
}

/* Breaks it now and sleeps (CIRCUITS_TRIPPED); when already broken changes
 * nothing, sleeps nothing and returns CIRCUITS_ALREADY_BROKEN.  However many
 * callers race, exactly one wins each break. */
CIRCUITS_API int circuits_breaking_trip(circuits_breaking_t *breaker);
CIRCUITS_API int circuits_breaking_trip_custom(circuits_breaking_t *breaker,
					       uint64_t sleep_ns);

/* Non-blocking variants, as for the circuit. */
static inline int
circuits_breaking_short_nb(circuits_breaking_t *breaker, uint64_t *owed_ns)
{
	return circuits_breaking_short_inline_(breaker, false, 0, owed_ns,
					       false);
}
static inline int
circuits_breaking_short_custom_nb(circuits_breaking_t *breaker,
				  uint64_t sleep_ns, uint64_t *owed_ns)
{
	return circuits_breaking_short_inline_(breaker, true, sleep_ns, owed_ns,
					       false);
}
CIRCUITS_API int circuits_breaking_trip_nb(circuits_breaking_t *breaker,
					   uint64_t *owed_ns);
CIRCUITS_API int circuits_breaking_trip_custom_nb(circuits_breaking_t *breaker,
						  uint64_t sleep_ns,
						  uint64_t *owed_ns);

/*
 * When broken: not broken, count 0, backoff level + 1 (saturating), and
 * returns true.  Exactly one of any number of racing resets of one break
 * returns true and steps the level.  When not broken: count to 0, returns
 * false.  Never blocks.
 */
CIRCUITS_API bool circuits_breaking_reset(circuits_breaking_t *breaker);

/* Backoff level to 0; the broken flag and the count are untouched. */
CIRCUITS_API void circuits_breaking_reset_backoff(circuits_breaking_t *breaker);

/* Reads, each linearizable and never blocking, as for the circuit:
 * times_shorted is 0 while broken; total_trips counts breaks;
 * current_sleep_time is the un-jittered sleep of the next break. */
CIRCUITS_API uint64_t
circuits_breaking_times_shorted(const circuits_breaking_t *breaker);
CIRCUITS_API uint64_t
circuits_breaking_total_trips(const circuits_breaking_t *breaker);
CIRCUITS_API uint64_t
circuits_breaking_current_sleep_time(const circuits_breaking_t *breaker);
CIRCUITS_API void circuits_breaking_snapshot(const circuits_breaking_t *breaker,
					     circuits_snapshot_t *snapshot);
CIRCUITS_API void circuits_breaking_config(const circuits_breaking_t *breaker,
					   circuits_config_t *config);
/* Hooks, as for the circuit: process-local, set before the handle is
 * shared, never racing with operations on the same handle. */
CIRCUITS_API void circuits_breaking_set_sleeper(circuits_breaking_t *breaker,
						circuits_sleep_fn sleep,
						void *arg);
CIRCUITS_API void circuits_breaking_set_random(circuits_breaking_t *breaker,
					       circuits_random_fn random,
					       void *arg);
CIRCUITS_API void circuits_breaking_set_listener(circuits_breaking_t *breaker,
						 circuits_trip_fn on_trip,
						 void *arg);

/* ------------------------------------------------------------------------ */
/* Sharing between processes                                                */
/* ------------------------------------------------------------------------ */

/*
 * A circuit's state is plain data with no pointers, so it can live in memory
 * that several processes map; every process then operates on it directly,
 * with the same atomic instructions and the same cost as threads do.  The
 * hooks (sleeper, random source, listener) stay in each process's handle, and
 * each process draws its own jitter.
 *
 * A shared segment starts with a header (magic, layout version, segment size,
 * kind, configuration and a checksum of them).  The creator fills the whole
 * segment first and publishes the magic last with a release store; an
 * attacher reads it with an acquire load, so it never sees a half-built
 * circuit.  Attaching validates every header field, that the state's
 * configuration line agrees with the header, and that the hot state is one a
 * live circuit can be in (CIRCUITS_E_BAD_STATE otherwise); it returns an
 * error, never crashes, whatever the bytes are.  An all-zero segment is
 * CIRCUITS_E_NOT_READY.
 *
 * No operation takes a lock, so a process killed at any instruction cannot
 * leave a shared circuit locked: it can lose only its own operation in flight
 * (a short it made but was not told about, or the sleep and listener call of a
 * trip it won; the trip itself counts).
 */

/* Bytes a segment needs (a multiple of the page size is not required). */
CIRCUITS_API size_t circuits_segment_size(void);

/*
 * In memory the caller maps, for example with mmap(MAP_SHARED | MAP_ANONYMOUS)
 * before fork() so that children inherit it: *_init_segment validates the
 * configuration and builds a circuit in [segment, segment + size), then binds
 * the handle to it; *_attach_segment validates an existing segment and binds a
 * handle to it.  The segment must be 64-byte aligned (mmap's is) and stay
 * mapped while the handle is used.  A child of fork() may also keep using the
 * handle it inherited.
 */
CIRCUITS_API int circuits_circuit_init_segment(circuits_circuit_t *circuit,
					       void *segment, size_t size,
					       const circuits_config_t *config);
CIRCUITS_API int circuits_circuit_attach_segment(circuits_circuit_t *circuit,
						 void *segment, size_t size);
CIRCUITS_API int circuits_breaking_init_segment(circuits_breaking_t *breaker,
						void *segment, size_t size,
						const circuits_config_t *config);
CIRCUITS_API int circuits_breaking_attach_segment(circuits_breaking_t *breaker,
						  void *segment, size_t size);

/* Flags of the named-segment calls. */
#define CIRCUITS_SHM_CREATE 1 /* create; CIRCUITS_E_EXISTS if it exists */
#define CIRCUITS_SHM_ATTACH 2 /* attach; CIRCUITS_E_NOT_FOUND if absent */
/* Both: attach if it exists, else create. */
#define CIRCUITS_SHM_OPEN_OR_CREATE (CIRCUITS_SHM_CREATE | CIRCUITS_SHM_ATTACH)

/*
 * Named POSIX shared memory (shm_open + mmap).  name is "/" followed by 1 to
 * 250 characters, none of them "/".  With CIRCUITS_SHM_CREATE the segment is
 * created with permission bits mode (0600 when mode is 0) and config is
 * required; an attacher gets the creator's configuration, and config may be
 * NULL (with CIRCUITS_SHM_OPEN_OR_CREATE, config is used only if this call
 * creates).  An attacher that finds the segment still being created gets
 * CIRCUITS_E_NOT_READY (CIRCUITS_SHM_OPEN_OR_CREATE waits up to a second for
 * the creator first).  Returns 0 or an error; on error the handle is
 * untouched and nothing stays mapped.
 */
CIRCUITS_API int circuits_circuit_open_shared(circuits_circuit_t *circuit,
					      const char *name, int flags,
					      const circuits_config_t *config,
					      mode_t mode);
CIRCUITS_API int circuits_breaking_open_shared(circuits_breaking_t *breaker,
					       const char *name, int flags,
					       const circuits_config_t *config,
					       mode_t mode);

/* Unmaps a handle opened with *_open_shared; the handle is unusable after.
 * Other processes and the name are unaffected. */
CIRCUITS_API int circuits_circuit_detach(circuits_circuit_t *circuit);
CIRCUITS_API int circuits_breaking_detach(circuits_breaking_t *breaker);

/* Removes the name (shm_unlink).  Processes that have it mapped keep using it;
 * the memory goes when the last one detaches or exits.  Whoever created it,
 * or the last user, unlinks it.  CIRCUITS_E_NOT_FOUND if there is none. */
CIRCUITS_API int circuits_shared_unlink(const char *name);

/*
 * True while broken.  One acquire load and a bit test, inlined so that it can
 * be polled in a `while (!circuits_breaking_broken(b))` loop.  Pairs with the
 * release of the operation that broke the circuit.  Never blocks.
 *
 * Like the inline shorts, it uses the compiler's __atomic builtin so that it
 * can be inlined into callers without ck's headers, and so that
 * ThreadSanitizer sees it in callers' builds.
 */
static inline bool
circuits_breaking_broken(const circuits_breaking_t *breaker)
{
	return (__atomic_load_n(&breaker->state->word, __ATOMIC_ACQUIRE) &
		CIRCUITS_BROKEN_BIT_) != 0;
}

#ifdef __cplusplus
}
#endif

#endif /* CIRCUITS_H */
