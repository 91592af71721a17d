"""The small-file workload of the FUSE benchmarks (fuse-io.sh, fuse-ab.sh).

Usage: python3 files.py create|stat|read|unlink DIR N
N files of 4 KiB in subdirectories of 1000 under DIR; prints files per
second of the phase, timed inside python (interpreter start-up not counted).
Each phase checks what it reads and exits 1 on a mismatch.
"""
import os, random, sys, time
phase, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
PER = 1000
ndirs = (n + PER - 1) // PER
dirs = [f"{root}/d{d:03d}" for d in range(ndirs)]
paths = [f"{dirs[i // PER]}/f{i:06d}" for i in range(n)]
base = random.Random(1).randbytes(4096)
def content(i):
    return i.to_bytes(8, "little") + base[8:]
def fail(msg):
    sys.stderr.write(f"fuse-io: files.py {phase}: {msg}\n")
    sys.exit(1)
t0 = time.perf_counter()
if phase == "create":
    for d in dirs:
        os.mkdir(d)
    for i, p in enumerate(paths):
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if os.write(fd, content(i)) != 4096:
            fail(f"{p}: short write")
        os.close(fd)
elif phase == "stat":
    for p in paths:
        if os.stat(p).st_size != 4096:
            fail(f"{p}: size {os.stat(p).st_size}, expected 4096")
elif phase == "read":
    for i, p in enumerate(paths):
        fd = os.open(p, os.O_RDONLY)
        data = os.read(fd, 8192)
        os.close(fd)
        if data != content(i):
            fail(f"{p}: read {len(data)} bytes, not the 4096 written")
elif phase == "unlink":
    for p in paths:
        os.unlink(p)
    for d in dirs:
        os.rmdir(d)
else:
    fail("unknown phase")
dt = time.perf_counter() - t0
print(f"{n / dt:.1f}")
