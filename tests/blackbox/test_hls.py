"""The remux rendition through the real server on both backends: an H.264/AAC
file in Matroska (made with ffmpeg from the corpus's SMPTE MP4, with a SubRip
track) is probed, remuxed by the durable `media.remux` job (real ffmpeg) into
one fragmented MP4, and served as byte-range HLS under its share link.
Checked with ffprobe and ffmpeg on the playlist URL, curl ranges, the
playlists' tags, a password-protected link, the sweep after deletion, and
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
SOURCE = os.path.join(MEDIA, "moviepy", "smpte-2997.mp4")
SRT = os.path.join(MEDIA, "moviepy", "subtitles.srt")


@pytest.fixture(scope="module")
def mkv(tmp_path_factory):
    out = tmp_path_factory.mktemp("hls") / "smpte.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", SOURCE, "-i", SRT, "-map", "0", "-map", "1",
                    "-c", "copy", "-c:s", "srt", str(out)], check=True)
    return out


def video_duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=duration",
                        "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def media_of(server, sid, token, seconds=90):
    """The share JSON's `media` once its rendition is ready (or failed)."""
    t = time.monotonic()
    while True:
        r = requests.get(f"{server.url}/api/shares/{sid}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        m = r.json().get("media") or {}
        if m.get("rendition") in ("ready", "failed"):
            return m
        assert time.monotonic() - t < seconds, f"no rendition after {seconds} s: {m}"
        time.sleep(0.3)


def tags(playlist):
    return [l for l in playlist.splitlines() if l.startswith("#")]


def test_remux_is_served_as_byte_range_hls(make_server, mkv, tmp_path):
    server = make_server(env={"CARREL_STREAMING__SWEEP_SECS": "1"})
    url, j = put(server, "smpte.mkv", mkv.read_bytes())
    sid = url.rsplit("/", 1)[1]
    # The page says the rendition is being prepared until it is.
    early = requests.get(url).text
    m = media_of(server, sid, j["manage_token"])
    assert m["decision"] == "remux" and m["target"] == "mp4", m
    assert m["rendition"] == "ready" and m["hls"] == "hls/master.m3u8", m
    if "preparing" not in early:
        assert "ready: HLS" in early or "being examined" in early, early
    base = f"{url}/hls"

    master = requests.get(f"{base}/master.m3u8")
    assert master.status_code == 200 and master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    lines = master.text.splitlines()
    assert lines[0] == "#EXTM3U" and "#EXT-X-VERSION:7" in lines
    # The remux's variant (the ladder's rungs join it once transcoded: test_transcode.py).
    inf = [l for i, l in enumerate(lines) if l.startswith("#EXT-X-STREAM-INF:") and lines[i + 1] == "remux.m3u8"]
    assert len(inf) == 1 and "RESOLUTION=1920x1080" in inf[0], inf
    assert re.search(r"BANDWIDTH=\d+", inf[0]) and re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', inf[0]), inf
    assert lines[lines.index(inf[0]) + 1] == "remux.m3u8"

    media = requests.get(f"{base}/remux.m3u8")
    assert media.status_code == 200 and media.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    t = tags(media.text)
    assert t[0] == "#EXTM3U" and "#EXT-X-VERSION:7" in t and t[-1] == "#EXT-X-ENDLIST"
    target = int(next(x for x in t if x.startswith("#EXT-X-TARGETDURATION:")).split(":")[1])
    durations = [float(x.split(":")[1].rstrip(",")) for x in t if x.startswith("#EXTINF:")]
    assert durations and all(round(d) <= target for d in durations), (target, durations)
    assert abs(sum(durations) - video_duration(SOURCE)) < 0.5, durations
    mp = re.fullmatch(r'#EXT-X-MAP:URI="remux\.mp4",BYTERANGE="(\d+)@0"', next(x for x in t if x.startswith("#EXT-X-MAP")))
    assert mp, t
    ranges = [tuple(map(int, x.split(":")[1].split("@"))) for x in t if x.startswith("#EXT-X-BYTERANGE:")]
    assert len(ranges) == len(durations)
    # Contiguous after the init segment, to the end of the file.
    at = int(mp.group(1))
    for length, off in ranges:
        assert off == at
        at += length

    mp4 = requests.head(f"{base}/remux.mp4")
    assert mp4.status_code == 200 and mp4.headers["Content-Type"] == "video/mp4"
    size = int(mp4.headers["Content-Length"])
    rendition = mp4.headers["ETag"].strip('"')
    stored = [f for _, _, fs in os.walk(os.path.join(server.data, "blobs")) for f in fs]
    assert any(rendition in f for f in stored), "the rendition is a blob"
    assert mp4.headers["Accept-Ranges"] == "bytes"
    # After the last fragment, only ffmpeg's index of fragments (mfra) may follow.
    if size > at:
        tail = requests.get(f"{base}/remux.mp4", headers={"Range": f"bytes={at}-"})
        assert tail.status_code == 206 and tail.content[4:8] == b"mfra", tail.content[:8]
    assert size >= at
    # Range requests with curl: a segment's bytes start with its moof.
    length, off = ranges[1]
    r = subprocess.run(["curl", "-s", "-f", "-r", f"{off}-{off + length - 1}", "-D", "-", "-o", str(tmp_path / "seg"),
                        f"{base}/remux.mp4"], capture_output=True, text=True)
    assert r.returncode == 0 and " 206" in r.stdout.splitlines()[0], r.stdout
    seg = (tmp_path / "seg").read_bytes()
    assert len(seg) == length and seg[4:8] == b"moof"
    r = subprocess.run(["curl", "-s", "-f", "-r", "0-7", f"{base}/remux.mp4"], capture_output=True)
    assert r.stdout[4:8] == b"ftyp"

    # ffprobe on the master playlist gives the video's duration; ffmpeg decodes it cleanly.
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                        f"{base}/master.m3u8"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert abs(float(p.stdout.strip()) - video_duration(SOURCE)) < 0.5, (p.stdout, video_duration(SOURCE))
    d = subprocess.run(["ffmpeg", "-v", "error", "-i", f"{base}/master.m3u8", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    assert d.returncode == 0 and d.stderr.strip() == "", d.stderr
    # The whole rendition is a playable MP4 too.
    d = subprocess.run(["ffmpeg", "-v", "error", "-i", f"{base}/remux.mp4", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    assert d.returncode == 0 and d.stderr.strip() == "", d.stderr

    # Names other than the rendition's are not served; nor are other links' renditions.
    assert requests.get(f"{base}/other.m3u8").status_code == 404
    assert requests.get(f"{base}/..%2f..%2fetc%2fpasswd").status_code == 404
    assert requests.get(f"{server.url}/s/nonexistent/hls/master.m3u8").status_code == 404

    # The same bytes again: remuxed once (the same rendition is served).
    url2, j2 = put(server, "again.mkv", mkv.read_bytes())
    media_of(server, url2.rsplit("/", 1)[1], j2["manage_token"])
    assert requests.get(f"{url2}/hls/remux.m3u8").text == media.text
    assert server.read_log().count("remuxed") == 1

    # The share page plays the rendition in headless Chromium.
    shot = os.path.join(ARTIFACTS, f"hls-{server.backend}.png")
    os.makedirs(ARTIFACTS, exist_ok=True)
    r = subprocess.run(["node", PLAY_SCRIPT, shot, url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["errors"] == [], res
    assert res["src"].endswith("/hls/remux.mp4") and res["end"] > 2, res

    # Deleting the files: the rendition is no longer served, and is swept.
    for jj in (j, j2):
        assert requests.delete(f"{server.url}/api/files/{jj['file_id']}",
                               headers={"Authorization": f"Bearer {jj['manage_token']}"}).status_code == 204
    assert requests.get(f"{base}/remux.m3u8").status_code == 404
    assert requests.get(f"{base}/remux.mp4").status_code == 404
    # The sweep releases the rendition's row and file once the source's last file is gone.
    t = time.monotonic()
    while "rendition of a deleted source released" not in server.read_log():
        assert time.monotonic() - t < 15, "the rendition was not swept"
        time.sleep(0.3)
    stored = [f for _, _, fs in os.walk(os.path.join(server.data, "blobs")) for f in fs]
    assert not any(rendition in f for f in stored), "the rendition's file is left"
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_password_protected_hls(server, mkv):
    url, j = put(server, "locked.mkv", mkv.read_bytes(), headers={"Carrel-Share-Password": "hunter2"})
    sid = url.rsplit("/", 1)[1]
    media_of(server, sid, j["manage_token"])
    for name in ("master.m3u8", "remux.m3u8", "remux.mp4"):
        r = requests.get(f"{url}/hls/{name}")
        assert r.status_code == 401, (name, r.status_code)
        assert "EXTM3U" not in r.text
        assert requests.get(f"{url}/hls/{name}", auth=("", "wrong")).status_code == 403
        assert requests.get(f"{url}/hls/{name}", auth=("", "hunter2")).status_code == 200
    s = requests.Session()
    s.post(url, data={"password": "hunter2"})
    assert s.get(f"{url}/hls/master.m3u8").text.startswith("#EXTM3U")
    # A disabled link serves nothing.
    api = f"{server.url}/api/shares/{sid}"
    assert requests.patch(api, json={"disabled_reason": "copyright notice"},
                          headers={"Authorization": f"Bearer {j['manage_token']}"}).status_code == 200
    assert s.get(f"{url}/hls/master.m3u8").status_code in (403, 404, 410, 451)
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_a_file_that_cannot_be_remuxed_fails_clearly(server, tmp_path):
    # An H.264 Matroska file cut in half: probed as media, its remux fails or is short; the server stays up.
    src = tmp_path / "cut.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", SOURCE, "-c", "copy", str(src)], check=True)
    data = src.read_bytes()
    url, j = put(server, "cut.mkv", data[: len(data) // 2])
    m = media_of(server, url.rsplit("/", 1)[1], j["manage_token"])
    if m["rendition"] == "ready":
        d = subprocess.run(["ffmpeg", "-v", "error", "-i", f"{url}/hls/master.m3u8", "-f", "null", "-"],
                           capture_output=True, text=True, timeout=120)
        assert d.returncode == 0, d.stderr
    assert requests.get(f"{server.url}/healthz").status_code == 200
