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

    servers, stops = {}, []
    try:
        c = lib.Carrel()
        stops.append(c.stop)
        servers["carrel"] = c.put(path)[0]
        n = lib.Nginx(files)
        stops.append(n.stop)
        for k, u in n.urls.items():
            servers[k] = f"{u}/large.bin"
        if not a.no_dufs:
            d = lib.Dufs(files)
            stops.append(d.stop)
            servers["dufs"] = f"{d.url}/large.bin"
        lib.warm(path)
        results = {k: [] for k in servers}
        for name, url in servers.items():  # warm-up: carrel's blob copy into the page cache too
            speed, got = lib.curl_speed(url)
            assert got == size, f"{name} sent {got} bytes, expected {size}"
        for r in range(a.rounds):
            for name, url in servers.items():
                speed, got = lib.curl_speed(url)
                assert got == size
                results[name].append(speed)
                lib.log(f"round {r + 1}: {name} {speed / 1e9:.2f} GB/s")
    finally:
        for s in stops:
            s()
    med = {k: lib.median(v) for k, v in results.items()}
    best_nginx = max(v for k, v in med.items() if k.startswith("nginx"))
    print(f"\n{a.size_mib} MiB download, curl -o /dev/null, {a.rounds} rounds")
    lib.table([[k, f"{v / 1e9:.2f} GB/s", f"{v / best_nginx:.2f}x"] for k, v in med.items()],
              ["server", "median", "vs best nginx"])
    print(f"RATIO carrel/nginx = {med['carrel'] / best_nginx:.2f} (target >= 0.95)")


if __name__ == "__main__":
    main()
