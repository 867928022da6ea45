"""The quality ladder through the real server on both backends: videos from
../shared/corpus/media uploaded with PUT, probed, and transcoded by the
durable `media.transcode` job (one real ffmpeg run per source) into H.264/AAC
rungs capped at the source's height, each one fragmented MP4. Checked over
HTTP with ffprobe and ffmpeg (master and every rendition playlist), a
segment asked for before it exists, the same bytes transcoded once, a
deletion cancelling a running transcode (ffmpeg killed, its files removed),
priority for a video someone asks for, bounded failures of bad input, and
headless Chromium playing the share page."""
import json
import os
import re
import subprocess
import time

import pytest
import requests

from conftest import ARTIFACTS, ROOT, put

MEDIA = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "media")
PLAY_SCRIPT = os.path.join(ROOT, "tests", "js", "hls_play.mjs")
HD = os.path.join(MEDIA, "moviepy", "smpte-2997.mp4")  # H.264/AAC 1920x1080, 10.04 s
WEBM = os.path.join(MEDIA, "moviepy", "big_buck_bunny_0_30.webm")  # VP8/Vorbis 1280x720, 30 s
MKV = os.path.join(MEDIA, "derived", "bbb_0_30_with_3_subs.mkv")  # VP8/Vorbis + 3 SubRip, 30 s of video

