/*
 * circuit.c - a Circuit backing off a flaky call.
 *
 * Every third failure trips the circuit; the call that trips it sleeps, 10 ms
 * the first time and twice as long each time after, up to 80 ms, give or take
 * 20% of jitter.  The other failures return at once.
 */
#include <circuits.h>
#include <stdio.h>

/* Stands in for a call to a busy service: two calls in three fail. */
static int
flaky_call(int i)
{
	return i % 3 == 0 ? 0 : -1;
}

/* Runs in the caller that tripped the circuit, before it sleeps. */
static void
on_trip(const circuits_trip_event_t *event, void *arg)
{
	(void)arg;
	printf("trip %llu: sleeping %.1f ms\n",
	       (unsigned long long)event->state.total_trips,
	       (double)event->sleep / 1e6);
}

int
main(void)
{
	circuits_config_t config;
	circuits_circuit_t circuit;
	int rc;

	circuits_config_init(&config, 3); /* trip on every 3rd short */
	config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(10);
	config.backoff_factor = 2.0;
	config.max_sleep_time = CIRCUITS_MILLISECONDS(80);
	config.jitter = 0.2;
	rc = circuits_circuit_init(&circuit, &config);
	if (rc != 0) {
		fprintf(stderr, "circuit: %s\n", circuits_strerror(rc));
		return 1;
	}
	circuits_circuit_set_listener(&circuit, on_trip, NULL);

	for (int i = 0; i < 30; i++) {
		if (flaky_call(i) != 0)
			circuits_circuit_short(&circuit); /* may sleep */
	}

	/* 20 failures: 6 trips, and 2 shorts towards the next one. */
	printf("%llu trips, %llu shorts pending, next sleep %.0f ms\n",
	       (unsigned long long)circuits_circuit_total_trips(&circuit),
	       (unsigned long long)circuits_circuit_times_shorted(&circuit),
	       (double)circuits_circuit_current_sleep_time(&circuit) / 1e6);
	circuits_circuit_reset_backoff(&circuit); /* e.g. after a success */
	return circuits_circuit_total_trips(&circuit) == 6 ? 0 : 1;
}
