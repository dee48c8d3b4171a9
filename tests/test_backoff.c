/*
 * test_backoff.c - backoff, ceiling, saturation and jitter, on both kinds
 * of circuit (CTest label unit).
 *
 * The contract: the ceiling is max(max_sleep_time, base); after L trips
 * (resets, for a breaker) current_sleep_time is min(base * factor^L,
 * ceiling) with no overflow, NaN or infinity for any L, and L saturates at
 * CIRCUITS_MAX_BACKOFF_LEVEL.  A trip's sleep s becomes a uniform draw in
 * [s(1-j), s(1+j)], capped at the ceiling for automatic sleeps and not for
 * custom ones.
 *
 * Expected backoffs come from an exact integer computation written here
 * (not from the library's arithmetic), so they check the library's long
 * double arithmetic independently.  Sleeps are read from the non-blocking
 * variants, which return exactly what the caller owes.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "support.h"

/* min(base * factor^level, ceiling) in exact integer arithmetic. */
static uint64_t
exact_backoff(uint64_t base, uint64_t factor, uint64_t ceiling,
	      uint32_t level)
{
	uint64_t sleep = base;

	for (uint32_t l = 0; l < level && sleep != 0 && factor != 1; l++) {
		if (sleep > ceiling / factor)
			return ceiling;
		sleep *= factor;
	}
	return sleep < ceiling ? sleep : ceiling;
}

static void
init_any(struct any_circuit *c, bool breaking, uint64_t base, uint64_t max,
	 double factor, double jitter)
{
	circuits_config_t config;

	circuits_config_init(&config, 1);
	config.sleep_time_after_trip = base;
	config.max_sleep_time = max;
	config.backoff_factor = factor;
	config.jitter = jitter;
	ck_assert_int_eq(any_init(c, breaking, &config), CIRCUITS_OK);
}

/*
 * One trip through the non-blocking variant; returns what it owes.  A
 * breaker is reset right after, so that, like a circuit, each call steps
 * the level once: trip number i owes the backoff of level i - 1 on both.
 */
static uint64_t
owe_one(struct any_circuit *c, bool custom, uint64_t custom_ns)
{
	uint64_t owed = 0;

	ck_assert_int_eq(any_trip(c, custom, custom_ns, ANY_NB, &owed),
			 CIRCUITS_TRIPPED);
	if (c->breaking)
		ck_assert(circuits_breaking_reset(&c->u.breaker));
	return owed;
}

/* --- min(base * factor^L, ceiling) --------------------------------------- */

static const struct {
	uint64_t base, max, factor;
} integer_cases[] = {
	{1, UINT64_C(1) << 60, 2},
	{3, CIRCUITS_SECONDS(1), 3},
	{CIRCUITS_SECONDS(2), CIRCUITS_SECONDS(300), 2},
	{UINT64_C(1000000000000000000), UINT64_C(10000000000000000000), 10},
	{CIRCUITS_SECONDS(5), CIRCUITS_SECONDS(2), 2}, /* ceiling = base */
	{0, CIRCUITS_SECONDS(10), 2},
	{UINT64_MAX, 0, 7},
	{1, UINT64_MAX, 2},	  /* 2^63, then the ceiling 2^64 - 1 */
	{1, UINT64_MAX, 3},	  /* 3^40 > 2^63 is odd: exact rounding */
	{7, UINT64_MAX, 1},
	{123457, UINT64_MAX, 1000},
	{UINT64_C(12157665459056928801), UINT64_MAX, 2}, /* 3^40 */
};

#define INTEGER_CASES ((int)(sizeof integer_cases / sizeof integer_cases[0]))

/*
 * Over 100 trips of each configuration, trip i owes min(base * factor^(i-1),
 * ceiling) and current_sleep_time afterwards reads min(base * factor^i,
 * ceiling), exactly, on both kinds.
 */
START_TEST(backoff_is_exact_for_integer_factors)
{
	uint64_t base = integer_cases[_i].base, max = integer_cases[_i].max;
	uint64_t factor = integer_cases[_i].factor;
	uint64_t ceiling = max > base ? max : base;

	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;

		init_any(&c, kind == 1, base, max, (double)factor, 0.0);
		for (uint32_t level = 0; level < 100; level++) {
			uint64_t want = exact_backoff(base, factor, ceiling,
						      level);

			ck_assert_msg(any_current_sleep_time(&c) == want,
				      "case %d kind %d level %u: current %llu,"
				      " want %llu",
				      _i, kind, level,
				      (unsigned long long)
					      any_current_sleep_time(&c),
				      (unsigned long long)want);
			ck_assert_uint_eq(owe_one(&c, false, 0), want);
			ck_assert_uint_le(any_current_sleep_time(&c), ceiling);
		}
	}
}
END_TEST

