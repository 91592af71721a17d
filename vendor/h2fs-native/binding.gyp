{
  "targets": [{
    "target_name": "madvise",
    "sources": ["madvise.c"],
    "cflags": ["-O2", "-Wall"]
  }]
}
