/*
 * fuzz_arith.c - libFuzzer target for the backoff and jitter arithmetic.
 *
 * circuits__backoff() and circuits__jitter() (src/backoff.c) compute in long
 * double.  This target checks them, for any configuration the library can
 * accept and every level 0 .. 8191, against references that do not share
 * their method:
 *
 * BACKOFF  min(base * factor^level, ceiling)
 *   - Integer factors (2, 3, 10, 2^32, ...): exact.  The reference multiplies
 *     in unsigned __int128 and stops as soon as the product reaches the
 *     ceiling, so it never overflows; the library must match it exactly.
 *   - Other factors: IEEE binary128 (__float128, 113-bit mantissa), factor^L
 *     by square-and-multiply.  At most 2 * 13 multiplications, each off by at
 *     most 2^-113 relative, keep the reference within 2^-108 of the truth:
 *     nothing next to the tolerance below.  The library's own error is
 *     powl()'s (glibc documents at most 1 ulp for x86-64 long double powl,
 *     2^-63 relative with a 64-bit mantissa; 3 million random cases measured
 *     exactly that much), the product's rounding (half an ulp) and the final
 *     rounding to a whole ns (0.5).  The tolerance, 0.5 ns + 2^-61 of the
 *     value, is four ulps: room for both library errors, still tight enough
 *     that any real mistake (an off-by-one level, a factor applied once too
 *     often, rounding to the wrong side) is far outside it.
 *   Also: never above the ceiling, base 0 stays 0, level 0 gives the base,
 *   and monotone in the level (checked at the fuzzed level and, for one input
 *   in eight, over all 8192 levels).
 *
 * JITTER  planned * (1 + jitter * (2u - 1)), u = (bits >> 11) / 2^53,
 *   rounded to a whole ns and limited to cap.
 *   - The exact value is a rational with a power-of-two denominator: jitter
 *     is m * 2^e with m a 53-bit integer, 2u - 1 is d / 2^53, so the spread
 *     is planned * m * d / 2^(53 - e), a product of at most 171 bits.  The
 *     reference computes it in 192-bit integer arithmetic and rounds it.
 *     The library's long double steps (j * (2u - 1), 1 + that, times
 *     planned) each round once, by at most 2^-64 relative to a value of at
 *     most 2 * planned: together under planned * 2^-62, plus 0.5 for the
 *     final rounding and 0.5 for the reference's.  The tolerance is that,
 *     1 ns + ceil(planned / 2^62): at most 5 ns, usually exactly 1.
 *   - The result lies in [planned * (1 - j), planned * (1 + j)], widened by
 *     rounding to whole ns (floor of the low end, ceiling of the high end),
 *     both ends computed exactly in 128-bit integers; and never above cap.
 *   - jitter 0 or planned 0 gives min(planned, cap) exactly.
 *
 * Any violation prints the inputs and aborts, which libFuzzer records.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_input.h"
#include "internal.h"

typedef unsigned __int128 u128;

/* The references saturate here: far above any ceiling (< 2^64). */
#define REF_SATURATED 0x1p70Q

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void
fail(const char *what, uint64_t base, double factor, uint64_t ceiling,
     uint32_t level, uint64_t got, uint64_t want)
{
	fprintf(stderr,
		"fuzz_arith: %s\n  base=%" PRIu64 " factor=%.17g (%a) "
		"ceiling=%" PRIu64 " level=%" PRIu32 "\n  got=%" PRIu64
		" want=%" PRIu64 "\n",
		what, base, factor, factor, ceiling, level, got, want);
	abort();
}

/* --- backoff -------------------------------------------------------------- */

static bool
is_integer_factor(double factor)
{
	return factor < 0x1p64 && factor == floor(factor);
}

/* Exact min(base * factor^level, ceiling) for an integer factor. */
static uint64_t
backoff_exact(uint64_t base, uint64_t factor, uint64_t ceiling, uint32_t level)
{
	u128 value = base;

	if (base == 0 || factor == 1)
		return min_u64(base, ceiling);
	/* factor >= 2: at most 64 steps before the ceiling (< 2^64). */
	for (uint32_t i = 0; i < level && value < ceiling; i++)
		value *= factor; /* < 2^64 * 2^64: no overflow */
	return value < ceiling ? (uint64_t)value : ceiling;
}

/* base * factor^level in binary128, or REF_SATURATED when it is above 2^70
 * (and so above every ceiling).  Square-and-multiply, right to left: the
 * running square p = factor^(2^i) is a factor of the result whenever a
 * higher bit of level is still set, and every factor is >= 1, so once p or
 * the partial result passes the bound the full result does too. */
static __float128
backoff_binary128(uint64_t base, double factor, uint32_t level)
{
	__float128 result = base, p = factor;

	if (base == 0)
		return 0;
	for (uint32_t e = level; e != 0; e >>= 1) {
		if (e & 1)
			result *= p;
		if (result > REF_SATURATED)
			return REF_SATURATED;
		if (e > 1) {
			p *= p;
			if (p > REF_SATURATED)
				return REF_SATURATED;
		}
	}
	return result;
}

