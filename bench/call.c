/*
 * call.c - bare fetch-and-add behind a function call.
 *
 * The library's operations are function calls (the application links the
 * library, without LTO), so a short() pays a call and a return around its
 * lock xadd.  On x86 a locked instruction orders every later load after it,
 * including the return's load of its address from the stack, so the call
 * is not free next to it.  This function, kept in its own file so that no
 * compiler can inline it into the loop, measures that floor: the cheapest
 * any out-of-line API on one shared word can be.
 */
#include <ck_pr.h>

#include "bench.h"

uint64_t
bench_faa_call(uint64_t *word)
{
	return ck_pr_faa_64(word, 1);
}
