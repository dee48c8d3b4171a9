/*
 * check.c - evidence that the operations allocate no heap memory and make no
 * system call, apart from the sleep of a trip winner.
 *
 * It runs the benchmark cases' own bodies (cases.c, baselines.c) without
 * Google Benchmark, each in a window that opens once every thread is
 * spinning at a start line and closes once every thread has finished its
 * operations; no thread makes a system call of its own inside the window
 * (the start and finish lines are spun on, not slept on).
 *
 *   Heap: malloc, calloc, realloc and the aligned allocators are replaced
 *   for the whole process (glibc routes its own internal calls through them
 *   too) by wrappers that count calls while the window is open and forward
 *   to glibc's allocator.  Each case must count what it is expected to: 0
 *   for every library case and baseline.
 *
 *   System calls: the program makes the same system calls whatever the
 *   number of operations, except those the operations make.  bench/run.sh
 *   --check runs it under `strace -f -c` with two operation counts and
 *   compares the counts per system call (bench/syscalls.py).
 *
 * Two control cases show that each method sees what it is meant to see:
 * control_malloc allocates and frees once per operation, control_syscall
 * calls getppid(2) once per operation.
 *
 * Usage: circuits-bench-check [--threads T] [--ops M] [--case NAME]...
 *        circuits-bench-check --list
 * Exits 1 when a case's allocation count is not the expected one.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_pr.h>

#include "bench.h"

/* --- Counting allocator --------------------------------------------------- */

/* glibc's allocator under its own names. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *block, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static int counting;
static uint64_t allocations;

static void
note_allocation(void)
{
	/* Relaxed: the window's opening and closing (release/acquire on the
	 * start and finish lines) order these with the reads in main. */
	if (__atomic_load_n(&counting, __ATOMIC_RELAXED))
		__atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED);
}

void *
malloc(size_t size)
{
	note_allocation();
	return __libc_malloc(size);
}

void *
calloc(size_t count, size_t size)
{
	note_allocation();
	return __libc_calloc(count, size);
}

void *
realloc(void *block, size_t size)
{
	note_allocation();
	return __libc_realloc(block, size);
}

void *
memalign(size_t alignment, size_t size)
{
	note_allocation();
	return __libc_memalign(alignment, size);
}

void *
aligned_alloc(size_t alignment, size_t size)
{
	note_allocation();
	return __libc_memalign(alignment, size);
}

void *
valloc(size_t size)
{
	note_allocation();
	return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

int
posix_memalign(void **out, size_t alignment, size_t size)
{
	void *block;

	note_allocation();
	if (alignment % sizeof(void *) != 0 ||
	    (alignment & (alignment - 1)) != 0)
		return EINVAL;
	block = __libc_memalign(alignment, size);
	if (block == NULL)
		return ENOMEM;
	*out = block;
	return 0;
}

/* --- Control cases -------------------------------------------------------- */

static int
setup_nothing(struct bench_run *run)
{
	(void)run;
	return 0;
}

static int
teardown_nothing(struct bench_run *run)
{
	(void)run;
	return 0;
}

/* One allocation per operation; the volatile pointer keeps the compiler
 * from removing the malloc/free pair. */
static uint64_t
op_malloc(struct bench_run *run, int thread, uint64_t i)
{
	void *volatile block = malloc(32);

	(void)run;
	(void)thread;
	(void)i;
	free(block);
	return 1;
}
BENCH_BODY(body_malloc, op_malloc)

/* One system call per operation (glibc does not cache getppid). */
static uint64_t
op_syscall(struct bench_run *run, int thread, uint64_t i)
{
	(void)run;
	(void)thread;
	(void)i;
	return (uint64_t)getppid();
}
BENCH_BODY(body_syscall, op_syscall)

static const struct bench_case control_cases[] = {
	{"control_malloc", setup_nothing, body_malloc, teardown_nothing, 0},
	{"control_syscall", setup_nothing, body_syscall, teardown_nothing, 0},
};
#define CONTROL_MALLOC (&control_cases[0])

/* --- Running a case in the window ----------------------------------------- */

struct worker {
	pthread_t id;
	int index;
	const struct bench_case *c;
	uint64_t ops;
};

static int started, finished, go, closed;

static void
wait_for(const int *flag, int value)
{
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != value)
		ck_pr_stall();
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	__atomic_fetch_add(&started, 1, __ATOMIC_RELEASE);
	wait_for(&go, 1);
	w->c->body(&bench_the_run, w->index, w->ops, false);
	__atomic_fetch_add(&finished, 1, __ATOMIC_RELEASE);
	/* Stay until the window closes: a thread's exit is not its case's. */
	wait_for(&closed, 1);
	return NULL;
}

/* Runs c with `threads` threads of `ops` operations each; returns the
 * allocations counted in the window, or UINT64_MAX if the run failed. */
