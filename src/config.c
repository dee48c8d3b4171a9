/*
 * config.c - configuration defaults and validation, error messages, and the
 * initialisation of a circuit's state and hooks.
 */
#include <math.h>

#include "internal.h"

void
circuits_config_init(circuits_config_t *config, uint32_t num_shorts_to_trip)
{
	config->num_shorts_to_trip = num_shorts_to_trip;
	config->sleep_time_after_trip = 0;
	config->max_sleep_time = CIRCUITS_SECONDS(10);
	config->backoff_factor = 1.0;
	config->jitter = 0.0;
}

int
circuits_config_validate(const circuits_config_t *config)
{
	if (config == NULL)
		return CIRCUITS_E_NULL;
	if (config->num_shorts_to_trip == 0)
		return CIRCUITS_E_THRESHOLD;
	if (!isfinite(config->backoff_factor))
		return CIRCUITS_E_FACTOR_NOT_FINITE;
	if (config->backoff_factor < 1.0)
		return CIRCUITS_E_FACTOR_BELOW_ONE;
	if (!isfinite(config->jitter))
		return CIRCUITS_E_JITTER_NOT_FINITE;
	if (config->jitter < 0.0 || config->jitter > 1.0)
		return CIRCUITS_E_JITTER_RANGE;
	return CIRCUITS_OK;
}

/*
 * Exact: seconds = m * 2^e with m an integer below 2^53, so seconds * 10^9 =
 * (m * 10^9) * 2^e, and m * 10^9 < 2^83 fits 128 bits.  (Rounding a long
 * double product and adding 0.5 was off by one from 2^63 ns on, where the
 * sum is a tie that rounds to even, and near halves below it.)
 */
int
circuits_ns_from_seconds(double seconds, uint64_t *ns)
{
	unsigned __int128 scaled;
	int exponent;
	double mantissa;

	if (ns == NULL)
		return CIRCUITS_E_NULL;
	/* The negated comparison also turns NaN away. */
	if (!(seconds >= 0.0) || isinf(seconds))
		return CIRCUITS_E_DURATION;
	mantissa = frexp(seconds, &exponent); /* [0.5, 1) * 2^exponent */
	scaled = (unsigned __int128)(uint64_t)ldexp(mantissa, 53) *
		 CIRCUITS_NSEC_PER_SEC;
	exponent -= 53;
	/* e >= 0 means seconds >= 2^52: far beyond 2^64 ns. */
	if (exponent >= 0)
		return CIRCUITS_E_DURATION;
	/* Divide by 2^-e, rounding halves up; below 2^-128 it is 0. */
	scaled = -exponent > 128 ? 0 : ((scaled >> (-exponent - 1)) + 1) >> 1;
	if (scaled > UINT64_MAX)
		return CIRCUITS_E_DURATION;
	*ns = (uint64_t)scaled;
	return CIRCUITS_OK;
}

const char *
circuits_strerror(int code)
{
	switch (code) {
	case CIRCUITS_OK:
		return "success (short counted)";
	case CIRCUITS_TRIPPED:
		return "this call tripped the circuit";
	case CIRCUITS_ALREADY_BROKEN:
		return "the circuit was already broken";
	case CIRCUITS_E_NULL:
		return "a required pointer argument is NULL";
	case CIRCUITS_E_THRESHOLD:
		return "num_shorts_to_trip must be at least 1";
	case CIRCUITS_E_FACTOR_NOT_FINITE:
		return "backoff_factor must be a finite number";
	case CIRCUITS_E_FACTOR_BELOW_ONE:
		return "backoff_factor must be at least 1.0";
	case CIRCUITS_E_JITTER_NOT_FINITE:
		return "jitter must be a finite number";
	case CIRCUITS_E_JITTER_RANGE:
		return "jitter must be between 0 and 1";
	case CIRCUITS_E_DURATION:
		return "duration must be a finite number of seconds from 0 "
		       "to 2^64-1 ns";
	case CIRCUITS_E_EXISTS:
		return "a shared circuit of that name already exists";
	case CIRCUITS_E_NOT_FOUND:
		return "no shared circuit of that name exists";
	case CIRCUITS_E_TOO_SMALL:
		return "the shared segment is too small to hold a circuit";
	case CIRCUITS_E_BAD_MAGIC:
		return "the shared segment does not hold a circuit";
	case CIRCUITS_E_BAD_VERSION:
		return "the shared segment has another layout version";
	case CIRCUITS_E_BAD_CHECKSUM:
		return "the shared segment's header checksum does not match";
	case CIRCUITS_E_BAD_CONFIG:
		return "the shared segment holds an invalid configuration";
	case CIRCUITS_E_NOT_READY:
		return "the shared circuit is still being created";
	case CIRCUITS_E_WRONG_KIND:
		return "the shared segment holds the other kind of circuit";
	case CIRCUITS_E_SYSTEM:
		return "a system call failed (see errno)";
	case CIRCUITS_E_NAME:
		return "shared-memory names are '/' followed by 1 to 250 "
		       "characters other than '/'";
	case CIRCUITS_E_ALIGNMENT:
		return "the shared segment is not 64-byte aligned";
	case CIRCUITS_E_BAD_STATE:
		return "the shared segment's state is one no circuit can be in";
	default:
		return "unknown circuits error";
	}
}

