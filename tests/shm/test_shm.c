/*
 * test_shm.c - circuits shared between processes (CTest label shm).
 *
 * Every test here uses real processes: fork()ed children operating on one
 * circuit that lives in an anonymous MAP_SHARED mapping or in named POSIX
 * shared memory.  Results come back through a shared result area, never
 * through the circuit itself, so the circuit's totals can be checked against
 * what the processes were told.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define MAX_WORKERS 16

/* What the workers report, in shared memory next to the circuit. */
struct results {
	uint64_t counted[MAX_WORKERS];	/* shorts told COUNTED */
	uint64_t tripped[MAX_WORKERS];	/* shorts told TRIPPED */
	uint64_t in_flight[MAX_WORKERS]; /* 1 while inside a short() */
	uint64_t owed[MAX_WORKERS];
	uint64_t exited_at[MAX_WORKERS];
	uint64_t broke_at;
	uint64_t ready;
};

static void *
map_shared(size_t size)
{
	void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(memory, MAP_FAILED);
	memset(memory, 0, size);
	return memory;
}

static void
no_sleep(uint64_t ns, void *arg)
{
	(void)ns;
	(void)arg;
}

static void
unique_name(char *name, size_t size, const char *what)
{
	static int serial;

	snprintf(name, size, "/circuits-test-%ld-%s-%d", (long)getpid(), what,
		 serial++);
}

static void
wait_all(pid_t *pids, int count)
{
	for (int i = 0; i < count; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "worker %d failed (status %d)", i, status);
	}
}

static uint64_t
monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * CIRCUITS_NSEC_PER_SEC +
	       (uint64_t)now.tv_nsec;
}

/* --- exactness across processes ----------------------------------------- */

/* P processes x S shorts on one Circuit with threshold N: the contract
 * promises total_trips = P*S / N, times_shorted = P*S mod N, and exactly
 * P*S / N callers, summed over processes, told TRIPPED. */
static void
check_exact_totals(circuits_circuit_t *parent, struct results *results,
		   int processes, long shorts, uint32_t n)
{
	pid_t pids[MAX_WORKERS];
	uint64_t counted = 0, tripped = 0, total = (uint64_t)processes * shorts;

	for (int p = 0; p < processes; p++) {
		pids[p] = fork();
		ck_assert_int_ge(pids[p], 0);
		if (pids[p] == 0) {
			/* The child uses the handle it inherited; hooks are
			 * process-local, so set them here. */
			circuits_circuit_set_sleeper(parent, no_sleep, NULL);
			for (long i = 0; i < shorts; i++) {
				int rc = circuits_circuit_short(parent);

				if (rc == CIRCUITS_TRIPPED)
					results->tripped[p]++;
				else if (rc == CIRCUITS_COUNTED)
					results->counted[p]++;
				else
					_exit(3);
			}
			_exit(0);
		}
	}
	wait_all(pids, processes);
	for (int p = 0; p < processes; p++) {
		counted += results->counted[p];
		tripped += results->tripped[p];
	}
	ck_assert_uint_eq(counted + tripped, total);
	ck_assert_uint_eq(tripped, total / n);
	ck_assert_uint_eq(circuits_circuit_total_trips(parent), total / n);
	ck_assert_uint_eq(circuits_circuit_times_shorted(parent), total % n);
}

START_TEST(exact_totals_fork_inherited)
{
	void *memory = map_shared(circuits_segment_size());
	struct results *results = map_shared(sizeof *results);
	circuits_circuit_t circuit;
	circuits_config_t config;

	circuits_config_init(&config, 7);
	ck_assert_int_eq(circuits_circuit_init_segment(
				 &circuit, memory, circuits_segment_size(),
				 &config),
			 0);
	check_exact_totals(&circuit, results, 4, scaled(200000), 7);
	munmap(memory, circuits_segment_size());
	munmap(results, sizeof *results);
}
END_TEST

START_TEST(exact_totals_named)
{
	struct results *results = map_shared(sizeof *results);
	circuits_circuit_t circuit, attached;
	circuits_config_t config, seen;
	char name[64];

	unique_name(name, sizeof name, "exact");
	circuits_config_init(&config, 1);
	config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(3);
	config.backoff_factor = 1.5;
	config.jitter = 0.25;
	ck_assert_int_eq(circuits_circuit_open_shared(&circuit, name,
						      CIRCUITS_SHM_CREATE,
						      &config, 0),
			 0);
	/* A second handle attached by name shares the same state and gets the
	 * creator's configuration without passing one. */
	ck_assert_int_eq(circuits_circuit_open_shared(&attached, name,
						      CIRCUITS_SHM_ATTACH,
						      NULL, 0),
			 0);
	circuits_circuit_config(&attached, &seen);
	ck_assert_uint_eq(seen.num_shorts_to_trip, 1);
	ck_assert_uint_eq(seen.sleep_time_after_trip, CIRCUITS_MILLISECONDS(3));
	ck_assert(seen.backoff_factor == 1.5 && seen.jitter == 0.25);

	check_exact_totals(&attached, results, 3, scaled(50000), 1);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit),
			  3 * (uint64_t)scaled(50000));
	ck_assert_int_eq(circuits_circuit_detach(&attached), 0);
	ck_assert_int_eq(circuits_circuit_detach(&circuit), 0);
	ck_assert_int_eq(circuits_shared_unlink(name), 0);
	munmap(results, sizeof *results);
}
END_TEST

