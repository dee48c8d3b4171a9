/*
 * circuits-demo - circuits protecting real HTTP calls from many processes.
 *
 * The scenario:
 *
 *   1. The demo starts its own nginx on a free port of 127.0.0.1, rate-limited
 *      with limit_req: past a low rate it answers 429, and on /retry the 429
 *      carries a Retry-After header (see demo-nginx.c).
 *   2. It maps one Circuit, one BreakingCircuit and a table of counters in
 *      anonymous MAP_SHARED memory, then forks P worker processes with T
 *      threads each.  Every thread calls the server in a loop with libcurl.
 *   3. Each throttled answer (429 or 503) is a short on the shared Circuit.
 *      Every N-th one, from whichever thread of whichever process, trips it:
 *      that caller alone sleeps, with exponential backoff and jitter, or for
 *      the server's Retry-After when it sent one.  A run of successes resets
 *      the backoff.
 *   4. Each hard failure (connection refused, timeout, connection dropped) is
 *      a short on the shared BreakingCircuit.  After a few seconds the demo
 *      stops nginx; the failures pile up, the BreakingCircuit breaks, and
 *      every thread of every process, polling circuits_breaking_broken(),
 *      finishes its current request and exits.  Backoff sleeps in progress
 *      are cut short too: each worker installs a sleeper that watches it.
 *   5. The parent prints a status line per second from the shared counters,
 *      then a summary, and exits 0 only if all of that was seen to happen.
 *
 * The counters are C11 atomics in the shared mapping, not locks: a worker
 * killed in the middle of an update can block nobody, which is the same
 * property the circuits themselves have.
 */
#include <circuits.h>

#include "demo-nginx.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Counters in shared memory must be lock-free atomics: those are address
 * free, so two processes mapping the same page at different addresses still
 * operate on one object. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2 &&
		       ATOMIC_INT_LOCK_FREE == 2,
	       "the shared counters need lock-free atomics");

#define MAX_WORKERS 64
#define MAX_THREADS 64
/* Bounds on every loop, whatever the clock does. */
#define MAX_REQUESTS_PER_THREAD 200000
#define MAX_DURATION_S 600.0

/* --- the circuits' configuration -------------------------------------- */
/* Throttled answers that trip the Circuit. */
#define TRIP_AFTER 8
/* First backoff, then x2 per trip up to the maximum, +-25% jitter. */
#define BACKOFF_BASE CIRCUITS_MILLISECONDS(50)
#define BACKOFF_FACTOR 2.0
#define BACKOFF_MAX CIRCUITS_SECONDS(2)
#define BACKOFF_JITTER 0.25
/* Successes in a row, seen by one thread, that reset the backoff. */
#define CALM_SUCCESSES 5
/* Hard failures, summed over every process, that break the
 * BreakingCircuit.  More than one, so that a single stray timeout does not
 * stop the demo; few, so that an outage is noticed in milliseconds. */
#define BREAK_AFTER 4

/* --- HTTP --------------------------------------------------------------- */
#define CONNECT_TIMEOUT_MS 1000L
#define REQUEST_TIMEOUT_MS 2000L
/* Backoff and pacing sleeps check the BreakingCircuit this often. */
#define SLEEP_SLICE_NS CIRCUITS_MILLISECONDS(5)
/* How long workers get to exit after the break before they are killed. */
#define EXIT_GRACE_NS CIRCUITS_SECONDS(5)

struct options {
	unsigned workers;
	unsigned threads;
	double outage_after;
	double duration;
	const char *url;
	unsigned rate;
	unsigned burst;
	unsigned retry_after;
	unsigned interval_ms;
	bool quiet;
};

/* One worker process's counters, on cache lines of its own so that the
 * processes do not contend on each other's counters. */
struct slot {
	_Alignas(64) _Atomic uint64_t requests;
	_Atomic uint64_t ok;	     /* 2xx and 3xx */
	_Atomic uint64_t throttled;  /* 429 and 503: Circuit shorts */
	_Atomic uint64_t hard;	     /* transport failures: breaker shorts */
	_Atomic uint64_t other;	     /* any other status; counted only */
	_Atomic uint64_t trips;	     /* Circuit trips this process won */
	_Atomic uint64_t retry_after; /* ... of which slept a Retry-After */
	_Atomic uint64_t sleeps;     /* backoff sleeps taken */
	_Atomic uint64_t slept_ns;   /* ... and their total length */
	_Atomic uint64_t exit_ns;    /* CLOCK_MONOTONIC when it finished */
	_Atomic int first_error;     /* first CURLcode other than CURLE_OK */
};