/*
 * The first level whose backoff is the ceiling (CIRCUITS_MAX_BACKOFF_LEVEL + 1
 * when none is), found by bisection: the backoff never decreases with the
 * level.  From that level on a trip needs no powl().
 */
static uint32_t
first_ceiling_level(const struct circuits_state *state)
{
	uint32_t low = 0, high = CIRCUITS_MAX_BACKOFF_LEVEL + 1;

	while (low < high) {
		uint32_t middle = low + (high - low) / 2;

		if (circuits__backoff(state->base, state->factor,
				      state->ceiling, middle) == state->ceiling)
			high = middle;
		else
			low = middle + 1;
	}
	return low;
}

void
circuits__state_init(struct circuits_state *state,
		     const circuits_config_t *config, uint32_t kind)
{
	uint64_t n = config->num_shorts_to_trip;

	*state = (struct circuits_state){0};
	state->threshold = n;
	state->base = config->sleep_time_after_trip;
	state->max_sleep = config->max_sleep_time;
	state->ceiling =
		state->max_sleep > state->base ? state->max_sleep : state->base;
	state->factor = config->backoff_factor;
	state->jitter = config->jitter;
	state->kind = kind;
	/* A breaking circuit's count is stored offset so that its N-th short
	 * carries into the broken bit (state.h). */
	state->reset_count = kind == CIRCUITS__KIND_BREAKING
				     ? (CIRCUITS__COUNT_MASK + 1) - n
				     : 0;
	state->ceiling_level = first_ceiling_level(state);
	state->word = state->reset_count;
	state->seq_floor = 0;
}

void
circuits__state_config(const struct circuits_state *state,
		       circuits_config_t *config)
{
	config->num_shorts_to_trip = (uint32_t)state->threshold;
	config->sleep_time_after_trip = state->base;
	config->max_sleep_time = state->max_sleep;
	config->backoff_factor = state->factor;
	config->jitter = state->jitter;
}

void
circuits__hooks_init(struct circuits_hooks *hooks)
{
	circuits__set_sleeper(hooks, NULL, NULL);
	circuits__set_random(hooks, NULL, NULL);
	circuits__set_listener(hooks, NULL, NULL);
}

/* NULL restores a default hook. */
void
circuits__set_sleeper(struct circuits_hooks *hooks, circuits_sleep_fn sleep,
		      void *arg)
{
	hooks->sleep = sleep != NULL ? sleep : circuits__default_sleep;
	hooks->sleep_arg = sleep != NULL ? arg : NULL;
}

void
circuits__set_random(struct circuits_hooks *hooks, circuits_random_fn random,
		     void *arg)
{
	hooks->random = random != NULL ? random : circuits__default_random;
	hooks->random_arg = random != NULL ? arg : NULL;
}

void
circuits__set_listener(struct circuits_hooks *hooks, circuits_trip_fn on_trip,
		       void *arg)
{
	hooks->on_trip = on_trip;
	hooks->on_trip_arg = arg;
}