static uint64_t
run_case(const struct bench_case *c, int threads, uint64_t ops)
{
	struct worker workers[BENCH_MAX_THREADS];
	uint64_t counted;
	int rc = 0;

	if (bench_setup(c, threads) != 0)
		return UINT64_MAX;
	started = finished = go = closed = 0;
	for (int t = 0; t < threads; t++) {
		workers[t] = (struct worker){.index = t, .c = c, .ops = ops};
		if (pthread_create(&workers[t].id, NULL, worker_main,
				   &workers[t]) != 0) {
			fprintf(stderr, "%s: pthread_create failed\n", c->name);
			exit(2);
		}
	}
	wait_for(&started, threads);
	allocations = 0;
	__atomic_store_n(&counting, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE); /* the window opens */
	wait_for(&finished, threads);
	__atomic_store_n(&counting, 0, __ATOMIC_RELEASE); /* and closes */
	counted = __atomic_load_n(&allocations, __ATOMIC_ACQUIRE);
	__atomic_store_n(&closed, 1, __ATOMIC_RELEASE);
	for (int t = 0; t < threads; t++)
		rc |= pthread_join(workers[t].id, NULL);
	if (rc != 0 || bench_teardown(c) != 0)
		return UINT64_MAX;
	return counted;
}

/* --- Command line --------------------------------------------------------- */

static const struct bench_case *
find_case(const char *name)
{
	for (size_t k = 0; k < bench_library_case_count; k++)
		if (strcmp(bench_library_cases[k].name, name) == 0)
			return &bench_library_cases[k];
	for (size_t k = 0; k < bench_baseline_case_count; k++)
		if (strcmp(bench_baseline_cases[k].name, name) == 0)
			return &bench_baseline_cases[k];
	for (size_t k = 0; k < 2; k++)
		if (strcmp(control_cases[k].name, name) == 0)
			return &control_cases[k];
	return NULL;
}

static int
check_case(const struct bench_case *c, int threads, uint64_t ops)
{
	uint64_t expected = c == CONTROL_MALLOC ? ops * (uint64_t)threads : 0;
	uint64_t counted = run_case(c, threads, ops);
	int ok = counted == expected;

	if (counted == UINT64_MAX) {
		printf("%-24s failed to run\n", c->name);
		return -1;
	}
	printf("%-24s %7d %10" PRIu64 " %11" PRIu64 " %8" PRIu64 "  %s\n",
	       c->name, threads, ops, counted, expected, ok ? "ok" : "FAIL");
	return ok ? 0 : -1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: circuits-bench-check [--threads T] [--ops M] "
			"[--case NAME]... | --list\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const struct bench_case *chosen[64];
	size_t nchosen = 0;
	int threads = 2, failed = 0;
	uint64_t ops = 100000;
	void *volatile probe;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--list") == 0) {
			for (size_t k = 0; k < bench_library_case_count; k++)
				puts(bench_library_cases[k].name);
			for (size_t k = 0; k < bench_baseline_case_count; k++)
				puts(bench_baseline_cases[k].name);
			puts(control_cases[0].name);
			puts(control_cases[1].name);
			return 0;
		} else if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc) {
			threads = atoi(argv[++a]);
		} else if (strcmp(argv[a], "--ops") == 0 && a + 1 < argc) {
			ops = strtoull(argv[++a], NULL, 10);
		} else if (strcmp(argv[a], "--case") == 0 && a + 1 < argc &&
			   nchosen < 64) {
			chosen[nchosen] = find_case(argv[++a]);
			if (chosen[nchosen++] == NULL)
				usage();
		} else {
			usage();
		}
	}
	if (threads < 1 || threads > BENCH_MAX_THREADS || ops == 0)
		usage();

	/* The counter must see an allocation, or every 0 below means
	 * nothing. */
	__atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
	probe = malloc(16);
	__atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
	free(probe);
	if (allocations != 1) {
		fprintf(stderr, "the allocation counter does not work\n");
		return 2;
	}

	bench_the_run.think_steps = 1;
	printf("%-24s %7s %10s %11s %8s\n", "case", "threads", "ops/thread",
	       "allocations", "expected");
	if (nchosen > 0) {
		for (size_t k = 0; k < nchosen; k++)
			failed |= check_case(chosen[k], threads, ops);
	} else {
		for (size_t k = 0; k < bench_library_case_count; k++)
			failed |= check_case(&bench_library_cases[k], threads,
					     ops);
		for (size_t k = 0; k < bench_baseline_case_count; k++)
			failed |= check_case(&bench_baseline_cases[k], threads,
					     ops);
		for (size_t k = 0; k < 2; k++)
			failed |= check_case(&control_cases[k], threads, ops);
	}
	return failed ? 1 : 0;
}