/* --- coordinated shutdown ----------------------------------------------- */

/* Workers poll broken(); one of them breaks the circuit after a while.  Every
 * worker must see it and exit within a bounded time. */
START_TEST(coordinated_shutdown)
{
	enum { WORKERS = 6 };
	void *memory = map_shared(circuits_segment_size());
	struct results *results = map_shared(sizeof *results);
	circuits_breaking_t breaker;
	circuits_config_t config;
	pid_t pids[WORKERS];
	uint64_t last_exit = 0;

	circuits_config_init(&config, 3);
	ck_assert_int_eq(circuits_breaking_init_segment(
				 &breaker, memory, circuits_segment_size(),
				 &config),
			 0);
	for (int w = 0; w < WORKERS; w++) {
		pids[w] = fork();
		ck_assert_int_ge(pids[w], 0);
		if (pids[w] == 0) {
			uint64_t polls = 0;

			circuits_breaking_set_sleeper(&breaker, no_sleep, NULL);
			__atomic_fetch_add(&results->ready, 1,
					   __ATOMIC_RELEASE);
			while (!circuits_breaking_broken(&breaker)) {
				/* Worker 0 is the one whose calls fail. */
				if (w == 0 && ++polls % 1000 == 0 &&
				    circuits_breaking_short(&breaker) ==
					    CIRCUITS_TRIPPED)
					results->broke_at = monotonic_ns();
				else
					sched_yield();
			}
			results->exited_at[w] = monotonic_ns();
			_exit(0);
		}
	}
	while (__atomic_load_n(&results->ready, __ATOMIC_ACQUIRE) < WORKERS)
		sched_yield();
	wait_all(pids, WORKERS);
	ck_assert(circuits_breaking_broken(&breaker));
	ck_assert_uint_eq(circuits_breaking_total_trips(&breaker), 1);
	/* Worker 0 stamped the break right after its short returned; every
	 * worker stamped its exit.  The last exit bounds the shutdown. */
	ck_assert_uint_ne(results->broke_at, 0);
	for (int w = 0; w < WORKERS; w++)
		if (results->exited_at[w] > last_exit)
			last_exit = results->exited_at[w];
	ck_assert_msg(last_exit - results->broke_at < CIRCUITS_SECONDS(1),
		      "workers took %llu ns to notice the break",
		      (unsigned long long)(last_exit - results->broke_at));
	munmap(memory, circuits_segment_size());
	munmap(results, sizeof *results);
}
END_TEST

/* --- crash survival ----------------------------------------------------- */

/*
 * Workers hammer one shared Circuit and BreakingCircuit pair; the parent
 * kills random workers with SIGKILL at random moments and starts new ones in
 * their slots, many times.  Survivors must never block (each finishes a fixed
 * quota within the test's timeout), and the circuit's total must account for
 * every short a worker was told about: a killed worker can lose only the one
 * short it had in flight.
 */
struct crash_area {
	uint64_t acknowledged[MAX_WORKERS]; /* shorts whose return was seen */
	uint64_t in_flight[MAX_WORKERS];    /* 1 between call and return */
	uint64_t lost_candidates;	    /* killed while in flight */
};

static void
crash_worker(circuits_circuit_t *circuit, struct crash_area *area, int slot,
	     long quota)
{
	circuits_circuit_set_sleeper(circuit, no_sleep, NULL);
	for (long i = 0; quota < 0 || i < quota; i++) {
		__atomic_store_n(&area->in_flight[slot], 1, __ATOMIC_SEQ_CST);
		circuits_circuit_short(circuit);
		/* Acknowledge first, then leave flight: a kill between the
		 * two is still one short, counted and acknowledged. */
		__atomic_fetch_add(&area->acknowledged[slot], 1,
				   __ATOMIC_SEQ_CST);
		__atomic_store_n(&area->in_flight[slot], 0, __ATOMIC_SEQ_CST);
	}
	_exit(0);
}

