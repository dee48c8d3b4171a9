/*
 * make_seeds.c - writes the seed corpus of every fuzz target.
 *
 *   fuzz_make_seeds DIR     (DIR is fuzz/corpus; files are overwritten)
 *
 * Seeds are small inputs that already reach the interesting parts of each
 * target, so that a one-minute run starts deep instead of rediscovering the
 * input format.  They are encoded for the decoders in fuzz_input.h: in every
 * picker, selector byte 255 means "a raw value follows" (8 bytes for
 * durations, factors and jitters, 4 for thresholds), and small selectors
 * pick table entries.  Regenerate and commit the corpus whenever a decoder
 * changes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuits.h"

#define RAW 255

struct seed {
	unsigned char bytes[4096];
	size_t size;
};

static const char *out_dir;

static void
put_u8(struct seed *s, unsigned value)
{
	if (s->size >= sizeof s->bytes)
		abort();
	s->bytes[s->size++] = (unsigned char)value;
}

static void
put_le(struct seed *s, uint64_t value, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		put_u8(s, (unsigned)(value >> (8 * i)) & 0xff);
}

static void
put_bytes(struct seed *s, const void *bytes, size_t count)
{
	if (s->size + count > sizeof s->bytes)
		abort();
	memcpy(s->bytes + s->size, bytes, count);
	s->size += count;
}

/* Raw values for the pickers. */
static void
put_duration(struct seed *s, uint64_t ns)
{
	put_u8(s, RAW);
	put_le(s, ns, 8);
}

static void
put_double(struct seed *s, double value)
{
	uint64_t bits;

	memcpy(&bits, &value, sizeof bits);
	put_u8(s, RAW);
	put_le(s, bits, 8);
}

static void
put_threshold(struct seed *s, uint32_t n)
{
	put_u8(s, RAW);
	put_le(s, n, 4);
}

static void
write_seed(const char *target, const struct seed *s, const char *fmt, ...)
{
	char name[128], path[512];
	va_list args;
	FILE *file;

	va_start(args, fmt);
	vsnprintf(name, sizeof name, fmt, args);
	va_end(args);
	snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
	file = fopen(path, "wb");
	if (file == NULL || fwrite(s->bytes, 1, s->size, file) != s->size ||
	    fclose(file) != 0) {
		perror(path);
		exit(1);
	}
}

/* --- fuzz_arith ---------------------------------------------------------- */

/* Input: flags, base, max, factor, level, jitter, bits, planned, cap. */

static void
arith_seed(const char *name, unsigned flags, uint64_t base, uint64_t max,
	   double factor, unsigned level, double jitter, uint64_t bits,
	   uint64_t planned, uint64_t cap)
{
	struct seed s = {.size = 0};

	put_u8(&s, flags);
	put_duration(&s, base);
	put_duration(&s, max);
	put_double(&s, factor);
	put_le(&s, level, 2);
	put_double(&s, jitter);
	put_le(&s, bits, 8);
	put_duration(&s, planned);
	put_duration(&s, cap);
	write_seed("fuzz_arith", &s, "%s", name);
}

/* Inputs the fuzzer found, kept byte for byte. */
static void
arith_findings(void)
{
	/* circuits__jitter() drew 1 ns above s(1 + j) for s near 2^64 and
	 * j near 2^-48 (fixed in a1a45f3). */
	static const unsigned char jitter_past_bound[] = {
		0x00, 0x06, 0x01, 0x21, 0x64, 0xa7, 0xb3, 0xb6, 0xe0,
		0xff, 0x0d, 0x00, 0x00, 0xe8, 0x42, 0x04, 0x23, 0xe8,
		0x89, 0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xbf, 0xff, 0xff, 0xff, 0xff, 0x23,
		0x00, 0x92, 0x04, 0x00, 0x00, 0xff, 0xff, 0xff,
	};
	struct seed s = {.size = 0};

	put_bytes(&s, jitter_past_bound, sizeof jitter_past_bound);
	write_seed("fuzz_arith", &s, "jitter-rounds-past-bound");
}

