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
	sleep = (long double)base *
		powl((long double)factor, (long double)level);
	if (!(sleep < (long double)ceiling))
		return ceiling;
	return (uint64_t)roundl(sleep);
}

/*
 * floor(s * j) exactly, for 0 <= j <= 1: j is m * 2^-shift with a 53-bit
 * integer m, and the 117-bit product s * m fits in 128 bits.
 */
static uint64_t
exact_spread(uint64_t s, double j)
{
	int exponent;
	uint64_t mantissa = (uint64_t)ldexp(frexp(j, &exponent), 53);
	int shift = 53 - exponent;

	if (shift >= 128)
		return 0;
	return (uint64_t)(((unsigned __int128)s * mantissa) >> shift);
}

uint64_t
circuits__jitter(uint64_t planned, double jitter, uint64_t random_bits,
		 uint64_t cap)
{
	long double unit, sleep;
	uint64_t spread, low, high, drawn;

	if (jitter == 0.0 || planned == 0)
		return planned < cap ? planned : cap;
	/*
	 * The draw is made in long double, whose products near 2^64 can land
	 * a nanosecond outside [s(1 - j), s(1 + j)]; the exact integer bounds
	 * of that interval then hold it in.
	 */
	spread = exact_spread(planned, jitter);
	low = planned - spread;
	high = planned > UINT64_MAX - spread ? UINT64_MAX : planned + spread;
	/* 53 random bits give a uniform unit in [0, 1). */
	unit = (long double)(random_bits >> 11) * 0x1p-53L;
	sleep = (long double)planned *
		(1.0L + (long double)jitter * (2.0L * unit - 1.0L));
	if (!(sleep > (long double)low))
		drawn = low;
	else if (!(sleep < (long double)high))
		drawn = high;
	else
		drawn = (uint64_t)roundl(sleep);
	if (drawn < low)
		drawn = low;
	if (drawn > high)
		drawn = high;
	return drawn < cap ? drawn : cap;
}
