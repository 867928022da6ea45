#!/usr/bin/env python3
"""A 1 GiB upload, hashed (BLAKE3) and fsynced, beside `dd conv=fsync` of the
same file to the same file system, and dufs PUT. carrel's time is the whole
`curl -T` request: bytes received, staged, hashed, fsynced, renamed into the
blob store and recorded in the database. Each round uploads fresh content
(the file is deleted between rounds) so deduplication never shortcuts it.

    bench/large_upload.py [--rounds 5] [--size-mib 1024]
"""
import argparse
import os
import subprocess
import time

import lib


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--no-dufs", action="store_true")
    a = ap.parse_args()
    lib.build()
    src_dir = os.path.join(lib.WORK, "upload-src")
    os.makedirs(src_dir, exist_ok=True)
    size = a.size_mib << 20
    path = lib.make_file(os.path.join(src_dir, "up.bin"), size)
    dd_dir = os.path.join(lib.WORK, "dd-target")
    dufs_dir = os.path.join(lib.WORK, "dufs-target")
    os.makedirs(dd_dir, exist_ok=True)
    os.makedirs(dufs_dir, exist_ok=True)
    lib.warm(path)

    results = {"dd conv=fsync": [], "carrel": []}
    stops = []
    try:
        c = lib.Carrel()
        stops.append(c.stop)
        d = None
        if not a.no_dufs:
            d = lib.Dufs(dufs_dir, upload=True)
            stops.append(d.stop)
            results["dufs PUT"] = []
        for r in range(a.rounds):
            target = os.path.join(dd_dir, "up.bin")
            t = timed(["dd", f"if={path}", f"of={target}", "bs=1M", "conv=fsync"])
            os.remove(target)
            results["dd conv=fsync"].append(size / t)

            t = time.perf_counter()
            _, fid, token = c.put(path, f"up-{r}.bin")
            results["carrel"].append(size / (time.perf_counter() - t))
            c.delete(fid, token)

            if d:
                t = timed(["curl", "-sS", "-f", "-T", path, f"{d.url}/up-{r}.bin"])
                os.remove(os.path.join(dufs_dir, f"up-{r}.bin"))
                results["dufs PUT"].append(size / t)
            lib.log("round %d: %s" % (r + 1, ", ".join(f"{k} {v[-1] / 1e6:.0f} MB/s" for k, v in results.items())))
    finally:
        for s in stops:
            s()
    med = {k: lib.median(v) for k, v in results.items()}
    base = med["dd conv=fsync"]
    print(f"\n{a.size_mib} MiB upload (carrel: curl -T, BLAKE3 + fsync + rename), {a.rounds} rounds")
    lib.table([[k, f"{v / 1e6:.0f} MB/s", f"{v / base:.2f}x"] for k, v in med.items()],
              ["writer", "median", "vs dd"])
    print(f"RATIO carrel/dd = {med['carrel'] / base:.2f} (target >= 0.90)")


if __name__ == "__main__":
    main()
