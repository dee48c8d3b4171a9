/*
 * uv-client.c - circuits in a libuv event loop, which never blocks.
 *
 * A client sends requests, one at a time, to a simulated service that lives
 * in the same loop: it answers after a few milliseconds, lets RATE requests a
 * second through (a token bucket, like nginx's limit_req), answers "throttled"
 * past that, and from OUTAGE_MS on refuses every request, as a server that
 * went away would.
 *
 * The client uses the non-blocking variants: circuits_circuit_short_nb() does
 * the same state change as circuits_circuit_short() but, instead of sleeping
 * in the loop's thread, hands back the sleep the caller owes.  The client
 * arms a uv timer for it and sends nothing until the timer fires, while the
 * loop goes on running everything else: here a ticker that prints a status
 * line every TICK_MS, and that counts how often it ran during a backoff.
 * Hard failures go to a BreakingCircuit; once it breaks the client closes its
 * handles and the loop ends.
 *
 * Exit status 0 when the circuit tripped, the ticker ran while the client was
 * backing off, and the outage broke the BreakingCircuit, all within
 * WATCHDOG_MS.
 */
#include <circuits.h>
#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

/* The simulated service. */
#define RATE 50	       /* requests per second let through */
#define BURST 5	       /* bucket size */
#define LATENCY_MS 3   /* time to answer */
#define OUTAGE_MS 2000 /* refuses everything from then on */

/* The client. */
#define TRIP_AFTER 5	 /* throttled answers per trip */
#define BREAK_AFTER 3	 /* refused requests that break */
#define CALM_SUCCESSES 5 /* successes in a row that reset the backoff */
#define TICK_MS 250
#define WATCHDOG_MS 10000

enum answer { ANSWER_OK, ANSWER_THROTTLED, ANSWER_REFUSED };

struct service {
	double tokens;
	uint64_t refilled_ms;
};

struct client {
	uv_loop_t *loop;
	uv_timer_t reply;    /* the service's answer to the request in flight */
	uv_timer_t backoff;  /* the sleep the Circuit says we owe */
	uv_timer_t ticker;   /* other work the loop keeps doing */
	uv_timer_t watchdog; /* bounds the run */
	circuits_circuit_t circuit;
	circuits_breaking_t breaker;
	struct service service;
	uint64_t start_ms;
	bool backing_off;
	bool finished;
	bool timed_out;
	unsigned calm;
	unsigned long sent, ok, throttled, refused;
	unsigned long trips, ticks, ticks_while_backing_off;
};

static double
since_start(const struct client *c)
{
	return (double)(uv_now(c->loop) - c->start_ms) / 1000.0;
}

/* The simulated service decides its answer when the reply is due. */
static enum answer
service_answer(struct client *c)
{
	struct service *s = &c->service;
	uint64_t now = uv_now(c->loop);

	if (now - c->start_ms >= OUTAGE_MS)
		return ANSWER_REFUSED;
	s->tokens += (double)(now - s->refilled_ms) * RATE / 1000.0;
	if (s->tokens > BURST)
		s->tokens = BURST;
	s->refilled_ms = now;
	if (s->tokens < 1.0)
		return ANSWER_THROTTLED;
	s->tokens -= 1.0;
	return ANSWER_OK;
}

static void on_reply(uv_timer_t *timer);

static void
send_request(struct client *c)
{
	if (c->finished)
		return;
	c->sent++;
	uv_timer_start(&c->reply, on_reply, LATENCY_MS, 0);
}

/* Closes every handle; uv_run() returns once they are closed. */
static void
finish(struct client *c)
{
	if (c->finished)
		return;
	c->finished = true;
	uv_close((uv_handle_t *)&c->reply, NULL);
	uv_close((uv_handle_t *)&c->backoff, NULL);
	uv_close((uv_handle_t *)&c->ticker, NULL);
	uv_close((uv_handle_t *)&c->watchdog, NULL);
}

static void
on_backoff_done(uv_timer_t *timer)
{
	struct client *c = timer->data;

	c->backing_off = false;
	send_request(c);
}

static void
on_throttled(struct client *c)
{
	uint64_t owed_ns = 0;

	c->throttled++;
	c->calm = 0;
	/* Counts the short; when it trips the circuit, returns at once with
	 * the (jittered) sleep this caller owes instead of sleeping. */
	if (circuits_circuit_short_nb(&c->circuit, &owed_ns) ==
		    CIRCUITS_TRIPPED &&
	    owed_ns > 0) {
		/* uv timers count whole milliseconds: round up. */
		uint64_t ms = (owed_ns + 999999) / 1000000;

		c->trips++;
		c->backing_off = true;
		printf("%5.2fs  trip %lu: backing off %llu ms; the loop keeps "
		       "running\n",
		       since_start(c), c->trips, (unsigned long long)ms);
		uv_timer_start(&c->backoff, on_backoff_done, ms, 0);
		return;
	}
	send_request(c);
}

