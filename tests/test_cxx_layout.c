/*
 * test_cxx_layout.c - the C side of test_cxx.cpp: the sizes, alignments and
 * offsets of the public types as a C compiler lays them out, for the C++
 * test to compare with its own.  A mismatch would mean C and C++ callers
 * of the same library disagree about the memory they share.
 */
#include <stdalign.h>
#include <stddef.h>

#include "circuits.h"

size_t test_c_layout(int which);

size_t
test_c_layout(int which)
{
	switch (which) {
	case 0:
		return sizeof(circuits_circuit_t);
	case 1:
		return alignof(circuits_circuit_t);
	case 2:
		return sizeof(circuits_breaking_t);
	case 3:
		return sizeof(struct circuits_state);
	case 4:
		return offsetof(struct circuits_state, threshold);
	case 5:
		return offsetof(circuits_circuit_t, state);
	case 6:
		return offsetof(circuits_circuit_t, local);
	case 7:
		return sizeof(circuits_config_t);
	case 8:
		return offsetof(circuits_config_t, jitter);
	case 9:
		return sizeof(circuits_snapshot_t);
	case 10:
		return offsetof(circuits_snapshot_t, broken);
	case 11:
		return sizeof(circuits_trip_event_t);
	case 12:
		return offsetof(circuits_trip_event_t, custom);
	case 13:
		return offsetof(struct circuits_state, kind);
	default:
		return (size_t)-1;
	}
}
