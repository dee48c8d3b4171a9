/*
 * atomic.h - the only door from the library to atomic instructions.
 *
 * Normal builds map each operation to Concurrency Kit: a relaxed ck_pr_*
 * access surrounded by the ck fences that give it the ordering named in the
 * function.  Sanitizer builds (CIRCUITS_ATOMIC_BUILTINS, set by the build for
 * TSan and ASan) map the same operations to the compiler's __atomic builtins
 * with the same orderings, because ck_pr_* is inline assembly on x86-64 that
 * ThreadSanitizer cannot see.
 *
 * The two backends give the same guarantee: an acquire fence after a relaxed
 * load orders it before every later access, as an acquire load does; a
 * release fence before a relaxed store or read-modify-write orders every
 * earlier access before it, as a release does.  On x86-64 (TSO) ck's acquire
 * and release fences are compiler barriers only, so ck_pr_faa_64 here is a
 * single `lock xadd`; on weakly ordered CPUs they emit the barriers.
 *
 * Each call site in the library says which other access its ordering pairs
 * with.
 */
#ifndef CIRCUITS_ATOMIC_H
#define CIRCUITS_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#if defined(CIRCUITS_ATOMIC_BUILTINS)

static inline uint64_t
circuits__load_relaxed(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline uint64_t
circuits__load_acquire(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void
circuits__store_release(uint64_t *p, uint64_t value)
{
	__atomic_store_n(p, value, __ATOMIC_RELEASE);
}

static inline uint64_t
circuits__faa_acq_rel(uint64_t *p, uint64_t delta)
{
	return __atomic_fetch_add(p, delta, __ATOMIC_ACQ_REL);
}

/* On failure *expected receives the value seen, with acquire ordering. */
static inline bool
circuits__cas_acq_rel(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	return __atomic_compare_exchange_n(p, expected, desired, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

#else /* Concurrency Kit */

#include <ck_pr.h>

static inline uint64_t
circuits__load_relaxed(const uint64_t *p)
{
	return ck_pr_load_64(p);
}

static inline uint64_t
circuits__load_acquire(const uint64_t *p)
{
	uint64_t value = ck_pr_load_64(p);

	ck_pr_fence_acquire();
	return value;
}

static inline void
circuits__store_release(uint64_t *p, uint64_t value)
{
	ck_pr_fence_release();
	ck_pr_store_64(p, value);
}

static inline uint64_t
circuits__faa_acq_rel(uint64_t *p, uint64_t delta)
{
	uint64_t previous;

	ck_pr_fence_release();
	previous = ck_pr_faa_64(p, delta);
	ck_pr_fence_acquire();
	return previous;
}

static inline bool
circuits__cas_acq_rel(uint64_t *p, uint64_t *expected, uint64_t desired)
{
	uint64_t seen;
	bool swapped;

	ck_pr_fence_release();
	swapped = ck_pr_cas_64_value(p, *expected, desired, &seen);
	ck_pr_fence_acquire();
	if (!swapped)
		*expected = seen;
	return swapped;
}

#endif

#endif /* CIRCUITS_ATOMIC_H */
