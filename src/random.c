/*
 * random.c - the default random source: one generator per thread.
 *
 * Each thread owns a splitmix64 state (a Weyl sequence stepped by an odd
 * constant, then a bijective mixer), so threads share no random state and no
 * draw touches memory another thread writes.
 *
 * Seeding makes no system call on any circuit path.  A 64-bit process key is
 * drawn from the kernel (getrandom(2)) once, by a constructor when the library
 * is loaded, and again in every child right after fork(); a thread seeds its
 * generator, on its first draw, from that key and a process-wide counter
 * that hands each seeding a number of its own.  mix64() is a bijection, so
 * two threads of one process never start from the same state, and a child's
 * new key sends its threads away from every sequence of the parent's.  When
 * the kernel has no randomness to give (getrandom fails), the key falls back
 * to a mix of the monotonic clock and the pid.
 *
 * After fork() the child's threads must not replay the parent's sequence.  A
 * pthread_atfork() child handler, registered by the same constructor (so no
 * call ever waits on a once-lock), draws the child's key and bumps a
 * process-wide generation; a thread whose seeded generation differs reseeds
 * before its next draw.  The key and the generation are read relaxed: the
 * constructor runs before any thread of the process can draw, and fork()
 * itself orders the child handler's writes before anything the child runs.
 *
 * Known limit: a child made without the atfork handlers (_Fork(), a raw
 * clone() or syscall(SYS_fork)) keeps the parent's key and generators and
 * replays the parent's draws; such a child should install its own random
 * source (circuits_*_set_random).  And every process that loads the library
 * makes one getrandom(2) call at load, jitter or not, which a strict seccomp
 * filter must allow (or it falls back to the clock and the pid).
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
static uint64_t process_key;
static uint64_t fork_generation = 1;
static uint64_t seedings;

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t
draw_process_key(void)
{
	uint64_t bits = 0;
	struct timespec now;

	if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) == sizeof bits)
		return bits;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return mix64((uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 30)) ^
	       mix64((uint64_t)getpid());
}

static void
on_fork_child(void)
{
	/* The child has one thread, this one, so neither ordering pairs
	 * with anything; they are the door's only store and increment. */
	circuits__store_release(&process_key, draw_process_key());
	circuits__faa_acq_rel(&fork_generation, 1);
}

__attribute__((constructor)) static void
init_process_random(void)
{
	circuits__store_release(&process_key, draw_process_key());
	(void)pthread_atfork(NULL, NULL, on_fork_child);
}

static void
seed(struct circuits__rng *rng, uint64_t generation)
{
	/* The counter only has to hand out distinct numbers, which any
	 * atomic increment does; the door's only one is acq_rel, and this
	 * runs once per thread. */
	uint64_t number = circuits__faa_acq_rel(&seedings, 1);

	rng->state = circuits__load_relaxed(&process_key) ^ mix64(number);
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
