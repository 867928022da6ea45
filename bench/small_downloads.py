#!/usr/bin/env python3
"""4 KiB downloads through share links, 64 keep-alive connections (wrk).

carrel serves the file through its share link (`/d/{id}`: link lookup,
rules, download counting, conditional headers); nginx (sendfile and
read/write) and dufs serve the same file from a directory. Rounds are
interleaved; the medians and carrel's ratio to the better nginx are printed.

    bench/small_downloads.py [--rounds 5] [--seconds 5] [--connections 64] [--enforced]

With --enforced, a second carrel serves the file under a plan that sets
every download limit without reaching any (daily volume, speed, downloads
at once), so the cost of enforcement is its ratio to the first.
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
    ap.add_argument("--enforced", action="store_true",
                    help="add a second carrel whose anonymous plan sets every download limit (none reached)")
    a = ap.parse_args()
    lib.need("wrk", "apt-get install wrk (scripts/install-test-deps does it)")
    lib.raise_nofile()
    lib.build()
    files = os.path.join(lib.WORK, "files")
    os.makedirs(files, exist_ok=True)
    path = lib.make_file(os.path.join(files, "small.bin"), a.size)

    with lib.DownloadPeers(path, dufs=not a.no_dufs, enforced=a.enforced) as peers:
        for url in peers.urls.values():  # warm-up, and a check that each answers
            lib.wrk(url, a.connections, 1)
        med = lib.interleaved(peers.urls, a.rounds, lambda url: lib.wrk(url, a.connections, a.seconds)[0],
                              lambda v: f"{v:,.0f} req/s")
    lib.report_vs_nginx(f"{a.size}-byte downloads, {a.connections} connections, wrk, {a.rounds} rounds of {a.seconds}s",
                        med, lambda v: f"{v:,.0f} req/s", 0.90)

if __name__ == "__main__":
    main()
