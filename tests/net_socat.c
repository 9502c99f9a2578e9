/*
 * net_socat: grt's datagram and unix sockets against a real peer, socat
 * (Debian package socat; the test skips, exit 77, without it).  Each case
 * checks that the bytes went both ways through grt:
 *   - UDP server: grt_listen_addr(SOCK_DGRAM) on 127.0.0.1; a goroutine
 *     answers each datagram (grt_recvfrom, grt_sendto to the sender) with
 *     "echo:" and its text; socat is the client (UDP:127.0.0.1:port);
 *   - UDP client: socat serves (UDP-LISTEN:port,fork EXEC:cat); grt
 *     connects a datagram socket (grt_connect_addr) and sends until the
 *     echo comes back (socat takes a moment to start);
 *   - unix stream: grt listens on a path, grt_accept_addr returns an
 *     AF_UNIX peer, the connection answers "echo:"; socat UNIX-CONNECT;
 *   - unix datagram: grt binds a path, answers to the sender's bound path
 *     that grt_recvfrom reported; socat UNIX-SENDTO with bind=;
 *   - unix stream client: socat UNIX-LISTEN EXEC:cat; grt_connect_addr.
 *   - misuse of the socket calls: NULL sockaddr, a bad type, a bad family,
 *     NULL from/peer lengths: -EINVAL (or -EAFNOSUPPORT) with one line.
 * Loopback and unix sockets only; every wait has a timeout, and a socat
 * that does not exit in 10 s is killed and fails the test.
 */
#define _GNU_SOURCE
#include <grt.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "testutil.h"

#define SEC 1000000000LL

struct child {
  pid_t pid;
  int in, out; /* our ends of its stdin and stdout */
};

/* Starts socat with args; its stdin and stdout are pipes to us. */
static void spawn_socat(struct child *c, const char *const args[]) {
  int in[2], out[2];
  CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char *argv[16];
  int n = 0;
  argv[n++] = "socat";
  for (int i = 0; args[i]; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  posix_spawnattr_t at; /* its own process group: reap kills its forks too */
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&at, 0);
  CHECK(posix_spawnp(&c->pid, "socat", &fa, &at, argv, environ) == 0);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  c->in = in[1];
  c->out = out[0];
}

/* Reads socat's stdout until end of file (10 s at most) into buf. */
static size_t read_all(struct child *c, char *buf, size_t cap) {
  size_t len = 0;
  for (;;) {
    ssize_t r = grt_read(c->out, buf + len, cap - 1 - len, 10 * SEC);
    CHECK(r >= 0);
    if (r == 0) break;
    len += (size_t)r;
    CHECK(len < cap - 1);
  }
  buf[len] = 0;
  return len;
}

/* Waits (10 s at most, then kills it and fails) for socat to exit. */
static void reap(struct child *c, int kill_first) {
  if (kill_first) kill(-c->pid, SIGTERM);
  for (int i = 0; i < 1000; i++) {
    int status;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    CHECK(r >= 0);
    if (r == c->pid) {
      if (c->in >= 0) grt_close(c->in);
      grt_close(c->out);
      return;
    }
    grt_sleep(10000000);
  }
  kill(-c->pid, SIGKILL);
  fprintf(stderr, "socat did not exit in 10 s\n");
  CHECK(0);
}

/* Sends line to socat's stdin, closes it, and checks its whole output. */
static void talk(struct child *c, const char *line, const char *want) {
  CHECK(grt_write(c->in, line, strlen(line), 10 * SEC) == (ssize_t)strlen(line));
  CHECK(grt_close(c->in) == 0);
  c->in = -1;
  char buf[512];
  read_all(c, buf, sizeof buf);
  if (strcmp(buf, want) != 0) fprintf(stderr, "socat said '%s', want '%s'\n", buf, want);
  CHECK(strcmp(buf, want) == 0);
  reap(c, 0);
}

static grt_wg served;