LADDER = {"360p": (640, 360), "480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def sid_of(url):
    return url.rsplit("/", 1)[1]


def media(server, url, j):
    r = requests.get(f"{server.url}/api/shares/{sid_of(url)}", headers={"Authorization": f"Bearer {j['manage_token']}"})
    assert r.status_code == 200, r.text
    return r.json().get("media") or {}


def ladder_done(server, url, j, seconds=240):
    """The share JSON's `media` once the ladder is ready or failed."""
    t = time.monotonic()
    while True:
        m = media(server, url, j)
        if (m.get("ladder") or {}).get("state") in ("ready", "failed") or m.get("state") == "failed":
            return m
        assert time.monotonic() - t < seconds, f"no ladder after {seconds} s: {m}"
        time.sleep(0.3)


def plain_log(server):
    """The server's log without its colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", server.read_log())


def video_duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "format=duration",
                        "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def variants(master):
    lines = master.splitlines()
    out = []
    for i, l in enumerate(lines):
        if l.startswith("#EXT-X-STREAM-INF:"):
            res = re.search(r"RESOLUTION=(\d+)x(\d+)", l)
            out.append((lines[i + 1], (int(res.group(1)), int(res.group(2))), l))
    return out


def check_ladder_over_http(base, expect_rungs, duration):
    """Master lists the capped ladder; ffprobe gives the duration; ffmpeg decodes every rendition."""
    master = requests.get(f"{base}/master.m3u8")
    assert master.status_code == 200 and master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    vs = variants(master.text)
    assert [u for u, _, _ in vs] == [f"{n}.m3u8" for n in expect_rungs], master.text
    for (uri, res, line), name in zip(vs, expect_rungs):
        assert res == LADDER[name], line
        assert re.search(r'CODECS="avc1\.64[0-9a-f]{4},mp4a\.40\.2"', line), line
    bws = [int(re.search(r"BANDWIDTH=(\d+)", l).group(1)) for _, _, l in vs]
    assert bws == sorted(bws), bws
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                        f"{base}/master.m3u8"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert abs(float(p.stdout.strip()) - duration) < 0.5, (p.stdout, duration)
    for name in expect_rungs:
        d = subprocess.run(["ffmpeg", "-v", "error", "-i", f"{base}/{name}.m3u8", "-f", "null", "-"],
                           capture_output=True, text=True, timeout=180)
        assert d.returncode == 0 and d.stderr.strip() == "", (name, d.stderr)
        # Each rung is also one MP4 that plays whole, at its size.
        s = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height,codec_name", "-of", "csv=p=0", f"{base}/{name}.mp4"],
                           capture_output=True, text=True, timeout=60)
        assert s.stdout.strip() == "h264,%d,%d" % LADDER[name], (name, s.stdout, s.stderr)
    return master.text


def test_1080p_ladder_starts_before_the_transcode_ends(server):
    data = read(HD)
    url, j = put(server, "smpte.mp4", data)
    base = f"{url}/hls"
    # Segment 0 of the lowest rung, asked for at once: answered once it exists.
    t = time.monotonic()
    first = None
    while time.monotonic() - t < 120:
        r = requests.get(f"{base}/360p/0.m4s", timeout=30)
        if r.status_code == 200:
            first = r
            break
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0, (r.status_code, r.text)
    assert first is not None, "segment 0 never came"
    assert first.headers["Content-Type"] == "video/iso.segment"
    assert first.content[4:8] == b"moof", first.content[:8]
    init = requests.get(f"{base}/360p/init.mp4")
    assert init.status_code == 200 and init.content[4:8] == b"ftyp"
    # Served from the file ffmpeg is still writing (the 10 s ladder takes several seconds more here).
    early = requests.get(f"{base}/360p.m3u8").text
    m = media(server, url, j)
    assert m["decision"] == "direct_play", m
    assert m["ladder"]["state"] == "transcoding" and 0 <= m["ladder"]["progress"] < 1, m
    # The playlist written up front: one URI per planned segment, no byte ranges yet.
    assert "#EXT-X-BYTERANGE" not in early and '#EXT-X-MAP:URI="360p/init.mp4"' in early, early

    m = ladder_done(server, url, j)
    assert m["ladder"] == {"state": "ready", "renditions": ["360p", "480p", "720p", "1080p"]}, m
    assert m["hls"] == "hls/master.m3u8"
    check_ladder_over_http(base, ["360p", "480p", "720p", "1080p"], video_duration(HD))
    # Now byte ranges into the one file; the segment served while it was made is the same bytes.
    final = requests.get(f"{base}/360p.m3u8").text
    mp = re.search(r'#EXT-X-MAP:URI="360p\.mp4",BYTERANGE="(\d+)@0"', final)
    assert mp, final
    length, off = map(int, re.search(r"#EXT-X-BYTERANGE:(\d+)@(\d+)", final).groups())
    seg0 = requests.get(f"{base}/360p.mp4", headers={"Range": f"bytes={off}-{off + length - 1}"})
    assert seg0.status_code == 206 and seg0.content == first.content
    assert requests.get(f"{base}/360p/0.m4s").content == first.content
    assert requests.get(f"{base}/360p/init.mp4").content == init.content == \
        requests.get(f"{base}/360p.mp4", headers={"Range": f"bytes=0-{int(mp.group(1)) - 1}"}).content
    uris = [l for l in early.splitlines() if l and not l.startswith("#")]
    assert uris == [f"360p/{n}.m4s" for n in range(len(uris))] and len(uris) == final.count("#EXTINF"), early
    # Past the last segment, and names that are no rung: 404.
    assert requests.get(f"{base}/360p/99.m4s").status_code == 404
    assert requests.get(f"{base}/2160p.m3u8").status_code == 404
    assert requests.get(f"{base}/2160p/0.m4s").status_code == 404
    assert requests.get(f"{base}/360p/..%2f0.m4s").status_code == 404

    # The same bytes again: transcoded once.
    url2, j2 = put(server, "again.mp4", data)
    ladder_done(server, url2, j2)
    assert requests.get(f"{url2}/hls/720p.m3u8").text == requests.get(f"{base}/720p.m3u8").text
    time.sleep(1.5)
    log = plain_log(server)
    assert log.count("transcode command") == 1 and len(re.findall(r": transcoded blob=", log)) == 1, log[-3000:]
    assert requests.get(f"{server.url}/healthz").status_code == 200

    # The pictures: the poster at once, the seek thumbnails (which decode
    # the whole video) only once the ladder was made.
    t = time.monotonic()
    while (m := media(server, url, j)).get("pictures") == "preparing":
        assert time.monotonic() - t < 60, m
        time.sleep(0.3)
    assert m["pictures"] == "ready" and m["thumbnails"] == "media/thumbs.vtt", m
    log = plain_log(server)
    at = lambda what: log.index(what)  # noqa: E731
    assert at("poster made") < at(": transcoded blob=") < at("seek thumbnails made"), log[-3000:]
    assert "seek thumbnails after the ladder" in log


@pytest.mark.parametrize("path,name", [(WEBM, "bbb.webm"), (MKV, "bbb.mkv")])
def test_vp8_sources_get_a_ladder_capped_at_720p(server, path, name):
    url, j = put(server, name, read(path))
    m = ladder_done(server, url, j)
    assert m["decision"] == ("direct_play" if name.endswith(".webm") else "transcode"), m
    assert m["ladder"] == {"state": "ready", "renditions": ["360p", "480p", "720p"]}, m
    # The MKV's format duration is its last subtitle's (201 s): the ladder has the video's 30 s.
    check_ladder_over_http(f"{url}/hls", ["360p", "480p", "720p"], 30.0)
    if name.endswith(".mkv"):
        # Browsers do not play Matroska: the page plays the top rung, in headless Chromium.
        shot = os.path.join(ARTIFACTS, f"transcode-{server.backend}.png")
        os.makedirs(ARTIFACTS, exist_ok=True)
        r = subprocess.run(["node", PLAY_SCRIPT, shot, url], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["errors"] == [], res
        # (the page names the top rung; the quality menu's Auto picks by the player's size.)
        assert re.search(r"/hls/(360|480|720)p\.mp4$", res["src"]) and res["end"] > 2, res
        page = requests.get(url).text
        assert "360p, 480p, 720p" in page and re.search(r'<video [^>]*src="/s/[^"]+/hls/720p\.mp4"', page), page


def ffmpeg_children(server):
    """The server's transcoding ffmpeg children (the only ffmpeg runs that
    report progress; posters and subtitle tracks are made by others)."""
    r = subprocess.run(["pgrep", "-P", str(server.proc.pid), "-x", "ffmpeg"], capture_output=True, text=True)
    pids = r.stdout.split()
    def transcoding(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return b"-progress\0pipe:1" in f.read()
        except OSError:
            return False
    return [p for p in pids if transcoding(p)]


def staged_transcodes(server):
    return [f for _, _, fs in os.walk(server.data) for f in fs if f.startswith("transcode-")]


def test_deleting_the_file_cancels_its_transcode(server):
    url, j = put(server, "bbb.webm", read(WEBM))
    t = time.monotonic()
    while True:
        m = media(server, url, j)
        if (m.get("ladder") or {}).get("state") == "transcoding" and ffmpeg_children(server) \
                and staged_transcodes(server):
            break
        assert time.monotonic() - t < 60, m
        time.sleep(0.2)
    # The page shows the progress.
    page = requests.get(url).text
    assert re.search(r"transcoding… \d+%", page), page
    assert requests.delete(f"{server.url}/api/files/{j['file_id']}",
                           headers={"Authorization": f"Bearer {j['manage_token']}"}).status_code == 204
    t = time.monotonic()
    while ffmpeg_children(server) or staged_transcodes(server) or \
            "transcode cancelled: the file was deleted" not in plain_log(server):
        assert time.monotonic() - t < 10, (ffmpeg_children(server), staged_transcodes(server))
        time.sleep(0.2)
    assert not re.search(r": transcoded blob=", plain_log(server))
    assert requests.get(f"{url}/hls/360p/0.m4s").status_code == 404
    assert requests.get(f"{server.url}/healthz").status_code == 200


def tiny_video(path, secs, size="320x240"):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={secs}",
                    "-f", "lavfi", "-i", f"sine=duration={secs}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return read(path)


def test_a_video_someone_asks_for_goes_first(server, tmp_path):
    # One transcode at a time: while the first runs, two more wait; asking for the last one's playlist moves it ahead.
    busy = tiny_video(tmp_path / "busy.mp4", 20, "640x360")
    u0, j0 = put(server, "busy.mp4", busy)
    t = time.monotonic()
    while (media(server, u0, j0).get("ladder") or {}).get("state") != "transcoding":
        assert time.monotonic() - t < 60
        time.sleep(0.2)
    u1, j1 = put(server, "second.mp4", tiny_video(tmp_path / "a.mp4", 2))
    u2, j2 = put(server, "third.mp4", tiny_video(tmp_path / "b.mp4", 3))
    # Not looked at (a page view or the JSON would hasten them too): queued, per the log.
    while plain_log(server).count("transcode queued") < 3:
        assert time.monotonic() - t < 60, plain_log(server)[-2000:]
        time.sleep(0.2)
    assert (media(server, u0, j0).get("ladder") or {}).get("state") == "transcoding"
    # Someone opens the third one's stream.
    assert requests.get(f"{u2}/hls/master.m3u8").status_code == 200
    for u, jj in ((u0, j0), (u2, j2), (u1, j1)):
        assert ladder_done(server, u, jj)["ladder"]["state"] == "ready"
    log = plain_log(server)
    assert "transcode hastened" in log
    order = [m.group(1) for m in re.finditer(r": transcoded blob=([0-9a-f]{64})", log)]
    assert len(order) == 3, order

    def position(u, jj):
        page = requests.get(u).text  # shows the file's BLAKE3 hash
        return next(i for i, h in enumerate(order) if h in page)

    # The third upload was done before the second.
    assert position(u0, j0) == 0 and position(u2, j2) < position(u1, j1), order


def test_bad_video_fails_boundedly(server, tmp_path):
    # Truncated: the WebM says 30 s, its bytes stop after about a third.
    data = read(WEBM)
    url, j = put(server, "cut.webm", data[: len(data) // 3])
    m = ladder_done(server, url, j)
    if m.get("state") == "ready" and m.get("ladder"):
        assert m["ladder"]["state"] == "failed", m
        assert "ends at" in m["ladder"]["error"] or "ffmpeg" in m["ladder"]["error"], m
        page = requests.get(url).text
        assert "could not be transcoded" in page
        assert requests.get(f"{url}/hls/master.m3u8").status_code == 404
    # A huge declared resolution: refused before ffmpeg runs.
    raw = tmp_path / "raw.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=s=256x256:d=1:r=1", "-c:v", "rawvideo",
                    "-pix_fmt", "gray", str(raw)], check=True)
    b = raw.read_bytes()
    assert b.count(b"\xb0\x82\x01\x00") == 1 and b.count(b"\xba\x82\x01\x00") == 1
    # 16000x16000 (ffmpeg accepts the size; it is beyond 8K).
    b = b.replace(b"\xb0\x82\x01\x00", b"\xb0\x82\x3e\x80").replace(b"\xba\x82\x01\x00", b"\xba\x82\x3e\x80")
    url, j = put(server, "huge.mkv", b)
    t = time.monotonic()
    while True:
        m = media(server, url, j)
        if m.get("state") == "failed" or (m.get("ladder") or {}).get("state") == "failed":
            break
        assert time.monotonic() - t < 60, m
        time.sleep(0.3)
    assert m["width"] == 16000 and m["ladder"]["state"] == "failed", m
    assert "16000x16000" in m["ladder"]["error"], m
    assert not ffmpeg_children(server)
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_a_transcode_past_its_time_bound_is_killed_and_recorded(make_server):
    # A source that takes longer than allowed (here: 2 s for anything) is killed; its failure is recorded.
    server = make_server(env={"CARREL_STREAMING__TRANSCODE__TIMEOUT_SECS": "2",
                              "CARREL_STREAMING__TRANSCODE__SECS_PER_MEDIA_SEC": "0"})
    url, j = put(server, "bbb.webm", read(WEBM))
    m = ladder_done(server, url, j, seconds=60)
    assert m["ladder"]["state"] == "failed" and "longer than 2 seconds" in m["ladder"]["error"], m
    assert not ffmpeg_children(server) and not staged_transcodes(server)
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_a_transcode_over_its_memory_bound_fails_with_ffmpegs_words(make_server):
    # ffmpeg under a 300 MB address space cannot decode 1080p: the failure is recorded with the end of its stderr.
    server = make_server(env={"CARREL_STREAMING__TRANSCODE__MEMORY_BYTES": "300000000"})
    url, j = put(server, "smpte.mp4", read(HD))
    m = ladder_done(server, url, j, seconds=60)
    assert m["ladder"]["state"] == "failed", m
    err = m["ladder"]["error"]
    assert err.startswith("the rendition could not be made") or "ffmpeg could not transcode it" in err, err
    assert "allocate" in err or "Error" in err, err
    assert server.data not in err and "/tmp" not in err, err
    assert len(err) < 3000, len(err)
    assert "could not be transcoded" in requests.get(url).text
    assert requests.get(f"{url}/hls/360p/0.m4s").status_code == 404
    assert not ffmpeg_children(server) and not staged_transcodes(server)
    assert requests.get(f"{server.url}/healthz").status_code == 200


QUALITY_SCRIPT = os.path.join(ROOT, "tests", "js", "quality_switch.mjs")


def test_the_players_quality_menu_switches_and_keeps_playing(server, tmp_path):
    # A 720p H.264/AAC MP4 (plays directly): once its ladder is made, the page's menu offers
    # Auto, the original and the three rungs, each one MP4 the <video> plays whole.
    path = tmp_path / "clock.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=24",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=24", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)], check=True)
    url, j = put(server, "clock.mp4", read(path))
    page = requests.get(url).text
    assert 'class="quality"' not in page, "no menu before the ladder is made"
    m = ladder_done(server, url, j)
    assert m["ladder"] == {"state": "ready", "renditions": ["360p", "480p", "720p"]}, m
    page = requests.get(url).text
    assert re.search(r'<option value="/d/[^"]+" data-label="Original" data-width="1280" data-height="720">', page), page
    assert '<div class="qualities" hidden>' in page and "/static/player.js" in page, page

    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, f"quality-{server.backend}.png")
    r = subprocess.run(["node", QUALITY_SCRIPT, shot, url, "720p"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["errors"] == [], res
    # Auto: the highest rung not taller than the picture is shown (in device pixels).
    def auto_pick(width, dpr):
        shown = width * 720 / 1280 * dpr
        return max([h for h in (360, 480, 720) if h <= shown + 1], default=360)
    want = auto_pick(res["width"], res["dpr"])
    assert res["auto"]["height"] == want and res["auto"]["label"] == f"{want}p", res
    assert res["auto"]["src"].endswith(f"/hls/{want}p.mp4"), res
    assert res["menu"] == [f"Auto ({want}p)", "Original", "720p", "480p", "360p"], res
    assert want != 720, "the switch below must change the picture's height"
    # Switched to 720p: the picture is 720 lines high, and it plays on from where it was.
    high, original = res["switches"]
    assert high["src"].endswith("/hls/720p.mp4") and high["height"] == 720, high
    assert high["before"] > 1.5 and abs(high["resumed"] - high["before"]) < 1.0, high
    assert high["after"] > high["resumed"] + 0.8 and not high["paused"], high
    assert res["shownQuality"] == "1280×720", res
    # The original, likewise.
    assert "/d/" in original["src"] and original["height"] == 720, original
    assert abs(original["resumed"] - original["before"]) < 1.0 and original["after"] > original["resumed"] + 0.8, original
    # Twice the pixels: Auto picks a taller rung.
    assert res["autoAt2x"]["label"] == f"{auto_pick(res['autoAt2x']['width'], 2)}p", res
    assert res["autoAt2x"]["height"] == auto_pick(res["autoAt2x"]["width"], 2), res
    assert os.path.getsize(shot) > 20_000


def ffprobe_format_duration(path_or_url):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path_or_url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return float(r.stdout.strip())


@pytest.mark.parametrize("name,codec,label,rungs", [
    # Lossless stereo noise, far above 192 kb/s: every rung.
    ("noise.m4a", ["-c:a", "alac"], "ALAC", ["64k", "128k", "192k"]),
    # AC-3 at 96 kb/s: the rungs above the source's bit rate are left out.
    ("talk.mp4", ["-c:a", "ac3", "-b:a", "96k"], "AC-3", ["64k"]),
])
def test_audio_browsers_do_not_play_gets_an_audio_ladder(server, tmp_path, name, codec, label, rungs):
    path = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anoisesrc=d=13.5:c=pink:a=0.4:r=44100",
                    "-ac", "2", *codec, str(path)], check=True)
    url, j = put(server, name, read(path))
    m = ladder_done(server, url, j)
    assert m["decision"] == "transcode" and m["transcode_audio"] and m["video_codec"] is None, m
    assert m["ladder"] == {"state": "ready", "renditions": rungs}, m
    base = f"{url}/hls"
    master = requests.get(f"{base}/master.m3u8")
    assert master.status_code == 200 and master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    lines = master.text.splitlines()
    inf = [(l, lines[i + 1]) for i, l in enumerate(lines) if l.startswith("#EXT-X-STREAM-INF:")]
    assert [u for _, u in inf] == [f"{n}.m3u8" for n in rungs], master.text
    for l, _ in inf:
        assert 'CODECS="mp4a.40.2"' in l and "RESOLUTION" not in l, l
    # Over HTTP: the master's duration is the source's; every rendition decodes cleanly.
    assert abs(ffprobe_format_duration(f"{base}/master.m3u8") - ffprobe_format_duration(str(path))) < 0.5
    for n in rungs:
        d = subprocess.run(["ffmpeg", "-v", "error", "-i", f"{base}/{n}.m3u8", "-f", "null", "-"],
                           capture_output=True, text=True, timeout=120)
        assert d.returncode == 0 and d.stderr.strip() == "", (n, d.stderr)
        whole = requests.get(f"{base}/{n}.mp4")
        assert whole.status_code == 200 and whole.headers["Content-Type"] == "audio/mp4", whole.headers
        kbps = int(n[:-1])
        assert 0.6 < len(whole.content) * 8 / 1000 / 13.5 / kbps < 1.5, (n, len(whole.content))
        s = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,channels",
                            "-of", "csv=p=0", f"{base}/{n}.mp4"], capture_output=True, text=True, timeout=60)
        assert s.stdout.strip() == "aac,audio,2", (n, s.stdout, s.stderr)
    # The page: an <audio> playing the best rung, with the menu of rungs, and why.
    page = requests.get(url).text
    top = rungs[-1]
    assert re.search(rf'<audio controls preload="metadata" src="/s/[^"]+/hls/{top}\.mp4">', page), page
    assert "<video" not in page
    for n in rungs:
        assert f'data-label="{n}" data-rung>' in page, page
    why = f"browsers do not decode its audio ({label}): the page plays the audio ladder, re-encoded into AAC in MP4"
    assert f"<dt>Why</dt><dd>{why}</dd>" in page, page


def test_a_crashed_workers_transcode_is_taken_again_soon(make_server, tmp_path):
    # Two transcode workers and a 2 s lease, renewed while ffmpeg runs: a transcode
    # longer than the lease is not taken by the other worker; after a crash
    # (kill -9), the restarted server takes it again once the lease runs out.
    server = make_server(env={"CARREL_STREAMING__TRANSCODE__LEASE_SECS": "2",
                              "CARREL_STREAMING__TRANSCODE__CONCURRENCY": "2"})
    url, j = put(server, "busy.mp4", tiny_video(tmp_path / "busy.mp4", 40, "1280x720"))
    t = time.monotonic()
    while (media(server, url, j).get("ladder") or {}).get("state") != "transcoding":
        assert time.monotonic() - t < 60
        time.sleep(0.2)
    time.sleep(7)  # more than three leases
    assert (media(server, url, j).get("ladder") or {}).get("state") == "transcoding", "the transcode ended too soon"
    log = plain_log(server)
    assert log.count("transcode command") == 1 and "lease lost" not in log, log[-3000:]
    assert len(ffmpeg_children(server)) == 1

    running = ffmpeg_children(server)
    server.restart_after_kill()
    for pid in running:  # the crashed server's ffmpeg, orphaned
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            pass
    restarted = time.monotonic()
    while plain_log(server).count("transcode command") < 2:
        assert time.monotonic() - restarted < 10, "the crashed worker's transcode was not taken again"
        time.sleep(0.2)
    m = ladder_done(server, url, j)
    assert m["ladder"] == {"state": "ready", "renditions": ["360p", "480p", "720p"]}, m
    assert plain_log(server).count("transcode command") == 2