START_TEST(crash_survival)
{
	enum { WORKERS = 4, N = 5 };
	void *memory = map_shared(circuits_segment_size());
	struct crash_area *area = map_shared(sizeof *area);
	circuits_circuit_t circuit;
	circuits_config_t config;
	pid_t pids[WORKERS];
	long kills = scaled(200);
	uint64_t acknowledged = 0, actual, seed = (uint64_t)getpid();
	uint64_t killed_in_flight = 0;

	circuits_config_init(&config, N);
	config.sleep_time_after_trip = 1;
	config.backoff_factor = 2.0;
	ck_assert_int_eq(circuits_circuit_init_segment(
				 &circuit, memory, circuits_segment_size(),
				 &config),
			 0);
	for (int w = 0; w < WORKERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0)
			crash_worker(&circuit, area, w, -1);
	}
	for (long k = 0; k < kills; k++) {
		struct timespec pause = {0, 0};
		int victim, status;

		seed = seed * UINT64_C(6364136223846793005) + 1442695040888963407;
		victim = (int)((seed >> 33) % WORKERS);
		pause.tv_nsec = (long)((seed >> 13) % 2000000);
		nanosleep(&pause, NULL);
		kill(pids[victim], SIGKILL);
		ck_assert_int_eq(waitpid(pids[victim], &status, 0),
				 pids[victim]);
		/* in_flight tells whether the victim may have made one short
		 * it never acknowledged. */
		killed_in_flight += area->in_flight[victim];
		area->in_flight[victim] = 0;
		pids[victim] = fork();
		if (pids[victim] == 0)
			crash_worker(&circuit, area, victim, -1);
	}
	for (int w = 0; w < WORKERS; w++) {
		int status;

		kill(pids[w], SIGKILL);
		waitpid(pids[w], &status, 0);
		killed_in_flight += area->in_flight[w];
		area->in_flight[w] = 0;
	}
	/* Survivors after all the kills: each must finish a quota, which it
	 * can only do if nothing the dead left behind blocks it. */
	for (int w = 0; w < WORKERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0)
			crash_worker(&circuit, area, w, scaled(20000));
	}
	wait_all(pids, WORKERS);

	for (int w = 0; w < WORKERS; w++)
		acknowledged += area->acknowledged[w];
	actual = circuits_circuit_total_trips(&circuit) * N +
		 circuits_circuit_times_shorted(&circuit);
	fprintf(stderr,
		"crash_survival: %ld kills, %llu of them in flight, %llu shorts "
		"acknowledged, %llu counted\n",
		kills, (unsigned long long)killed_in_flight,
		(unsigned long long)acknowledged, (unsigned long long)actual);
	ck_assert_msg(actual >= acknowledged &&
			      actual <= acknowledged + killed_in_flight,
		      "circuit saw %llu shorts, workers acknowledged %llu, "
		      "%llu killed in flight",
		      (unsigned long long)actual,
		      (unsigned long long)acknowledged,
		      (unsigned long long)killed_in_flight);
	/* Decoded state is sane after all the deaths: nothing pending, the
	 * count below N, and a snapshot agrees with the single reads. */
	{
		circuits_snapshot_t snapshot;

		circuits_circuit_snapshot(&circuit, &snapshot);
		ck_assert_uint_lt(snapshot.times_shorted, N);
		ck_assert_uint_eq(snapshot.total_trips,
				  circuits_circuit_total_trips(&circuit));
	}
	munmap(memory, circuits_segment_size());
	munmap(area, sizeof *area);
}
END_TEST

/* --- attaching to bad segments ------------------------------------------ */

static void *
valid_segment(bool breaking)
{
	void *memory = map_shared(circuits_segment_size());
	circuits_config_t config;
	int rc;

	circuits_config_init(&config, 4);
	if (breaking) {
		circuits_breaking_t breaker;

		rc = circuits_breaking_init_segment(
			&breaker, memory, circuits_segment_size(), &config);
	} else {
		circuits_circuit_t circuit;

		rc = circuits_circuit_init_segment(
			&circuit, memory, circuits_segment_size(), &config);
	}
	ck_assert_int_eq(rc, 0);
	return memory;
}

static int
attach_circuit(void *memory, size_t size)
{
	circuits_circuit_t circuit;
	int rc = circuits_circuit_attach_segment(&circuit, memory, size);

	if (rc == 0) {
		/* A circuit that attached must work. */
		circuits_circuit_set_sleeper(&circuit, no_sleep, NULL);
		circuits_circuit_short(&circuit);
		circuits_circuit_trip(&circuit);
		(void)circuits_circuit_total_trips(&circuit);
	}
	return rc;
}

