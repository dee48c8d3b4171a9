/*
 * test_realtime.c - the default sleeper and the default random source, in
 * real time and real processes (CTest label unit).
 *
 * Sleeps here are tens of milliseconds.  Lower bounds are exact (a sleep
 * never ends early); upper bounds leave room for a loaded 2-core machine.
 * The random source must give different sequences to different threads and
 * to a child after fork(): a generator copied or seeded alike would hand
 * every thread or process the same jitter, which is the thundering herd
 * jitter exists to prevent.
 */
#include <check.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

/* Slack for a loaded machine on top of a sleep. */
#define SLACK CIRCUITS_MILLISECONDS(150)

static void
init_any(struct any_circuit *c, bool breaking, uint32_t n, uint64_t base,
	 double jitter)
{
	circuits_config_t config;

	circuits_config_init(&config, n);
	config.sleep_time_after_trip = base;
	config.jitter = jitter;
	ck_assert_int_eq(any_init(c, breaking, &config), CIRCUITS_OK);
}

/*
 * The default sleeper sleeps the owed time for real, blocking and only
 * when tripping: a counted short returns at once, the tripping one takes
 * at least the 30 ms base.  The non-blocking variant does not sleep.
 */
START_TEST(default_sleeper_sleeps_the_trip)
{
	for (int kind = 0; kind < 2; kind++) {
		static struct any_circuit c;
		uint64_t start, elapsed, owed = 0;

		init_any(&c, kind == 1, 2, CIRCUITS_MILLISECONDS(30), 0.0);
		start = test_clock_ns();
		ck_assert_int_eq(any_short(&c, false, 0, ANY_BLOCKING, NULL),
				 CIRCUITS_COUNTED);
		ck_assert_uint_lt(test_clock_ns() - start,
				  CIRCUITS_MILLISECONDS(25));
		start = test_clock_ns();
		ck_assert_int_eq(any_short(&c, false, 0, ANY_BLOCKING, NULL),
				 CIRCUITS_TRIPPED);
		elapsed = test_clock_ns() - start;
		ck_assert_uint_ge(elapsed, CIRCUITS_MILLISECONDS(30));
		ck_assert_uint_le(elapsed, CIRCUITS_MILLISECONDS(30) + SLACK);

		if (kind == 1)
			circuits_breaking_reset(&c.u.breaker);
		start = test_clock_ns();
		ck_assert_int_eq(any_trip(&c, false, 0, ANY_NB, &owed),
				 CIRCUITS_TRIPPED);
		ck_assert_uint_eq(owed, CIRCUITS_MILLISECONDS(30));
		ck_assert_uint_lt(test_clock_ns() - start,
				  CIRCUITS_MILLISECONDS(25));
		/* A custom sleep is slept as given. */
		if (kind == 1)
			circuits_breaking_reset(&c.u.breaker);
		start = test_clock_ns();
		any_trip(&c, true, CIRCUITS_MILLISECONDS(20), ANY_BLOCKING,
			 NULL);
		elapsed = test_clock_ns() - start;
		ck_assert_uint_ge(elapsed, CIRCUITS_MILLISECONDS(20));
		ck_assert_uint_le(elapsed, CIRCUITS_MILLISECONDS(20) + SLACK);
	}
}
END_TEST

/* What the listener says each trip owes. */
struct owed_log {
	uint64_t sleeps[8];
	int count;
};

static void
log_owed(const circuits_trip_event_t *event, void *arg)
{
	struct owed_log *log = arg;

	if (log->count < 8)
		log->sleeps[log->count++] = event->sleep;
}

/*
 * Jitter in real time with the default random source: base 40 ms, jitter
 * 0.5.  Each trip's owed sleep (the listener reports it) lies in [20, 60]
 * ms, the trip takes at least that long, and five trips do not all draw
 * the same value.
 */
START_TEST(jitter_in_real_time)
{
	static struct any_circuit c;
	struct owed_log log = {{0}, 0};
	int distinct = 0;

	init_any(&c, false, 1, CIRCUITS_MILLISECONDS(40), 0.5);
	circuits_circuit_set_listener(&c.u.circuit, log_owed, &log);
	for (int i = 0; i < 5; i++) {
		uint64_t start = test_clock_ns(), elapsed;

		ck_assert_int_eq(circuits_circuit_short(&c.u.circuit),
				 CIRCUITS_TRIPPED);
		elapsed = test_clock_ns() - start;
		ck_assert_int_eq(log.count, i + 1);
		ck_assert_uint_ge(log.sleeps[i], CIRCUITS_MILLISECONDS(20));
		ck_assert_uint_le(log.sleeps[i], CIRCUITS_MILLISECONDS(60));
		ck_assert_uint_ge(elapsed, log.sleeps[i]);
		ck_assert_uint_le(elapsed, log.sleeps[i] + SLACK);
		distinct += i > 0 && log.sleeps[i] != log.sleeps[0];
	}
	ck_assert_int_gt(distinct, 0);
}
END_TEST

