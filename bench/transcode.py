#!/usr/bin/env python3
"""The quality ladder's transcode: carrel against the same ffmpeg command by hand.

For the 1080p corpus file (../shared/corpus/media/moviepy/smpte-2997.mp4,
H.264/AAC 1920x1080, 10 s), each round:

1. carrel: uploads a copy (a `free` box of random bytes appended, so the
   content hash is new and the transcode is not shared with an earlier
   round; ffmpeg ignores the box), then measures
   - time to the first playable segment: from the upload's answer to a
     200 for `/s/{id}/hls/360p/0.m4s` (asked at once: the server holds the
     request until the segment exists);
   - the transcode as carrel runs it: from the upload's answer until the
     share JSON says the ladder is ready (probe, queue, ffmpeg, reading the
     fragments, storing the four files as blobs). It waits as a viewer
     would: it asks for the top rung's last segment (the server holds the
     request until ffmpeg has written it), then polls the share JSON over
     one keep-alive connection every 10 ms until the ladder is ready.
     Polling all along costs the server CPU that ffmpeg would have had:
     a curl process every 50 ms cost the carrel column ~3 %, and a JSON
     poll every 10 ms over keep-alive about as much (BENCHMARKS.md);
2. by hand: the exact ffmpeg command carrel ran (its `transcode command`
   log line, the same arguments) into a temporary directory, timed.

Rounds interleave carrel and the hand run so machine noise hits both alike;
medians and the overhead ratio (carrel / hand - 1, target <= 5 %) are
printed, and time to the first segment (target <= 3 s on the 2-core
machine).

    python3 bench/transcode.py [--rounds N] [--json]

CARREL_BIN picks the binary (default target/release/carrel).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

SOURCE = os.path.join(lib.SHARED, "corpus", "media", "moviepy", "smpte-2997.mp4")


def fresh_copy(path, out):
    """The file with a `free` box of 16 random bytes appended: new bytes, the same media."""
    with open(path, "rb") as r, open(out, "wb") as w:
        w.write(r.read())
        w.write((24).to_bytes(4, "big") + b"free" + os.urandom(16))
    return out


class Poller:
    """GETs of one JSON resource over one keep-alive connection: a poll costs
    the server one request and this process a few microseconds, where a curl
    process per poll costs both cores a fork and exec."""

    def __init__(self, base, token):
        host, port = base.split("//", 1)[1].rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"}

    def fetch(self, path):
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        return r.status, r.read()

    def get(self, path):
        status, body = self.fetch(path)
        if status != 200:
            sys.exit(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def text(self, path):
        status, body = self.fetch(path)
        if status != 200:
            sys.exit(f"GET {path}: {status} {body[:200]!r}")
        return body.decode()

    def status(self, path):
        return self.fetch(path)[0]

    def close(self):
        self.conn.close()


def carrel_round(server, copy):
    out = subprocess.run(["curl", "-sS", "-f", "-H", "Accept: application/json", "-T", copy,
                          f"{server.url}/u/video.mp4"], capture_output=True, check=True, text=True).stdout
    t0 = time.monotonic()
    j = json.loads(out)
    share = j["url"].rsplit("/", 1)[1]
    first = None
    while first is None and time.monotonic() - t0 < 120:
        code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               f"{server.url}/s/{share}/hls/360p/0.m4s"], capture_output=True, text=True).stdout
        if code == "200":
            first = time.monotonic() - t0
    if first is None:
        sys.exit("segment 0 never came")
    poll = Poller(server.url, j["manage_token"])
    top = poll.text(f"/s/{share}/hls/1080p.m3u8")
    last = sum(1 for line in top.splitlines() if line.startswith("#EXTINF")) - 1
    while poll.status(f"/s/{share}/hls/1080p/{last}.m4s") != 200 and time.monotonic() - t0 < 120:
        pass
    while True:
        m = poll.get(f"/api/shares/{share}").get("media") or {}
        state = (m.get("ladder") or {}).get("state")
        if state == "ready":
            done = time.monotonic() - t0
            break
        if state == "failed":
            sys.exit(f"the transcode failed: {m}")
        time.sleep(0.01)
    poll.close()
    server.delete(j["file_id"], j["manage_token"])
    return first, done


def last_command(logfile):
    with open(logfile, errors="replace") as f:
        text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
        cmds = [m.group(1) for m in re.finditer(r"transcode command command=(\[.*?\])\s*$", text, re.M)]
    if not cmds:
        sys.exit(f"no transcode command in {logfile} (CARREL_LOG must be info)")
    return json.loads(cmds[-1])


def by_hand(args, workdir):
    """The same arguments, with every output file moved into `workdir`."""
    out = []
    for a in args:
        if a.startswith("file:") and "transcode-" in a:
            a = "file:" + os.path.join(workdir, os.path.basename(a[5:]))
        out.append(a)
    t = time.monotonic()
    subprocess.run(["ffmpeg"] + out, check=True, stdout=subprocess.DEVNULL)
    took = time.monotonic() - t
    for f in os.listdir(workdir):
        os.remove(os.path.join(workdir, f))
    return took, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    lib.need("ffmpeg", "scripts/install-test-deps")
    lib.need("curl", "apt-get install curl")
    if not os.path.exists(lib.BIN):
        lib.build()
    server = lib.Carrel("transcode", env={"CARREL_LOG": "info"})
    logfile = os.path.join(lib.WORK, "transcode.log")
    tmp = tempfile.mkdtemp(prefix="carrel-bench-ffmpeg-")
    outdir = os.path.join(tmp, "out")
    os.makedirs(outdir)
    firsts, carrel, hand = [], [], []
    cmd = None
    try:
        # One warm-up round of each (page cache, ffmpeg's libraries).
        for r in range(a.rounds + 1):
            copy = fresh_copy(SOURCE, os.path.join(tmp, f"copy-{r}.mp4"))
            first, done = carrel_round(server, copy)
            args = last_command(logfile)
            args = [x if not x.startswith("file:") or "transcode-" in x else "file:" + copy for x in args]
            h, cmd = by_hand(args, outdir)
            os.remove(copy)
            lib.log(f"round {r}: first segment {first:.2f} s, carrel {done:.2f} s, by hand {h:.2f} s")
            if r > 0:
                firsts.append(first)
                carrel.append(done)
                hand.append(h)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res = {
        "rounds": a.rounds,
        "first_segment_s": lib.median(firsts),
        "carrel_s": lib.median(carrel),
        "hand_s": lib.median(hand),
        "overhead": lib.median(carrel) / lib.median(hand) - 1,
        "all": {"first_segment_s": firsts, "carrel_s": carrel, "hand_s": hand},
    }
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print(f"1080p source, {a.rounds} rounds (medians):")
    print(f"  time to the first playable segment (360p/0.m4s): {res['first_segment_s']:.2f} s  (target <= 3 s)")
    print(f"  carrel, upload answered -> ladder ready:          {res['carrel_s']:.2f} s")
    print(f"  the same ffmpeg command by hand:                  {res['hand_s']:.2f} s")
    print(f"  overhead:                                         {res['overhead'] * 100:+.1f} %  (target <= 5 %)")
    print("command: ffmpeg " + " ".join(cmd))


if __name__ == "__main__":
    main()
