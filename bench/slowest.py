#!/usr/bin/env python3
"""The slowest queries of a library bench query set, one at a time.

    bench/slowest.py DATA_DIR QUERIES_JSON [--facets] [--repeat 5] [--top 20]
                     [--bin target/release/carrel] [--compare OTHER_BIN]

Starts `carrel serve` on a data directory kept by `bench/library.py --keep`
and times each query of its `queries.json` alone (no concurrency), the
median of `--repeat` runs, then prints the slowest. With `--compare`, a
second binary serves the same data directory beside the first (as a reader
of the index) and each query goes to one server, then the other, so both
see the same machine load; both medians are printed side by side with the
ratio, so a change can be judged query by query.
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse


def serve(binary, data):
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data", data],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, CARREL_LOG="warn"))
    line = proc.stdout.readline().decode()
    m = re.search(r"listening on http://([\d.]+):(\d+)", line)
    if not m:
        proc.kill()
        sys.exit(f"{binary} did not start: {line!r}")
    return proc, m.group(1), int(m.group(2))


def timings(binaries, data, queries, facets, repeat):
    """Median seconds of each query on each binary: the servers run side by
    side (the second one reads the index the first one holds) and each query
    goes to one, then the other, so both see the same machine load."""
    servers = [serve(b, data) for b in binaries]
    try:
        conns = [http.client.HTTPConnection(host, port, timeout=120) for _, host, port in servers]
        out = [[[] for _ in queries] for _ in binaries]
        for rnd in range(repeat + 1):  # the first round warms the caches
            for i, (_, text, typing) in enumerate(queries):
                path = ("/api/library/search?limit=20&q=" + urllib.parse.quote(text)
                        + ("&prefix=true" if typing else "") + ("&facets=true" if facets else ""))
                for k, conn in enumerate(conns):
                    t0 = time.perf_counter()
                    conn.request("GET", path)
                    r = conn.getresponse()
                    r.read()
                    dt = time.perf_counter() - t0
                    if r.status != 200:
                        sys.exit(f"{path}: {r.status}")
                    if rnd > 0:
                        out[k][i].append(dt)
        return [[statistics.median(t) for t in per] for per in out]
    finally:
        for proc, _, _ in servers:
            proc.terminate()
            proc.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("queries")
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "carrel"))
    ap.add_argument("--compare", help="a second carrel binary, timed on the same data")
    ap.add_argument("--facets", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    queries = json.load(open(a.queries))
    got = timings([a.bin] + ([a.compare] if a.compare else []), a.data, queries, a.facets, a.repeat)
    base, other = got[0], (got[1] if a.compare else None)
    order = sorted(range(len(queries)), key=lambda i: -max(base[i], other[i] if other else 0))

    def p(xs, q):
        s = sorted(xs)
        return s[min(len(s) - 1, int(len(s) * q))] * 1e3
    print(f"{len(queries)} queries, median of {a.repeat}, facets={a.facets}")
    print(f"bin:     p50 {p(base, .5):.2f} ms, p99 {p(base, .99):.2f} ms, sum {sum(base):.2f} s")
    if other:
        print(f"compare: p50 {p(other, .5):.2f} ms, p99 {p(other, .99):.2f} ms, sum {sum(other):.2f} s")
    for i in order[:a.top]:
        cls, text, typing = queries[i]
        row = f"{base[i] * 1e3:8.2f} ms"
        if other:
            row += f" {other[i] * 1e3:8.2f} ms  x{other[i] / base[i]:.2f}"
        print(f"{row}  {cls:14} {'(typed) ' if typing else ''}{text}")


if __name__ == "__main__":
    main()
