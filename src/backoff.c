/*
 * backoff.c - the arithmetic of backoff and jitter, as pure functions.
 *
 * Both compute in long double (a 64-bit mantissa on x86-64, so every uint64_t
 * nanosecond count is exact) and compare against the limit before converting
 * back, so no value can overflow, wrap, or turn into NaN or infinity:
 *   - base 0 returns 0 before any multiplication (0 * inf would be NaN);
 *   - factor^level may overflow to +inf: inf is not below the ceiling, so the
 *     ceiling is returned;
 *   - a value below the limit rounds to at most the limit;
 *   - rounding is roundl(), half away from zero.  Adding 0.5 and truncating
 *     is wrong from 2^63 on, where the long double ulp is 1: the sum is a
 *     tie that rounds to even, so every odd result came out 1 ns too high.
 * fuzz/fuzz_arith.c checks both against exact integer arithmetic.
 */
#include <math.h>

#include "internal.h"

uint64_t
circuits__backoff(uint64_t base, double factor, uint64_t ceiling,
		  uint32_t level)
{
	long double sleep;

	if (base == 0 || level == 0 || factor == 1.0)
		return base < ceiling ? base : ceiling;
	sleep = (long double)base * powl((long double)factor, (long double)level);
	if (!(sleep < (long double)ceiling))
		return ceiling;
	return (uint64_t)roundl(sleep);
}

uint64_t
circuits__jitter(uint64_t planned, double jitter, uint64_t random_bits,
		 uint64_t cap)
{
	long double unit, sleep;

	if (jitter == 0.0 || planned == 0)
		return planned < cap ? planned : cap;
	/* 53 random bits give a uniform unit in [0, 1). */
	unit = (long double)(random_bits >> 11) * 0x1p-53L;
	sleep = (long double)planned *
		(1.0L + (long double)jitter * (2.0L * unit - 1.0L));
	if (!(sleep < (long double)cap))
		return cap;
	if (sleep < 0.0L) /* rounding of 1 - jitter when jitter is 1 */
		return 0;
	return (uint64_t)roundl(sleep);
}
