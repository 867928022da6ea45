#!/usr/bin/env python3
"""A 1 GiB download with curl to /dev/null: carrel (share link) beside nginx
(sendfile and read/write) and dufs, same file, warm page cache, rounds
interleaved. Prints median throughput and carrel's ratio to the better nginx.

    bench/large_download.py [--rounds 5] [--size-mib 1024]
"""
import argparse
import os

import lib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--no-dufs", action="store_true")
    a = ap.parse_args()
    lib.build()
    files = os.path.join(lib.WORK, "files")
    os.makedirs(files, exist_ok=True)
    size = a.size_mib << 20
    path = lib.make_file(os.path.join(files, "large.bin"), size)

    lib.warm(path)

    def speed(url):
        bps, got = lib.curl_speed(url)
        assert got == size, f"{url} sent {got} bytes, expected {size}"
        return bps

    gbps = lambda v: f"{v / 1e9:.2f} GB/s"  # noqa: E731
    with lib.DownloadPeers(path, dufs=not a.no_dufs) as peers:
        for url in peers.urls.values():  # warm-up: carrel's blob copy into the page cache too
            speed(url)
        med = lib.interleaved(peers.urls, a.rounds, speed, gbps)
    lib.report_vs_nginx(f"{a.size_mib} MiB download, curl -o /dev/null, {a.rounds} rounds", med, gbps, 0.95)

if __name__ == "__main__":
    main()
