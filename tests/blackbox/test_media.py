"""Media through the real server on both backends: real files from
../shared/corpus/media uploaded with PUT, probed by the durable `media.probe`
job (real ffprobe), and the decision and facts read back from the share
JSON and page; broken and disguised files fail clearly and the server stays
healthy. Subtitles: `carrel vtt` on the corpus's SubRip files, checked with
the W3C's WebVTT parser (tests/js/vtt_validate.mjs)."""
import json
import os
import subprocess
import time

import jsonschema
import pytest
import requests

from conftest import ARTIFACTS, BIN, ROOT, put

MEDIA = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "media")
PAGE_SCRIPT = os.path.join(ROOT, "tests", "js", "media_page.mjs")
VTT_SCRIPT = os.path.join(ROOT, "tests", "js", "vtt_validate.mjs")


def corpus(rel):
    return os.path.join(MEDIA, rel)


def ffprobe_duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                       capture_output=True, text=True)
    try:
        return float(r.stdout.strip())
    except ValueError:
        return None


with open(os.path.join(ROOT, "crates", "carrel-server", "openapi.json")) as _f:
    MEDIA_SCHEMA = json.load(_f)["components"]["schemas"]["Media"]


def upload(server, name, path):
    with open(path, "rb") as f:
        return put(server, name, f.read())


def media_of(server, url, j, seconds=60):
    """The share JSON's `media` object once the probe has run."""
    sid = url.rsplit("/", 1)[1]
    t = time.monotonic()
    while True:
        r = requests.get(f"{server.url}/api/shares/{sid}", headers={"Authorization": f"Bearer {j['manage_token']}"})
        assert r.status_code == 200, r.text
        m = r.json().get("media")
        if m is not None:
            jsonschema.validate(m, MEDIA_SCHEMA)
        if m is None or m["state"] != "pending":
            return m
        assert time.monotonic() - t < seconds, f"still pending after {seconds} s: {url}"
        time.sleep(0.2)


# (upload name, corpus file, decision, facts the API must show)
CASES = [
    ("bbb.webm", "moviepy/big_buck_bunny_0_30.webm", "direct_play",
     {"container": "webm", "video_codec": "vp8", "audio_codec": "vorbis", "width": 1280, "height": 720}),
    ("chaplin.mp4", "moviepy/chaplin.mp4", "direct_play", {"container": "mp4", "video_codec": "h264"}),
    ("smpte.mp4", "moviepy/smpte-2997.mp4", "direct_play",
     {"container": "mp4", "video_codec": "h264", "audio_codec": "aac", "width": 1920, "height": 1080}),
    # VP8/Vorbis in Matroska: carrel repackages only into MP4, which does not carry them.
    ("three subs.mkv", "derived/bbb_0_30_with_3_subs.mkv", "transcode",
     {"container": "matroska", "target": "mp4", "video_codec": "vp8", "subtitles": 3,
      "transcode_video": False, "transcode_audio": False}),
    ("no_duration.webm", "moviepy/no_duration.webm", "direct_play",
     {"container": "webm", "video_codec": "vp9", "audio_codec": "opus", "duration_secs": None}),
    ("cover.mp3", "moviepy/with-attached-pic.mp3", "direct_play",
     {"container": "mp3", "audio_codec": "mp3", "video_codec": None, "cover_art": True}),
    ("holiday.png", "moviepy/chaplin.mp4", "direct_play", {"container": "mp4", "video_codec": "h264"}),
]


# Files whose container duration is not how long they play: the MKV's
# video and audio are 30 s; ffprobe's format duration (201 s) is its last subtitle's.
PLAYS_FOR = {"three subs.mkv": 30.0}


