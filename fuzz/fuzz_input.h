/*
 * fuzz_input.h - turning a libFuzzer input into values, for every target.
 *
 * A reader consumes the input front to back.  Once it runs dry every read
 * returns 0, so any prefix of a valid input is itself a valid input and the
 * fuzzer can shrink findings freely.
 *
 * Plain random 64-bit numbers almost never hit the values where arithmetic
 * breaks (0, 1, 2^63, UINT64_MAX, ...).  The *_pick readers therefore spend
 * one selector byte first: most selector values choose an entry of a table
 * of extremes, the rest read a raw value.  Mutating the selector jumps
 * between extremes; mutating the raw bytes explores everything else.
 */
#ifndef CIRCUITS_FUZZ_INPUT_H
#define CIRCUITS_FUZZ_INPUT_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fuzz_input {
	const uint8_t *data;
	size_t size;
	size_t at;
};

static inline void
fuzz_input_init(struct fuzz_input *in, const uint8_t *data, size_t size)
{
	in->data = data;
	in->size = size;
	in->at = 0;
}

static inline size_t
fuzz_left(const struct fuzz_input *in)
{
	return in->size - in->at;
}

/* Little-endian, zero-filled past the end. */
static inline uint64_t
fuzz_bytes(struct fuzz_input *in, unsigned count)
{
	uint64_t value = 0;

	for (unsigned i = 0; i < count; i++) {
		uint64_t byte = in->at < in->size ? in->data[in->at++] : 0;

		value |= byte << (8 * i);
	}
	return value;
}

static inline uint8_t
fuzz_u8(struct fuzz_input *in)
{
	return (uint8_t)fuzz_bytes(in, 1);
}

static inline uint16_t
fuzz_u16(struct fuzz_input *in)
{
	return (uint16_t)fuzz_bytes(in, 2);
}

static inline uint32_t
fuzz_u32(struct fuzz_input *in)
{
	return (uint32_t)fuzz_bytes(in, 4);
}

static inline uint64_t
fuzz_u64(struct fuzz_input *in)
{
	return fuzz_bytes(in, 8);
}

/* A duration or count with extremes over-represented. */
static inline uint64_t
fuzz_u64_pick(struct fuzz_input *in)
{
	static const uint64_t extremes[] = {
		0,
		1,
		2,
		3,
		1000,
		UINT64_C(1000000),
		UINT64_C(1000000000),
		UINT64_C(10000000000),
		UINT64_C(60000000000),
		UINT64_C(1000000000000000000),
		UINT64_C(10000000000000000000),
		UINT64_C(1) << 32,
		(UINT64_C(1) << 53) - 1,
		UINT64_C(1) << 53,
		(UINT64_C(1) << 53) + 1,
		(UINT64_C(1) << 63) - 1,
		UINT64_C(1) << 63,
		(UINT64_C(1) << 63) + 1,
		UINT64_MAX - 1024,
		UINT64_MAX - 1,
		UINT64_MAX,
	};
	uint8_t selector = fuzz_u8(in);
	size_t count = sizeof extremes / sizeof extremes[0];

	if (selector < count)
		return extremes[selector];
	if (selector < 192) /* small values: levels, short counts */
		return selector - count;
	return fuzz_u64(in);
}

/* A backoff factor: finite and >= 1.0. */
static inline double
fuzz_factor_pick(struct fuzz_input *in)
{
	static const double extremes[] = {
		1.0,
		1.0 + DBL_EPSILON, /* the smallest factor above 1 */
		1.0 + 4 * DBL_EPSILON,
		1.000001,
		1.0055, /* reaches 2^64 just before the level saturates */
		1.01,
		1.1,
		1.5,
		2.0,
		2.5,
		3.0,
		10.0,
		1e10,
		4294967296.0,
		1.8446744073709552e19, /* 2^64 */
		1e300,
		DBL_MAX,
	};
	uint8_t selector = fuzz_u8(in);
	size_t count = sizeof extremes / sizeof extremes[0];
	uint64_t bits;
	double value;

	if (selector < count)
		return extremes[selector];
	if (selector < 128) /* small integers: exact reference */
		return (double)(selector - count + 1);
	bits = fuzz_u64(in);
	memcpy(&value, &bits, sizeof value);
	value = fabs(value);
	if (!isfinite(value))
		return 1.0;
	/* Below 1: mirror into [1, inf) instead of discarding the draw. */
	return value >= 1.0 ? value : 1.0 + value;
}

/* A jitter fraction in [0, 1]. */
static inline double
fuzz_jitter_pick(struct fuzz_input *in)
{
	static const double extremes[] = {
		0.0,     1.0,
		0.5,     0.1,
		0.25,    1.0 - DBL_EPSILON / 2,   /* largest double below 1 */
		DBL_MIN, 4.9406564584124654e-324, /* smallest subnormal */
		0x1p-30, 0x1p-11,
		0x1p-10, 0x1p-60,
	};
	uint8_t selector = fuzz_u8(in);
	size_t count = sizeof extremes / sizeof extremes[0];
	uint64_t bits;
	double value;

	if (selector < count)
		return extremes[selector];
	if (selector < 128)
		return (double)(selector - count) / 128.0;
	bits = fuzz_u64(in);
	memcpy(&value, &bits, sizeof value);
	value = fabs(value);
	if (!isfinite(value))
		return 0.0;
	return value <= 1.0 ? value : 1.0 / value;
}

/* A threshold N in 1 .. 2^32-1. */
static inline uint32_t
fuzz_threshold_pick(struct fuzz_input *in)
{
	uint8_t selector = fuzz_u8(in);
	uint32_t raw;

	switch (selector) {
	case 0:
		return UINT32_MAX;
	case 1:
		return UINT32_C(1) << 31;
	case 2:
		return 1000003; /* a prime */
	default:
		break;
	}
	if (selector < 200)
		return (uint32_t)(selector % 16) + 1;
	raw = fuzz_u32(in);
	return raw != 0 ? raw : 1;
}

#endif /* CIRCUITS_FUZZ_INPUT_H */