/* --- the default random source: threads ---------------------------------- */

#define DRAWS 16
#define THREADS 4

struct draw_run {
	circuits_circuit_t *circuit;
	struct start_barrier *start;
	uint64_t owed[DRAWS];
};

/* With factor 1, jitter 1 and base 1 s, each owed sleep is the base
 * spread by one draw of this thread's generator. */
static void *
draw_thread(void *arg)
{
	struct draw_run *run = arg;

	start_barrier_wait(run->start);
	for (int i = 0; i < DRAWS; i++)
		circuits_circuit_trip_nb(run->circuit, &run->owed[i]);
	return NULL;
}

static int
same_positions(const uint64_t *a, const uint64_t *b)
{
	int same = 0;

	for (int i = 0; i < DRAWS; i++)
		same += a[i] == b[i];
	return same;
}

/*
 * Four threads draw jitter from the default source at once: each gets its
 * own sequence (no two threads share more than a couple of values in the
 * same position, where identical seeding would make all 16 equal), and
 * every value stays within [0, 2 s].
 */
START_TEST(threads_get_different_sequences)
{
	static struct any_circuit c;
	struct draw_run runs[THREADS];
	struct start_barrier start;
	pthread_t ids[THREADS];

	init_any(&c, false, 1, CIRCUITS_SECONDS(1), 1.0);
	start_barrier_init(&start, THREADS);
	for (int t = 0; t < THREADS; t++) {
		runs[t] = (struct draw_run){&c.u.circuit, &start, {0}};
		ck_assert_int_eq(pthread_create(&ids[t], NULL, draw_thread,
						&runs[t]),
				 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(ids[t], NULL);
	start_barrier_destroy(&start);
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < DRAWS; i++)
			ck_assert_uint_le(runs[t].owed[i],
					  CIRCUITS_SECONDS(2));
		for (int u = 0; u < t; u++)
			ck_assert_msg(same_positions(runs[t].owed,
						     runs[u].owed) <= 2,
				      "threads %d and %d drew alike", t, u);
	}
}
END_TEST

/* --- the default random source: fork() ----------------------------------- */

static void
draw_into(circuits_circuit_t *circuit, uint64_t *owed)
{
	for (int i = 0; i < DRAWS; i++)
		circuits_circuit_trip_nb(circuit, &owed[i]);
}

/*
 * The parent draws (so its generator is seeded), then forks.  The child's
 * next draws must differ from the parent's next draws: a generator merely
 * copied by fork() would give both exactly the same sequence.  The child
 * sends its draws back through a pipe.
 */
START_TEST(fork_child_draws_differ)
{
	static struct any_circuit c;
	uint64_t before[DRAWS], parent[DRAWS], child[DRAWS];
	int fds[2], status;
	pid_t pid;

	init_any(&c, false, 1, CIRCUITS_SECONDS(1), 1.0);
	draw_into(&c.u.circuit, before);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		ssize_t wrote;

		draw_into(&c.u.circuit, child);
		wrote = write(fds[1], child, sizeof child);
		_exit(wrote == (ssize_t)sizeof child ? 0 : 1);
	}
	close(fds[1]);
	draw_into(&c.u.circuit, parent);
	ck_assert_int_eq(read(fds[0], child, sizeof child),
			 (ssize_t)sizeof child);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_msg(same_positions(parent, child) <= 2,
		      "the child replayed the parent's jitter");
	ck_assert_int_le(same_positions(before, parent), 2);
	for (int i = 0; i < DRAWS; i++)
		ck_assert_uint_le(child[i], CIRCUITS_SECONDS(2));
}
END_TEST

static Suite *
realtime_suite(void)
{
	Suite *suite = suite_create("realtime");
	TCase *tc = tcase_create("realtime");

	tcase_add_test(tc, default_sleeper_sleeps_the_trip);
	tcase_add_test(tc, jitter_in_real_time);
	tcase_add_test(tc, threads_get_different_sequences);
	tcase_add_test(tc, fork_child_draws_differ);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(realtime_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
