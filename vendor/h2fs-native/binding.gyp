{
  "targets": [{
    "target_name": "madvise",
    "sources": ["madvise.c", "crc32.c", "readahead.c"],
    "cflags": ["-O2", "-Wall"]
  }]
}
