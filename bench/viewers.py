#!/usr/bin/env python3
"""Concurrent viewers of a ready rendition: carrel against nginx serving the
same bytes (issue 5: "served like downloads").

A real video from the corpus (default ../shared/corpus/media/moviepy/
smpte-2997.mp4, H.264/AAC 1920x1080, 10 s, played --loop times over with
its streams copied: 60 s) is uploaded to carrel with curl, shared, and
transcoded by carrel's own ladder; the script waits until the share JSON
says the ladder is ready. Each carrel measured then starts from a copy of
that data directory (same share, same rendition blobs), and the rung's file
(`/s/{id}/hls/{rung}.mp4`) and media playlist (`{rung}.m3u8`) are fetched
over HTTP; nginx (../shared/bench/peer-nginx: sendfile, and read/write)
serves that copy of the file from a directory. Two ways of watching are
measured with wrk, each at several numbers of connections (viewers):

(a) whole-file playback (`<video src=".../{rung}.mp4">`): every request asks
    for the next `--chunk-mib` range of the file (`Range: bytes=A-B`,
    cycling from the start as a player reads it), counted in bytes/s;
(b) HLS playback: every request asks for the next segment's byte range as
    the rung's media playlist lists it (`#EXT-X-BYTERANGE`), cycling through
    the segments (the init segment is fetched once per viewer, so it is left
    out unless --with-init), counted in requests/s with p50/p99 latency.

carrel serves both through the share link (`/s/{id}/hls/{rung}.mp4`: link
rules, probe and rendition lookup, metering, and a view counted for every
range from byte 0, which (a) asks for once per pass over the file); nginx
serves the same file with the same ranges, and so does carrel through a
download link (`carrel-download`: the same bytes uploaded as a file, served
by `/d/{id}` as in the file host's benchmarks; --no-download-link leaves
it out), which tells the streaming route's cost from the download path's.
Rounds are interleaved (every server, kind and connection count in turn);
medians are printed with each server's ratio to the better nginx (lower is
better for latency), against the file host's download targets (0.95x for
(a), as a large download; 0.90x for (b), as small downloads). Every range is first checked to come back as
206 with the file's bytes from every server.

    bench/viewers.py [--rounds 5] [--seconds 5] [--connections 1,16,64]
                     [--rung 1080p] [--chunk-mib 2] [--enforced] [--loop 6]
                     [--source PATH] [--only whole|hls] [--with-init]
                     [--no-download-link] [--baseline-bin PATH]
                     [--baseline-env KEY=VALUE]
                     [--segment-bytes N]

With --enforced, a second carrel (a copy of the same data) serves under a
plan that sets every download limit without reaching any
(lib.ENFORCED_PLAN), so the cost of the plan's enforcement on viewers is its
ratio to the first. With --baseline-bin, one more carrel (a copy of the
same data) runs another build, in the same interleaved rounds: a change's
before and after on a noisy machine; --baseline-env KEY=VALUE (repeatable) sets
an environment variable for that carrel only (alone, it runs this build a
second time with it). --segment-bytes N cuts every HLS range
to its first N bytes, so (b) measures the cost of a request rather than of
its bytes. Needs wrk, curl, ffmpeg and nginx (the last is
installed by peer-nginx). CARREL_BIN picks the binary (default
target/release/carrel, built by `cargo build --release` otherwise).
A source with real picture content: --source
../shared/corpus/media/moviepy/big_buck_bunny_0_30.webm --loop 2 --rung 720p.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

SOURCE = os.path.join(lib.SHARED, "corpus", "media", "moviepy", "smpte-2997.mp4")

# One wrk thread's requests: the ranges in turn, each thread starting at a
# different one; `done` prints the run's figures as one JSON line.
LUA = """
local path = %(path)s
local ranges = { %(ranges)s }
local reqs = {}
local i = 0
local threads = 0
function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end
function init(args)
  for k, r in ipairs(ranges) do
    reqs[k] = wrk.format("GET", path, { ["Range"] = r })
  end
  i = ((first or 0) * 7) %% #reqs
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "bytes": %%d, "duration_us": %%d, "p50_us": %%d, ' ..
    '"p99_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def curl(*args, **kw):
    return subprocess.run(["curl", "-sS", "-f", *args], capture_output=True, check=True, **kw).stdout


def share_media(server, share, token):
    out = curl("-H", f"Authorization: Bearer {token}", f"{server.url}/api/shares/{share}", text=True)
    return json.loads(out).get("media") or {}