struct shared_stats {
	_Atomic uint64_t break_ns; /* CLOCK_MONOTONIC of the break; 0: none */
	_Atomic int break_pid;	   /* process whose call broke it */
	struct slot slots[MAX_WORKERS];
};

/*
 * The two circuits.  Their state lives in the shared mappings made in main();
 * these handles (hooks and a pointer to that state) are made before fork()
 * and every worker inherits a copy that points to the same shared state.
 */
static circuits_circuit_t circuit;
static circuits_breaking_t breaker;
static struct shared_stats *stats;

static volatile sig_atomic_t interrupted;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * CIRCUITS_NSEC_PER_SEC +
	       (uint64_t)ts.tv_nsec;
}

static uint64_t
ns_from_s(double seconds)
{
	return (uint64_t)(seconds * 1e9);
}

static double
ms_from_ns(uint64_t ns)
{
	return (double)ns / 1e6;
}

/*
 * Sleeps ns nanoseconds in slices, on absolute CLOCK_MONOTONIC deadlines (so
 * a signal does not lengthen the sleep), and returns early once the
 * BreakingCircuit is broken: a worker told to stop must not first sit out a
 * two-second backoff.  Returns the time actually slept.
 */
static uint64_t
sleep_unless_broken(uint64_t ns)
{
	uint64_t start = now_ns();
	uint64_t deadline = ns > UINT64_MAX - start ? UINT64_MAX : start + ns;
	uint64_t now = start;

	while (now < deadline && !circuits_breaking_broken(&breaker)) {
		uint64_t wake = deadline - now > SLEEP_SLICE_NS
					? now + SLEEP_SLICE_NS
					: deadline;
		struct timespec ts = {
			.tv_sec = (time_t)(wake / CIRCUITS_NSEC_PER_SEC),
			.tv_nsec = (long)(wake % CIRCUITS_NSEC_PER_SEC)};

		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		now = now_ns();
	}
	return now - start;
}

/* The Circuit's sleeper in every worker: the caller that tripped the circuit
 * sleeps here, and its process's counters record it. */
static void
backoff_sleeper(uint64_t ns, void *arg)
{
	struct slot *slot = arg;
	uint64_t slept = sleep_unless_broken(ns);

	atomic_fetch_add_explicit(&slot->sleeps, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&slot->slept_ns, slept,
				  memory_order_relaxed);
}

/*
 * The BreakingCircuit's trip listener: it runs once, in the process whose
 * call broke the circuit, right after the break took effect.  Other workers
 * may see the break a few microseconds before this timestamp is taken, so
 * the shutdown latency measured from it can be short by that much (a worker
 * that exited before it counts as 0 ms).
 */
static void
on_break(const circuits_trip_event_t *event, void *arg)
{
	struct shared_stats *shared = arg;

	(void)event;
	atomic_store_explicit(&shared->break_pid, (int)getpid(),
			      memory_order_relaxed);
	atomic_store_explicit(&shared->break_ns, now_ns(),
			      memory_order_release);
}

static size_t
discard_body(char *data, size_t size, size_t count, void *arg)
{
	(void)data;
	(void)arg;
	return size * count;
}

/*
 * The sleep a response's Retry-After asks for: delay-seconds (a fraction is
 * accepted too) or an HTTP-date.  circuits_ns_from_seconds() rejects what
 * strtod lets through but is no duration (negative, NaN, infinite, too
 * large).  Returns false when there is no usable header.
 */
static bool
retry_after_ns(CURL *curl, uint64_t *ns)
{
	double seconds;
#if LIBCURL_VERSION_NUM >= 0x075400 /* curl_easy_header(): 7.84.0 */
	struct curl_header *header;
	char *end;

	if (curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1,
			     &header) != CURLHE_OK)
		return false;
	seconds = strtod(header->value, &end);
	if (end == header->value) {
		time_t when = curl_getdate(header->value, NULL);

		if (when < 0)
			return false;
		seconds = difftime(when, time(NULL));
		if (seconds < 0)
			seconds = 0;
	} else {
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '\0')
			return false;
	}
