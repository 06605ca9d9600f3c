#!/usr/bin/env python3
"""Times polyrepo-render against the serde_yaml parse floor, a pinned
earlier release doing the same work (checked: both change the same
documents, so a no-op run cannot pass for a fast one) and kubectl
kustomize; prints one Markdown table and checks the targets of the
performance issue. Run through scripts/bench.sh, which builds and generates
the inputs."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
BENCH = os.path.join(ROOT, "target", "bench")
BASE = [os.path.join(REL, "examples", "parse_baseline")]
CONFIG = ["-q", "--config", os.path.join(ROOT, "benches", "bench-config.yaml")]
OURS = [os.path.join(REL, "polyrepo-render")] + CONFIG
PINNED = [os.environ["POLYREPO_BENCH_PINNED_BIN"]] + CONFIG
PINNED_REV = os.environ.get("POLYREPO_BENCH_PINNED_REV", "pinned")


def changed_documents(cmd, path):
    """The indices of the documents `cmd` changes in the stream at `path`,
    found by a child Python: this process stays small, for a child forked
    from it starts with this process's peak RSS as its own."""
    out = subprocess.run([sys.executable, __file__, "--changed", path] + cmd,
                         capture_output=True, check=True).stdout
    return set(int(i) for i in out.split())


def changed_here(cmd, path):
    """[`changed_documents`], in this process."""
    with open(path, "rb") as f:
        text = f.read()
    out = subprocess.run(cmd, input=text, capture_output=True, check=True).stdout
    split = lambda t: t.split(b"\n---")
    a, b = split(text), split(out)
    if len(a) != len(b):
        sys.exit(f"bench: {cmd[0]} changed the number of documents")
    return {i for i, (x, y) in enumerate(zip(a, b)) if x != y}