/* A fractional factor, exact in binary: base 2^40 and factor 1.5 give
 * 3^L * 2^(40-L) for L <= 40. */
START_TEST(backoff_is_exact_for_factor_one_and_a_half)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		uint64_t power3 = 1;

		init_any(&c, kind == 1, UINT64_C(1) << 40, UINT64_MAX, 1.5,
			 0.0);
		for (uint32_t level = 0; level <= 40; level++) {
			uint64_t want = power3 << (40 - level);

			ck_assert_uint_eq(any_current_sleep_time(&c), want);
			ck_assert_uint_eq(owe_one(&c, false, 0), want);
			power3 *= 3;
		}
	}
}
END_TEST

/* The ceiling is max(max_sleep_time, base): a base above the max is
 * honoured as is and never lowered, and backoff never exceeds it. */
START_TEST(ceiling_is_max_of_max_and_base)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;

		init_any(&c, kind == 1, CIRCUITS_SECONDS(60),
			 CIRCUITS_SECONDS(10), 2.0, 0.0);
		for (int i = 0; i < 20; i++) {
			ck_assert_uint_eq(any_current_sleep_time(&c),
					  CIRCUITS_SECONDS(60));
			ck_assert_uint_eq(owe_one(&c, false, 0),
					  CIRCUITS_SECONDS(60));
		}
		/* max 0: the base is the ceiling, whatever the factor. */
		init_any(&c, kind == 1, 17, 0, 100.0, 0.0);
		for (int i = 0; i < 5; i++)
			ck_assert_uint_eq(owe_one(&c, false, 0), 17);
	}
}
END_TEST

/*
 * Huge factors saturate at the ceiling instead of overflowing to infinity
 * or NaN, and base 0 stays 0 even where factor^L is infinite (0 * inf would
 * be NaN).
 */
START_TEST(huge_factors_saturate)
{
	static const double factors[] = {1e300, DBL_MAX, 1e10};

	for (size_t f = 0; f < 3; f++) {
		for (int kind = 0; kind < 2; kind++) {
			static struct any_circuit c, zero;

			init_any(&c, kind == 1, 5, 1000, factors[f], 0.0);
			init_any(&zero, kind == 1, 0, 1000, factors[f], 0.0);
			ck_assert_uint_eq(owe_one(&c, false, 0), 5);
			for (int i = 0; i < 300; i++) {
				ck_assert_uint_eq(any_current_sleep_time(&c),
						  1000);
				ck_assert_uint_eq(owe_one(&c, false, 0), 1000);
				ck_assert_uint_eq(owe_one(&zero, false, 0), 0);
				ck_assert_uint_eq(
					any_current_sleep_time(&zero), 0);
			}
		}
	}
}
END_TEST

/*
 * With a factor close to 1 the ceiling is never reached, so the level's
 * saturation shows: the sleep grows at every level up to
 * CIRCUITS_MAX_BACKOFF_LEVEL and then stays put, the level reads exactly
 * the maximum, and nothing wraps.  The expected value is built by repeated
 * multiplication, a different route than the library's power.
 */
START_TEST(level_saturates)
{
	const uint32_t max_level = CIRCUITS_MAX_BACKOFF_LEVEL;
	const uint64_t base = 1000000;
	const double factor = 1.001;

	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		circuits_snapshot_t snap;
		long double expected = base;
		uint64_t previous = 0, top;

		init_any(&c, kind == 1, base, UINT64_MAX, factor, 0.0);
		for (uint32_t level = 0; level <= max_level; level++) {
			uint64_t owed = owe_one(&c, false, 0);

			ck_assert_msg(fabsl((long double)owed - expected) <=
					      1.0L + expected * 1e-12L,
				      "level %u: %llu, want %.3Lf", level,
				      (unsigned long long)owed, expected);
			ck_assert_uint_gt(owed, previous);
			previous = owed;
			expected *= (long double)factor;
		}
		/* Every trip after the last level owes the top sleep. */
		any_snapshot(&c, &snap);
		ck_assert_uint_eq(snap.backoff_level, max_level);
		top = snap.current_sleep_time;
		ck_assert_uint_eq(top, previous);
		for (int i = 0; i < 100; i++)
			ck_assert_uint_eq(owe_one(&c, false, 0), top);
		any_snapshot(&c, &snap);
		ck_assert_uint_eq(snap.backoff_level, max_level);
		ck_assert_uint_eq(snap.current_sleep_time, top);
		ck_assert_uint_eq(snap.total_trips, max_level + 101);
		/* reset_backoff() from saturation goes back to the base. */
		any_reset_backoff(&c);
		ck_assert_uint_eq(any_current_sleep_time(&c), base);
	}
}
END_TEST

