/*
 * shm.c - circuits in memory shared between processes.
 *
 * A segment is a header followed by the circuit's state:
 *
 *   offset   0  struct segment_header (magic, version, kind, size,
 *               configuration, checksum), padded to two cache lines
 *   offset 128  struct circuits_state (hot line, then configuration line)
 *
 * Creation fills everything and computes the checksum with the magic still 0,
 * then publishes the magic with a release store.  Attaching loads the magic
 * with acquire (pairing with that store), so once it sees the magic it sees
 * the whole segment.  Attaching then checks every field, and that the
 * configuration line the operations read agrees with the header, so no byte
 * pattern can make an operation divide by zero or read out of bounds.
 *
 * Nothing here is on an operation's path: once attached, a handle works on
 * the shared state exactly as on its own memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SEGMENT_MAGIC UINT64_C(0x3153544955435243) /* "CRCUITS1" */
#define SEGMENT_VERSION 1u
#define HEADER_BYTES 128
#define SEGMENT_BYTES (HEADER_BYTES + sizeof(struct circuits_state))
#define NAME_MAX_CHARS 250
/* OPEN_OR_CREATE waits this long for a creator to finish. */
#define READY_WAIT_STEPS 1000
#define READY_WAIT_STEP_NS 1000000

struct segment_header {
	uint64_t magic; /* 0 until the segment is complete */
	uint32_t version;
	uint32_t kind;
	uint64_t size;
	uint64_t threshold;
	uint64_t base;
	uint64_t max_sleep;
	uint64_t factor_bits; /* the doubles' bit patterns */
	uint64_t jitter_bits;
	uint64_t checksum; /* FNV-1a of version .. jitter_bits */
};

_Static_assert(sizeof(struct segment_header) <= HEADER_BYTES,
	       "header must fit before the state");
_Static_assert(HEADER_BYTES % CIRCUITS_CACHE_LINE == 0,
	       "state must start on a cache line");

/* The parts of a handle, which has the same shape for both kinds. */
struct handle_parts {
	struct circuits_hooks *hooks;
	struct circuits_state **state;
	void **mapping;
};

static uint64_t
header_checksum(const struct segment_header *header)
{
	const unsigned char *byte = (const unsigned char *)&header->version;
	const unsigned char *end = (const unsigned char *)&header->checksum;
	uint64_t hash = UINT64_C(0xcbf29ce484222325);

	for (; byte < end; byte++)
		hash = (hash ^ *byte) * UINT64_C(0x100000001b3);
	return hash;
}

static void
header_config(const struct segment_header *header, circuits_config_t *config)
{
	config->num_shorts_to_trip = (uint32_t)header->threshold;
	config->sleep_time_after_trip = header->base;
	config->max_sleep_time = header->max_sleep;
	memcpy(&config->backoff_factor, &header->factor_bits, sizeof(double));
	memcpy(&config->jitter, &header->jitter_bits, sizeof(double));
}

static struct circuits_state *
segment_state(void *segment)
{
	return (struct circuits_state *)((char *)segment + HEADER_BYTES);
}

size_t
circuits_segment_size(void)
{
	return SEGMENT_BYTES;
}

static int
check_region(const void *segment, size_t size)
{
	if (segment == NULL)
		return CIRCUITS_E_NULL;
	if ((uintptr_t)segment % CIRCUITS_CACHE_LINE != 0)
		return CIRCUITS_E_ALIGNMENT;
	if (size < SEGMENT_BYTES)
		return CIRCUITS_E_TOO_SMALL;
	return CIRCUITS_OK;
}

static void
bind(struct handle_parts parts, void *segment, void *mapping)
{
	circuits__hooks_init(parts.hooks);
	*parts.state = segment_state(segment);
	*parts.mapping = mapping;
}