static void
arith_seeds(void)
{
	/* flags & 7 == 0 sweeps every level. */
	arith_seed("c4-doubling-to-300s", 0, CIRCUITS_SECONDS(2),
		   CIRCUITS_SECONDS(300), 2.0, 9, 0.0, 0, 0, 0);
	arith_seed("c4-factor10-1e19", 0, UINT64_C(1000000000000000000),
		   UINT64_C(10000000000000000000), 10.0, 2, 0.5, UINT64_MAX,
		   UINT64_C(10000000000000000000), UINT64_MAX);
	arith_seed("c5-base0", 1, 0, CIRCUITS_SECONDS(10), 2.0, 8191, 0.5,
		   0x123456789abcdef0, 0, CIRCUITS_SECONDS(10));
	arith_seed("factor-near-1-saturates", 0, 1, UINT64_MAX, 1.0055, 8191,
		   1.0, 0, UINT64_MAX, UINT64_MAX);
	arith_seed("factor-1-plus-ulp", 0, UINT64_C(1) << 62, UINT64_MAX,
		   1.0000000000000002, 4000, 0x1p-30, UINT64_MAX,
		   UINT64_C(1) << 63, UINT64_MAX);
	arith_seed("odd-above-2p63", 1, 9, UINT64_MAX, 9.0, 19, 0.25,
		   UINT64_C(0x8000000000000000), UINT64_C(9223372036854775809),
		   UINT64_MAX);
	arith_seed("huge-factor", 2, 3, 5, 1e300, 1, 1.0, UINT64_MAX, 5, 5);
	arith_seed("base-above-max", 3, CIRCUITS_SECONDS(60),
		   CIRCUITS_SECONDS(10), 2.0, 3, 0.1, 42, CIRCUITS_SECONDS(60),
		   CIRCUITS_SECONDS(60));
	arith_seed("non-integer-factor", 0, 1000, UINT64_C(1) << 60, 1.5, 100,
		   0.999, 7, 1000, UINT64_C(1) << 60);
}

/* --- fuzz_diff ----------------------------------------------------------- */

/* Input: threshold, base, max, factor, jitter, random mode, random seed,
 * validation, validation bits, then opcodes. */

enum diff_op { /* fuzz_diff.c's enum opcode, in order */
	       D_SHORT,
	       D_SHORT_CUSTOM,
	       D_SHORT_NB,
	       D_SHORT_CUSTOM_NB,
	       D_SHORT_NB_NULL,
	       D_TRIP,
	       D_TRIP_CUSTOM,
	       D_TRIP_NB,
	       D_TRIP_CUSTOM_NB,
	       D_TRIP_NB_NULL,
	       D_RESET,
	       D_RESET_BACKOFF,
	       D_SHORT_BURST,
	       D_TRIP_BURST,
	       D_TOGGLE_LISTENER,
	       D_NS_FROM_SECONDS
};

static void
diff_config(struct seed *s, uint32_t n, uint64_t base, uint64_t max,
	    double factor, double jitter, unsigned random_mode)
{
	s->size = 0;
	put_threshold(s, n);
	put_duration(s, base);
	put_duration(s, max);
	put_double(s, factor);
	put_double(s, jitter);
	put_u8(s, random_mode);
	put_le(s, UINT64_C(0x0123456789abcdef), 8);
	put_u8(s, 5); /* validation: leave the configuration valid */
	put_le(s, 0, 8);
}

static void
diff_ops(struct seed *s, const unsigned char *ops, size_t count)
{
	put_bytes(s, ops, count);
}

