/*
 * madvise(2) for Node: h2fs turns the disk's readaround off on LMDB's map
 * while the mirror writer touches scattered pages, and back on for the
 * sequential reads everything else does. Node has no binding for it.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <node_api.h>

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

static void constant(napi_env env, napi_value exports, const char *name, int32_t v) {
  napi_value n;
  napi_create_int32(env, v, &n);
  napi_set_named_property(env, exports, name, n);
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "madvise", NAPI_AUTO_LENGTH, Madvise, NULL, &fn);
  napi_set_named_property(env, exports, "madvise", fn);
  constant(env, exports, "MADV_NORMAL", MADV_NORMAL);
  constant(env, exports, "MADV_RANDOM", MADV_RANDOM);
  constant(env, exports, "MADV_SEQUENTIAL", MADV_SEQUENTIAL);
  constant(env, exports, "MADV_WILLNEED", MADV_WILLNEED);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
