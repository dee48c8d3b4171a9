/*
 * test_cxx.cpp - the public header compiled as C++ (CTest label unit).
 *
 * The benchmarks and many callers are C++, so circuits.h must compile as
 * C++, link to the C library (extern "C"), and lay out every public type
 * exactly as C does; test_cxx_layout.c reports C's layout.  A few calls
 * check that the functions work when called from C++.
 */
#include <check.h>

#include <cstddef>
#include <cstring>

#include "circuits.h"

extern "C" size_t test_c_layout(int which);

/* Each public type as this C++ compiler lays it out, in the order of
 * test_c_layout(). */
static size_t
cxx_layout(int which)
{
	switch (which) {
	case 0:
		return sizeof(circuits_circuit_t);
	case 1:
		return alignof(circuits_circuit_t);
	case 2:
		return sizeof(circuits_breaking_t);
	case 3:
		return sizeof(struct circuits_state);
	case 4:
		return offsetof(struct circuits_state, threshold);
	case 5:
		return offsetof(circuits_circuit_t, state);
	case 6:
		return offsetof(circuits_circuit_t, local);
	case 7:
		return sizeof(circuits_config_t);
	case 8:
		return offsetof(circuits_config_t, jitter);
	case 9:
		return sizeof(circuits_snapshot_t);
	case 10:
		return offsetof(circuits_snapshot_t, broken);
	case 11:
		return sizeof(circuits_trip_event_t);
	case 12:
		return offsetof(circuits_trip_event_t, custom);
	case 13:
		return offsetof(struct circuits_state, kind);
	default:
		return static_cast<size_t>(-1);
	}
}

/* C and C++ agree on every size, alignment and offset. */
START_TEST(layout_matches_c)
{
	for (int which = 0; which < 14; which++)
		ck_assert_msg(cxx_layout(which) == test_c_layout(which),
			      "layout item %d: C++ %zu, C %zu", which,
			      cxx_layout(which), test_c_layout(which));
	ck_assert_uint_eq(alignof(circuits_breaking_t), CIRCUITS_CACHE_LINE);
}
END_TEST

static int listener_calls;

static void
on_trip(const circuits_trip_event_t *event, void *arg)
{
	(void)event;
	(void)arg;
	listener_calls++;
}

static void
no_sleep(uint64_t ns, void *arg)
{
	(void)ns;
	(void)arg;
}

/* The functions and the inline broken() work from C++, hooks included. */
START_TEST(calls_from_cxx)
{
	static circuits_circuit_t circuit;
	static circuits_breaking_t breaker;
	circuits_config_t config;
	circuits_snapshot_t snap;
	uint64_t owed = 0, ns = 0;

	circuits_config_init(&config, 2);
	config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(5);
	ck_assert_int_eq(circuits_circuit_init(&circuit, &config), CIRCUITS_OK);
	circuits_circuit_set_sleeper(&circuit, no_sleep, nullptr);
	circuits_circuit_set_listener(&circuit, on_trip, nullptr);
	ck_assert_int_eq(circuits_circuit_short(&circuit), CIRCUITS_COUNTED);
	ck_assert_int_eq(circuits_circuit_short_nb(&circuit, &owed),
			 CIRCUITS_TRIPPED);
	ck_assert_uint_eq(owed, CIRCUITS_MILLISECONDS(5));
	ck_assert_int_eq(listener_calls, 1);
	circuits_circuit_snapshot(&circuit, &snap);
	ck_assert_uint_eq(snap.total_trips, 1);

	ck_assert_int_eq(circuits_breaking_init(&breaker, &config), 0);
	circuits_breaking_set_sleeper(&breaker, no_sleep, nullptr);
	ck_assert(!circuits_breaking_broken(&breaker));
	ck_assert_int_eq(circuits_breaking_trip(&breaker), CIRCUITS_TRIPPED);
	ck_assert(circuits_breaking_broken(&breaker));
	ck_assert(circuits_breaking_reset(&breaker));

	ck_assert_int_eq(circuits_ns_from_seconds(1.5, &ns), CIRCUITS_OK);
	ck_assert_uint_eq(ns, CIRCUITS_SECONDS(1) + CIRCUITS_MILLISECONDS(500));
	config.num_shorts_to_trip = 0;
	ck_assert_int_eq(circuits_config_validate(&config),
			 CIRCUITS_E_THRESHOLD);
	ck_assert(std::strlen(circuits_strerror(CIRCUITS_E_THRESHOLD)) > 0);
}
END_TEST

int
main()
{
	Suite *suite = suite_create("cxx");
	TCase *tc = tcase_create("cxx");
	SRunner *runner;
	int failed;

	tcase_add_test(tc, layout_matches_c);
	tcase_add_test(tc, calls_from_cxx);
	suite_add_tcase(suite, tc);
	runner = srunner_create(suite);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
