/*
 * madvise(2) for Node: h2fs turns the disk's readaround off on LMDB's map
 * while the mirror writer touches scattered pages, and back on for the
 * sequential reads everything else does. Node has no binding for it.
 * It also maps pages a commit appended into the process's page tables ahead
 * of the reads that would otherwise fault them in one by one.
 * It also gives idle memory back: the pages of unused block buffers, and the
 * free memory glibc's malloc keeps in its arenas; and tells the kernel which
 * pages of a file will not be read again soon (posix_fadvise).
 * And zlib's CRC-32, folded with VPCLMULQDQ where the CPU has it (crc32.c),
 * and a socket read ahead on a thread of its own (readahead.c).
 * And the address of a view's memory, for handing shared blocks to lmdb-js.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/mman.h>
#include <node_api.h>
#include "crc32.h"
#include "readahead.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* madvise(addr: bigint, length: bigint, advice: number) -> errno, 0 on success */
static napi_value Madvise(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint64_t addr = 0, len = 0;
  int32_t advice = 0;
  bool lossless = false;
  napi_value out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_bigint_uint64(env, argv[0], &addr, &lossless) != napi_ok || !lossless ||
      napi_get_value_bigint_uint64(env, argv[1], &len, &lossless) != napi_ok || !lossless ||
      napi_get_value_int32(env, argv[2], &advice) != napi_ok) {
    napi_throw_type_error(env, NULL, "madvise(addr: bigint, length: bigint, advice: number)");
    return NULL;
  }
  int rc = madvise((void *)(uintptr_t)addr, (size_t)len, advice);
  napi_create_int32(env, rc == 0 ? 0 : errno, &out);
  return out;
}

/*
 * A typed array argument's memory and length (a Uint8Array's, unless
 * any_type); false when the value is none. The view may be backed by a
 * SharedArrayBuffer.
 */
static bool view_arg(napi_env env, napi_value v, bool any_type, void **data, size_t *length) {
  napi_typedarray_type type;
  size_t offset = 0;
  napi_value ab;
  bool is_ta = false;
  *data = NULL;
  *length = 0;
  return napi_is_typedarray(env, v, &is_ta) == napi_ok && is_ta &&
         napi_get_typedarray_info(env, v, &type, length, data, &ab, &offset) == napi_ok &&
         (any_type || type == napi_uint8_array);
}

/*
 * releasePages(view: Uint8Array) -> errno, 0 on success: MADV_DONTNEED on the
 * whole pages inside the view, which then read as zeros. For buffers whose
 * content no longer matters; the view may be backed by a SharedArrayBuffer.
 */
static napi_value ReleasePages(napi_env env, napi_callback_info info) {
  size_t argc = 1, length = 0;
  napi_value argv[1], out;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      !view_arg(env, argv[0], false, &data, &length)) {
    napi_throw_type_error(env, NULL, "releasePages(view: Uint8Array)");
    return NULL;
  }
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)data + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)data + length) & ~(page - 1);
  int rc = 0;
  if (data != NULL && end > start) rc = madvise((void *)start, end - start, MADV_DONTNEED);
  napi_create_int32(env, rc == 0 ? 0 : errno, &out);
  return out;
}

/* pageOffset(view: Uint8Array) -> where the view starts within its page, in bytes */
static napi_value PageOffset(napi_env env, napi_callback_info info) {
  size_t argc = 1, length = 0;
  napi_value argv[1], out;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      !view_arg(env, argv[0], true, &data, &length)) {
    napi_throw_type_error(env, NULL, "pageOffset(view: Uint8Array)");
    return NULL;
  }
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  napi_create_int32(env, (int32_t)((uintptr_t)data & (page - 1)), &out);
  return out;
}

