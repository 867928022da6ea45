#!/usr/bin/env python3
"""Two carrel binaries importing the same generated catalog at the same time,
side by side, each into its own data directory: wall time, the books and
articles runs, the final merge, CPU (user + sys, from getrusage of the
children) and peak RSS, with the ratios.

    bench/import_ab.py --size 1m BASELINE_BINARY CANDIDATE_BINARY
    bench/import_ab.py --size 10m --one-after-the-other A B

The records are those of bench/library.py (generated once into
CARREL_BENCH_DIR/library-SIZE and kept). Running both imports at once puts
them under the same machine load, which on a shared 2-core machine is the
only fair comparison; --one-after-the-other runs them in turn instead.
"""
import argparse
import json
import os
import shutil
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402
import library  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1m")
    ap.add_argument("--one-after-the-other", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep both data directories")
    ap.add_argument("baseline")
    ap.add_argument("candidate")
    a = ap.parse_args()
    n = library.parse_size(a.size)
    src = os.path.join(lib.WORK, f"library-{a.size}")
    if not os.path.exists(os.path.join(src, "done")):
        library.generate(n, src, 400, library.read_bases())
    runs = {}
    bins = {"baseline": a.baseline, "candidate": a.candidate}
    dirs = {k: os.path.join(lib.WORK, f"import-ab-{a.size}-{k}") for k in bins}
    if a.one_after_the_other:
        for k, b in bins.items():
            runs[k] = library.carrel_import(src, dirs[k], binary=b)
    else:
        ths = [threading.Thread(target=lambda k=k, b=b: runs.__setitem__(k, library.carrel_import(src, dirs[k], binary=b)))
               for k, b in bins.items()]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
    print(f"\n## {a.size}: two imports {'one after the other' if a.one_after_the_other else 'at the same time'}\n")
    print("| | wall | rec/s | final merge | CPU | peak RSS |")
    print("|---|---|---|---|---|---|")
    for k in bins:
        r = runs[k]
        print(f"| {k} | {r['seconds']:.1f} s | {r['records'] / r['seconds']:,.0f} | {r['optimize_seconds']:.1f} s "
              f"| {r['cpu']:.1f} s | {lib.mib(r['rss']):.0f} MiB |")
    b, c = runs["baseline"], runs["candidate"]
    print(f"\ncandidate / baseline: wall {c['seconds'] / b['seconds']:.2f}x, CPU {c['cpu'] / b['cpu']:.2f}x")
    print(json.dumps({k: {x: v for x, v in r.items()} for k, r in runs.items()}))
    if not a.keep:
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
