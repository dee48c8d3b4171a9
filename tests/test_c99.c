/*
 * test_c99.c - the public header in strict ISO C99 with -pedantic (CTest
 * label unit).  The header promises C99/C11 and C++ (test_cxx.cpp checks
 * C++); this file is built with C_STANDARD 99, no GNU extensions, and the
 * inline calls in the header must compile and work there too.
 */
#include <stdio.h>

#include "circuits.h"

int
main(void)
{
	circuits_config_t config;
	circuits_breaking_t breaker;
	uint64_t owed = 1;

	circuits_config_init(&config, 2);
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