/* fadvise(fd: number, offset: bigint, length: bigint, advice: number) -> errno, 0 on success */
static napi_value Fadvise(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1, advice = 0;
  uint64_t off = 0, len = 0;
  bool lossless = false;
  napi_value out;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_bigint_uint64(env, argv[1], &off, &lossless) != napi_ok || !lossless ||
      napi_get_value_bigint_uint64(env, argv[2], &len, &lossless) != napi_ok || !lossless ||
      napi_get_value_int32(env, argv[3], &advice) != napi_ok) {
    napi_throw_type_error(env, NULL, "fadvise(fd: number, offset: bigint, length: bigint, advice: number)");
    return NULL;
  }
  /* posix_fadvise returns the error number itself. */
  int rc = posix_fadvise(fd, (off_t)off, (off_t)len, advice);
  napi_create_int32(env, rc, &out);
  return out;
}

/* mallocTrim() -> 1 if memory went back to the system: free memory in every malloc arena. */
static napi_value MallocTrim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  int r = 0;
#ifdef __GLIBC__
  r = malloc_trim(0);
#endif
  napi_create_int32(env, r, &out);
  return out;
}

/* crc32(view: Uint8Array, crc: number) -> zlib.crc32(view, crc) */
static napi_value Crc32(napi_env env, napi_callback_info info) {
  size_t argc = 2, length = 0;
  napi_value argv[2], out;
  void *data = NULL;
  uint32_t crc = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      !view_arg(env, argv[0], false, &data, &length) ||
      napi_get_value_uint32(env, argv[1], &crc) != napi_ok) {
    napi_throw_type_error(env, NULL, "crc32(view: Uint8Array, crc: number)");
    return NULL;
  }
  napi_create_uint32(env, h2_crc32(crc, (const uint8_t *)data, length), &out);
  return out;
}

/*
 * addressOf(view: Uint8Array) -> the address of the view's first byte, as a
 * number: what lmdb-js's getAddress gives for an ArrayBuffer, here for a
 * view of a SharedArrayBuffer too (napi_get_arraybuffer_info refuses those).
 */
static napi_value AddressOf(napi_env env, napi_callback_info info) {
  size_t argc = 1, length = 0;
  napi_value argv[1], out;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      !view_arg(env, argv[0], false, &data, &length)) {
    napi_throw_type_error(env, NULL, "addressOf(view: Uint8Array)");
    return NULL;
  }
  napi_create_double(env, (double)(uintptr_t)data, &out);
  return out;
}

static void function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static void constant(napi_env env, napi_value exports, const char *name, int32_t v) {
  napi_value n;
  napi_create_int32(env, v, &n);
  napi_set_named_property(env, exports, name, n);
}

static napi_value Init(napi_env env, napi_value exports) {
  function(env, exports, "madvise", Madvise);
  function(env, exports, "releasePages", ReleasePages);
  function(env, exports, "pageOffset", PageOffset);
  function(env, exports, "mallocTrim", MallocTrim);
  function(env, exports, "fadvise", Fadvise);
  function(env, exports, "crc32", Crc32);
  function(env, exports, "addressOf", AddressOf);
  h2_readahead_init(env, exports);
  constant(env, exports, "CRC32_FOLDED", h2_crc32_fast());
  constant(env, exports, "PAGE_SIZE", (int32_t)sysconf(_SC_PAGESIZE));
  constant(env, exports, "MADV_NORMAL", MADV_NORMAL);
  constant(env, exports, "MADV_RANDOM", MADV_RANDOM);
  constant(env, exports, "MADV_SEQUENTIAL", MADV_SEQUENTIAL);
  constant(env, exports, "MADV_WILLNEED", MADV_WILLNEED);
  constant(env, exports, "MADV_DONTNEED", MADV_DONTNEED);
  constant(env, exports, "POSIX_FADV_DONTNEED", POSIX_FADV_DONTNEED);
  constant(env, exports, "POSIX_FADV_WILLNEED", POSIX_FADV_WILLNEED);
#ifdef MADV_POPULATE_READ
  constant(env, exports, "MADV_POPULATE_READ", MADV_POPULATE_READ);
#else
  constant(env, exports, "MADV_POPULATE_READ", -1);
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