static int
attach_breaking(void *memory, size_t size)
{
	circuits_breaking_t breaker;
	int rc = circuits_breaking_attach_segment(&breaker, memory, size);

	if (rc == 0) {
		/* A breaking circuit that attached must work, and keep its
		 * count below N. */
		circuits_breaking_set_sleeper(&breaker, no_sleep, NULL);
		circuits_breaking_short(&breaker);
		ck_assert_uint_lt(circuits_breaking_times_shorted(&breaker),
				  4);
		circuits_breaking_trip(&breaker);
		ck_assert(circuits_breaking_broken(&breaker));
		circuits_breaking_reset(&breaker);
	}
	return rc;
}

/*
 * Byte offsets into a segment (src/shm.c): the header's fields, checked by
 * its checksum (FNV-1a over version .. jitter, bytes 8 to 63, stored at 64);
 * then the state at 128: word, seq_floor; its configuration line at 192.
 */
enum {
	AT_MAGIC = 0,
	AT_VERSION = 8,
	AT_KIND = 12,
	AT_SIZE = 16,
	AT_THRESHOLD = 24,
	AT_FACTOR = 48,
	AT_JITTER = 56,
	AT_CHECKSUM = 64,
	AT_WORD = 128,
	AT_SEQ_FLOOR = 136,
	AT_STATE_THRESHOLD = 192
};

static void
put64(unsigned char *memory, size_t offset, uint64_t value)
{
	memcpy(memory + offset, &value, sizeof value);
}

static uint64_t
get64(const unsigned char *memory, size_t offset)
{
	uint64_t value;

	memcpy(&value, memory + offset, sizeof value);
	return value;
}

/* Recomputes the header's checksum, so that a changed field gets past it to
 * the checks behind. */
static void
reseal(unsigned char *memory)
{
	uint64_t hash = UINT64_C(0xcbf29ce484222325);

	for (size_t i = AT_VERSION; i < AT_CHECKSUM; i++)
		hash = (hash ^ memory[i]) * UINT64_C(0x100000001b3);
	put64(memory, AT_CHECKSUM, hash);
}

