#!/usr/bin/env python3
"""carrel's resident memory (RSS, sampled every 20 ms, and the kernel's
VmHWM high-water mark) while it:

1. receives a 4 GiB upload by plain PUT (`curl -T`), and the same file by
   tus through `carrel upload` (parallel parts), from a sparse source file
   so the client is faster than the disk and back-pressure is exercised;
2. serves 1,000 concurrent downloads of a 64 MiB file (`wrk -c1000`); the
   number of established connections is read from `ss` while it runs, so
   the concurrency is checked, not assumed.

Targets: at most 64 MiB during the upload, at most 200 MiB during the
downloads. nginx's RSS under the same download load is printed beside it.

    bench/memory.py [--upload-gib 4] [--connections 1000] [--seconds 20]
"""
import argparse
import os
import re
import subprocess
import threading
import time

import lib


def established(port):
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    return len(out.splitlines())


def tree_rss(pids):
    return sum(lib.proc_status(p, "VmRSS:") for p in pids)


def nginx_workers(master):
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()] + [master]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upload-gib", type=int, default=4)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--only", choices=["upload", "downloads"], help="run one of the two parts")
    a = ap.parse_args()
    lib.need("wrk", "apt-get install wrk")
    lib.need("ss", "apt-get install iproute2")
    lib.raise_nofile()
    lib.build()
    files = os.path.join(lib.WORK, "mem-files")
    os.makedirs(files, exist_ok=True)
    big = os.path.join(files, "sparse.bin")
    if not os.path.exists(big) or os.path.getsize(big) != a.upload_gib << 30:
        with open(big, "wb") as f:
            f.truncate(a.upload_gib << 30)  # reads as zeros at memory speed, takes no disk
    rows = []

    c = lib.Carrel("carrel-mem")
    try:
        idle = lib.proc_status(c.pid, "VmRSS:")
        if a.only != "downloads":
            upload_part(a, c, big, idle, rows)
        if a.only != "upload":
            download_part(a, c, files, rows)
    finally:
        c.stop()
    print()
    lib.table(rows, ["load", "idle RSS MiB", "peak RSS MiB", "rate", "target"])


def upload_part(a, c, big, idle, rows):
    # 1a. plain PUT
    s = lib.RssSampler(c.pid)
    t = time.perf_counter()
    url, fid, token = c.put(big, "put.bin")
    secs = time.perf_counter() - t
    peak = s.stop()
    rows.append([f"PUT {a.upload_gib} GiB (curl -T)", f"{lib.mib(idle):.1f}", f"{lib.mib(peak):.1f}",
                 f"{(a.upload_gib << 30) / secs / 1e6:.0f} MB/s", "<= 64 MiB"])
    c.delete(fid, token)
    # 1b. tus, parallel parts, through carrel's own client
    s = lib.RssSampler(c.pid)
    env = dict(os.environ, CARREL_STATE_DIR=os.path.join(lib.WORK, "cli-state"))
    t = time.perf_counter()
    subprocess.run([lib.BIN, "upload", "--server", c.url, "--json", big], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    secs = time.perf_counter() - t
    peak = s.stop()
    rows.append([f"tus {a.upload_gib} GiB (carrel upload, parallel parts)", f"{lib.mib(idle):.1f}",
                 f"{lib.mib(peak):.1f}", f"{(a.upload_gib << 30) / secs / 1e6:.0f} MB/s", "<= 64 MiB"])


def download_part(a, c, files, rows):
    # 2. concurrent downloads
    dl = lib.make_file(os.path.join(files, "dl.bin"), 64 << 20)
    dl_url = c.put(dl)[0]
    n = lib.Nginx(files)
    try:
        for name, target, pids in [
            ("carrel", dl_url, lambda: [c.pid]),
            ("nginx-sendfile", n.urls["nginx-sendfile"] + "/dl.bin",
             lambda: nginx_workers(n.pids[0])),
            ("nginx-readwrite", n.urls["nginx-readwrite"] + "/dl.bin",
             lambda: nginx_workers(n.pids[1])),
        ]:
            tport = int(target.split(":")[2].split("/")[0])
            before = tree_rss(pids())
            peak, conns, nthreads = [0], [0], [0]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], tree_rss(pids()))
                    conns[0] = max(conns[0], established(tport))
                    nthreads[0] = max(nthreads[0], sum(lib.proc_status(p, "Threads:") for p in pids()))
                    time.sleep(0.05)

            th = threading.Thread(target=sample, daemon=True)
            th.start()
            rps, out = lib.wrk(target, a.connections, a.seconds)
            done.set()
            th.join()
            if name == "carrel" and conns[0] < a.connections * 0.95:
                raise SystemExit(f"only {conns[0]} connections were established\n{out}")
            rate = re.search(r"Transfer/sec:\s+(\S+)", out).group(1)
            rows.append([f"{a.connections} concurrent 64 MiB downloads: {name} ({conns[0]} conns, {nthreads[0]} threads)",
                         f"{lib.mib(before):.1f}", f"{lib.mib(peak[0]):.1f}",
                         f"{rate}/s", "<= 200 MiB" if name == "carrel" else "-"])
    finally:
        n.stop()


if __name__ == "__main__":
    main()
