/*
 * random.c - the default random source: one generator per thread.
 *
 * Each thread owns a splitmix64 state (a Weyl sequence stepped by an odd
 * constant, then a bijective mixer), so threads share no random state and no
 * draw touches memory another thread writes.  A thread seeds its generator on
 * first use from getrandom(2), falling back to a mix of the clock, the pid,
 * the state's address and a process-wide counter when the kernel has none.
 *
 * After fork() the child's threads must not replay the parent's sequence.  A
 * pthread_atfork() child handler, registered by a constructor when the
 * library is loaded (so no call ever waits on a once-lock), bumps a
 * process-wide generation; a thread whose seeded generation differs reseeds
 * before its next draw.  The generation is read relaxed: fork() itself orders
 * the handler's write before anything the child runs.
 *
 * Draws happen only on the path of a trip winner whose sleep has jitter.
 */
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct circuits__rng {
	uint64_t state;
	uint64_t generation; /* 0: never seeded */
};

static _Thread_local struct circuits__rng thread_rng;
static uint64_t fork_generation = 1;
static uint64_t seed_counter;

static void
on_fork_child(void)
{
	circuits__faa_acq_rel(&fork_generation, 1);
}

__attribute__((constructor)) static void
register_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, on_fork_child);
}

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void
seed(struct circuits__rng *rng, uint64_t generation)
{
	uint64_t bits = 0;
	struct timespec now;

	if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) != sizeof bits) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		bits = mix64((uint64_t)now.tv_nsec ^
			     ((uint64_t)now.tv_sec << 30)) ^
		       mix64((uint64_t)getpid()) ^
		       mix64((uint64_t)(uintptr_t)rng) ^
		       mix64(circuits__faa_acq_rel(&seed_counter, 1));
	}
	rng->state = bits;
	rng->generation = generation;
}

uint64_t
circuits__default_random(void *arg)
{
	struct circuits__rng *rng = &thread_rng;
	uint64_t generation;

	(void)arg;
	generation = circuits__load_relaxed(&fork_generation);
	if (CIRCUITS__UNLIKELY(rng->generation != generation))
		seed(rng, generation);
	rng->state += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(rng->state);
}