static void
on_reply(uv_timer_t *timer)
{
	struct client *c = timer->data;

	switch (service_answer(c)) {
	case ANSWER_OK:
		c->ok++;
		if (++c->calm == CALM_SUCCESSES)
			circuits_circuit_reset_backoff(&c->circuit);
		send_request(c);
		break;
	case ANSWER_THROTTLED:
		on_throttled(c);
		break;
	case ANSWER_REFUSED:
		c->refused++;
		/* The breaker's base sleep is 0, so nothing is ever owed. */
		circuits_breaking_short_nb(&c->breaker, NULL);
		if (circuits_breaking_broken(&c->breaker)) {
			printf("%5.2fs  BreakingCircuit broke after %lu "
			       "refused requests: closing the loop\n",
			       since_start(c), c->refused);
			finish(c);
		} else {
			send_request(c);
		}
		break;
	}
}

/* Work that must not stall while the client backs off. */
static void
on_tick(uv_timer_t *timer)
{
	struct client *c = timer->data;

	c->ticks++;
	if (c->backing_off)
		c->ticks_while_backing_off++;
	printf("%5.2fs  tick: sent %lu, ok %lu, throttled %lu, trips %lu, "
	       "next backoff %.0f ms%s\n",
	       since_start(c), c->sent, c->ok, c->throttled, c->trips,
	       (double)circuits_circuit_current_sleep_time(&c->circuit) / 1e6,
	       c->backing_off ? "  (backing off)" : "");
}

static void
on_watchdog(uv_timer_t *timer)
{
	struct client *c = timer->data;

	c->timed_out = true;
	finish(c);
}

static int
init_circuits(struct client *c)
{
	circuits_config_t config;
	int rc;

	circuits_config_init(&config, TRIP_AFTER);
	config.sleep_time_after_trip = CIRCUITS_MILLISECONDS(40);
	config.backoff_factor = 2.0;
	config.max_sleep_time = CIRCUITS_MILLISECONDS(640);
	config.jitter = 0.2;
	rc = circuits_circuit_init(&c->circuit, &config);
	if (rc != 0)
		return rc;
	circuits_config_init(&config, BREAK_AFTER);
	return circuits_breaking_init(&c->breaker, &config);
}

int
main(void)
{
	static struct client c;
	uv_timer_t *timers[] = {&c.reply, &c.backoff, &c.ticker, &c.watchdog};
	int rc;

	rc = init_circuits(&c);
	if (rc != 0) {
		fprintf(stderr, "uv-client: %s\n", circuits_strerror(rc));
		return 1;
	}
	c.loop = uv_default_loop();
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
		uv_timer_init(c.loop, timers[i]);
		timers[i]->data = &c;
	}
	c.start_ms = uv_now(c.loop);
	c.service.tokens = BURST;
	c.service.refilled_ms = c.start_ms;
	printf("service: %d requests/s, then throttled; refuses everything "
	       "after %d ms\n",
	       RATE, OUTAGE_MS);
	uv_timer_start(&c.ticker, on_tick, TICK_MS, TICK_MS);
	uv_timer_start(&c.watchdog, on_watchdog, WATCHDOG_MS, 0);
	send_request(&c);

	uv_run(c.loop, UV_RUN_DEFAULT);
	uv_loop_close(c.loop);

	printf("\nsent %lu: ok %lu, throttled %lu, refused %lu; %lu trips; "
	       "%lu of %lu ticks ran while backing off\n",
	       c.sent, c.ok, c.throttled, c.refused, c.trips,
	       c.ticks_while_backing_off, c.ticks);
	if (c.timed_out || c.trips == 0 || c.ticks_while_backing_off == 0 ||
	    !circuits_breaking_broken(&c.breaker) ||
	    c.trips != circuits_circuit_total_trips(&c.circuit)) {
		printf("uv-client: FAILED (%s)\n",
		       c.timed_out ? "ran past the watchdog"
				   : "expected trips, ticks during a backoff "
				     "and a break");
		return 1;
	}
	printf("uv-client: the loop kept running through every backoff\n");
	return 0;
}
