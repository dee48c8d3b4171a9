/*
 * demo-nginx.h - a throw-away, rate-limited nginx for circuits-demo.
 *
 * demo_nginx_start() writes a configuration into a fresh temporary directory
 * (pid file, error log and every temp path live there too, so it runs the same
 * as root or not), picks a free port on 127.0.0.1 and runs nginx as a
 * foreground child.  The server answers GET / and GET /retry with a tiny
 * image; past the rate limit it answers 429, and /retry adds a Retry-After
 * header to its 429s.
 */
#ifndef DEMO_NGINX_H
#define DEMO_NGINX_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* The Debian package that provides /usr/sbin/nginx. */
#define DEMO_NGINX_PACKAGE "nginx-light"
/* Where Debian puts it; a build may define another path. */
#ifndef DEMO_NGINX_BINARY
#define DEMO_NGINX_BINARY "/usr/sbin/nginx"
#endif

struct demo_nginx_limits {
	unsigned rate;	      /* requests per second the server lets through */
	unsigned burst;	      /* requests above the rate answered at once */
	unsigned retry_after; /* Retry-After seconds on /retry; 0: no header */
};

struct demo_nginx {
	pid_t pid;	     /* nginx master process; 0 when not running */
	unsigned port;	     /* port it listens on, 127.0.0.1 only */
	char dir[PATH_MAX];  /* temporary directory; "" when none */
};

/*
 * Starts nginx and waits until it accepts connections.  Returns 0, or -1 with
 * a message in err (which names the package to install when nginx is
 * missing).  On failure nothing is left running and the directory is gone.
 */
int demo_nginx_start(struct demo_nginx *nginx,
		     const struct demo_nginx_limits *limits, char *err,
		     size_t err_size);

/* Stops nginx (fast shutdown, then SIGKILL to its process group after 3 s)
 * and waits for it.  The directory stays.  Safe to call when not running. */
void demo_nginx_stop(struct demo_nginx *nginx);

/* demo_nginx_stop(), then removes the temporary directory. */
void demo_nginx_cleanup(struct demo_nginx *nginx);

#endif /* DEMO_NGINX_H */