START_TEST(attach_rejects_bad_segments)
{
	size_t size = circuits_segment_size();
	unsigned char *memory = valid_segment(false);
	unsigned char *pristine = malloc(size);

	memcpy(pristine, memory, size);
	ck_assert_int_eq(attach_circuit(memory, size), 0);
	memcpy(memory, pristine, size);

	/* Truncated, NULL, misaligned. */
	ck_assert_int_eq(attach_circuit(memory, size - 1),
			 CIRCUITS_E_TOO_SMALL);
	ck_assert_int_eq(attach_circuit(memory, 0), CIRCUITS_E_TOO_SMALL);
	ck_assert_int_eq(attach_circuit(NULL, size), CIRCUITS_E_NULL);
	ck_assert_int_eq(attach_circuit(memory + 8, size - 8),
			 CIRCUITS_E_ALIGNMENT);

	/* All zero: a segment whose creator has not published it. */
	memset(memory, 0, size);
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_NOT_READY);

	/* Header fields, one at a time (offsets of struct segment_header in
	 * src/shm.c: magic 0, version 8, kind 12, size 16, threshold 24,
	 * base 32, max 40, factor 48, jitter 56, checksum 64). */
	memcpy(memory, pristine, size);
	memory[0] ^= 1;
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_MAGIC);
	memcpy(memory, pristine, size);
	memory[8] ^= 1;
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_VERSION);
	for (int offset = 12; offset < 72; offset += 4) {
		memcpy(memory, pristine, size);
		memory[offset] ^= 0x40;
		ck_assert_int_eq(attach_circuit(memory, size),
				 CIRCUITS_E_BAD_CHECKSUM);
	}
	/* The configuration line the operations read (segment offset 128 +
	 * 64: threshold) must agree with the header: a zero threshold there
	 * would divide by zero. */
	memcpy(memory, pristine, size);
	memset(memory + 192, 0, 8);
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_CONFIG);

	/* Header fields changed and resealed: the checksum passes, the field
	 * itself is refused. */
	memcpy(memory, pristine, size);
	put64(memory, AT_THRESHOLD, 0);
	reseal(memory);
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_CONFIG);
	memcpy(memory, pristine, size);
	put64(memory, AT_THRESHOLD, UINT64_C(1) << 32);
	reseal(memory);
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_CONFIG);
	memcpy(memory, pristine, size);
	{
		double nan = __builtin_nan(""), half = 0.5, big = 1.5;

		memcpy(memory + AT_FACTOR, &nan, sizeof nan);
		reseal(memory);
		ck_assert_int_eq(attach_circuit(memory, size),
				 CIRCUITS_E_BAD_CONFIG);
		memcpy(memory, pristine, size);
		memcpy(memory + AT_FACTOR, &half, sizeof half);
		reseal(memory);
		ck_assert_int_eq(attach_circuit(memory, size),
				 CIRCUITS_E_BAD_CONFIG);
		memcpy(memory, pristine, size);
		memcpy(memory + AT_JITTER, &big, sizeof big);
		reseal(memory);
		ck_assert_int_eq(attach_circuit(memory, size),
				 CIRCUITS_E_BAD_CONFIG);
	}
	memcpy(memory, pristine, size);
	memory[AT_KIND] = 7;
	reseal(memory);
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_CONFIG);
	memcpy(memory, pristine, size);
	put64(memory, AT_SIZE, get64(memory, AT_SIZE) + 64);
	reseal(memory);
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_VERSION);
	/* A valid header over a configuration line that disagrees with it. */
	memcpy(memory, pristine, size);
	put64(memory, AT_STATE_THRESHOLD, 5);
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_CONFIG);

	/* The hot line: states no live circuit can be in. */
	memcpy(memory, pristine, size);
	put64(memory, AT_WORD, get64(memory, AT_WORD) | (UINT64_C(1) << 63));
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_STATE);
	memcpy(memory, pristine, size);
	put64(memory, AT_SEQ_FLOOR, 12345); /* 12345 trips ahead of seq 0 */
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_BAD_STATE);
	/* A floor behind the word by less than 2^15 is a live state: the
	 * trips of callers that have not finished yet. */
	memcpy(memory, pristine, size);
	{
		circuits_circuit_t live;

		ck_assert_int_eq(circuits_circuit_attach_segment(&live, memory,
								 size),
				 0);
		circuits_circuit_set_sleeper(&live, no_sleep, NULL);
		for (int i = 0; i < 100; i++)
			circuits_circuit_trip(&live);
		put64(memory, AT_SEQ_FLOOR, 3);
		ck_assert_int_eq(attach_circuit(memory, size), 0);
		ck_assert_uint_eq(circuits_circuit_total_trips(&live), 101);
	}

	/* The other kind. */
	free(pristine);
	munmap(memory, size);
	memory = valid_segment(true);
	ck_assert_int_eq(attach_circuit(memory, size), CIRCUITS_E_WRONG_KIND);
	ck_assert_int_eq(attach_breaking(memory, size), 0);
	/* A closed breaking circuit's count is stored offset by 2^34 - N: a
	 * count field below that (here 0) is no state it can be in. */
	{
		uint64_t word = get64(memory, AT_WORD);

		put64(memory, AT_WORD, word & ~((UINT64_C(1) << 34) - 1));
		ck_assert_int_eq(attach_breaking(memory, size),
				 CIRCUITS_E_BAD_STATE);
		/* The same count while broken (seq odd) is a live state. */
		put64(memory, AT_WORD,
		      (word & ~((UINT64_C(1) << 34) - 1)) |
			      (UINT64_C(1) << 34));
		ck_assert_int_eq(attach_breaking(memory, size), 0);
	}
	munmap(memory, size);
}
END_TEST

static bool
known_attach_error(int rc)
{
	switch (rc) {
	case CIRCUITS_E_BAD_MAGIC:
	case CIRCUITS_E_BAD_VERSION:
	case CIRCUITS_E_BAD_CHECKSUM:
	case CIRCUITS_E_BAD_CONFIG:
	case CIRCUITS_E_NOT_READY:
	case CIRCUITS_E_WRONG_KIND:
	case CIRCUITS_E_BAD_STATE:
		return true;
	default:
		return false;
	}
}