def test_real_media_is_probed_and_decided(server):
    uploads = [(name, rel, decision, facts, *upload(server, name, corpus(rel))) for name, rel, decision, facts in CASES]
    for name, rel, decision, facts, url, j in uploads:
        m = media_of(server, url, j)
        assert m is not None, f"{name}: no media object"
        assert m["state"] == "ready", f"{name}: {m}"
        assert m["decision"] == decision, f"{name}: {m['decision']} ({m['verdict']})"
        for k, v in facts.items():
            assert m[k] == v, f"{name}: {k} = {m[k]!r}, expected {v!r}"
        theirs = PLAYS_FOR.get(name) or ffprobe_duration(corpus(rel))
        if theirs is None:
            assert m["duration_secs"] is None, name
        else:
            assert abs(m["duration_secs"] - theirs) < 0.5, f"{name}: {m['duration_secs']} vs ffprobe's {theirs}"
        page = requests.get(url).text
        assert "Playback" in page and m["verdict"] in page, f"{name}: the page shows no verdict"
    # The page of the 1080p file names its resolution and codecs.
    smpte = next(u for u in uploads if u[0] == "smpte.mp4")
    page = requests.get(smpte[4]).text
    assert "1920×1080" in page and "H.264" in page and "AAC" in page, page
    # The MKV plays for 30 s, not for its last subtitle's 3:21; and the page says what it plays.
    mkv = next(u for u in uploads if u[0] == "three subs.mkv")
    page = requests.get(mkv[4]).text
    assert "<dt>Duration</dt><dd>0:30.0</dd>" in page and "3:21" not in page, page
    why = ("browsers decode VP8 and Vorbis, but not in Matroska, and MP4 (what carrel repackages into) "
           "does not carry them: the page plays the quality ladder, re-encoded into H.264 and AAC in MP4")
    assert f"<dt>Why</dt><dd>{why}</dd>" in page and "WebM" not in page, page
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_broken_inputs_fail_clearly_and_the_server_stays_healthy(server, workdir):
    empty_url, empty = put(server, "doc_medias_result.webm", b"")
    m = media_of(server, empty_url, empty)
    assert m == {"state": "failed", "error": "the file is empty"}, m
    assert "could not read: the file is empty" in requests.get(empty_url).text

    with open(corpus("moviepy/chaplin.mp4"), "rb") as f:
        head = f.read(20_000)
    cut_url, cut = put(server, "cut.mp4", head)
    m = media_of(server, cut_url, cut)
    assert m["state"] == "failed" and m["error"], m
    assert server.data not in m["error"], "no server paths in the reason"

    text_url, text = put(server, "notes.mp4", b"just some words\n" * 100)
    m = media_of(server, text_url, text)
    assert m["state"] == "failed" and "not an audio or video container" in m["error"], m

    # A truncated WebM: what can be read is read; either way an answer, never a hang.
    with open(corpus("moviepy/big_buck_bunny_0_30.webm"), "rb") as f:
        third = f.read(400_000)
    webm_url, webm = put(server, "cut.webm", third)
    m = media_of(server, webm_url, webm)
    assert m["state"] in ("ready", "failed"), m

    # Files that are not media by name or by bytes get no media object at all.
    png = (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\0\0\0\x0cIDATx\x9cc"
           b"\xf8\xcf\xc0\0\0\x03\x01\x01\0\xc9\xfe\x92\xef\0\0\0\0IEND\xaeB`\x82")
    png_url, png_j = put(server, "dot.png", png)
    # The reverse of a disguised video: an image named .mp4 is examined and refused by its bytes.
    fake_url, fake = put(server, "movie.mp4", png)
    m = media_of(server, fake_url, fake)
    assert m["state"] == "failed" and "not an audio or video container" in m["error"], m
    assert "could not read" in requests.get(fake_url).text
    assert media_of(server, png_url, png_j) is None
    assert "Playback" not in requests.get(png_url).text
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_the_same_bytes_are_probed_once(server):
    url1, j1 = upload(server, "a.webm", corpus("moviepy/no_duration.webm"))
    assert media_of(server, url1, j1)["state"] == "ready"
    url2, j2 = upload(server, "b.webm", corpus("moviepy/no_duration.webm"))
    assert media_of(server, url2, j2)["state"] == "ready"
    # The second upload's job runs too, and finds the probe done.
    t = time.monotonic()
    while "already probed" not in server.read_log():
        assert time.monotonic() - t < 20, "the second job never ran"
        time.sleep(0.2)
    assert server.read_log().count("media probed") == 1, "the second upload reused the first probe"


def test_media_pages_in_chromium(server, backend):
    urls = []
    for name, rel in [("smpte.mp4", "moviepy/smpte-2997.mp4"), ("three subs.mkv", "derived/bbb_0_30_with_3_subs.mkv"),
                      ("cover.mp3", "moviepy/with-attached-pic.mp3")]:
        url, j = upload(server, name, corpus(rel))
        media_of(server, url, j)
        urls.append(url)
    empty_url, empty = put(server, "empty.webm", b"")
    media_of(server, empty_url, empty)
    urls.append(empty_url)
    out = os.path.join(ARTIFACTS, f"media-{backend}")
    r = subprocess.run(["node", PAGE_SCRIPT, out, *urls], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads(r.stdout)
    assert all(not x["errors"] for x in res), res
    smpte, mkv, mp3, empty_page = (x["media"] for x in res)
    assert "plays directly" in smpte and "1920×1080" in smpte and "H.264" in smpte and "Duration" in smpte, smpte
    assert "needs transcoding" in mkv and "SubRip (eng), SubRip (eng), SubRip (fre)" in mkv, mkv
    assert "0:30.0" in mkv and "copied into" not in mkv and "WebM" not in mkv, mkv
    assert "Cover art" in mp3 and "MP3, stereo, 44.1 kHz" in mp3, mp3
    assert "could not read: the file is empty" in empty_page, empty_page
    for i in range(len(urls)):
        assert os.path.getsize(os.path.join(out, f"media-{i}.png")) > 1000


@pytest.mark.parametrize("rel", ["moviepy/subtitles.srt", "moviepy/subtitles-unicode.srt",
                                 "mediaelement-files/mediaelement.srt"])
def test_subrip_files_convert_to_valid_webvtt(rel, workdir):
    out = workdir / "out.vtt"
    r = subprocess.run([BIN, "vtt", corpus(rel)], capture_output=True)
    assert r.returncode == 0, r.stderr
    out.write_bytes(r.stdout)
    v = subprocess.run(["node", VTT_SCRIPT, str(out)], capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v.stderr
    [res] = json.loads(v.stdout)
    assert res["errors"] == [], res["errors"]
    assert res["cues"], "cues"
    # ffmpeg rejects the SubRip file without milliseconds; it reads our WebVTT.
    f = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "webvtt", "-"], capture_output=True, text=True)
    assert f.returncode == 0 and not f.stderr, f.stderr
    assert f.stdout.count(" --> ") == len(res["cues"]), f.stdout
    if rel.endswith("mediaelement.srt"):
        assert res["cues"][0]["start"] == pytest.approx(0.1) and res["cues"][0]["end"] == 4
    if rel.endswith("moviepy/subtitles.srt"):
        assert [c["start"] for c in res["cues"]] == [0, 2, 5, 7, 9]