#else
	/* Older libcurl parses the header itself, to whole seconds. */
	curl_off_t whole = 0;

	if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &whole) != CURLE_OK ||
	    whole <= 0)
		return false;
	seconds = (double)whole;
#endif
	return circuits_ns_from_seconds(seconds, ns) == CIRCUITS_OK;
}

/* --- worker processes --------------------------------------------------- */

struct worker_thread {
	pthread_t id;
	char url[2048 + 16]; /* the base URL and a path */
	struct slot *slot;
	uint64_t interval_ns;
	uint64_t hard_deadline;
};

static void
count(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* A throttled answer: one short on the shared Circuit, with the server's
 * Retry-After as the sleep when it sent one.  Only the short that trips the
 * circuit sleeps (in backoff_sleeper), and only that one returns TRIPPED. */
static void
on_throttled(CURL *curl, struct slot *slot)
{
	uint64_t custom;
	bool honour = retry_after_ns(curl, &custom);
	int rc;

	count(&slot->throttled); /* before a sleep, for the status line */
	rc = honour ? circuits_circuit_short_custom(&circuit, custom)
		    : circuits_circuit_short(&circuit);
	if (rc == CIRCUITS_TRIPPED) {
		count(&slot->trips);
		if (honour)
			count(&slot->retry_after);
	}
}

/* A hard failure: one short on the shared BreakingCircuit.  The short that
 * breaks it runs on_break(); every thread then sees broken and stops. */
static void
on_hard_failure(CURLcode res, struct slot *slot)
{
	int none = 0;

	count(&slot->hard);
	atomic_compare_exchange_strong(&slot->first_error, &none, (int)res);
	circuits_breaking_short(&breaker);
}

static void *
worker_thread_main(void *arg)
{
	struct worker_thread *self = arg;
	struct slot *slot = self->slot;
	unsigned calm = 0;
	CURL *curl = curl_easy_init();

	if (curl == NULL)
		return (void *)1;
	curl_easy_setopt(curl, CURLOPT_URL, self->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no alarm */
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "circuits-demo");

	/* The loop every worker thread runs until the breaker breaks. */
	for (unsigned n = 0; n < MAX_REQUESTS_PER_THREAD; n++) {
		CURLcode res;
		long status = 0;

		if (circuits_breaking_broken(&breaker) ||
		    now_ns() >= self->hard_deadline)
			break;
		res = curl_easy_perform(curl);
		count(&slot->requests);
		if (res != CURLE_OK) {
			calm = 0;
			on_hard_failure(res, slot);
			continue;
		}
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (status == 429 || status == 503) {
			calm = 0;
			on_throttled(curl, slot);
		} else if (status >= 200 && status < 400) {
			count(&slot->ok);
			if (++calm == CALM_SUCCESSES)
				circuits_circuit_reset_backoff(&circuit);
		} else {
			count(&slot->other);
		}
		sleep_unless_broken(self->interval_ns);
	}
	curl_easy_cleanup(curl);
	return NULL;
}

/* Runs in a forked worker process; returns its exit status. */
static int
worker_main(const struct options *opt, const char *base_url, unsigned index,
	    uint64_t hard_deadline)
{
	static struct worker_thread threads[MAX_THREADS];
	struct slot *slot = &stats->slots[index];
	unsigned started = 0;
	int status = 0;

	/* Hooks are per process: this one's backoff sleeps count here. */
	circuits_circuit_set_sleeper(&circuit, backoff_sleeper, slot);

	for (unsigned t = 0; t < opt->threads; t++) {
		struct worker_thread *w = &threads[t];
		/* With our nginx, every other thread asks for /retry, whose
		 * 429s carry Retry-After. */
		const char *path = opt->url != NULL ? ""
				   : (t % 2 == 1 && opt->retry_after > 0)
					   ? "/retry"
					   : "/";

		snprintf(w->url, sizeof(w->url), "%s%s", base_url, path);
		w->slot = slot;
		w->interval_ns = CIRCUITS_MILLISECONDS(opt->interval_ms);
		w->hard_deadline = hard_deadline;
		if (pthread_create(&w->id, NULL, worker_thread_main, w) != 0) {
			fprintf(stderr,
				"circuits-demo: worker %u: cannot start "
				"thread %u\n",
				index, t);
			/* Stop everyone rather than run a partial demo. */
			circuits_breaking_trip_nb(&breaker, NULL);
			status = 2;
			break;
		}
		started++;
	}
	for (unsigned t = 0; t < started; t++) {
		void *result;

		pthread_join(threads[t].id, &result);
		if (result != NULL)
			status = 2;
	}
	atomic_store_explicit(&slot->exit_ns, now_ns(), memory_order_relaxed);
	return status;
}

/* --- the parent --------------------------------------------------------- */

struct totals {
	uint64_t requests, ok, throttled, hard, other;
	uint64_t trips, retry_after, sleeps, slept_ns;
};

static void
add_slot(struct totals *t, struct slot *s)
{
	t->requests += atomic_load_explicit(&s->requests, memory_order_relaxed);
	t->ok += atomic_load_explicit(&s->ok, memory_order_relaxed);
	t->throttled +=
		atomic_load_explicit(&s->throttled, memory_order_relaxed);
	t->hard += atomic_load_explicit(&s->hard, memory_order_relaxed);
	t->other += atomic_load_explicit(&s->other, memory_order_relaxed);
	t->trips += atomic_load_explicit(&s->trips, memory_order_relaxed);
	t->retry_after +=
		atomic_load_explicit(&s->retry_after, memory_order_relaxed);
	t->sleeps += atomic_load_explicit(&s->sleeps, memory_order_relaxed);
	t->slept_ns +=
		atomic_load_explicit(&s->slept_ns, memory_order_relaxed);
}

static struct totals
sum_slots(unsigned workers)
{
	struct totals t = {0};

	for (unsigned i = 0; i < workers; i++)
		add_slot(&t, &stats->slots[i]);
	return t;
}

static void
print_status(double elapsed, unsigned workers)
{
	struct totals t = sum_slots(workers);

	printf("%5.1fs  requests %7llu  ok %6llu  throttled %7llu  "
	       "trips %5llu  backoff %5.0f ms  broken %s\n",
	       elapsed, (unsigned long long)t.requests,
	       (unsigned long long)t.ok, (unsigned long long)t.throttled,
	       (unsigned long long)circuits_circuit_total_trips(&circuit),
	       ms_from_ns(circuits_circuit_current_sleep_time(&circuit)),
	       circuits_breaking_broken(&breaker) ? "YES" : "no");
	fflush(stdout);
}

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void *
map_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void
usage(FILE *out)
{
	fprintf(out,
"usage: circuits-demo [options]\n"
"\n"
"Runs worker processes, each with threads, that call a rate-limited HTTP\n"
"server through one Circuit and one BreakingCircuit in shared memory, then\n"
"takes the server away and measures how fast every process stops.\n"
"\n"
"  -w, --workers P         worker processes (default: number of CPUs, max %d)\n"
"  -t, --threads T         threads per worker (default 2, max %d)\n"
"  -o, --outage-after S    seconds before nginx is stopped (default 5)\n"
"  -d, --duration S        hard limit on the run, seconds (default 20)\n"
"  -u, --url URL           call this service instead; starts no nginx and\n"
"                          causes no outage: the run ends at --duration or\n"
"                          when your service goes away\n"
"  -r, --rate R            nginx: requests/s let through (default 20)\n"
"  -b, --burst B           nginx: burst above the rate (default 10)\n"
"  -a, --retry-after S     nginx: Retry-After on /retry, 0: none (default 1)\n"
"  -i, --interval MS       pause between a thread's requests (default 10)\n"
"  -q, --quiet             no status line per second\n"
"  -h, --help              this text\n"
"\n"
"The Circuit trips after %d throttled answers (429/503) and backs off\n"
"%.0f ms x%.0f per trip up to %.0f ms, jitter %.0f%%, or sleeps the server's\n"
"Retry-After; %d successes in a row reset the backoff.  The BreakingCircuit\n"
"breaks after %d hard failures (refused, timed out, dropped).\n"
"Exit status: 0 when everything behaved as expected, 1 otherwise, 2 for bad\n"
"options.\n",
		MAX_WORKERS, MAX_THREADS, TRIP_AFTER, ms_from_ns(BACKOFF_BASE),
		BACKOFF_FACTOR, ms_from_ns(BACKOFF_MAX), BACKOFF_JITTER * 100,
		CALM_SUCCESSES, BREAK_AFTER);
}

static bool
parse_unsigned(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == '-' || v < lo ||
	    v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool
parse_seconds(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int
parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longs[] = {
		{"workers", required_argument, NULL, 'w'},
		{"threads", required_argument, NULL, 't'},
		{"outage-after", required_argument, NULL, 'o'},
		{"duration", required_argument, NULL, 'd'},
		{"url", required_argument, NULL, 'u'},
		{"rate", required_argument, NULL, 'r'},
		{"burst", required_argument, NULL, 'b'},
		{"retry-after", required_argument, NULL, 'a'},
		{"interval", required_argument, NULL, 'i'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

	*opt = (struct options){
		.workers = cpus < 1 ? 1
			   : cpus > MAX_WORKERS ? MAX_WORKERS
						: (unsigned)cpus,
		.threads = 2,
		.outage_after = 5,
		.duration = 20,
		.rate = 20,
		.burst = 10,
		.retry_after = 1,
		.interval_ms = 10};
	while ((c = getopt_long(argc, argv, "w:t:o:d:u:r:b:a:i:qh", longs,
				NULL)) != -1) {
		bool ok = true;

		switch (c) {
		case 'w':
			ok = parse_unsigned(optarg, 1, MAX_WORKERS,
					    &opt->workers);
			break;
		case 't':
			ok = parse_unsigned(optarg, 1, MAX_THREADS,
					    &opt->threads);
			break;
		case 'o':
			ok = parse_seconds(optarg, 0.1, MAX_DURATION_S,
					   &opt->outage_after);
			break;
		case 'd':
			ok = parse_seconds(optarg, 0.5, MAX_DURATION_S,
					   &opt->duration);
			break;
		case 'u':
			opt->url = optarg;
			ok = strlen(optarg) < 1900;
			break;
		case 'r':
			ok = parse_unsigned(optarg, 1, 1000000, &opt->rate);
			break;
		case 'b':
			ok = parse_unsigned(optarg, 0, 1000000, &opt->burst);
			break;
		case 'a':
			ok = parse_unsigned(optarg, 0, 3600,
					    &opt->retry_after);
			break;
		case 'i':
			ok = parse_unsigned(optarg, 0, 10000,
					    &opt->interval_ms);
			break;
		case 'q':
			opt->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
		if (!ok) {
			fprintf(stderr,
				"circuits-demo: invalid value '%s' for -%c "
				"(see --help)\n",
				optarg, c);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "circuits-demo: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (opt->url == NULL && opt->outage_after >= opt->duration) {
		fprintf(stderr,
			"circuits-demo: --outage-after (%.1f) must be less "
			"than --duration (%.1f)\n",
			opt->outage_after, opt->duration);
		return -1;
	}
	return 0;
}

static int
init_circuits(void)
{
	circuits_config_t throttle, failure;
	void *circuit_mem, *breaker_mem;
	size_t size = circuits_segment_size();
	int rc;

	circuits_config_init(&throttle, TRIP_AFTER);
	throttle.sleep_time_after_trip = BACKOFF_BASE;
	throttle.backoff_factor = BACKOFF_FACTOR;
	throttle.max_sleep_time = BACKOFF_MAX;
	throttle.jitter = BACKOFF_JITTER;
	/* The winner of the break does not sleep: it has a shutdown to do. */
	circuits_config_init(&failure, BREAK_AFTER);

	stats = map_shared(sizeof(*stats));
	circuit_mem = map_shared(size);
	breaker_mem = map_shared(size);
	if (stats == NULL || circuit_mem == NULL || breaker_mem == NULL) {
		fprintf(stderr, "circuits-demo: mmap: %s\n", strerror(errno));
		return -1;
	}
	rc = circuits_circuit_init_segment(&circuit, circuit_mem, size,
					   &throttle);
	if (rc == 0)
		rc = circuits_breaking_init_segment(&breaker, breaker_mem,
						    size, &failure);
	if (rc != 0) {
		fprintf(stderr, "circuits-demo: %s\n", circuits_strerror(rc));
		return -1;
	}
	/* Set before fork(), so every worker inherits it. */
	circuits_breaking_set_listener(&breaker, on_break, stats);
	return 0;
}

/* What the parent learns about each worker. */
struct worker_proc {
	pid_t pid;
	bool done;
	bool killed; /* had to be killed after the grace period */
	int status;
};

static pid_t
spawn_worker(const struct options *opt, const char *url, unsigned index,
	     uint64_t hard_deadline)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* The worker: Ctrl-C reaches the whole foreground group, but workers
	 * stop through the BreakingCircuit, which the parent trips. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* Never outlive the parent by more than the current request. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);
	_exit(worker_main(opt, url, index, hard_deadline));
}

/* Reaps finished workers; returns how many are still running. */
static unsigned
reap(struct worker_proc *procs, unsigned n)
{
	unsigned running = 0;

	for (unsigned i = 0; i < n; i++) {
		if (procs[i].done || procs[i].pid <= 0)
			continue;
		if (waitpid(procs[i].pid, &procs[i].status, WNOHANG) ==
		    procs[i].pid)
			procs[i].done = true;
		else
			running++;
	}
	return running;
}

struct run {
	struct options opt;
	struct demo_nginx nginx;
	bool own_nginx;
	char url[2048];
	uint64_t start_ns;
	uint64_t outage_ns; /* when nginx was told to stop; 0: not (yet) */
	bool parent_tripped;
	const char *parent_reason;
	struct worker_proc procs[MAX_WORKERS];
	unsigned spawned;
};

static double
elapsed_s(const struct run *run)
{
	return (double)(now_ns() - run->start_ns) / 1e9;
}

/* The parent trips the breaker itself to end the run (time limit, Ctrl-C,
 * a failed fork): every worker stops the way it would after an outage. */
static void
parent_trip(struct run *run, const char *reason)
{
	if (circuits_breaking_trip_nb(&breaker, NULL) == CIRCUITS_TRIPPED) {
		run->parent_tripped = true;
		run->parent_reason = reason;
		printf("%5.1fs  %s: stopping the workers through the "
		       "BreakingCircuit\n",
		       elapsed_s(run), reason);
	}
}

/* The parent's loop: status lines, the outage, the time limit; returns when
 * every worker has exited (or been killed after the grace period). */
static void
supervise(struct run *run)
{
	const struct options *opt = &run->opt;
	uint64_t deadline = run->start_ns + ns_from_s(opt->duration);
	uint64_t outage_at = run->start_ns + ns_from_s(opt->outage_after);
	uint64_t next_status = run->start_ns + CIRCUITS_SECONDS(1);
	bool announced_break = false;

	for (;;) {
		unsigned running = reap(run->procs, run->spawned);
		uint64_t broke_at = atomic_load_explicit(
			&stats->break_ns, memory_order_acquire);
		uint64_t now = now_ns();

		if (broke_at != 0 && !announced_break) {
			announced_break = true;
			if (!run->parent_tripped)
				printf("%5.1fs  BreakingCircuit broke "
				       "(pid %d); every worker is stopping\n",
				       (double)(broke_at - run->start_ns) / 1e9,
				       atomic_load(&stats->break_pid));
		}
		if (running == 0)
			break;
		if (interrupted)
			parent_trip(run, "interrupted");
		if (run->own_nginx && run->outage_ns == 0 && now >= outage_at &&
		    broke_at == 0) {
			/* The outage starts with the stop signal: nginx may
			 * refuse connections before it has finished exiting,
			 * so a break can come before demo_nginx_stop()
			 * returns. */
			run->outage_ns = now_ns();
			demo_nginx_stop(&run->nginx);
			printf("%5.1fs  outage: nginx stopped\n",
			       (double)(run->outage_ns - run->start_ns) / 1e9);
		}
		if (now >= deadline)
			parent_trip(run, "time limit reached");
		if (broke_at != 0 && now > broke_at + EXIT_GRACE_NS) {
			for (unsigned i = 0; i < run->spawned; i++) {
				if (!run->procs[i].done) {
					kill(run->procs[i].pid, SIGKILL);
					run->procs[i].killed = true;
				}
			}
		}
		if (!opt->quiet && now >= next_status) {
			print_status((double)(next_status - run->start_ns) /
					     1e9,
				     run->spawned);
			next_status += CIRCUITS_SECONDS(1);
		}
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
}

/* --- the summary ---------------------------------------------------------- */

struct verdict {
	bool failed;
};

static void
check(struct verdict *v, bool ok, bool required, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
check(struct verdict *v, bool ok, bool required, const char *fmt, ...)
{
	va_list ap;

	printf("  [%s] ", ok ? "ok" : required ? "FAIL" : "--");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok && required)
		v->failed = true;
}

static int
summarize(struct run *run)
{
	const struct options *opt = &run->opt;
	struct totals all = sum_slots(run->spawned);
	uint64_t break_ns = atomic_load(&stats->break_ns);
	uint64_t last_exit = 0;
	uint64_t circuit_trips = circuits_circuit_total_trips(&circuit);
	unsigned clean = 0;
	struct verdict v = {false};
	bool outage_mode = run->own_nginx;

	printf("\nSummary (%u workers x %u threads, %.1f s)\n", run->spawned,
	       opt->threads, elapsed_s(run));
	printf("  worker      pid  requests      ok  throttled   hard  other"
	       "  trips  retry-after  sleeps  slept s  exit ms\n");
	for (unsigned i = 0; i < run->spawned; i++) {
		struct slot *s = &stats->slots[i];
		struct totals t = {0};
		uint64_t exit_ns = atomic_load(&s->exit_ns);
		char exit_ms[32] = "-";

		add_slot(&t, s);
		if (exit_ns != 0 && break_ns != 0) {
			snprintf(exit_ms, sizeof(exit_ms), "%.1f",
				 exit_ns > break_ns
					 ? ms_from_ns(exit_ns - break_ns)
					 : 0.0);
			if (exit_ns > last_exit)
				last_exit = exit_ns;
		}
		printf("  %6u %8d  %8llu  %6llu  %9llu  %5llu  %5llu  %5llu"
		       "  %11llu  %6llu  %7.2f  %7s\n",
		       i, (int)run->procs[i].pid,
		       (unsigned long long)t.requests,
		       (unsigned long long)t.ok,
		       (unsigned long long)t.throttled,
		       (unsigned long long)t.hard,
		       (unsigned long long)t.other,
		       (unsigned long long)t.trips,
		       (unsigned long long)t.retry_after,
		       (unsigned long long)t.sleeps,
		       (double)t.slept_ns / 1e9, exit_ms);
		if (run->procs[i].done && !run->procs[i].killed &&
		    WIFEXITED(run->procs[i].status) &&
		    WEXITSTATUS(run->procs[i].status) == 0)
			clean++;
	}
	printf("  %6s %8s  %8llu  %6llu  %9llu  %5llu  %5llu  %5llu"
	       "  %11llu  %6llu  %7.2f\n",
	       "total", "", (unsigned long long)all.requests,
	       (unsigned long long)all.ok, (unsigned long long)all.throttled,
	       (unsigned long long)all.hard, (unsigned long long)all.other,
	       (unsigned long long)all.trips,
	       (unsigned long long)all.retry_after,
	       (unsigned long long)all.sleeps, (double)all.slept_ns / 1e9);
	printf("  (trips: Circuit trips won by the process; retry-after: of "
	       "those, how many slept\n   the server's Retry-After; exit ms: "
	       "when its last thread finished, after the break)\n");

	printf("\nCircuit: %llu trips in total, next backoff %.0f ms\n",
	       (unsigned long long)circuit_trips,
	       ms_from_ns(circuits_circuit_current_sleep_time(&circuit)));
	if (break_ns != 0) {
		int pid = atomic_load(&stats->break_pid);

		printf("BreakingCircuit: broken by pid %d (%s)", pid,
		       pid == (int)getpid() ? "the parent" : "a worker");
		if (run->outage_ns != 0 && break_ns >= run->outage_ns)
			printf(", %.1f ms after nginx stopped",
			       ms_from_ns(break_ns - run->outage_ns));
		printf("\n");
	}
	if (last_exit != 0)
		printf("Shutdown latency: %.1f ms from the break to the last "
		       "worker's exit\n",
		       ms_from_ns(last_exit > break_ns ? last_exit - break_ns
						       : 0));
	for (unsigned i = 0; i < run->spawned; i++) {
		int err = atomic_load(&stats->slots[i].first_error);

		if (err != 0) {
			printf("First hard failure seen by worker %u: %s\n", i,
			       curl_easy_strerror((CURLcode)err));
			break;
		}
	}

	printf("\nChecks\n");
	check(&v, all.ok > 0, true, "the service answered (%llu successes)",
	      (unsigned long long)all.ok);
	check(&v, all.throttled > 0, outage_mode,
	      "requests were throttled (%llu of %llu)",
	      (unsigned long long)all.throttled,
	      (unsigned long long)all.requests);
	/* Each trip is reported to exactly one caller, so the trips the
	 * workers were told of add up to the circuit's own count. */
	check(&v, circuit_trips > 0 && circuit_trips == all.trips,
	      outage_mode || circuit_trips != all.trips,
	      "the shared Circuit tripped %llu times; workers were told of "
	      "%llu",
	      (unsigned long long)circuit_trips,
	      (unsigned long long)all.trips);
	if (outage_mode) {
		bool detected = run->outage_ns != 0 && break_ns != 0 &&
				!run->parent_tripped &&
				break_ns >= run->outage_ns;

		if (detected)
			check(&v, true, true,
			      "the outage was detected: the BreakingCircuit "
			      "broke %.1f ms after nginx stopped",
			      ms_from_ns(break_ns - run->outage_ns));
		else if (run->parent_tripped)
			check(&v, false, true,
			      "the outage was not detected: the run ended "
			      "first (%s)",
			      run->parent_reason);
		else
			check(&v, false, true,
			      "the BreakingCircuit broke before the outage "
			      "(%llu hard failures while nginx was up)",
			      (unsigned long long)all.hard);
	} else {
		check(&v, break_ns != 0, false,
		      "the BreakingCircuit broke (%s)",
		      run->parent_tripped ? run->parent_reason
					  : "your service failed");
	}
	check(&v, clean == run->spawned && run->spawned == opt->workers, true,
	      "every worker exited cleanly (%u of %u)", clean, opt->workers);

	if (v.failed) {
		printf("circuits-demo: FAILED: see the checks marked FAIL "
		       "above\n");
		return 1;
	}
	printf("circuits-demo: everything behaved as expected\n");
	return 0;
}

int
main(int argc, char **argv)
{
	static struct run run;
	struct sigaction sa;
	uint64_t hard_deadline;
	char err[2048];
	int rc;

	if (parse_options(argc, argv, &run.opt) != 0)
		return 2;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "circuits-demo: curl_global_init failed\n");
		return 1;
	}
	if (init_circuits() != 0)
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (run.opt.url == NULL) {
		struct demo_nginx_limits limits = {run.opt.rate, run.opt.burst,
						   run.opt.retry_after};

		if (demo_nginx_start(&run.nginx, &limits, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "circuits-demo: %s\n", err);
			return 1;
		}
		run.own_nginx = true;
		snprintf(run.url, sizeof(run.url), "http://127.0.0.1:%u",
			 run.nginx.port);
		printf("nginx on %s (pid %d): %u requests/s, burst %u, "
		       "then 429",
		       run.url, (int)run.nginx.pid, run.opt.rate,
		       run.opt.burst);
		if (run.opt.retry_after > 0)
			printf("; /retry adds Retry-After: %u",
			       run.opt.retry_after);
		printf("\n");
	} else {
		snprintf(run.url, sizeof(run.url), "%s", run.opt.url);
		printf("target %s (no nginx started, no outage caused)\n",
		       run.url);
	}
	printf("%u workers x %u threads; Circuit trips after %d throttled "
	       "answers, BreakingCircuit breaks after %d hard failures",
	       run.opt.workers, run.opt.threads, TRIP_AFTER, BREAK_AFTER);
	if (run.own_nginx)
		printf("; outage after %.1f s", run.opt.outage_after);
	printf("\n\n");
	fflush(stdout);

	run.start_ns = now_ns();
	/* Workers stop on their own by this time even if the parent is gone
	 * and nothing else stops them. */
	hard_deadline = run.start_ns + ns_from_s(run.opt.duration) +
			2 * EXIT_GRACE_NS;
	for (unsigned i = 0; i < run.opt.workers; i++) {
		pid_t pid = spawn_worker(&run.opt, run.url, i, hard_deadline);

		if (pid < 0) {
			fprintf(stderr, "circuits-demo: fork: %s\n",
				strerror(errno));
			parent_trip(&run, "a worker could not be started");
			break;
		}
		run.procs[i].pid = pid;
		run.spawned++;
	}
	supervise(&run);
	rc = summarize(&run);
	if (run.own_nginx)
		demo_nginx_cleanup(&run.nginx);
	curl_global_cleanup();
	return rc;
}