START_TEST(attach_random_bytes_never_crashes)
{
	size_t size = circuits_segment_size();
	unsigned char *memory = valid_segment(false);
	unsigned char *pristine = malloc(size);
	uint64_t seed = 12345;
	long rounds = scaled(20000), attached = 0;

	memcpy(pristine, memory, size);
	for (long r = 0; r < rounds; r++) {
		size_t flips, length;

		/* Half the rounds: pure random bytes; the other half: a valid
		 * segment with a few random bytes changed. */
		if (r % 2 == 0) {
			for (size_t i = 0; i < size; i++) {
				seed = seed * UINT64_C(6364136223846793005) + 1;
				memory[i] = (unsigned char)(seed >> 56);
			}
		} else {
			memcpy(memory, pristine, size);
			seed = seed * UINT64_C(6364136223846793005) + 1;
			flips = 1 + (seed >> 60);
			for (size_t i = 0; i < flips; i++) {
				seed = seed * UINT64_C(6364136223846793005) + 1;
				memory[(seed >> 33) % size] ^=
					(unsigned char)(seed >> 17);
			}
		}
		seed = seed * UINT64_C(6364136223846793005) + 1;
		length = (seed >> 40) % 4 == 0 ? (seed >> 20) % (size + 1) : size;
		for (int kind = 0; kind < 2; kind++) {
			/* Both kinds see the same bytes; attach may change the
			 * state, so each starts from a copy. */
			_Alignas(CIRCUITS_CACHE_LINE) unsigned char copy[512];
			int rc;

			ck_assert_uint_le(size, sizeof copy);
			memcpy(copy, memory, size);
			rc = kind == 0 ? attach_circuit(copy, length)
				       : attach_breaking(copy, length);
			if (length < size)
				ck_assert_int_eq(rc, CIRCUITS_E_TOO_SMALL);
			else if (r % 2 == 0 &&
				 get64(memory, AT_MAGIC) != 0)
				/* 64 random bits are never the magic. */
				ck_assert_int_eq(rc, CIRCUITS_E_BAD_MAGIC);
			else if (rc == 0)
				attached++;
			else
				ck_assert(known_attach_error(rc));
		}
	}
	/* Some changes land in bytes attach cannot check (the count, the
	 * level), or in padding: those segments attach, and ran operations
	 * without crashing. */
	ck_assert_int_gt(attached, 0);
	free(pristine);
	munmap(memory, size);
}
END_TEST

/*
 * Attaching to segments that other processes are using: a live circuit is
 * never refused.  A child process runs threads that trip a Circuit (N = 1,
 * so every short moves the transition count and seq_floor) and break and
 * reset a BreakingCircuit as fast as they can; the parent attaches to both
 * segments over and over meanwhile.  Every attach must succeed: the hot-line
 * checks hold at every instant of a live circuit, however far the floor and
 * the word move between the two loads that read them.  More threads than
 * cores, so that the parent is preempted between those loads now and then.
 */
enum { LIVE_THREADS = 4 };

struct live_area {
	uint64_t stop;
	uint64_t started;
};

struct live_worker {
	circuits_circuit_t *circuit;
	circuits_breaking_t *breaker;
	struct live_area *area;
	int index;
};

static void *
live_worker_run(void *arg)
{
	struct live_worker *w = arg;

	__atomic_fetch_add(&w->area->started, 1, __ATOMIC_SEQ_CST);
	for (uint64_t i = 0;
	     !__atomic_load_n(&w->area->stop, __ATOMIC_ACQUIRE); i++) {
		if (w->index % 2 == 0) {
			circuits_circuit_short(w->circuit);
			if (i % 64 == 0)
				circuits_circuit_reset_backoff(w->circuit);
		} else if (circuits_breaking_short(w->breaker) !=
			   CIRCUITS_COUNTED) {
			circuits_breaking_reset(w->breaker);
		}
	}
	return NULL;
}