/* |got - min(ref, ceiling)| <= 0.5 + 2^-61 * min(ref, ceiling); see the
 * top of the file. */
static bool
close_to(uint64_t got, __float128 ref, uint64_t ceiling)
{
	__float128 want = ref < (__float128)ceiling ? ref : (__float128)ceiling;
	__float128 diff = (__float128)got - want;

	if (diff < 0)
		diff = -diff;
	return diff <= 0.5Q + want * 0x1p-61Q;
}

/* One level against the invariants and the reference; ref is the
 * binary128 value (only used for non-integer factors). */
static void
check_backoff_level(uint64_t base, double factor, uint64_t ceiling,
		    uint32_t level, uint64_t got, __float128 ref)
{
	if (got > ceiling)
		fail("backoff above the ceiling", base, factor, ceiling, level,
		     got, ceiling);
	if (base == 0 && got != 0)
		fail("base 0 did not stay 0", base, factor, ceiling, level, got,
		     0);
	if (level == 0 && got != base)
		fail("level 0 is not the base", base, factor, ceiling, level,
		     got, base);
	if (is_integer_factor(factor)) {
		uint64_t want =
			backoff_exact(base, (uint64_t)factor, ceiling, level);

		if (got != want)
			fail("backoff differs from exact integer arithmetic",
			     base, factor, ceiling, level, got, want);
	} else if (!close_to(got, ref, ceiling)) {
		fail("backoff differs from the binary128 reference", base,
		     factor, ceiling, level, got,
		     ref < (__float128)ceiling ? (uint64_t)ref : ceiling);
	}
}

static void
check_backoff(uint64_t base, double factor, uint64_t ceiling, uint32_t level)
{
	uint64_t got = circuits__backoff(base, factor, ceiling, level);

	check_backoff_level(base, factor, ceiling, level, got,
			    backoff_binary128(base, factor, level));
	if (level < CIRCUITS_MAX_BACKOFF_LEVEL) {
		uint64_t next =
			circuits__backoff(base, factor, ceiling, level + 1);

		if (next < got)
			fail("backoff not monotone in the level", base, factor,
			     ceiling, level + 1, next, got);
	}
}

/* Every level in order: monotone, and against the references.  The
 * binary128 reference is built up one multiplication per level here; after
 * at most 8191 of them it is still within 2^-99 of the truth. */
static void
sweep_backoff(uint64_t base, double factor, uint64_t ceiling)
{
	uint64_t previous = 0;
	__float128 ref = base;

	for (uint32_t level = 0; level <= CIRCUITS_MAX_BACKOFF_LEVEL; level++) {
		uint64_t got = circuits__backoff(base, factor, ceiling, level);

		if (got < previous)
			fail("backoff not monotone in the level (sweep)", base,
			     factor, ceiling, level, got, previous);
		check_backoff_level(base, factor, ceiling, level, got, ref);
		previous = got;
		ref = ref * factor < REF_SATURATED ? ref * factor
						   : REF_SATURATED;
		/* Past the ceiling every further level is the ceiling. */
		if (got == ceiling && level > 0 && base != 0) {
			uint64_t last =
				circuits__backoff(base, factor, ceiling,
						  CIRCUITS_MAX_BACKOFF_LEVEL);

			if (last != ceiling)
				fail("backoff left the ceiling", base, factor,
				     ceiling, CIRCUITS_MAX_BACKOFF_LEVEL, last,
				     ceiling);
			break;
		}
	}
}

/* --- jitter: 192-bit integers --------------------------------------------- */

/* Little-endian 64-bit limbs. */
struct u192 {
	uint64_t limb[3];
};

static struct u192
mul_u128_u64(u128 a, uint64_t b)
{
	u128 low = (u128)(uint64_t)a * b;
	u128 high = (u128)(uint64_t)(a >> 64) * b + (uint64_t)(low >> 64);
	struct u192 r = {
		{(uint64_t)low, (uint64_t)high, (uint64_t)(high >> 64)}};

	return r;
}

static unsigned
bit_of(const struct u192 *x, unsigned i)
{
	return i < 192 ? (unsigned)(x->limb[i / 64] >> (i % 64)) & 1u : 0u;
}

/* floor(x / 2^shift); the callers' quotients fit in 128 bits. */
static u128
shift_right(const struct u192 *x, unsigned shift)
{
	u128 q = 0;

	for (int i = 127; i >= 0; i--)
		q = (q << 1) | bit_of(x, shift + (unsigned)i);
	return q;
}

/* x / 2^shift rounded to nearest (halves up). */
static u128
shift_right_round(const struct u192 *x, unsigned shift)
{
	return shift_right(x, shift) + (shift > 0 ? bit_of(x, shift - 1) : 0);
}

/* jitter = mantissa * 2^exponent, mantissa an integer below 2^53. */
static void
split_double(double value, uint64_t *mantissa, int *exponent)
{
	int e;
	double m = frexp(value, &e); /* value = m * 2^e, m in [0.5, 1) */

	*mantissa = (uint64_t)ldexp(m, 53);
	*exponent = e - 53;
}