def wait_ladder(server, share, token, rung, seconds=600):
    """The share JSON's `media` once the ladder is ready (exits if it fails or lacks `rung`)."""
    t = time.monotonic()
    while True:
        m = share_media(server, share, token)
        state = (m.get("ladder") or {}).get("state")
        if state == "ready":
            if rung not in m["ladder"].get("renditions", []):
                sys.exit(f"the ladder has no {rung}: {m['ladder']} (pick --rung from those)")
            lib.log(f"{server.url}: ladder ready after {time.monotonic() - t:.1f} s: {m['ladder']['renditions']}")
            return m
        if state == "failed" or m.get("state") == "failed":
            sys.exit(f"the transcode failed: {m}")
        if time.monotonic() - t > seconds:
            sys.exit(f"no ladder after {seconds} s: {m}")
        time.sleep(0.3)


def playlist_ranges(text, rung):
    """(init range, segment ranges) of a byte-range media playlist, as
    (offset, length) pairs; an offset left out follows the previous range."""
    mp = re.search(r'#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"', text)
    if not mp or mp.group(1) != f"{rung}.mp4":
        sys.exit(f"{rung}.m3u8 has no byte-range init segment in {rung}.mp4:\n{text}")
    init = (int(mp.group(3)), int(mp.group(2)))
    segs, lines, at = [], text.splitlines(), None
    for k, line in enumerate(lines):
        if line.startswith("#EXT-X-BYTERANGE:"):
            spec = line.split(":", 1)[1]
            length, _, off = spec.partition("@")
            off = int(off) if off else at
            segs.append((off, int(length)))
            at = off + int(length)
            uri = next(x for x in lines[k + 1:] if x and not x.startswith("#"))
            if uri != f"{rung}.mp4":
                sys.exit(f"segment in {uri}, not {rung}.mp4")
    if not segs:
        sys.exit(f"{rung}.m3u8 lists no byte ranges (not ready?):\n{text}")
    return init, segs


def chunk_ranges(size, chunk):
    return [(off, min(chunk, size - off)) for off in range(0, size, chunk)]


def lua_script(path, ranges, workdir, name):
    spec = ", ".join(f'"bytes={o}-{o + n - 1}"' for o, n in ranges)
    f = os.path.join(workdir, f"{name}.lua")
    with open(f, "w") as w:
        w.write(LUA % {"path": json.dumps(path), "ranges": spec})
    return f


def wrk_ranges(url, script, connections, seconds):
    """One wrk run of `script` against `url`; its figures as a dict. Any
    socket error, timeout or error status fails the benchmark."""
    threads = min(2, connections)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                          "-s", script, url], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if not m:
        sys.exit(f"wrk printed no result for {url}:\n{out}")
    r = json.loads(m.group(1))
    bad = {k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]}
    if bad or re.search(r"Non-2xx or 3xx responses", out):
        sys.exit(f"{url}: errors {bad}\n{out}")
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs
    r["bps"] = r["bytes"] / secs
    return r


def check_ranges(url, data, ranges):
    """Every range answers 206 with the file's bytes."""
    for off, n in ranges:
        out = subprocess.run(["curl", "-sS", "-r", f"{off}-{off + n - 1}", "-o", "-", "-w", "%{http_code}",
                              url], capture_output=True, check=True).stdout
        body, code = out[:-3], out[-3:]
        if code != b"206" or body != data[off:off + n]:
            sys.exit(f"{url} bytes={off}-{off + n - 1}: {code.decode()} with {len(body)} bytes "
                     f"({'same' if body == data[off:off + n] else 'different'} bytes)")


