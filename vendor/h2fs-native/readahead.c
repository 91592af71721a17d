/*
 * A socket read on a thread of its own, into a ring the event loop takes
 * from. A mirror stream reaches a slave daemon through a Unix socket that
 * sshd writes, and sshd's end gets the system's default send buffer (208
 * KiB here): whenever the daemon's event loop is busy for a moment, sshd
 * blocks, and it is woken only once the daemon has read all but a quarter
 * of it, so the two ping-pong on a few hundred KiB. Read as soon as bytes
 * arrive, by a thread that does nothing else, the socket stays near empty
 * and the ring is the slack (interleaved first copies of 663 MB: 0.93-0.96x
 * the time; raising net.core.wmem_default to 1 MiB instead gave 0.91x).
 *
 * The thread reads a dup of the descriptor, so the event loop's handle may
 * close its own whenever it likes; the connection ends when both are
 * closed. It stops at end of file, on an error, or when told to.
 */
#define _GNU_SOURCE
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <node_api.h>
#include "readahead.h"

typedef struct {
  int fd;       /* our dup of the socket */
  int stop_fd;  /* eventfd: wakes the thread's poll to stop */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t room;
  uint8_t *ring;
  size_t cap, head, used;
  int eof, err, armed, stop, joined;
  /* Event-loop side only: the threadsafe function released, finalized; the handle finalized. */
  int released, tsfn_done, handle_gone;
  napi_threadsafe_function ready;
} reader_t;

static void notify(reader_t *r) {
  napi_call_threadsafe_function(r->ready, NULL, napi_tsfn_nonblocking);
}

static void *run(void *arg) {
  reader_t *r = arg;
  pthread_setname_np(pthread_self(), "h2fs-readahead");
  pthread_setname_np(pthread_self(), "h2fs-readahead");
  for (;;) {
    pthread_mutex_lock(&r->mu);
    while (!r->stop && r->used == r->cap) pthread_cond_wait(&r->room, &r->mu);
    if (r->stop) {
      pthread_mutex_unlock(&r->mu);
      break;
    }
    size_t at = r->head, want = r->cap - r->used;
    if (want > r->cap - at) want = r->cap - at;
    pthread_mutex_unlock(&r->mu);
    struct pollfd pf[2] = {{r->fd, POLLIN, 0}, {r->stop_fd, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      pthread_mutex_lock(&r->mu);
      r->err = errno;
      pthread_mutex_unlock(&r->mu);
      notify(r);
      break;
    }
    if (pf[1].revents) break;
    /* [at, at + want) is free: the event loop only takes from the used part. */
    ssize_t n = read(r->fd, r->ring + at, want);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    pthread_mutex_lock(&r->mu);
    if (n > 0) {
      r->head = (at + (size_t)n) % r->cap;
      r->used += (size_t)n;
    } else if (n == 0) {
      r->eof = 1;
    } else {
      r->err = errno;
    }
    int wake = r->armed || n <= 0;
    r->armed = 0;
    pthread_mutex_unlock(&r->mu);
    if (wake) notify(r);
    if (n <= 0) break;
  }
  return NULL;
}

static void call_ready(napi_env env, napi_value js_cb, void *ctx, void *data) {
  (void)ctx;
  (void)data;
  if (!env || !js_cb) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_call_function(env, undefined, js_cb, 0, NULL, NULL);
}

/* Stops and joins the thread (if it ran) and closes its descriptors; idempotent. */
static void stop_thread(reader_t *r) {
  if (r->joined) return;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_signal(&r->room);
  pthread_mutex_unlock(&r->mu);
  uint64_t one = 1;
  ssize_t w = write(r->stop_fd, &one, sizeof one);
  (void)w;
  pthread_join(r->thread, NULL);
  r->joined = 1;
  close(r->fd);
  close(r->stop_fd);
}

static void free_reader(reader_t *r) {
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->room);
  free(r->ring);
  free(r);
}

/*
 * The reader is freed once both its handle and its threadsafe function are
 * gone, in whichever order the garbage collector or the environment's
 * teardown finalizes them (both on the event loop's thread).
 */
static void halt(reader_t *r) {
  stop_thread(r);
  if (!r->released && !r->tsfn_done) {
    r->released = 1;
    napi_release_threadsafe_function(r->ready, napi_tsfn_abort);
  }
}

static void tsfn_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_t *r = data;
  stop_thread(r);
  r->tsfn_done = 1;
  if (r->handle_gone) free_reader(r);
}

static void handle_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  reader_t *r = data;
  r->handle_gone = 1;
  if (r->tsfn_done) free_reader(r);
  else halt(r);
}

/*
 * readAheadStart(fd: number, capacity: number, ready: () => void) -> handle.
 * `ready` is called (on the event loop) when readAheadTake found nothing and
 * something has come since, or the socket ended.
 */
static napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], name, out;
  int32_t fd = -1, cap = 0;
  napi_valuetype t = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_int32(env, argv[1], &cap) != napi_ok || cap < 4096 ||
      napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "readAheadStart(fd: number, capacity: number >= 4096, ready: function)");
    return NULL;
  }
  reader_t *r = calloc(1, sizeof *r);
  uint8_t *ring = malloc((size_t)cap);
  int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int efd = eventfd(0, EFD_CLOEXEC);
  if (!r || !ring || dupfd < 0 || efd < 0) {
    int e = errno;
    free(r);
    free(ring);
    if (dupfd >= 0) close(dupfd);
    if (efd >= 0) close(efd);
    napi_throw_error(env, NULL, strerror(e ? e : ENOMEM));
    return NULL;
  }
  r->fd = dupfd;
  r->stop_fd = efd;
  r->ring = ring;
  r->cap = (size_t)cap;
  /* Until the thread runs there is nothing to join. */
  r->joined = 1;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->room, NULL);
  napi_create_string_utf8(env, "h2fs.readAhead", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, r, tsfn_finalized, NULL, call_ready, &r->ready) != napi_ok) {
    close(dupfd);
    close(efd);
    free_reader(r);
    napi_throw_error(env, NULL, "readAheadStart: no threadsafe function");
    return NULL;
  }
  /* The socket's own handle keeps the loop alive while it matters. */
  napi_unref_threadsafe_function(env, r->ready);
  int rc = pthread_create(&r->thread, NULL, run, r);
  if (rc != 0) {
    close(dupfd);
    close(efd);
    /* Freed when the threadsafe function is finalized. */
    r->handle_gone = 1;
    halt(r);
    napi_throw_error(env, NULL, strerror(rc));
    return NULL;
  }
  r->joined = 0;
  if (napi_create_external(env, r, handle_finalized, NULL, &out) != napi_ok) {
    r->handle_gone = 1;
    halt(r);
    napi_throw_error(env, NULL, "readAheadStart: no handle");
    return NULL;
  }
  return out;
}

static reader_t *handle_of(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t = napi_undefined;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/*
 * readAheadTake(handle, max: number) -> Buffer | number: up to `max` bytes
 * read so far, in a buffer of their own; or 0 when nothing has come (then
 * `ready` is called once something does), -1 at end of file, an errno on a
 * read error. What was read before an end or an error is taken first.
 */
static napi_value Take(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t max = 0;
  reader_t *r;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      !(r = handle_of(env, argv[0])) || napi_get_value_int32(env, argv[1], &max) != napi_ok || max <= 0) {
    napi_throw_type_error(env, NULL, "readAheadTake(handle, max: number > 0)");
    return NULL;
  }
  if (r->joined) {
    napi_create_int32(env, -1, &out);
    return out;
  }
  pthread_mutex_lock(&r->mu);
  size_t n = r->used < (size_t)max ? r->used : (size_t)max;
  if (n == 0) {
    int32_t status = r->err ? r->err : r->eof ? -1 : 0;
    if (status == 0) r->armed = 1;
    pthread_mutex_unlock(&r->mu);
    napi_create_int32(env, status, &out);
    return out;
  }
  size_t tail = (r->head + r->cap - r->used) % r->cap;
  void *dst = NULL;
  if (napi_create_buffer(env, n, &dst, &out) != napi_ok) {
    pthread_mutex_unlock(&r->mu);
    napi_throw_error(env, NULL, "readAheadTake: no buffer");
    return NULL;
  }
  size_t first = r->cap - tail < n ? r->cap - tail : n;
  memcpy(dst, r->ring + tail, first);
  if (n > first) memcpy((uint8_t *)dst + first, r->ring, n - first);
  int was_full = r->used == r->cap;
  r->used -= n;
  if (was_full) pthread_cond_signal(&r->room);
  pthread_mutex_unlock(&r->mu);
  return out;
}

/* readAheadStop(handle): stops and joins the thread and closes its descriptor; idempotent. */
static napi_value Stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  reader_t *r;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !(r = handle_of(env, argv[0]))) {
    napi_throw_type_error(env, NULL, "readAheadStop(handle)");
    return NULL;
  }
  halt(r);
  return NULL;
}

void h2_readahead_init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "readAheadStart", NAPI_AUTO_LENGTH, Start, NULL, &fn);
  napi_set_named_property(env, exports, "readAheadStart", fn);
  napi_create_function(env, "readAheadTake", NAPI_AUTO_LENGTH, Take, NULL, &fn);
  napi_set_named_property(env, exports, "readAheadTake", fn);
  napi_create_function(env, "readAheadStop", NAPI_AUTO_LENGTH, Stop, NULL, &fn);
  napi_set_named_property(env, exports, "readAheadStop", fn);
}