/* Answers one datagram on fd with "echo:" + its text, to its sender. */
static void dgram_server(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[256], out[300];
  struct sockaddr_storage from;
  socklen_t flen = sizeof from;
  ssize_t n = grt_recvfrom(fd, buf, sizeof buf, (struct sockaddr *)&from, &flen, 10 * SEC);
  CHECK(n > 0);
  CHECK(flen > sizeof(sa_family_t)); /* a named sender: it can be answered */
  memcpy(out, "echo:", 5);
  memcpy(out + 5, buf, (size_t)n);
  CHECK(grt_sendto(fd, out, (size_t)n + 5, (struct sockaddr *)&from, flen, 10 * SEC) == n + 5);
  grt_wg_done(&served);
}

/* Accepts one connection on lfd, answers its bytes with "echo:" + them. */
static void stream_server(void *arg) {
  int lfd = (int)(intptr_t)arg;
  struct sockaddr_storage peer;
  socklen_t plen = sizeof peer;
  int fd = grt_accept_addr(lfd, (struct sockaddr *)&peer, &plen);
  CHECK(fd >= 0);
  CHECK(peer.ss_family == AF_UNIX && plen >= sizeof(sa_family_t));
  char buf[256];
  ssize_t n = grt_read(fd, buf, sizeof buf, 10 * SEC);
  CHECK(n > 0);
  CHECK(grt_write(fd, "echo:", 5, 10 * SEC) == 5);
  CHECK(grt_write(fd, buf, (size_t)n, 10 * SEC) == n);
  CHECK(grt_close(fd) == 0);
  grt_wg_done(&served);
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sin;
}

static struct sockaddr_un unix_addr(const char *tag) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof sun.sun_path, "/tmp/grt-net-socat-%d-%s", (int)getpid(), tag);
  unlink(sun.sun_path);
  return sun;
}