static void
fail_jitter(const char *what, uint64_t planned, double jitter, uint64_t bits,
	    uint64_t cap, uint64_t got, uint64_t want_low, uint64_t want_high)
{
	fprintf(stderr,
		"fuzz_arith: %s\n  planned=%" PRIu64 " jitter=%.17g (%a) "
		"bits=0x%016" PRIx64 " cap=%" PRIu64 "\n  got=%" PRIu64
		" want in [%" PRIu64 ", %" PRIu64 "]\n",
		what, planned, jitter, jitter, bits, cap, got, want_low,
		want_high);
	abort();
}

static uint64_t
clamp_u128(u128 value, uint64_t cap)
{
	return value < cap ? (uint64_t)value : cap;
}

static void
check_jitter(uint64_t planned, double jitter, uint64_t bits, uint64_t cap)
{
	uint64_t got = circuits__jitter(planned, jitter, bits, cap);
	uint64_t mantissa, low, high, tolerance, want;
	int exponent;
	u128 spread, spread_ceil, value;
	int64_t d;
	struct u192 product;

	if (got > cap)
		fail_jitter("jitter above the cap", planned, jitter, bits, cap,
			    got, 0, cap);
	if (jitter == 0.0 || planned == 0) {
		want = min_u64(planned, cap);
		if (got != want)
			fail_jitter("no jitter must leave the sleep alone",
				    planned, jitter, bits, cap, got, want,
				    want);
		return;
	}
	split_double(jitter, &mantissa, &exponent); /* exponent <= -53 */

	/* Bounds: planned * jitter = planned * mantissa / 2^-exponent. */
	spread = (u128)planned * mantissa;
	if (-exponent >= 128) {
		spread_ceil = spread != 0;
	} else {
		u128 whole = spread >> -exponent;

		spread_ceil = whole + ((whole << -exponent) != spread);
	}
	/* spread_ceil <= planned, as jitter <= 1. */
	low = clamp_u128((u128)planned - spread_ceil, cap);
	high = clamp_u128((u128)planned + spread_ceil, cap);
	if (got < low || got > high)
		fail_jitter("jitter outside [s(1-j), s(1+j)]", planned, jitter,
			    bits, cap, got, low, high);

	/* The drawn value: planned + planned * mantissa * d / 2^(53 - e). */
	d = 2 * (int64_t)(bits >> 11) - (INT64_C(1) << 53);
	product = mul_u128_u64((u128)planned * mantissa,
			       (uint64_t)(d < 0 ? -d : d));
	spread = shift_right_round(&product, (unsigned)(53 - exponent));
	value = d < 0 ? (u128)planned - spread : (u128)planned + spread;
	want = clamp_u128(value, cap);
	/* 1 + ceil(planned / 2^62) */
	tolerance = 1 + (planned >> 62) +
		    ((planned & ((UINT64_C(1) << 62) - 1)) != 0);
	if ((got > want ? got - want : want - got) > tolerance)
		fail_jitter("jitter differs from the exact draw", planned,
			    jitter, bits, cap, got,
			    want > tolerance ? want - tolerance : 0,
			    want + tolerance);
}

/* --- entry point ---------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in;
	uint64_t base, max_sleep, ceiling, bits, planned, cap;
	uint32_t level;
	double factor, jitter;
	uint8_t flags;

	fuzz_input_init(&in, data, size);
	flags = fuzz_u8(&in);
	base = fuzz_u64_pick(&in);
	max_sleep = fuzz_u64_pick(&in);
	factor = fuzz_factor_pick(&in);
	/* Levels near both ends are the interesting ones: flag bits pick 0,
	 * the saturation level, or anything. */
	level = fuzz_u16(&in) % (CIRCUITS_MAX_BACKOFF_LEVEL + 1);
	if (flags & 0x10)
		level = CIRCUITS_MAX_BACKOFF_LEVEL - level % 64;
	jitter = fuzz_jitter_pick(&in);
	bits = fuzz_u64(&in);
	if (flags & 0x20)
		bits = (flags & 0x40) ? UINT64_MAX : 0; /* u at its ends */
	planned = fuzz_u64_pick(&in);
	cap = fuzz_u64_pick(&in);

	/* The configuration as the library would accept it. */
	ceiling = max_sleep > base ? max_sleep : base;
	if (!(factor >= 1.0 && isfinite(factor)) ||
	    !(jitter >= 0.0 && jitter <= 1.0))
		abort(); /* the decoders promise valid values */

	check_backoff(base, factor, ceiling, level);
	if ((flags & 0x07) == 0)
		sweep_backoff(base, factor, ceiling);

	/* Jitter on its own, as for a custom sleep (no ceiling), and as a
	 * trip applies it to the backoff (capped at the ceiling). */
	check_jitter(planned, jitter, bits, cap);
	check_jitter(planned, jitter, bits, UINT64_MAX);
	check_jitter(circuits__backoff(base, factor, ceiling, level), jitter,
		     bits, ceiling);
	return 0;
}
