/*
 * test_c99.c - the public header in strict ISO C99 with -pedantic (CTest
 * label unit).  The header promises C99/C11 and C++ (test_cxx.cpp checks
 * C++); this file is built with C_STANDARD 99, no GNU extensions and
 * -pedantic-errors, so anything of C11 or GNU C in the header that ISO C99
 * lacks fails the build.  It expands the header's macros and calls its
 * inline functions, which must compile and work there too.
 */
#include <stdio.h>

#include "circuits.h"

int
main(void)
{
	circuits_config_t config;
	circuits_breaking_t breaker;
	circuits_circuit_t circuit;
	uint64_t owed = 1;

	circuits_config_init(&config, 2);
	config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(3);
	config.max_sleep_time = CIRCUITS_SECONDS(1) + CIRCUITS_MICROSECONDS(1);
	if (circuits_circuit_init(&circuit, &config) != 0)
		return 10;
	if (circuits_circuit_short_nb(&circuit, &owed) != CIRCUITS_COUNTED ||
	    owed != 0)
		return 11;
	if (circuits_circuit_short_custom_nb(&circuit, 7, &owed) !=
		    CIRCUITS_TRIPPED ||
	    owed != 7)
		return 12;
	if (circuits_circuit_current_sleep_time(&circuit) !=
	    UINT64_C(3000000))
		return 13;
	if (circuits_breaking_init(&breaker, &config) != 0)
		return 1;
	if (circuits_breaking_short_nb(&breaker, &owed) != CIRCUITS_COUNTED ||
	    owed != 0 || circuits_breaking_broken(&breaker))
		return 2;
	if (circuits_breaking_short_nb(&breaker, &owed) != CIRCUITS_TRIPPED ||
	    !circuits_breaking_broken(&breaker))
		return 3;
	if (circuits_breaking_short_nb(&breaker, &owed) !=
	    CIRCUITS_ALREADY_BROKEN)
		return 4;
	puts("test_c99: the header works in ISO C99");
	return 0;
}
