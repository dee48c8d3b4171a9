/*
 * sleep.c - the default sleeper.
 *
 * Sleeps until an absolute CLOCK_MONOTONIC deadline computed once, so a
 * signal handler that interrupts the sleep (EINTR) neither cuts it short nor
 * restarts the full duration, and changes to the wall clock do not matter.
 */
#include <errno.h>
#include <time.h>

#include "internal.h"

void
circuits__default_sleep(uint64_t ns, void *arg)
{
	struct timespec deadline;
	uint64_t seconds = ns / CIRCUITS_NSEC_PER_SEC;
	long nanoseconds = (long)(ns % CIRCUITS_NSEC_PER_SEC);

	(void)arg;
	if (ns == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	/* uint64_t nanoseconds are under 2^35 s: time_t holds the sum. */
	deadline.tv_sec += (time_t)seconds;
	deadline.tv_nsec += nanoseconds;
	if (deadline.tv_nsec >= (long)CIRCUITS_NSEC_PER_SEC) {
		deadline.tv_nsec -= (long)CIRCUITS_NSEC_PER_SEC;
		deadline.tv_sec++;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline,
			       NULL) == EINTR)
		;
}