static int
init_segment(struct handle_parts parts, void *segment, size_t size,
	     const circuits_config_t *config, uint32_t kind)
{
	struct segment_header *header = segment;
	int rc = check_region(segment, size);

	if (rc == CIRCUITS_OK)
		rc = circuits_config_validate(config);
	if (rc != CIRCUITS_OK)
		return rc;
	memset(segment, 0, SEGMENT_BYTES);
	circuits__state_init(segment_state(segment), config, kind);
	header->version = SEGMENT_VERSION;
	header->kind = kind;
	header->size = SEGMENT_BYTES;
	header->threshold = config->num_shorts_to_trip;
	header->base = config->sleep_time_after_trip;
	header->max_sleep = config->max_sleep_time;
	memcpy(&header->factor_bits, &config->backoff_factor, sizeof(double));
	memcpy(&header->jitter_bits, &config->jitter, sizeof(double));
	header->checksum = header_checksum(header);
	/* Release: publishes every byte written above to attachers, whose
	 * acquire load of the magic pairs with it. */
	circuits__store_release(&header->magic, SEGMENT_MAGIC);
	bind(parts, segment, NULL);
	return CIRCUITS_OK;
}

/*
 * Whether the hot line holds a state that a live circuit can be in.  A
 * checksum cannot cover it (the word changes with every short), but three
 * properties hold at every instant of a live circuit, whatever operations
 * run meanwhile, so checking them never refuses a good segment:
 *   - bit 63 of the word is 0;
 *   - a closed breaking circuit's count is at least reset_count: it starts
 *     there, shorts only add to it and reset() restores it;
 *   - the transition count is ahead of seq_floor by less than 2^15
 *     (state.h), never behind it.
 * A word failing the second would decode to a count of nearly 2^64 and take
 * about 2^34 shorts to break; a floor failing the third would make
 * total_trips wrong, and the next trip would raise the floor to that wrong
 * count for good.  A hot line corrupted into some other state a circuit can
 * be in cannot be told from one, and is taken as it is.
 *
 * The third needs the floor and the word at one instant, and they are two
 * loads: circuits__read_floors() reads floor (before), word, floor (after).
 * The floor only grows, so at the instant the word was read it
 * lay in [before, after], and the count was ahead of it by less than 2^15:
 * ahead of before by less than 2^15 + (after - before).  That bound is
 * exact when the floor did not move, and below 2^16 (so the 16-bit seq
 * shows the distance as it is) since after - before < 2^15.
 */
static bool
hot_line_consistent(struct circuits_state *state)
{
	uint64_t before, word, after, seq;

	/* Not circuits__read(): that may raise the floor, and attach must
	 * write nothing into a segment it may refuse. */
	circuits__read_floors(state, &before, &word, &after);
	seq = circuits__logical_seq(state, word);

	if ((word >> 63) != 0)
		return false;
	if (state->kind == CIRCUITS__KIND_BREAKING && (seq & 1) == 0 &&
	    circuits__word_count(word) < state->reset_count)
		return false;
	return ((seq - before) & CIRCUITS__SEQ_MASK) <
	       CIRCUITS__SEQ_SPAN / 2 + (after - before);
}

static int
attach_segment(struct handle_parts parts, void *segment, size_t size,
	       uint32_t kind, void *mapping)
{
	struct segment_header *header = segment;
	struct circuits_state expected;
	const struct circuits_state *state;
	circuits_config_t config;
	uint64_t magic;
	int rc = check_region(segment, size);

	if (rc != CIRCUITS_OK)
		return rc;
	/* Acquire: pairs with the creator's release store of the magic. */
	magic = circuits__load_acquire(&header->magic);
	if (magic == 0)
		return CIRCUITS_E_NOT_READY;
	if (magic != SEGMENT_MAGIC)
		return CIRCUITS_E_BAD_MAGIC;
	if (header->version != SEGMENT_VERSION)
		return CIRCUITS_E_BAD_VERSION;
	if (header->checksum != header_checksum(header))
		return CIRCUITS_E_BAD_CHECKSUM;
	if (header->size != SEGMENT_BYTES)
		return CIRCUITS_E_BAD_VERSION;
	if (header->kind != CIRCUITS__KIND_CIRCUIT &&
	    header->kind != CIRCUITS__KIND_BREAKING)
		return CIRCUITS_E_BAD_CONFIG;
	if (header->kind != kind)
		return CIRCUITS_E_WRONG_KIND;
	header_config(header, &config);
	if (header->threshold > UINT32_MAX ||
	    circuits_config_validate(&config) != CIRCUITS_OK)
		return CIRCUITS_E_BAD_CONFIG;
	/* The operations read the state's own configuration line: it must be
	 * exactly what the header describes. */
	circuits__state_init(&expected, &config, kind);
	state = segment_state(segment);
	if (state->threshold != expected.threshold ||
	    state->base != expected.base ||
	    state->ceiling != expected.ceiling ||
	    state->max_sleep != expected.max_sleep ||
	    memcmp(&state->factor, &expected.factor, sizeof(double)) != 0 ||
	    memcmp(&state->jitter, &expected.jitter, sizeof(double)) != 0 ||
	    state->reset_count != expected.reset_count ||
	    state->ceiling_level != expected.ceiling_level ||
	    state->kind != expected.kind)
		return CIRCUITS_E_BAD_CONFIG;
	if (!hot_line_consistent(segment_state(segment)))
		return CIRCUITS_E_BAD_STATE;
	bind(parts, segment, mapping);
	return CIRCUITS_OK;
}

