"""The benchmark tree: generate it, list seeded rounds of changes, apply them, digest it.

Used by mirror.sh and round-ab.sh: python3 tree.py gen|changes|apply|digest ...
"""
import hashlib, os, random, sys

PER_DIR, DIRS_PER_TOP = 100, 32
MIX = [("M", 50), ("C", 20), ("D", 15), ("R", 15)]   # per 100 changes

def layout(n, seed):
    """[(relpath, size)] of the tree of n files, and its leaf directories."""
    rng = random.Random(seed)
    files, dirs = [], []
    for i in range(n):
        leaf = i // PER_DIR
        d = f"d{leaf // DIRS_PER_TOP:03d}/e{leaf % DIRS_PER_TOP:02d}"
        if i % PER_DIR == 0:
            dirs.append(d)
        files.append((f"{d}/f{i:07d}", rng.randint(1024, 65536)))
    return files, dirs

def gen(root, n, seed):
    files, dirs = layout(n, seed)
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    rng = random.Random(seed + 1)
    total = 0
    for p, size in files:
        with open(os.path.join(root, p), "wb") as f:
            f.write(rng.randbytes(size))
        total += size
    print(total, len(files))

def changes(n, seed, rounds, per, outdir):
    files, dirs = layout(n, seed)
    names = [p for p, _ in files]
    sizes = dict(files)
    index = {p: i for i, p in enumerate(names)}
    rng = random.Random(seed + 2)
    def drop(p):
        i = index.pop(p)
        last = names.pop()
        if last != p:
            names[i] = last
            index[last] = i
        return sizes.pop(p)
    def add(p, size):
        index[p] = len(names)
        names.append(p)
        sizes[p] = size
    for r in range(1, rounds + 1):
        ops = [op for op, k in MIX for _ in range(k * per // 100)]
        ops += ["M"] * (per - len(ops))
        rng.shuffle(ops)
        lines = []
        for i, op in enumerate(ops):
            cseed = seed * 1_000_003 + r * 10_000 + i
            if op == "M":
                p = rng.choice(names)
                off = rng.randrange(sizes[p])
                length = min(rng.randint(512, 16384), sizes[p] - off)
                lines.append(f"M {p} {off} {length} {cseed}")
            elif op == "C":
                p = f"{rng.choice(dirs)}/c{r:03d}_{i:03d}"
                size = rng.randint(1024, 65536)
                add(p, size)
                lines.append(f"C {p} {size} {cseed}")
            elif op == "D":
                p = rng.choice(names)
                drop(p)
                lines.append(f"D {p}")
            else:
                p = rng.choice(names)
                q = f"{rng.choice(dirs)}/r{r:03d}_{i:03d}"
                add(q, drop(p))
                lines.append(f"R {p} {q}")
        with open(os.path.join(outdir, f"round-{r}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")

def apply(listfile, root):
    for line in open(listfile):
        a = line.split()
        if a[0] == "M":
            with open(os.path.join(root, a[1]), "r+b") as f:
                f.seek(int(a[2]))
                f.write(random.Random(int(a[4])).randbytes(int(a[3])))
        elif a[0] == "C":
            with open(os.path.join(root, a[1]), "xb") as f:
                f.write(random.Random(int(a[3])).randbytes(int(a[2])))
        elif a[0] == "D":
            os.unlink(os.path.join(root, a[1]))
        elif a[0] == "R":
            os.rename(os.path.join(root, a[1]), os.path.join(root, a[2]))

def digest(root):
    h = hashlib.sha256()
    nfiles = nbytes = 0
    for top, dnames, fnames in os.walk(root):
        dnames.sort()
        rel = os.path.relpath(top, root)
        h.update(f"D {rel}\n".encode())
        for fn in sorted(fnames):
            p = os.path.join(top, fn)
            with open(p, "rb") as f:
                data = f.read()
            h.update(f"F {fn} {len(data)} {hashlib.sha1(data).hexdigest()}\n".encode())
            nfiles += 1
            nbytes += len(data)
    print(f"{h.hexdigest()[:16]} files={nfiles} bytes={nbytes}")

cmd = sys.argv[1]
if cmd == "gen":
    gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "changes":
    changes(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
elif cmd == "apply":
    apply(sys.argv[2], sys.argv[3])
elif cmd == "digest":
    digest(sys.argv[2])
else:
    sys.exit(f"tree.py: unknown command {cmd}")