static void
diff_seeds(void)
{
	struct seed s;
	/* Every opcode once, custom ones with a raw duration. */
	unsigned char mix[] = {
		D_SHORT,    D_SHORT_NB,        D_SHORT_NB_NULL,
		D_TRIP,     D_TRIP_NB,         D_TRIP_NB_NULL,
		D_RESET,    D_SHORT,           D_SHORT,
		D_SHORT,    D_RESET_BACKOFF,   D_TOGGLE_LISTENER,
		D_TRIP,     D_TOGGLE_LISTENER, D_RESET,
		D_SHORT_NB, D_SHORT_NB,        D_SHORT_NB,
		D_SHORT_NB,
	};
	unsigned char custom[] = {
		D_SHORT_CUSTOM,
		3,
		D_SHORT_CUSTOM_NB,
		20,
		D_TRIP_CUSTOM,
		0,
		D_TRIP_CUSTOM_NB,
		16,
		D_RESET,
		D_SHORT_CUSTOM_NB,
		1,
		D_SHORT_CUSTOM_NB,
		1,
		D_SHORT_CUSTOM_NB,
		1,
	};
	/* Burst counts are 16-bit little endian. */
	unsigned char saturate[] = {D_TRIP_BURST,    0xff,     0x1f, D_TRIP_NB,
				    D_RESET_BACKOFF, D_TRIP_NB};
	unsigned char shorts[] = {D_SHORT_BURST, 0xe7, 0x03, D_RESET,
				  D_SHORT_BURST, 0x10, 0x00};

	diff_config(&s, 3, CIRCUITS_SECONDS(1), CIRCUITS_SECONDS(10), 2.0, 0.0,
		    0);
	diff_ops(&s, mix, sizeof mix);
	write_seed("fuzz_diff", &s, "n3-doubling-mix");

	diff_config(&s, 1, 1, UINT64_C(1) << 60, 2.0, 0.0, 0);
	diff_ops(&s, saturate, sizeof saturate);
	write_seed("fuzz_diff", &s, "n1-saturate-level");

	diff_config(&s, 4, CIRCUITS_MILLISECONDS(100), CIRCUITS_SECONDS(5), 1.5,
		    0.5, 0);
	diff_ops(&s, custom, sizeof custom);
	write_seed("fuzz_diff", &s, "n4-jitter-custom");

	diff_config(&s, 7, CIRCUITS_SECONDS(60), CIRCUITS_SECONDS(10), 3.0, 1.0,
		    2);
	diff_ops(&s, shorts, sizeof shorts);
	write_seed("fuzz_diff", &s, "n7-base-above-max-full-jitter");

	diff_config(&s, UINT32_MAX, UINT64_MAX, UINT64_MAX, 1e300, 0x1p-30, 1);
	diff_ops(&s, mix, sizeof mix);
	write_seed("fuzz_diff", &s, "huge-everything");

	diff_config(&s, 2, 0, 0, 1.0, 0.0, 0);
	/* ns_from_seconds with a binade selector and a mantissa. */
	put_u8(&s, D_NS_FROM_SECONDS);
	put_u8(&s, 73); /* 2^33 s: results near 2^63 ns */
	put_le(&s, UINT64_C(0x9876543210fedcba), 8);
	put_u8(&s, D_NS_FROM_SECONDS);
	put_u8(&s, 10);                              /* raw bits */
	put_le(&s, UINT64_C(0x3e112e0be826d695), 8); /* 1e-9 */
	diff_ops(&s, mix, sizeof mix);
	write_seed("fuzz_diff", &s, "ns-from-seconds");
}

/* --- fuzz_shm_attach ------------------------------------------------------ */

static void
no_sleep(uint64_t ns, void *arg)
{
	(void)ns;
	(void)arg;
}

/* A valid segment of either kind, moved away from its initial state. */
static void
valid_segment(unsigned char *segment, int breaking,
	      const circuits_config_t *config, unsigned shorts)
{
	size_t size = circuits_segment_size();
	int rc;

	memset(segment, 0, size);
	if (breaking) {
		circuits_breaking_t b;

		rc = circuits_breaking_init_segment(&b, segment, size, config);
		circuits_breaking_set_sleeper(&b, no_sleep, NULL);
		for (unsigned i = 0; rc == 0 && i < shorts; i++)
			circuits_breaking_short(&b);
	} else {
		circuits_circuit_t c;

		rc = circuits_circuit_init_segment(&c, segment, size, config);
		circuits_circuit_set_sleeper(&c, no_sleep, NULL);
		for (unsigned i = 0; rc == 0 && i < shorts; i++)
			circuits_circuit_short(&c);
	}
	if (rc != 0)
		abort();
}

