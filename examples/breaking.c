/*
 * breaking.c - coordinated shutdown of worker threads.
 *
 * Four threads take jobs until a BreakingCircuit breaks.  The backend fails
 * from job 400 on; the third failure, from whichever threads, breaks the
 * circuit and every thread stops after its current job.  reset() then closes
 * it again for another round.
 */
/* usleep() is not in ISO C or every POSIX edition; this asks for it. */
#define _DEFAULT_SOURCE
#include <circuits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#define THREADS 4

static circuits_breaking_t breaker;
static atomic_int next_job;

/* Stands in for real work (0.2 ms each); the backend goes away at job 400. */
static int
do_job(int job)
{
	usleep(200);
	return job < 400 ? 0 : -1;
}

static void *
worker(void *arg)
{
	int done = 0;

	(void)arg;
	while (!circuits_breaking_broken(&breaker)) { /* one load */
		if (do_job(atomic_fetch_add(&next_job, 1)) == 0)
			done++;
		else
			circuits_breaking_short(&breaker);
	}
	return (void *)(long)done;
}

int
main(void)
{
	circuits_config_t config;
	pthread_t threads[THREADS];
	long total = 0;
	int rc;

	circuits_config_init(&config, 3); /* break on the 3rd failure */
	rc = circuits_breaking_init(&breaker, &config);
	if (rc != 0) {
		fprintf(stderr, "breaking: %s\n", circuits_strerror(rc));
		return 1;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++) {
		void *done;

		pthread_join(threads[i], &done);
		printf("thread %d: %ld jobs done\n", i, (long)done);
		total += (long)done;
	}
	printf("broken: %s, %ld jobs done, %llu break(s)\n",
	       circuits_breaking_broken(&breaker) ? "yes" : "no", total,
	       (unsigned long long)circuits_breaking_total_trips(&breaker));

	/* Once the backend is back: close the circuit (backoff level + 1). */
	circuits_breaking_reset(&breaker);
	printf("after reset: broken: %s\n",
	       circuits_breaking_broken(&breaker) ? "yes" : "no");
	return total == 400 && !circuits_breaking_broken(&breaker) ? 0 : 1;
}