def report_latency(title, p50, p99):
    """Median p50/p99 latency by server, each as a ratio to the better
    (lower) nginx figure."""
    best50 = min(v for k, v in p50.items() if k.startswith("nginx"))
    best99 = min(v for k, v in p99.items() if k.startswith("nginx"))
    ms = lambda us: f"{us / 1000:.2f} ms"  # noqa: E731
    print(f"\n{title}")
    lib.table([[k, ms(p50[k]), f"{p50[k] / best50:.2f}x", ms(p99[k]), f"{p99[k] / best99:.2f}x"] for k in p50],
              ["server", "p50", "vs best nginx", "p99", "vs best nginx"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", default="1,16,64", help="comma-separated numbers of viewers (wrk -c)")
    ap.add_argument("--rung", default="1080p", help="the ladder rung to watch (360p, 480p, 720p, 1080p)")
    ap.add_argument("--chunk-mib", type=float, default=2, help="range size of whole-file playback")
    ap.add_argument("--source", default=SOURCE, help="the video to upload (default: the 1080p corpus MP4)")
    ap.add_argument("--loop", type=int, default=6,
                    help="upload the source this many times over, streams copied (default 6: a 60 s video)")
    ap.add_argument("--only", choices=["whole", "hls"], help="measure one way of watching only")
    ap.add_argument("--with-init", action="store_true", help="HLS requests cycle through the init segment too")
    ap.add_argument("--no-download-link", action="store_true",
                    help="leave out carrel serving the same bytes as an upload through /d/{id}")
    ap.add_argument("--baseline-bin", help="another carrel binary to measure beside CARREL_BIN (before/after)")
    ap.add_argument("--baseline-env", action="append", default=[], metavar="KEY=VALUE",
                    help="an environment variable for the baseline carrel only (repeatable; with"
                         " --baseline-bin, or alone to run this build a second time with it)")
    ap.add_argument("--segment-bytes", type=int, default=0,
                    help="cut every HLS range to its first N bytes (per-request cost; default whole segments)")
    ap.add_argument("--enforced", action="store_true",
                    help="add a second carrel whose anonymous plan sets every download limit (none reached)")
    a = ap.parse_args()
    conns = [int(c) for c in a.connections.split(",")]
    kinds = [a.only] if a.only else ["whole", "hls"]
    for cmd, how in [("wrk", "apt-get install wrk (scripts/install-test-deps does it)"),
                     ("curl", "apt-get install curl"), ("ffmpeg", "scripts/install-test-deps")]:
        lib.need(cmd, how)
    lib.raise_nofile()
    lib.build()
    work = tempfile.mkdtemp(prefix="viewers-", dir=lib.WORK)
    files = os.path.join(work, "files")
    os.makedirs(files)

    source = a.source
    if a.loop > 1:
        # The same media N times over (streams copied, not encoded): a longer
        # rendition, so that a player's ranges and segments are many per view.
        source = os.path.join(work, "looped" + os.path.splitext(a.source)[1])
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-stream_loop", str(a.loop - 1), "-i", a.source,
                        "-map", "0", "-c", "copy", "-y", source], check=True)

    stops = []
    try:
        # One upload and transcode; every carrel then starts from a copy of
        # that data directory, so all serve the same share and the same bytes.
        src = lib.Carrel("carrel-viewers-source")
        stops.append(src.stop)
        direct, _, token = src.put(source)
        share = direct.rsplit("/", 1)[1]
        m = wait_ladder(src, share, token, a.rung)
        lib.log(f"source: {m.get('width')}x{m.get('height')}, decision {m.get('decision')}")
        src.stop()
        carrels = [("carrel", lib.Carrel("carrel-viewers", data_from=src.data))]
        stops.append(carrels[0][1].stop)
        if a.enforced:
            carrels.append(("carrel-enforced", lib.Carrel("carrel-viewers-enforced", env=lib.ENFORCED_PLAN,
                                                          data_from=src.data)))
            stops.append(carrels[-1][1].stop)
        if a.baseline_bin or a.baseline_env:
            env = dict(kv.split("=", 1) for kv in a.baseline_env)
            carrels.append(("carrel-baseline", lib.Carrel("carrel-viewers-baseline", data_from=src.data,
                                                          bin=a.baseline_bin, env=env)))
            stops.append(carrels[-1][1].stop)
        # What each carrel serves: its rung's file and playlist, fetched over HTTP.
        served = {}
        for name, c in carrels:
            base = f"{c.url}/s/{share}/hls"
            data = curl(f"{base}/{a.rung}.mp4")
            init, segs = playlist_ranges(curl(f"{base}/{a.rung}.m3u8", text=True), a.rung)
            served[name] = (f"{base}/{a.rung}.mp4", data, init, segs)
        _, data, init, segs = served["carrel"]
        path = os.path.join(files, f"{a.rung}.mp4")
        with open(path, "wb") as w:
            w.write(data)
        assert all(v[1:] == (data, init, segs) for v in served.values()), "the carrels serve different bytes"
        if not a.no_download_link:
            # The same bytes as an ordinary upload, through its download link
            # (`/d/{id}`): what the file host's benchmarks measure.
            served["carrel-download"] = (carrels[0][1].put(path)[0], data, init, segs)
        n = lib.Nginx(files)
        stops.append(n.stop)
        for k, u in n.urls.items():
            served[k] = (f"{u}/{a.rung}.mp4", data, init, segs)
        lib.warm(path)

        chunk = int(a.chunk_mib * (1 << 20))
        scripts = {}
        for name, (url, d, i, s) in served.items():
            path_q = "/" + url.split("/", 3)[3]
            hls = ([i] if a.with_init else []) + s
            if a.segment_bytes > 0:
                hls = [(o, min(n, a.segment_bytes)) for o, n in hls]
            rs = {"whole": chunk_ranges(len(d), chunk), "hls": hls}
            for kind in kinds:
                check_ranges(url, d, rs[kind])
                scripts[name, kind] = lua_script(path_q, rs[kind], work, f"{name}-{kind}")
        seg_sizes = [n for _, n in segs]
        lib.log(f"{a.rung}.mp4: {len(data):,} bytes; {len(segs)} segments of "
                f"{min(seg_sizes):,}-{max(seg_sizes):,} bytes; init {init[1]:,} bytes")

        for name in served:  # warm-up, and a check that each answers under load
            for kind in kinds:
                wrk_ranges(served[name][0], scripts[name, kind], max(conns), 1)

        res = {(kind, c): {name: [] for name in served} for kind in kinds for c in conns}
        for r in range(a.rounds):
            for c in conns:
                for kind in kinds:
                    for name in served:
                        v = wrk_ranges(served[name][0], scripts[name, kind], c, a.seconds)
                        res[kind, c][name].append(v)
                        lib.log(f"round {r + 1}: {kind} c={c} {name}: {v['rps']:,.0f} req/s, "
                                f"{v['bps'] / 1e9:.2f} GB/s, p50 {v['p50_us'] / 1000:.2f} ms, "
                                f"p99 {v['p99_us'] / 1000:.2f} ms")
    finally:
        for s in reversed(stops):
            s()

    med = lambda kind, c, field: {k: lib.median([v[field] for v in vs])  # noqa: E731
                                  for k, vs in res[kind, c].items()}
    gbps = lambda v: f"{v / 1e9:.2f} GB/s"  # noqa: E731
    rps = lambda v: f"{v:,.0f} req/s"  # noqa: E731
    print(f"Viewers of {os.path.basename(a.source)} (x{a.loop})'s {a.rung} rendition ({len(data):,} bytes, "
          f"{len(segs)} segments); wrk, {a.rounds} rounds of {a.seconds} s, medians")
    summary = []
    for c in conns:
        if "whole" in kinds:
            m = med("whole", c, "bps")
            lib.report_vs_nginx(f"(a) whole-file playback, {a.chunk_mib:g} MiB ranges of {a.rung}.mp4, "
                                f"{c} connections", m, gbps, 0.95)
            summary.append(("whole", c, m, gbps))
        if "hls" in kinds:
            m = med("hls", c, "rps")
            lib.report_vs_nginx(f"(b) HLS segment ranges of {a.rung}.mp4{' (with init)' if a.with_init else ''}"
                                f"{f' cut to {a.segment_bytes} bytes' if a.segment_bytes else ''}, "
                                f"{c} connections", m, rps, 0.90)
            report_latency(f"(b) latency, {c} connections", med("hls", c, "p50_us"), med("hls", c, "p99_us"))
            summary.append(("hls", c, m, rps))
    print("\nSummary (carrel / better nginx)")
    rows = []
    for kind, c, m, show in summary:
        best = max((v, k) for k, v in m.items() if k.startswith("nginx"))
        row = [kind, c, show(m["carrel"]), f"{best[1]} {show(best[0])}", f"{m['carrel'] / best[0]:.2f}x"]
        if "carrel-enforced" in m:
            row += [f"{m['carrel-enforced'] / best[0]:.2f}x", f"{m['carrel-enforced'] / m['carrel']:.3f}"]
        if "carrel-baseline" in m:
            row += [f"{m['carrel-baseline'] / best[0]:.2f}x", f"{m['carrel'] / m['carrel-baseline']:.2f}"]
        if "carrel-download" in m:
            row += [f"{m['carrel-download'] / best[0]:.2f}x", f"{m['carrel'] / m['carrel-download']:.2f}"]
        rows.append(row)
    header = ["kind", "conns", "carrel", "better nginx", "ratio"]
    if a.enforced:
        header += ["enforced ratio", "enforced/carrel"]
    if a.baseline_bin or a.baseline_env:
        header += ["baseline ratio", "carrel/baseline"]
    if not a.no_download_link:
        header += ["/d/ ratio", "carrel//d/"]
    lib.table(rows, header)


if __name__ == "__main__":
    main()
