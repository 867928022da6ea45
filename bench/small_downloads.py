#!/usr/bin/env python3
"""4 KiB downloads through share links, 64 keep-alive connections (wrk).

carrel serves the file through its share link (`/d/{id}`: link lookup,
rules, download counting, conditional headers); nginx (sendfile and
read/write) and dufs serve the same file from a directory. Rounds are
interleaved; the medians and carrel's ratio to the better nginx are printed.

    bench/small_downloads.py [--rounds 5] [--seconds 5] [--connections 64]
"""
import argparse
import os

import lib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--no-dufs", action="store_true", help="leave dufs out")
    a = ap.parse_args()
    lib.need("wrk", "apt-get install wrk (scripts/install-test-deps does it)")
    lib.raise_nofile()
    lib.build()
    files = os.path.join(lib.WORK, "files")
    os.makedirs(files, exist_ok=True)
    path = lib.make_file(os.path.join(files, "small.bin"), a.size)

    servers, stops = {}, []
    try:
        c = lib.Carrel()
        stops.append(c.stop)
        servers["carrel"] = c.put(path)[0]
        n = lib.Nginx(files)
        stops.append(n.stop)
        for k, u in n.urls.items():
            servers[k] = f"{u}/small.bin"
        if not a.no_dufs:
            d = lib.Dufs(files)
            stops.append(d.stop)
            servers["dufs"] = f"{d.url}/small.bin"
        for name, url in servers.items():  # warm-up, and a check that each answers
            lib.wrk(url, a.connections, 1)
        results = {k: [] for k in servers}
        for r in range(a.rounds):
            for name, url in servers.items():
                rps, _ = lib.wrk(url, a.connections, a.seconds)
                results[name].append(rps)
                lib.log(f"round {r + 1}: {name} {rps:,.0f} req/s")
    finally:
        for s in stops:
            s()

    med = {k: lib.median(v) for k, v in results.items()}
    best_nginx = max(v for k, v in med.items() if k.startswith("nginx"))
    print(f"\n{a.size}-byte downloads, {a.connections} connections, wrk, {a.rounds} rounds of {a.seconds}s")
    lib.table([[k, f"{v:,.0f}", f"{v / best_nginx:.2f}x"] for k, v in med.items()],
              ["server", "median req/s", "vs best nginx"])
    print(f"RATIO carrel/nginx = {med['carrel'] / best_nginx:.2f} (target >= 0.90)")


if __name__ == "__main__":
    main()
