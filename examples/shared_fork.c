/*
 * shared_fork.c - one Circuit shared by forked processes.
 *
 * The circuit is built in an anonymous MAP_SHARED mapping before fork(), so
 * every child inherits it: four processes short it 10000 times each and the
 * totals come out exact, as if one thread had made all 40000 shorts.
 */
/* MAP_ANONYMOUS is not in ISO C or every POSIX edition; this asks for it. */
#define _DEFAULT_SOURCE
#include <circuits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 4
#define SHORTS 10000

int
main(void)
{
	size_t size = circuits_segment_size();
	circuits_config_t config;
	circuits_circuit_t circuit;
	void *segment;
	int rc, failed = 0;

	segment = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (segment == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	circuits_config_init(&config, 7); /* trips, no sleep: base is 0 */
	rc = circuits_circuit_init_segment(&circuit, segment, size, &config);
	if (rc != 0) {
		fprintf(stderr, "shared_fork: %s\n", circuits_strerror(rc));
		return 1;
	}

	for (int i = 0; i < CHILDREN; i++) {
		if (fork() == 0) {
			/* The child's copy of the handle points to the same
			 * shared state. */
			for (int n = 0; n < SHORTS; n++)
				circuits_circuit_short(&circuit);
			_exit(0);
		}
	}
	for (int i = 0; i < CHILDREN; i++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed = 1;
	}

	/* 40000 shorts, N = 7: 5714 trips and 2 shorts left over. */
	printf("total_trips %llu, times_shorted %llu\n",
	       (unsigned long long)circuits_circuit_total_trips(&circuit),
	       (unsigned long long)circuits_circuit_times_shorted(&circuit));
	if (failed ||
	    circuits_circuit_total_trips(&circuit) != CHILDREN * SHORTS / 7 ||
	    circuits_circuit_times_shorted(&circuit) != CHILDREN * SHORTS % 7)
		return 1;
	munmap(segment, size);
	return 0;
}
