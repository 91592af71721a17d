#ifndef H2_READAHEAD_H
#define H2_READAHEAD_H
#include <node_api.h>

/* Adds readAheadStart, readAheadTake and readAheadStop to the addon's exports. */
void h2_readahead_init(napi_env env, napi_value exports);

#endif