static int bound_port(int fd) {
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  CHECK(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
  return ntohs(sin.sin_port);
}

static void udp_server(void) {
  struct sockaddr_in sin = loopback(0);
  int fd = grt_listen_addr((struct sockaddr *)&sin, sizeof sin, SOCK_DGRAM, 0);
  CHECK(fd >= 0);
  grt_wg_add(&served, 1);
  CHECK(grt_go(dgram_server, (void *)(intptr_t)fd) == 0);
  char peer[64];
  snprintf(peer, sizeof peer, "UDP:127.0.0.1:%d", bound_port(fd));
  struct child c;
  spawn_socat(&c, (const char *const[]){"-t", "2", "-", peer, NULL});
  talk(&c, "hello udp\n", "echo:hello udp\n");
  grt_wg_wait(&served);
  CHECK(grt_close(fd) == 0);
  printf("udp server: ok\n");
}

static void udp_client(void) {
  /* A free port: bind one, note it, close it (socat binds it next). */
  int probe = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in any = loopback(0);
  CHECK(probe >= 0 && bind(probe, (struct sockaddr *)&any, sizeof any) == 0);
  int port = bound_port(probe);
  close(probe);
  char listen[80];
  snprintf(listen, sizeof listen, "UDP-LISTEN:%d,bind=127.0.0.1,fork", port);
  struct child c;
  spawn_socat(&c, (const char *const[]){listen, "EXEC:cat", NULL});
  struct sockaddr_in sin = loopback(port);
  int fd = grt_connect_addr((struct sockaddr *)&sin, sizeof sin, SOCK_DGRAM, 10 * SEC);
  CHECK(fd >= 0);
  int got = 0;
  for (int i = 0; i < 50 && !got; i++) { /* 50 x 200 ms at most */
    char msg[32], buf[64];
    int len = snprintf(msg, sizeof msg, "ping %d", i);
    CHECK(grt_sendto(fd, msg, (size_t)len, NULL, 0, SEC) == len);
    ssize_t n = grt_recvfrom(fd, buf, sizeof buf, NULL, NULL, 200000000);
    if (n == -ETIMEDOUT) continue; /* socat not up yet */
    if (n == -ECONNREFUSED) {      /* not up yet, and the ICMP said so at once */
      grt_sleep(100000000);
      continue;
    }
    CHECK(n > 0);
    /* A late echo of an earlier ping counts too: any "ping N" came back. */
    got = n >= 6 && memcmp(buf, "ping ", 5) == 0;
  }
  CHECK(got);
  CHECK(grt_close(fd) == 0);
  grt_close(c.in);
  c.in = -1;
  reap(&c, 1);
  printf("udp client: ok\n");
}

static void unix_stream_server(void) {
  struct sockaddr_un sun = unix_addr("s");
  int lfd = grt_listen_addr((struct sockaddr *)&sun, sizeof sun, SOCK_STREAM, 16);
  CHECK(lfd >= 0);
  grt_wg_add(&served, 1);
  CHECK(grt_go(stream_server, (void *)(intptr_t)lfd) == 0);
  char peer[200];
  snprintf(peer, sizeof peer, "UNIX-CONNECT:%s", sun.sun_path);
  struct child c;
  spawn_socat(&c, (const char *const[]){"-t", "2", "-", peer, NULL});
  talk(&c, "hello unix stream\n", "echo:hello unix stream\n");
  grt_wg_wait(&served);
  CHECK(grt_close(lfd) == 0);
  unlink(sun.sun_path);
  printf("unix stream server: ok\n");
}

static void unix_dgram_server(void) {
  struct sockaddr_un sun = unix_addr("d"), cli = unix_addr("dc");
  int fd = grt_listen_addr((struct sockaddr *)&sun, sizeof sun, SOCK_DGRAM, 0);
  CHECK(fd >= 0);
  grt_wg_add(&served, 1);
  CHECK(grt_go(dgram_server, (void *)(intptr_t)fd) == 0);
  char peer[300];
  snprintf(peer, sizeof peer, "UNIX-SENDTO:%s,bind=%s", sun.sun_path, cli.sun_path);
  struct child c;
  spawn_socat(&c, (const char *const[]){"-t", "2", "-", peer, NULL});
  talk(&c, "hello unix dgram\n", "echo:hello unix dgram\n");
  grt_wg_wait(&served);
  CHECK(grt_close(fd) == 0);
  unlink(sun.sun_path);
  unlink(cli.sun_path);
  printf("unix dgram server: ok\n");
}

static void unix_stream_client(void) {
  struct sockaddr_un sun = unix_addr("l");
  char listen[200];
  snprintf(listen, sizeof listen, "UNIX-LISTEN:%s", sun.sun_path);
  struct child c;
  spawn_socat(&c, (const char *const[]){listen, "EXEC:cat", NULL});
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0; i++) { /* 100 x 50 ms at most */
    fd = grt_connect_addr((struct sockaddr *)&sun, sizeof sun, SOCK_STREAM, SEC);
    if (fd == -ENOENT || fd == -ECONNREFUSED)
      grt_sleep(50000000);
    else
      CHECK(fd >= 0);
  }
  CHECK(fd >= 0);
  CHECK(grt_write(fd, "via cat\n", 8, 10 * SEC) == 8);
  char buf[16];
  size_t got = 0;
  while (got < 8) {
    ssize_t n = grt_read(fd, buf + got, 8 - got, 10 * SEC);
    CHECK(n > 0);
    got += (size_t)n;
  }
  CHECK(memcmp(buf, "via cat\n", 8) == 0);
  CHECK(grt_close(fd) == 0);
  grt_close(c.in);
  c.in = -1;
  reap(&c, 0); /* socat exits when its one connection ends */
  unlink(sun.sun_path);
  printf("unix stream client: ok\n");
}

/* ---- misuse: exactly one stderr line naming the call ---- */