/* --- jitter -------------------------------------------------------------- */

/*
 * 4000 draws from a repeatable source, for several jitters, on both kinds:
 * every sleep lies in [s(1-j), s(1+j)] (rounding aside), the draws reach
 * both ends, and they spread evenly over ten bins (each within 5 standard
 * deviations of 400).  The ceiling is far above, so nothing is capped.
 */
START_TEST(jitter_is_uniform_within_bounds)
{
	static const double jitters[] = {0.1, 0.5, 1.0};
	const uint64_t s = CIRCUITS_SECONDS(1);

	for (size_t j = 0; j < 3; j++) {
		for (int kind = 0; kind < 2; kind++) {
			static struct any_circuit c;
			struct test_rng rng;
			double lo = (double)s * (1.0 - jitters[j]);
			double hi = (double)s * (1.0 + jitters[j]);
			double min = INFINITY, max = 0;
			int bins[10] = {0};

			init_any(&c, kind == 1, s, CIRCUITS_SECONDS(100), 1.0,
				 jitters[j]);
			test_rng_seed(&rng, 1000 + j);
			any_set_random(&c, test_rng_hook, &rng);
			for (int i = 0; i < 4000; i++) {
				double owed = (double)owe_one(&c, false, 0);
				int bin = (int)((owed - lo) / (hi - lo) * 10);

				ck_assert_msg(owed >= lo - 1 && owed <= hi + 1,
					      "jitter %g: %.0f outside "
					      "[%.0f, %.0f]",
					      jitters[j], owed, lo, hi);
				min = owed < min ? owed : min;
				max = owed > max ? owed : max;
				bins[bin < 0 ? 0 : bin > 9 ? 9 : bin]++;
			}
			ck_assert_uint_eq(rng.draws, 4000);
			ck_assert(min <= lo + (hi - lo) * 0.01);
			ck_assert(max >= hi - (hi - lo) * 0.01);
			for (int b = 0; b < 10; b++)
				ck_assert_msg(bins[b] > 300 && bins[b] < 500,
					      "jitter %g bin %d: %d of 4000",
					      jitters[j], b, bins[b]);
		}
	}
}
END_TEST

/*
 * Automatic sleeps are capped at the ceiling after jitter: base 8 s, max
 * 10 s, jitter 0.5 draws in [4, 12] s, and the draws above 10 s (about a
 * quarter) become exactly 10 s; none exceeds it.
 */
START_TEST(jitter_capped_at_ceiling_for_automatic_sleeps)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		struct test_rng rng;
		int at_ceiling = 0;

		init_any(&c, kind == 1, CIRCUITS_SECONDS(8),
			 CIRCUITS_SECONDS(10), 1.0, 0.5);
		test_rng_seed(&rng, 99);
		any_set_random(&c, test_rng_hook, &rng);
		for (int i = 0; i < 2000; i++) {
			uint64_t owed = owe_one(&c, false, 0);

			ck_assert_uint_le(owed, CIRCUITS_SECONDS(10));
			ck_assert_uint_ge(owed, CIRCUITS_SECONDS(4) - 1);
			at_ceiling += owed == CIRCUITS_SECONDS(10);
		}
		ck_assert_msg(at_ceiling > 300 && at_ceiling < 700,
			      "%d of 2000 at the ceiling", at_ceiling);
	}
}
END_TEST

/*
 * Custom sleeps get jitter but no cap: custom 8 s with jitter 0.5 reaches
 * 12 s although the ceiling is 10 s; a custom sleep far above the ceiling
 * is owed as is with jitter 0; UINT64_MAX with jitter never wraps to a
 * small value.
 */
