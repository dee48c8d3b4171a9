/*
 * consumer.c - a program built against an installed circuits, the way a
 * user's project would find it: through find_package(circuits CONFIG) or
 * through pkg-config.  It exercises one call of each kind, inline and
 * exported, and fails unless the answers are the contract's.
 */
#include <circuits.h>
#include <stdio.h>

int
main(void)
{
	circuits_config_t config;
	circuits_circuit_t circuit;
	uint64_t owed = 1;

	circuits_config_init(&config, 2);
	config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(5);
	if (circuits_circuit_init(&circuit, &config) != 0)
		return 1;
	if (circuits_circuit_short_nb(&circuit, &owed) != CIRCUITS_COUNTED ||
	    owed != 0)
		return 2;
	if (circuits_circuit_short_nb(&circuit, &owed) != CIRCUITS_TRIPPED ||
	    owed != CIRCUITS_MILLISECONDS(5))
		return 3;
	if (circuits_circuit_total_trips(&circuit) != 1 ||
	    circuits_circuit_times_shorted(&circuit) != 0)
		return 4;
	printf("consumer: circuits %d.%d.%d works\n", CIRCUITS_VERSION_MAJOR,
	       CIRCUITS_VERSION_MINOR, CIRCUITS_VERSION_PATCH);
	return 0;
}