static int cap_fd = -1, saved_fd2 = -1;
static void capture_begin(void) {
  fflush(stderr);
  cap_fd = memfd_create("stderr", 0);
  saved_fd2 = dup(2);
  CHECK(cap_fd >= 0 && saved_fd2 >= 0 && dup2(cap_fd, 2) == 2);
}
static void capture_end(const char *call, long r, long want) {
  CHECK(dup2(saved_fd2, 2) == 2);
  close(saved_fd2);
  char buf[1024];
  ssize_t n = pread(cap_fd, buf, sizeof buf - 1, 0);
  close(cap_fd);
  buf[n > 0 ? n : 0] = 0;
  int lines = 0;
  for (char *q = buf; *q; q++)
    lines += *q == '\n';
  if (r != want || lines != 1 || !strstr(buf, call))
    fprintf(stderr, "%s: got %ld (want %ld), stderr: '%s'\n", call, r, want, buf);
  CHECK(r == want && lines == 1 && strstr(buf, call));
}
#define MISUSE(call, expr, want)                                                                   \
  do {                                                                                             \
    capture_begin();                                                                               \
    long r_ = (long)(expr);                                                                        \
    capture_end(call, r_, want);                                                                   \
  } while (0)

static void misuse(void) {
  struct sockaddr_in sin = loopback(0);
  struct sockaddr *sa = (struct sockaddr *)&sin;
  MISUSE("grt_listen_addr", grt_listen_addr(NULL, sizeof sin, SOCK_DGRAM, 0), -EINVAL);
  MISUSE("grt_listen_addr", grt_listen_addr(sa, sizeof sin, SOCK_RAW, 0), -EINVAL);
  MISUSE("grt_listen_addr", grt_listen_addr(sa, 0, SOCK_STREAM, 0), -EINVAL);
  MISUSE("grt_connect_addr", grt_connect_addr(NULL, sizeof sin, SOCK_STREAM, SEC), -EINVAL);
  MISUSE("grt_connect_addr", grt_connect_addr(sa, sizeof sin, 42, SEC), -EINVAL);
  struct sockaddr_in bad = sin;
  bad.sin_family = AF_PACKET;
  MISUSE("grt_connect_addr", grt_connect_addr((struct sockaddr *)&bad, sizeof bad, SOCK_DGRAM, 0),
         -EAFNOSUPPORT);
  int fd = grt_listen_addr(sa, sizeof sin, SOCK_DGRAM, 0);
  CHECK(fd >= 0);
  char buf[8];
  struct sockaddr_storage ss;
  MISUSE("grt_recvfrom", grt_recvfrom(fd, buf, sizeof buf, (struct sockaddr *)&ss, NULL, 0),
         -EINVAL);
  MISUSE("grt_recvfrom", grt_recvfrom(fd, NULL, 8, NULL, NULL, 0), -EINVAL);
  MISUSE("grt_sendto", grt_sendto(fd, buf, 1, NULL, sizeof sin, 0), -EINVAL);
  MISUSE("grt_sendto", grt_sendto(fd, NULL, 1, sa, sizeof sin, 0), -EINVAL);
  MISUSE("grt_accept_addr", grt_accept_addr(fd, (struct sockaddr *)&ss, NULL), -EINVAL);
  /* Not misuse: timeout 0 on an empty socket only looks. */
  CHECK(grt_recvfrom(fd, buf, sizeof buf, NULL, NULL, 0) == -ETIMEDOUT);
  CHECK(grt_close(fd) == 0);
  printf("misuse: ok\n");
}

static int run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  udp_server();
  udp_client();
  unix_stream_server();
  unix_dgram_server();
  unix_stream_client();
  misuse();
  printf("ok\n");
  return 0;
}

static int have_socat(void) {
  const char *path = getenv("PATH");
  if (!path) return 0;
  char *copy = strdup(path), *save = NULL;
  int found = 0;
  for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
    char f[4096];
    snprintf(f, sizeof f, "%s/socat", dir);
    found = access(f, X_OK) == 0;
  }
  free(copy);
  return found;
}

int main(int argc, char **argv) {
  if (!have_socat()) {
    printf("SKIP: socat is not installed (Debian: apt-get install socat)\n");
    return 77;
  }
  return main_with_procs("2", run, argc, argv);
}