START_TEST(custom_sleeps_jittered_not_capped)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c, plain;
		struct test_rng rng;
		uint64_t max = 0;

		init_any(&c, kind == 1, CIRCUITS_SECONDS(1),
			 CIRCUITS_SECONDS(10), 2.0, 0.5);
		test_rng_seed(&rng, 5);
		any_set_random(&c, test_rng_hook, &rng);
		for (int i = 0; i < 1000; i++) {
			uint64_t owed =
				owe_one(&c, true, CIRCUITS_SECONDS(8));

			ck_assert_uint_ge(owed, CIRCUITS_SECONDS(4) - 1);
			ck_assert_uint_le(owed, CIRCUITS_SECONDS(12) + 1);
			max = owed > max ? owed : max;
		}
		ck_assert_uint_gt(max, CIRCUITS_SECONDS(11) + 900000000);
		for (int i = 0; i < 1000; i++)
			ck_assert_uint_ge(owe_one(&c, true, UINT64_MAX),
					  UINT64_MAX / 2 - 1);

		init_any(&plain, kind == 1, CIRCUITS_SECONDS(1),
			 CIRCUITS_SECONDS(10), 2.0, 0.0);
		ck_assert_uint_eq(owe_one(&plain, true, CIRCUITS_SECONDS(3600)),
				  CIRCUITS_SECONDS(3600));
		ck_assert_uint_eq(owe_one(&plain, true, UINT64_MAX),
				  UINT64_MAX);
		ck_assert_uint_eq(owe_one(&plain, true, 0), 0);
	}
}
END_TEST

/*
 * The extremes of the random source stay in range: with jitter 1 the
 * lowest draw is near 0 and never wraps below it to a huge value, the
 * highest is at most 2s; with jitter 0 the random value does not matter.
 */
START_TEST(jitter_extreme_random_values)
{
	static const uint64_t values[] = {0, 1, UINT64_C(1) << 63, UINT64_MAX};
	const uint64_t s = CIRCUITS_MILLISECONDS(300);

	for (size_t v = 0; v < 4; v++) {
		for (int kind = 0; kind < 2; kind++) {
			static struct any_circuit c, still;
			uint64_t bits = values[v];

			init_any(&c, kind == 1, s, CIRCUITS_SECONDS(10), 1.0,
				 1.0);
			any_set_random(&c, fixed_random, &bits);
			ck_assert_uint_le(owe_one(&c, false, 0), 2 * s);
			ck_assert_uint_le(owe_one(&c, true, s), 2 * s);
			init_any(&still, kind == 1, s, CIRCUITS_SECONDS(10),
				 1.0, 0.0);
			any_set_random(&still, fixed_random, &bits);
			ck_assert_uint_eq(owe_one(&still, false, 0), s);
			ck_assert_uint_eq(owe_one(&still, true, 77), 77);
		}
	}
}
END_TEST

/* A zero sleep stays zero whatever the jitter and the random value: there
 * is nothing to spread. */
START_TEST(jitter_of_zero_is_zero)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		struct test_rng rng;

		init_any(&c, kind == 1, 0, CIRCUITS_SECONDS(10), 2.0, 1.0);
		test_rng_seed(&rng, 3);
		any_set_random(&c, test_rng_hook, &rng);
		for (int i = 0; i < 100; i++) {
			ck_assert_uint_eq(owe_one(&c, false, 0), 0);
			ck_assert_uint_eq(owe_one(&c, true, 0), 0);
		}
	}
}
END_TEST

static Suite *
backoff_suite(void)
{
	Suite *suite = suite_create("backoff");
	TCase *tc = tcase_create("backoff");

	tcase_add_loop_test(tc, backoff_is_exact_for_integer_factors, 0,
			    INTEGER_CASES);
	tcase_add_test(tc, backoff_is_exact_for_factor_one_and_a_half);
	tcase_add_test(tc, ceiling_is_max_of_max_and_base);
	tcase_add_test(tc, huge_factors_saturate);
	tcase_add_test(tc, level_saturates);
	tcase_add_test(tc, jitter_is_uniform_within_bounds);
	tcase_add_test(tc, jitter_capped_at_ceiling_for_automatic_sleeps);
	tcase_add_test(tc, custom_sleeps_jittered_not_capped);
	tcase_add_test(tc, jitter_extreme_random_values);
	tcase_add_test(tc, jitter_of_zero_is_zero);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(backoff_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
