/*
 * demo-nginx.c - a throw-away, rate-limited nginx for circuits-demo.
 *
 * nginx runs as a foreground child (-g 'daemon off;') in its own process
 * group, so that a Ctrl-C in the terminal reaches the demo but not nginx (the
 * demo decides when nginx stops), and so that one kill() of the group can
 * reach its worker process too.  Every path nginx writes (pid file, error log,
 * temp directories) is inside our temporary directory: nginx otherwise falls
 * back on compiled-in paths under /var, which only root may write.
 *
 * The responses come from empty_gif, not from `return`: `return` runs in the
 * rewrite phase, before limit_req looks at the request, so a location that
 * returns directly is never rate-limited.
 */
#include "demo-nginx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long nginx gets to accept connections after it starts, and to exit
 * after SIGTERM. */
#define START_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 3000
/* Starts retried when another program took our port in between. */
#define START_ATTEMPTS 5

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Asks the kernel for a free port on 127.0.0.1.  Another program may take it
 * before nginx binds it; the caller then retries with a new one. */
static int
free_loopback_port(unsigned *port)
{
	struct sockaddr_in addr = {0};
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	*port = ntohs(addr.sin_port);
	return 0;
}

static bool
port_accepts(unsigned port)
{
	struct sockaddr_in addr = {0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((unsigned short)port);
	ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return ok;
}

/*
 * Which optional modules this nginx lacks, from the configure arguments that
 * `nginx -V` prints.  A temp-path directive of a module that was left out is
 * a configuration error, so we only write the ones that exist.
 */
struct nginx_build {
	bool proxy, fastcgi, uwsgi, scgi;
	bool limit_req, empty_gif;
	bool error_log_option; /* -e, new in nginx 1.19.5 */
};

static int
probe_build(struct nginx_build *build)
{
	char line[8192];
	size_t used = 0;
	char *text = NULL;
	FILE *pipe = popen(DEMO_NGINX_BINARY " -V 2>&1", "r");

	if (pipe == NULL)
		return -1;
	while (fgets(line, sizeof(line), pipe) != NULL) {
		size_t n = strlen(line);
		char *grown = realloc(text, used + n + 1);

		if (grown == NULL)
			break;
		text = grown;
		memcpy(text + used, line, n + 1);
		used += n;
	}
	if (pclose(pipe) != 0 || text == NULL) {
		free(text);
		return -1;
	}
	build->proxy = strstr(text, "--without-http_proxy_module") == NULL;
	build->fastcgi = strstr(text, "--without-http_fastcgi_module") == NULL;
	build->uwsgi = strstr(text, "--without-http_uwsgi_module") == NULL;
	build->scgi = strstr(text, "--without-http_scgi_module") == NULL;
	build->limit_req =
		strstr(text, "--without-http_limit_req_module") == NULL;
	build->empty_gif =
		strstr(text, "--without-http_empty_gif_module") == NULL;
	{
		const char *v = strstr(text, "nginx/");
		unsigned major = 0, minor = 0, patch = 0;

		if (v != NULL)
			sscanf(v, "nginx/%u.%u.%u", &major, &minor, &patch);
		build->error_log_option =
			major > 1 || (major == 1 && minor > 19) ||
			(major == 1 && minor == 19 && patch >= 5);
	}
	free(text);
	return 0;
}

static int
write_config(const struct demo_nginx *nginx, const struct nginx_build *build,
	     const struct demo_nginx_limits *limits)
{
	char path[PATH_MAX + 32];
	const char *d = nginx->dir;
	FILE *f;

	snprintf(path, sizeof(path), "%s/nginx.conf", d);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"# Written by circuits-demo; removed when the demo ends.\n"
		"worker_processes 1;\n"
		"pid %s/nginx.pid;\n"
		"error_log %s/error.log warn;\n"
		"events { worker_connections 1024; }\n"
		"http {\n"
		"    access_log off;\n"
		"    keepalive_requests 1000000;\n"
		"    client_body_temp_path %s/body;\n",
		d, d, d);
	if (build->proxy)
		fprintf(f, "    proxy_temp_path %s/proxy;\n", d);
	if (build->fastcgi)
		fprintf(f, "    fastcgi_temp_path %s/fastcgi;\n", d);
	if (build->uwsgi)
		fprintf(f, "    uwsgi_temp_path %s/uwsgi;\n", d);
	if (build->scgi)
		fprintf(f, "    scgi_temp_path %s/scgi;\n", d);
	/* Every request comes from 127.0.0.1, so the key gives all workers
	 * of the demo one shared bucket.  Rejections are the point of the
	 * demo, so they are logged below the log's level. */
	fprintf(f,
		"    limit_req_zone $binary_remote_addr zone=demo:1m "
		"rate=%ur/s;\n"
		"    limit_req_status 429;\n"
		"    limit_req_log_level info;\n"
		"    server {\n"
		"        listen 127.0.0.1:%u;\n"
		"        location / {\n"
		"            limit_req zone=demo burst=%u nodelay;\n"
		"            empty_gif;\n"
		"        }\n",
		limits->rate, nginx->port, limits->burst);
	if (limits->retry_after > 0)
		fprintf(f,
			"        location = /retry {\n"
			"            limit_req zone=demo burst=%u nodelay;\n"
			"            error_page 429 = @retry_after;\n"
			"            empty_gif;\n"
			"        }\n"
			"        location @retry_after {\n"
			"            add_header Retry-After %u always;\n"
			"            return 429;\n"
			"        }\n",
			limits->burst, limits->retry_after);
	fprintf(f, "    }\n}\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* In the child: becomes nginx.  Only async-signal-safe calls until exec. */
static void
exec_nginx(const struct demo_nginx *nginx, const char *conf,
	   const char *errlog, int out_fd, bool error_log_option)
{
	int null_fd = open("/dev/null", O_RDONLY);

	setpgid(0, 0);
	/* nginx stops if the demo dies without stopping it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (null_fd >= 0)
		dup2(null_fd, STDIN_FILENO);
	if (out_fd >= 0) {
		dup2(out_fd, STDOUT_FILENO);
		dup2(out_fd, STDERR_FILENO);
	}
	/* -e sends the log of the first moments, before nginx has read the
	 * configuration, to our directory too; older nginx lack it and write
	 * those lines to the compiled-in log (Debian's: stderr). */
	if (error_log_option)
		execl(DEMO_NGINX_BINARY, "nginx", "-p", nginx->dir, "-c", conf,
		      "-e", errlog, "-g", "daemon off;", (char *)NULL);
	else
		execl(DEMO_NGINX_BINARY, "nginx", "-p", nginx->dir, "-c", conf,
		      "-g", "daemon off;", (char *)NULL);
	_exit(127);
}

/* Copies the last lines of the error log into err. */
static void
tail_log(const struct demo_nginx *nginx, char *err, size_t err_size)
{
	char path[PATH_MAX + 32];
	char buf[4096];
	size_t n = 0;
	FILE *f;
	const char *start;

	snprintf(path, sizeof(path), "%s/error.log", nginx->dir);
	f = fopen(path, "r");
	if (f != NULL) {
		/* Keep the end of the file: a short log fits whole. */
		if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END) != 0)
			rewind(f);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	start = buf;
	while (n > 0 && strlen(start) > 600) {
		const char *nl = strchr(start, '\n');

		if (nl == NULL)
			break;
		start = nl + 1;
	}
	snprintf(err, err_size, "nginx did not start; its error log says:\n%s",
		 *start != '\0' ? start : "(nothing)\n");
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
	     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* One try on one port: 0 when nginx accepts connections, 1 when it exited
 * because the port was taken, -1 on any other failure. */
static int
start_once(struct demo_nginx *nginx, const struct nginx_build *build,
	   char *err, size_t err_size)
{
	char conf[PATH_MAX + 32], errlog[PATH_MAX + 32], out[PATH_MAX + 32];
	int out_fd, status;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/nginx.conf", nginx->dir);
	snprintf(errlog, sizeof(errlog), "%s/error.log", nginx->dir);
	snprintf(out, sizeof(out), "%s/stderr.log", nginx->dir);
	unlink(errlog); /* a failed try's log would only repeat itself */
	out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	pid = fork();
	if (pid < 0) {
		snprintf(err, err_size, "fork: %s", strerror(errno));
		if (out_fd >= 0)
			close(out_fd);
		return -1;
	}
	if (pid == 0)
		exec_nginx(nginx, conf, errlog, out_fd,
			   build->error_log_option);
	/* Also from this side, so that a kill() of the group right away
	 * cannot miss a child that has not run setpgid() yet. */
	setpgid(pid, pid);
	if (out_fd >= 0)
		close(out_fd);
	nginx->pid = pid;

	for (int waited = 0; waited < START_TIMEOUT_MS; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			nginx->pid = 0;
			tail_log(nginx, err, err_size);
			return strstr(err, "Address already in use") ? 1 : -1;
		}
		if (port_accepts(nginx->port))
			return 0;
		sleep_ms(10);
	}
	demo_nginx_stop(nginx);
	snprintf(err, err_size,
		 "nginx did not accept connections on 127.0.0.1:%u within "
		 "%d ms",
		 nginx->port, START_TIMEOUT_MS);
	return -1;
}

int
demo_nginx_start(struct demo_nginx *nginx,
		 const struct demo_nginx_limits *limits, char *err,
		 size_t err_size)
{
	struct nginx_build build;
	const char *tmp = getenv("TMPDIR");
	int rc = -1;

	nginx->pid = 0;
	nginx->dir[0] = '\0';
	if (access(DEMO_NGINX_BINARY, X_OK) != 0) {
		snprintf(err, err_size,
			 "%s not found: circuits-demo needs nginx to play the "
			 "rate-limited service.\nInstall the Debian package "
			 "%s (sudo apt-get install -y %s), or point the demo "
			 "at a service of yours with --url URL.",
			 DEMO_NGINX_BINARY, DEMO_NGINX_PACKAGE,
			 DEMO_NGINX_PACKAGE);
		return -1;
	}
	if (probe_build(&build) != 0) {
		snprintf(err, err_size, "`%s -V` failed", DEMO_NGINX_BINARY);
		return -1;
	}
	if (!build.limit_req || !build.empty_gif) {
		snprintf(err, err_size,
			 "this nginx was built without limit_req or empty_gif; "
			 "install the Debian package %s",
			 DEMO_NGINX_PACKAGE);
		return -1;
	}
	snprintf(nginx->dir, sizeof(nginx->dir), "%s/circuits-demo.XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(nginx->dir) == NULL) {
		snprintf(err, err_size, "mkdtemp %s: %s", nginx->dir,
			 strerror(errno));
		nginx->dir[0] = '\0';
		return -1;
	}
	for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
		if (free_loopback_port(&nginx->port) != 0) {
			snprintf(err, err_size, "no free port on 127.0.0.1: %s",
				 strerror(errno));
			break;
		}
		if (write_config(nginx, &build, limits) != 0) {
			snprintf(err, err_size, "cannot write %s/nginx.conf",
				 nginx->dir);
			break;
		}
		rc = start_once(nginx, &build, err, err_size);
		if (rc != 1)
			break;
	}
	if (rc != 0) {
		demo_nginx_cleanup(nginx);
		return -1;
	}
	return 0;
}

void
demo_nginx_stop(struct demo_nginx *nginx)
{
	siginfo_t info;
	pid_t pid = nginx->pid;
	bool exited = false;

	if (pid <= 0)
		return;
	/* SIGTERM is nginx's fast shutdown: connections are closed at once. */
	kill(pid, SIGTERM);
	for (int waited = 0; waited < STOP_TIMEOUT_MS && !exited;
	     waited += 5) {
		/* WNOWAIT leaves the master a zombie, so its pid (and with it
		 * the process group id) cannot be reused before the kill()
		 * of the group below. */
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)pid, &info,
			   WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    info.si_pid == pid)
			exited = true;
		else
			sleep_ms(5);
	}
	/* Whatever is left of the group (a worker that outlived its master,
	 * or everything after the timeout) goes now: the port must close. */
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
	nginx->pid = 0;
}

void
demo_nginx_cleanup(struct demo_nginx *nginx)
{
	demo_nginx_stop(nginx);
	if (nginx->dir[0] != '\0') {
		nftw(nginx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		nginx->dir[0] = '\0';
	}
}