static void
raw_seed(const unsigned char *segment, size_t size, const char *kind,
	 const char *what)
{
	struct seed s = {.size = 0};

	put_u8(&s, 0); /* raw mode */
	put_bytes(&s, segment, size);
	write_seed("fuzz_shm_attach", &s, "%s-%s", kind, what);
}

static void
shm_seeds(void)
{
	/* 64-byte aligned so that the segment functions accept it. */
	static _Alignas(64) unsigned char segment[512], pristine[512];
	size_t size = circuits_segment_size();
	size_t header = size - sizeof(struct circuits_state);
	/* Header fields (src/shm.c's struct segment_header) and the state's
	 * own fields, each corrupted alone. */
	size_t offsets[] = {
		0,
		8,
		12,
		16,
		24,
		32,
		40,
		48,
		56,
		64,
		header + offsetof(struct circuits_state, word),
		header + offsetof(struct circuits_state, word) + 4,
		header + offsetof(struct circuits_state, word) + 7,
		header + offsetof(struct circuits_state, seq_floor),
		header + offsetof(struct circuits_state, threshold),
		header + offsetof(struct circuits_state, base),
		header + offsetof(struct circuits_state, ceiling),
		header + offsetof(struct circuits_state, max_sleep),
		header + offsetof(struct circuits_state, factor),
		header + offsetof(struct circuits_state, jitter),
		header + offsetof(struct circuits_state, reset_count),
		header + offsetof(struct circuits_state, kind),
	};
	circuits_config_t config;
	struct seed s;

	if (size > sizeof segment)
		abort();
	for (int breaking = 0; breaking < 2; breaking++) {
		const char *kind = breaking ? "breaking" : "circuit";

		circuits_config_init(&config, 3);
		config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(10);
		config.backoff_factor = 2.0;
		config.jitter = 0.25;
		valid_segment(pristine, breaking, &config, 2);
		raw_seed(pristine, size, kind, "valid");
		/* Short, long, and not yet published. */
		raw_seed(pristine, size - 1, kind, "truncated");
		memcpy(segment, pristine, size);
		memset(segment + size, 0xee, 64);
		raw_seed(segment, size + 64, kind, "oversized");
		memset(segment, 0, 8);
		raw_seed(segment, size, kind, "unpublished");
		for (size_t i = 0; i < sizeof offsets / sizeof offsets[0];
		     i++) {
			char what[32];

			memcpy(segment, pristine, size);
			segment[offsets[i]] ^= 0x41;
			snprintf(what, sizeof what, "flip-at-%zu", offsets[i]);
			raw_seed(segment, size, kind, what);
		}
	}

	/* Built mode: flags (1 breaking, 2 fix checksum, 4 reset after each
	 * trip), config, shorts, trips, size delta, patches. */
	for (unsigned flags = 0; flags < 8; flags++) {
		s.size = 0;
		put_u8(&s, 1);
		put_u8(&s, flags);
		put_threshold(&s, flags & 1 ? 5 : 1);
		put_duration(&s, CIRCUITS_SECONDS(1));
		put_duration(&s, CIRCUITS_SECONDS(60));
		put_double(&s, 2.0);
		put_double(&s, flags & 4 ? 0.5 : 0.0);
		put_u8(&s, 3); /* shorts */
		put_u8(&s, 2); /* trips */
		put_u8(&s, 0); /* size delta */
		/* Store a value over the state word's level field. */
		put_u8(&s, 1);
		put_le(&s, header + offsetof(struct circuits_state, word), 2);
		put_u8(&s, 2); /* selector 2: value 2 */
		put_u8(&s, 0);
		put_le(&s, (flags & 2) ? 24 : 200, 2); /* header or state */
		put_u8(&s, 0x10);
		write_seed("fuzz_shm_attach", &s, "built-flags-%u", flags);
	}
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	arith_seeds();
	arith_findings();
	diff_seeds();
	shm_seeds();
	return 0;
}