START_TEST(attach_while_in_use)
{
	size_t size = circuits_segment_size();
	void *circuit_memory = map_shared(size);
	void *breaker_memory = map_shared(size);
	struct live_area *area = map_shared(sizeof *area);
	circuits_circuit_t circuit;
	circuits_breaking_t breaker;
	circuits_config_t config;
	long attaches = scaled(300000);
	long refused = 0;
	int status, last_error = 0;
	pid_t child;

	circuits_config_init(&config, 1);
	ck_assert_int_eq(circuits_circuit_init_segment(&circuit,
						       circuit_memory, size,
						       &config),
			 0);
	config.num_shorts_to_trip = 3;
	ck_assert_int_eq(circuits_breaking_init_segment(&breaker,
							breaker_memory, size,
							&config),
			 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pthread_t threads[LIVE_THREADS];
		struct live_worker workers[LIVE_THREADS];

		circuits_circuit_set_sleeper(&circuit, no_sleep, NULL);
		circuits_breaking_set_sleeper(&breaker, no_sleep, NULL);
		for (int t = 0; t < LIVE_THREADS; t++) {
			workers[t] = (struct live_worker){&circuit, &breaker,
							  area, t};
			if (pthread_create(&threads[t], NULL, live_worker_run,
					   &workers[t]) != 0)
				_exit(1);
		}
		for (int t = 0; t < LIVE_THREADS; t++)
			pthread_join(threads[t], NULL);
		_exit(0);
	}
	while (__atomic_load_n(&area->started, __ATOMIC_SEQ_CST) <
	       LIVE_THREADS)
		sched_yield();
	for (long i = 0; i < attaches; i++) {
		circuits_circuit_t c;
		circuits_breaking_t b;
		int rc = circuits_circuit_attach_segment(&c, circuit_memory,
							 size);

		if (rc == 0)
			rc = circuits_breaking_attach_segment(&b, breaker_memory,
							      size);
		if (rc != 0) {
			refused++;
			last_error = rc;
		}
	}
	__atomic_store_n(&area->stop, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fprintf(stderr,
		"attach_while_in_use: %ld attaches of each kind, %llu trips "
		"meanwhile, %ld refused\n",
		attaches,
		(unsigned long long)circuits_circuit_total_trips(&circuit),
		refused);
	ck_assert_msg(refused == 0, "%ld of %ld attaches of a live circuit "
		      "refused, the last with %s", refused, attaches,
		      circuits_strerror(last_error));
	munmap(circuit_memory, size);
	munmap(breaker_memory, size);
	munmap(area, sizeof *area);
}
END_TEST

/* --- named segments ----------------------------------------------------- */

START_TEST(named_create_attach_errors)
{
	circuits_circuit_t first, second;
	circuits_breaking_t breaker;
	circuits_config_t config;
	char name[64];

	unique_name(name, sizeof name, "named");
	circuits_config_init(&config, 2);
	ck_assert_int_eq(circuits_circuit_open_shared(&first, name,
						      CIRCUITS_SHM_ATTACH,
						      NULL, 0),
			 CIRCUITS_E_NOT_FOUND);
	ck_assert_int_eq(circuits_circuit_open_shared(&first, name,
						      CIRCUITS_SHM_CREATE,
						      NULL, 0),
			 CIRCUITS_E_NULL);
	ck_assert_int_eq(circuits_circuit_open_shared(&first, name,
						      CIRCUITS_SHM_CREATE,
						      &config, 0),
			 0);
	ck_assert_int_eq(circuits_circuit_open_shared(&second, name,
						      CIRCUITS_SHM_CREATE,
						      &config, 0),
			 CIRCUITS_E_EXISTS);
	/* Open-or-create attaches to the existing one, ignoring its own
	 * configuration. */
	config.num_shorts_to_trip = 99;
	ck_assert_int_eq(circuits_circuit_open_shared(
				 &second, name, CIRCUITS_SHM_OPEN_OR_CREATE,
				 &config, 0),
			 0);
	circuits_circuit_short(&first);
	ck_assert_uint_eq(circuits_circuit_times_shorted(&second), 1);
	ck_assert_int_eq(circuits_breaking_open_shared(&breaker, name,
						       CIRCUITS_SHM_ATTACH,
						       NULL, 0),
			 CIRCUITS_E_WRONG_KIND);
	ck_assert_int_eq(circuits_circuit_detach(&second), 0);
	ck_assert_int_eq(circuits_circuit_detach(&first), 0);
	ck_assert_int_eq(circuits_circuit_detach(&first), CIRCUITS_E_NULL);
	ck_assert_int_eq(circuits_shared_unlink(name), 0);
	ck_assert_int_eq(circuits_shared_unlink(name), CIRCUITS_E_NOT_FOUND);

	/* Names. */
	ck_assert_int_eq(circuits_circuit_open_shared(&first, "no-slash",
						      CIRCUITS_SHM_CREATE,
						      &config, 0),
			 CIRCUITS_E_NAME);
	ck_assert_int_eq(circuits_circuit_open_shared(&first, "/a/b",
						      CIRCUITS_SHM_CREATE,
						      &config, 0),
			 CIRCUITS_E_NAME);
	ck_assert_int_eq(circuits_circuit_open_shared(&first, "/",
						      CIRCUITS_SHM_CREATE,
						      &config, 0),
			 CIRCUITS_E_NAME);
	ck_assert_int_eq(circuits_shared_unlink("x"), CIRCUITS_E_NAME);
	/* An invalid configuration creates nothing. */
	config.backoff_factor = 0.5;
	ck_assert_int_eq(circuits_circuit_open_shared(&first, name,
						      CIRCUITS_SHM_CREATE,
						      &config, 0),
			 CIRCUITS_E_FACTOR_BELOW_ONE);
	ck_assert_int_eq(circuits_shared_unlink(name), CIRCUITS_E_NOT_FOUND);
}
END_TEST

START_TEST(named_permissions)
{
	circuits_circuit_t circuit;
	circuits_config_t config;
	char name[64], path[128];
	struct stat info;
	mode_t old_umask = umask(077);

	circuits_config_init(&config, 2);
	unique_name(name, sizeof name, "mode");
	snprintf(path, sizeof path, "/dev/shm%s", name);

	/* Default: 0600. */
	ck_assert_int_eq(circuits_circuit_open_shared(&circuit, name,
						      CIRCUITS_SHM_CREATE,
						      &config, 0),
			 0);
	ck_assert_int_eq(stat(path, &info), 0);
	ck_assert_uint_eq(info.st_mode & 0777, 0600);
	circuits_circuit_detach(&circuit);
	circuits_shared_unlink(name);

	/* A chosen mode is honoured even though the umask would strip it. */
	ck_assert_int_eq(circuits_circuit_open_shared(&circuit, name,
						      CIRCUITS_SHM_CREATE,
						      &config, 0640),
			 0);
	ck_assert_int_eq(stat(path, &info), 0);
	ck_assert_uint_eq(info.st_mode & 0777, 0640);
	circuits_circuit_detach(&circuit);
	circuits_shared_unlink(name);
	umask(old_umask);
}
END_TEST

/* A segment whose creator sized it but has not published it is "not ready";
 * one that exists with size 0 too (the creator has not sized it yet). */
START_TEST(named_not_ready)
{
	circuits_circuit_t circuit;
	char name[64];
	int fd;

	unique_name(name, sizeof name, "ready");
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(circuits_circuit_open_shared(&circuit, name,
						      CIRCUITS_SHM_ATTACH,
						      NULL, 0),
			 CIRCUITS_E_NOT_READY);
	ck_assert_int_eq(ftruncate(fd, (off_t)circuits_segment_size()), 0);
	ck_assert_int_eq(circuits_circuit_open_shared(&circuit, name,
						      CIRCUITS_SHM_ATTACH,
						      NULL, 0),
			 CIRCUITS_E_NOT_READY);
	ck_assert_int_eq(ftruncate(fd, 16), 0);
	ck_assert_int_eq(circuits_circuit_open_shared(&circuit, name,
						      CIRCUITS_SHM_ATTACH,
						      NULL, 0),
			 CIRCUITS_E_TOO_SMALL);
	close(fd);
	circuits_shared_unlink(name);
}
END_TEST

/* --- fork --------------------------------------------------------------- */

/* Parent and child see each other's shorts on an inherited circuit, and
 * their default random sources differ after fork(): their jittered sleeps
 * for the same trip differ. */
START_TEST(fork_inherits_and_jitter_differs)
{
	void *memory = map_shared(circuits_segment_size());
	struct results *results = map_shared(sizeof *results);
	circuits_circuit_t circuit;
	circuits_config_t config;
	uint64_t parent_owed[8], same = 0;
	pid_t child;

	circuits_config_init(&config, 1);
	config.sleep_time_after_trip = CIRCUITS_SECONDS(1);
	config.jitter = 0.5;
	ck_assert_int_eq(circuits_circuit_init_segment(
				 &circuit, memory, circuits_segment_size(),
				 &config),
			 0);
	/* Draw once in the parent so its generator is seeded before fork. */
	circuits_circuit_trip_nb(&circuit, &parent_owed[0]);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		for (int i = 0; i < 8; i++)
			circuits_circuit_trip_nb(&circuit, &results->owed[i]);
		_exit(0);
	}
	wait_all(&child, 1);
	/* The child's trips are visible here. */
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 9);
	for (int i = 0; i < 8; i++) {
		circuits_circuit_trip_nb(&circuit, &parent_owed[i]);
		if (parent_owed[i] == results->owed[i])
			same++;
		ck_assert_uint_ge(results->owed[i], CIRCUITS_SECONDS(1) / 2);
		ck_assert_uint_le(results->owed[i], CIRCUITS_SECONDS(10));
	}
	ck_assert_uint_eq(same, 0);
	ck_assert_uint_eq(circuits_circuit_total_trips(&circuit), 17);
	munmap(memory, circuits_segment_size());
	munmap(results, sizeof *results);
}
END_TEST

static Suite *
shm_suite(void)
{
	Suite *suite = suite_create("shm");
	TCase *basic = tcase_create("segments");
	TCase *processes = tcase_create("processes");

	tcase_add_test(basic, attach_rejects_bad_segments);
	tcase_add_test(basic, attach_random_bytes_never_crashes);
	tcase_add_test(basic, named_create_attach_errors);
	tcase_add_test(basic, named_permissions);
	tcase_add_test(basic, named_not_ready);
	tcase_add_test(processes, exact_totals_fork_inherited);
	tcase_add_test(processes, exact_totals_named);
	tcase_add_test(processes, coordinated_shutdown);
	tcase_add_test(processes, crash_survival);
	tcase_add_test(processes, attach_while_in_use);
	tcase_add_test(processes, fork_inherits_and_jitter_differs);
	suite_add_tcase(suite, basic);
	suite_add_tcase(suite, processes);
	return suite;
}

int
main(void)
{
	SRunner *runner = srunner_create(shm_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