static int
check_name(const char *name)
{
	size_t length;

	if (name == NULL)
		return CIRCUITS_E_NULL;
	length = strlen(name);
	if (name[0] != '/' || length < 2 || length > NAME_MAX_CHARS + 1 ||
	    strchr(name + 1, '/') != NULL)
		return CIRCUITS_E_NAME;
	return CIRCUITS_OK;
}

static int
system_error(int fd)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	errno = saved;
	return CIRCUITS_E_SYSTEM;
}

/* Creates the named segment.  CIRCUITS_E_EXISTS when the name is taken. */
static int
create_named(struct handle_parts parts, const char *name,
	     const circuits_config_t *config, mode_t mode, uint32_t kind)
{
	void *mapping;
	int rc, fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, mode);

	if (fd < 0)
		return errno == EEXIST ? CIRCUITS_E_EXISTS : system_error(-1);
	/* shm_open applies the umask; the caller's mode is the contract. */
	if (fchmod(fd, mode) != 0 || ftruncate(fd, SEGMENT_BYTES) != 0) {
		shm_unlink(name);
		return system_error(fd);
	}
	mapping = mmap(NULL, SEGMENT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (mapping == MAP_FAILED) {
		shm_unlink(name);
		return system_error(fd);
	}
	close(fd);
	rc = init_segment(parts, mapping, SEGMENT_BYTES, config, kind);
	if (rc != CIRCUITS_OK) {
		munmap(mapping, SEGMENT_BYTES);
		shm_unlink(name);
		return rc;
	}
	*parts.mapping = mapping;
	return CIRCUITS_OK;
}

