/*
 * shared_named.c - one BreakingCircuit shared by name between two processes.
 *
 * The parent creates the circuit in POSIX shared memory under a name; a
 * second process opens the same name (here a forked child, but it could be
 * any program that knows the name) and gets the creator's configuration.  The
 * child breaks the circuit; the parent, polling, sees it.  The creator
 * unlinks the name at the end.
 */
/* usleep() is not in ISO C or every POSIX edition; this asks for it. */
#define _DEFAULT_SOURCE
#include <circuits.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(void)
{
	circuits_config_t config;
	circuits_breaking_t breaker;
	char name[64];
	int rc, status;
	pid_t child;

	/* The name is "/" and up to 250 more characters; the pid keeps two
	 * runs of this example apart. */
	snprintf(name, sizeof(name), "/circuits-example-%d", (int)getpid());
	circuits_config_init(&config, 2);
	rc = circuits_breaking_open_shared(&breaker, name, CIRCUITS_SHM_CREATE,
					   &config, 0600);
	if (rc != 0) {
		fprintf(stderr, "create %s: %s\n", name, circuits_strerror(rc));
		return 1;
	}

	child = fork();
	if (child == 0) {
		/* The second process: attaches by name, nothing inherited. */
		circuits_breaking_t mine;
		circuits_config_t seen;

		rc = circuits_breaking_open_shared(&mine, name,
						   CIRCUITS_SHM_ATTACH, NULL,
						   0);
		if (rc != 0) {
			fprintf(stderr, "attach %s: %s\n", name,
				circuits_strerror(rc));
			_exit(1);
		}
		circuits_breaking_config(&mine, &seen);
		printf("child: attached to %s, breaks after %u shorts\n", name,
		       seen.num_shorts_to_trip);
		circuits_breaking_short(&mine);
		circuits_breaking_short(&mine); /* the second one breaks it */
		circuits_breaking_detach(&mine);
		fflush(stdout); /* _exit() does not flush stdio */
		_exit(0);
	}

	/* The parent waits for the break, a second at most. */
	for (int i = 0; i < 1000 && !circuits_breaking_broken(&breaker); i++)
		usleep(1000);
	printf("parent: broken: %s\n",
	       circuits_breaking_broken(&breaker) ? "yes" : "no");

	waitpid(child, &status, 0);
	rc = circuits_breaking_broken(&breaker) && WIFEXITED(status) &&
			     WEXITSTATUS(status) == 0
		     ? 0
		     : 1;
	circuits_breaking_detach(&breaker);
	circuits_shared_unlink(name); /* the creator removes the name */
	return rc;
}