def once(cmd, stdin_path):
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one
    run."""
    with open(stdin_path, "rb") as f, open(os.devnull, "wb") as null:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=f, stdout=null, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        err = p.stderr.read().decode()
        p.stderr.close()
    if status != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed: {err}")
    return wall, ru.ru_maxrss, ru.ru_utime + ru.ru_stime


def measure(cmds, stdin_path, runs, cpu=None):
    """Median wall seconds and peak RSS (KiB) of each command over `runs`
    runs, interleaved so that the machine's drift affects all alike; the
    median CPU seconds go into `cpu` when given."""
    walls = [[] for _ in cmds]
    cpus = [[] for _ in cmds]
    peaks = [0 for _ in cmds]
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            w, rss, c = once(cmd, stdin_path)
            walls[i].append(w)
            cpus[i].append(c)
            peaks[i] = max(peaks[i], rss)
    if cpu is not None:
        cpu.extend(statistics.median(c) for c in cpus)
    return [(statistics.median(w), p) for w, p in zip(walls, peaks)]


def n_of(name):
    return int(name.split("=")[1])


def fmt_time(s):
    return f"{s * 1000:.2f} ms" if s < 1 else f"{s:.2f} s"


def main():
    helm = os.path.join(ROOT, "tests", "fixtures", "polyaxon-0.6.1", "helm3-replicas.yaml")
    inputs = [("Helm render (71 KB)", helm, 301)]
    for n, runs in ((140, 9), (700, 5), (1400, 5)):
        inputs.append((f"gen-stream N={n}", os.path.join(BENCH, f"stream-{n}.yaml"), runs))
    # Without Polyaxon workloads, and so without a config (there is nothing
    # for one to change): the cost of passing a stream through.
    other = ("N=1400 without Polyaxon workloads", os.path.join(BENCH, "stream-1400-other.yaml"), 5)
    inputs.append(other)
    rows, checks = [], []
    kubectl = shutil.which("kubectl")
    per_mb = []
    for name, path, runs in inputs:
        size = os.path.getsize(path)
        label = f"{name}, {size / 1e6:.1f} MB" if size > 1e6 else name
        ours, pinned = OURS, PINNED
        if (name, path, runs) == other:
            ours, pinned = OURS[:2], PINNED[:2]  # the binary and -q
        for cmd in (BASE, ours, pinned):
            once(cmd, path)  # warm the page cache
        cpu = []
        (base_t, base_rss), (ours_t, ours_rss), (pin_t, pin_rss) = measure([BASE, ours, pinned], path, runs, cpu)
        ours_docs, pinned_docs = changed_documents(ours, path), changed_documents(pinned, path)
        if ours_docs != pinned_docs or (not ours_docs and (name, path, runs) != other):
            sys.exit(f"bench: {name}: this build and {PINNED_REV} change different documents "
                     f"({len(ours_docs)} and {len(pinned_docs)}): not the same work")
        checks.append((f"{name}: peak RSS <= 2x input + 32 MiB ({ours_rss / 1024:.0f} MiB)", ours_rss * 1024 <= 2 * size + (32 << 20)))
        if (name, path, runs) == other:
            rows.append((label, "parse baseline (serde_yaml)", base_t, base_rss, 1.0, None))
            rows.append((label, f"polyrepo-render {PINNED_REV}", pin_t, pin_rss, pin_t / base_t, None))
            rows.append((label, "polyrepo-render", ours_t, ours_rss, ours_t / base_t, None))
            checks.append((f"{name}: CPU no more than {PINNED_REV}'s ({cpu[1]:.2f} s against {cpu[2]:.2f} s, {cpu[1] / cpu[2]:.2f}x); nothing changed by either", cpu[1] <= cpu[2]))
            continue
        kust_t = None
        if path == helm:
            if kubectl:
                with tempfile.TemporaryDirectory() as d:
                    for f in os.listdir(os.path.join(ROOT, "benches", "kustomize")):
                        shutil.copy(os.path.join(ROOT, "benches", "kustomize", f), d)
                    shutil.copy(helm, os.path.join(d, "stream.yaml"))
                    ((kust_t, kust_rss),) = measure([[kubectl, "kustomize", d]], helm, 15)
                rows.append((label, "kubectl kustomize", kust_t, kust_rss, kust_t / base_t, 1.0))
            else:
                print("bench: kubectl not found; skipping the kustomize comparison", file=sys.stderr)
        rows.append((label, "parse baseline (serde_yaml)", base_t, base_rss, 1.0, base_t / kust_t if kust_t else None))
        rows.append((label, f"polyrepo-render {PINNED_REV}", pin_t, pin_rss, pin_t / base_t, pin_t / kust_t if kust_t else None))
        rows.append((label, "polyrepo-render", ours_t, ours_rss, ours_t / base_t, ours_t / kust_t if kust_t else None))
        checks.append((f"{name}: {len(ours_docs)} documents changed by both; wall {ours_t / pin_t:.2f}x {PINNED_REV}'s, peak RSS {ours_rss / pin_rss:.2f}x", True))
        if path == helm:
            checks.append((f"Helm-size wall <= baseline + 1 ms ({fmt_time(ours_t)} vs {fmt_time(base_t)} + 1 ms)", ours_t <= base_t + 0.001))
            if kust_t:
                checks.append((f">= 40x faster than kubectl kustomize ({kust_t / ours_t:.0f}x)", kust_t / ours_t >= 40))
        else:
            per_mb.append((name, ours_t / (size / 1e6)))
            checks.append((f"{name}: ratio to baseline <= 1.0 ({ours_t / base_t:.2f})", ours_t <= base_t))
            if n_of(name) == 1400:
                checks.append((f"{name}: wall <= 0.45x the baseline's ({ours_t / base_t:.2f}x)", ours_t <= 0.45 * base_t))
                checks.append((f"{name}: peak RSS <= 1.3x input ({ours_rss / 1024:.0f} MiB vs {size / 2**20:.0f} MiB input, {ours_rss * 1024 / size:.2f}x)", ours_rss * 1024 <= 1.3 * size))
    if per_mb:
        lo, hi = min(v for _, v in per_mb), max(v for _, v in per_mb)
        desc = ", ".join(f"{n.split('=')[1]}: {v * 1000:.1f} ms/MB" for n, v in per_mb)
        checks.append((f"time linear in N ({desc}; spread {hi / lo:.2f}x)", hi / lo <= 1.5))

    print("| input | tool | median wall | peak RSS | ratio to baseline | ratio to kustomize |")
    print("|---|---|---|---|---|---|")
    for label, tool, t, rss, rb, rk in rows:
        rk_s = f"{rk:.3f}" if rk is not None else "–"
        print(f"| {label} | {tool} | {fmt_time(t)} | {rss / 1024:.1f} MiB | {rb:.2f} | {rk_s} |")
    print()
    ok = True
    for text, good in checks:
        print(f"- [{'x' if good else ' '}] {text}")
        ok &= good
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--changed"]:
        print(" ".join(str(i) for i in sorted(changed_here(sys.argv[3:], sys.argv[2]))))
        sys.exit(0)
    sys.exit(main())