/* Attaches to the named segment.  CIRCUITS_E_NOT_FOUND when absent. */
static int
attach_named(struct handle_parts parts, const char *name, uint32_t kind)
{
	struct stat info;
	void *mapping;
	int rc, fd = shm_open(name, O_RDWR, 0);

	if (fd < 0)
		return errno == ENOENT ? CIRCUITS_E_NOT_FOUND
				       : system_error(-1);
	if (fstat(fd, &info) != 0)
		return system_error(fd);
	if (info.st_size < (off_t)SEGMENT_BYTES) {
		close(fd);
		/* Size 0: the creator has not sized it yet. */
		return info.st_size == 0 ? CIRCUITS_E_NOT_READY
					 : CIRCUITS_E_TOO_SMALL;
	}
	mapping = mmap(NULL, SEGMENT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (mapping == MAP_FAILED)
		return system_error(fd);
	close(fd);
	rc = attach_segment(parts, mapping, SEGMENT_BYTES, kind, mapping);
	if (rc != CIRCUITS_OK)
		munmap(mapping, SEGMENT_BYTES);
	return rc;
}

static int
open_shared(struct handle_parts parts, const char *name, int flags,
	    const circuits_config_t *config, mode_t mode, uint32_t kind)
{
	const struct timespec step = {0, READY_WAIT_STEP_NS};
	bool create = (flags & CIRCUITS_SHM_CREATE) != 0;
	bool attach = (flags & CIRCUITS_SHM_ATTACH) != 0;
	int rc = check_name(name), waits = 0;

	if (rc != CIRCUITS_OK)
		return rc;
	if (!create && !attach)
		return CIRCUITS_E_NULL;
	if (create && (rc = circuits_config_validate(config)) != CIRCUITS_OK)
		return rc;
	if (mode == 0)
		mode = 0600;
	for (;;) {
		if (create) {
			rc = create_named(parts, name, config, mode, kind);
			if (rc != CIRCUITS_E_EXISTS || !attach)
				return rc;
		}
		rc = attach_named(parts, name, kind);
		if (rc == CIRCUITS_E_NOT_FOUND && create)
			continue; /* unlinked between our two calls */
		if (rc != CIRCUITS_E_NOT_READY || !(create && attach) ||
		    ++waits > READY_WAIT_STEPS)
			return rc;
		nanosleep(&step, NULL);
	}
}

static int
detach(struct handle_parts parts)
{
	if (*parts.mapping == NULL)
		return CIRCUITS_E_NULL;
	if (munmap(*parts.mapping, SEGMENT_BYTES) != 0)
		return CIRCUITS_E_SYSTEM;
	*parts.mapping = NULL;
	*parts.state = NULL;
	return CIRCUITS_OK;
}

int
circuits_shared_unlink(const char *name)
{
	int rc = check_name(name);

	if (rc != CIRCUITS_OK)
		return rc;
	if (shm_unlink(name) != 0)
		return errno == ENOENT ? CIRCUITS_E_NOT_FOUND
				       : CIRCUITS_E_SYSTEM;
	return CIRCUITS_OK;
}

#define CIRCUIT_PARTS(h)                                                       \
	((struct handle_parts){&(h)->hooks, &(h)->state, &(h)->mapping})

int
circuits_circuit_init_segment(circuits_circuit_t *circuit, void *segment,
			      size_t size, const circuits_config_t *config)
{
	if (circuit == NULL)
		return CIRCUITS_E_NULL;
	return init_segment(CIRCUIT_PARTS(circuit), segment, size, config,
			    CIRCUITS__KIND_CIRCUIT);
}

int
circuits_circuit_attach_segment(circuits_circuit_t *circuit, void *segment,
				size_t size)
{
	if (circuit == NULL)
		return CIRCUITS_E_NULL;
	return attach_segment(CIRCUIT_PARTS(circuit), segment, size,
			      CIRCUITS__KIND_CIRCUIT, NULL);
}

int
circuits_breaking_init_segment(circuits_breaking_t *breaker, void *segment,
			       size_t size, const circuits_config_t *config)
{
	if (breaker == NULL)
		return CIRCUITS_E_NULL;
	return init_segment(CIRCUIT_PARTS(breaker), segment, size, config,
			    CIRCUITS__KIND_BREAKING);
}

int
circuits_breaking_attach_segment(circuits_breaking_t *breaker, void *segment,
				 size_t size)
{
	if (breaker == NULL)
		return CIRCUITS_E_NULL;
	return attach_segment(CIRCUIT_PARTS(breaker), segment, size,
			      CIRCUITS__KIND_BREAKING, NULL);
}

int
circuits_circuit_open_shared(circuits_circuit_t *circuit, const char *name,
			     int flags, const circuits_config_t *config,
			     mode_t mode)
{
	if (circuit == NULL)
		return CIRCUITS_E_NULL;
	return open_shared(CIRCUIT_PARTS(circuit), name, flags, config, mode,
			   CIRCUITS__KIND_CIRCUIT);
}

int
circuits_breaking_open_shared(circuits_breaking_t *breaker, const char *name,
			      int flags, const circuits_config_t *config,
			      mode_t mode)
{
	if (breaker == NULL)
		return CIRCUITS_E_NULL;
	return open_shared(CIRCUIT_PARTS(breaker), name, flags, config, mode,
			   CIRCUITS__KIND_BREAKING);
}

int
circuits_circuit_detach(circuits_circuit_t *circuit)
{
	return circuit == NULL ? CIRCUITS_E_NULL
			       : detach(CIRCUIT_PARTS(circuit));
}

int
circuits_breaking_detach(circuits_breaking_t *breaker)
{
	return breaker == NULL ? CIRCUITS_E_NULL
			       : detach(CIRCUIT_PARTS(breaker));
}
