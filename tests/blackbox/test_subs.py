"""Subtitles and pictures through the real server on both backends.

- The corpus's MKV with three subtitle tracks: the `media.subtitles` job
  (real ffmpeg) extracts each to WebVTT, checked with the W3C's parser
  (tests/js/vtt_validate.mjs, strict) against the sources the MKV was made
  from; the `media.images` job makes a poster (decoded by ffprobe, its size
  checked) and a sprite with its WebVTT thumbnail track (cues cover the
  duration, every box inside the sprite).
- An H.264 Matroska file with a SubRip track, remuxed for HLS: the master
  playlist gets an `EXT-X-MEDIA:TYPE=SUBTITLES` group, and ffprobe/ffmpeg
  still read it.
- Sidecar `.srt`/`.vtt` files in the same folder as a video, in either
  upload order, attached and served as WebVTT; the corpus's malformed SRTs
  converted tolerantly; a file that is not SubRip at all refused clearly.
- Headless Chromium on the share page: poster, `<track>`s, a cue shown while
  playing, the seek preview, screenshots kept in tests/artifacts/.
- A password-protected link: every new route refuses until unlocked.
"""
import json
import os
import re
import subprocess
import time

import pytest
import requests

from conftest import ARTIFACTS, ROOT, put
from test_accounts import make_user
from test_my_files import H, token

MEDIA = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "media")
VTT_SCRIPT = os.path.join(ROOT, "tests", "js", "vtt_validate.mjs")
PLAYER_SCRIPT = os.path.join(ROOT, "tests", "js", "player_page.mjs")
MKV3 = os.path.join(MEDIA, "derived", "bbb_0_30_with_3_subs.mkv")
BBB = os.path.join(MEDIA, "moviepy", "big_buck_bunny_0_30.webm")
SMPTE = os.path.join(MEDIA, "moviepy", "smpte-2997.mp4")
SRT_MALFORMED = os.path.join(MEDIA, "moviepy", "subtitles.srt")  # `00:00:5,000`
SRT_NO_MS = os.path.join(MEDIA, "mediaelement-files", "mediaelement.srt")  # `00:00:04`
VTT_EN = os.path.join(MEDIA, "idpf-cc-shared-culture", "cc-en.vtt")
VTT_FR = os.path.join(MEDIA, "idpf-cc-shared-culture", "cc-fr.vtt")
# What the corpus's SubRip with malformed timestamps says, in seconds.
SRT_CUES = [(0, 1, "Red!"), (2, 3.5, "More Red!"), (5, 6, "Green!"), (7, 8, "Blue"), (9, 10, "More Blue!")]


def parse_vtt(tmp_path, text, name="t.vtt"):
    """Cues of a WebVTT text by the W3C parser (strict); fails on any parse error."""
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    r = subprocess.run(["node", VTT_SCRIPT, str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)[0]
    assert res["errors"] == [], (res["errors"], text[:400])
    return res["cues"]


def media_of(server, url, tok, done, seconds=90):
    """The share JSON's `media` once `done(media)` holds."""
    sid = url.rsplit("/", 1)[1]
    t = time.monotonic()
    while True:
        r = requests.get(f"{server.url}/api/shares/{sid}", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 200, r.text
        m = r.json().get("media") or {}
        if done(m):
            return m
        assert time.monotonic() - t < seconds, f"not done after {seconds} s: {m}"
        time.sleep(0.3)


def settled(m):
    return (m.get("state") == "ready" and m.get("pictures") in ("ready", "failed")
            and all(t["state"] != "preparing" for t in m.get("tracks", []))
            and m.get("rendition") != "preparing")


def video_duration(m):
    """The video stream's own duration (the MKV's container lasts as long as its longest subtitle track)."""
    v = next(s for s in m["info"]["streams"] if s["kind"] == "video")
    return min(v.get("duration_secs") or m["duration_secs"], m["duration_secs"])


def ffprobe_size(url_or_path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "json", url_or_path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["streams"][0]
    return s["width"], s["height"]


def test_embedded_tracks_poster_and_thumbnails(server, tmp_path):
    url, j = put(server, "three subs.mkv", open(MKV3, "rb").read())
    m = media_of(server, url, j["manage_token"], settled)
    tracks = m["tracks"]
    assert [(t["src"], t["language"], t["source"], t["state"]) for t in tracks] == [
        ("subs/0.vtt", "en", "embedded", "ready"),
        ("subs/1.vtt", "en", "embedded", "ready"),
        ("subs/2.vtt", "fr", "embedded", "ready"),
    ], tracks
    assert len({t["label"] for t in tracks}) == 3, "labels are unique"
    # Each track is WebVTT with the cues of the file it was made from.
    sources = [
        [(a, b) for a, b, _ in SRT_CUES],
        [(c["start"], c["end"]) for c in parse_vtt(tmp_path, open(VTT_EN, encoding="utf-8").read(), "en.vtt")],
        [(c["start"], c["end"]) for c in parse_vtt(tmp_path, open(VTT_FR, encoding="utf-8").read(), "fr.vtt")],
    ]
    for n, expected in enumerate(sources):
        r = requests.get(f"{url}/subs/{n}.vtt")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/vtt")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        cues = parse_vtt(tmp_path, r.text, f"{n}.vtt")
        assert [(round(c["start"], 3), round(c["end"], 3)) for c in cues] == expected, (n, cues[:3])
    first = parse_vtt(tmp_path, requests.get(f"{url}/subs/0.vtt").text)
    assert [c["text"] for c in first] == [t for _, _, t in SRT_CUES]
    assert requests.get(f"{url}/subs/3.vtt").status_code == 404
    assert requests.get(f"{url}/subs/01.vtt").status_code == 404
    assert requests.get(f"{url}/subs/0.txt").status_code == 404
    # The same bytes again: extracted once.
    url2, j2 = put(server, "again.mkv", open(MKV3, "rb").read())
    media_of(server, url2, j2["manage_token"], settled)
    assert server.read_log().count("subtitles extracted") == 1
    assert server.read_log().count("poster made") == 1
    assert server.read_log().count("seek thumbnails made") == 1
    assert requests.get(f"{url2}/media/poster.jpg").content == requests.get(f"{url}/media/poster.jpg").content
    assert requests.get(f"{url2}/subs/2.vtt").text == requests.get(f"{url}/subs/2.vtt").text

    # The poster: a JPEG of the video's size (1280×720 is under the cap), decodable.
    assert m["poster"] == "media/poster.jpg" and m["pictures"] == "ready", m
    poster = requests.get(f"{url}/media/poster.jpg")
    assert poster.status_code == 200 and poster.headers["Content-Type"] == "image/jpeg"
    (tmp_path / "poster.jpg").write_bytes(poster.content)
    assert ffprobe_size(str(tmp_path / "poster.jpg")) == (1280, 720)
    d = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "poster.jpg"), "-f", "null", "-"],
                       capture_output=True, text=True, timeout=60)
    assert d.returncode == 0 and d.stderr.strip() == "", d.stderr
    # The sprite and its thumbnail track: cues from 0 to the duration without
    # gaps, each a box inside the sprite.
    sprite = requests.get(f"{url}/{m['sprite']}")
    assert sprite.status_code == 200 and sprite.headers["Content-Type"] == "image/jpeg"
    (tmp_path / "sprite.jpg").write_bytes(sprite.content)
    sw, sh = ffprobe_size(str(tmp_path / "sprite.jpg"))
    thumbs = requests.get(f"{url}/{m['thumbnails']}")
    assert thumbs.status_code == 200 and thumbs.headers["Content-Type"].startswith("text/vtt")
    cues = parse_vtt(tmp_path, thumbs.text, "thumbs.vtt")
    assert len(cues) >= 25
    # The file plays for its video's and audio's 30 s, not its last subtitle's 201 s.
    assert 30 <= video_duration(m) < 30.1 and 30 <= m["duration_secs"] < 30.1, m
    assert cues[0]["start"] == 0 and abs(cues[-1]["end"] - video_duration(m)) < 0.01, (cues[-1], m["info"])
    for a, b in zip(cues, cues[1:]):
        assert a["end"] == b["start"]
    boxes = set()
    for c in cues:
        mm = re.fullmatch(r"sprite\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)", c["text"])
        assert mm, c
        x, y, w, h = map(int, mm.groups())
        assert w == 160 and 80 <= h <= 100 and x + w <= sw and y + h <= sh, (c, sw, sh)
        boxes.add((x, y))
    assert len(boxes) == len(cues), "one tile per cue"

    # The share page's player in headless Chromium.
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, f"player-mkv-{server.backend}")
    r = subprocess.run(["node", PLAYER_SCRIPT, shot, url], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["errors"] == [], res
    assert res["poster"].endswith("/media/poster.jpg"), res
    assert [t["srclang"] for t in res["tracks"]] == ["en", "en", "fr"], res
    assert [t["default"] for t in res["tracks"]] == [True, False, False]
    assert res["cue"] and res["cue"]["text"] in [t for _, _, t in SRT_CUES], res
    assert res["download"].endswith("?download=1") and "/d/" in res["download"]
    assert res["preview"]["shown"] and "sprite.jpg" in res["preview"]["image"], res
    assert res["preview"]["size"] == [160, h], res
    for part in ("poster", "cue", "preview"):
        assert os.path.getsize(f"{shot}-{part}.png") > 10_000


@pytest.fixture(scope="module")
def h264_mkv(tmp_path_factory):
    out = tmp_path_factory.mktemp("subs") / "smpte.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", SMPTE, "-i", SRT_MALFORMED, "-map", "0", "-map", "1",
                    "-c", "copy", "-c:s", "srt", "-metadata:s:s:0", "language=eng", str(out)], check=True)
    return out


def test_hls_master_has_a_subtitles_group(server, h264_mkv, tmp_path):
    url, j = put(server, "smpte.mkv", h264_mkv.read_bytes())
    m = media_of(server, url, j["manage_token"], settled)
    assert m["rendition"] == "ready" and m["tracks"][0]["state"] == "ready", m
    master = requests.get(f"{url}/hls/master.m3u8").text
    lines = master.splitlines()
    media = [l for l in lines if l.startswith("#EXT-X-MEDIA:")]
    assert len(media) == 1, master
    sid = url.rsplit("/", 1)[1]
    assert media[0] == (f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",'
                        f'DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI="/s/{sid}/subs/0.m3u8"'), master
    inf = [l for l in lines if l.startswith("#EXT-X-STREAM-INF:")]
    assert inf and all(l.endswith(',SUBTITLES="subs"') for l in inf), master
    assert lines.index(media[0]) < lines.index(inf[0])
    sub = requests.get(f"{url}/subs/0.m3u8")
    assert sub.status_code == 200 and sub.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert sub.text.splitlines()[-2:] == ["0.vtt", "#EXT-X-ENDLIST"], sub.text
    extinf = [l for l in sub.text.splitlines() if l.startswith("#EXTINF:")]
    assert len(extinf) == 1 and abs(float(extinf[0][8:].rstrip(",")) - video_duration(m)) < 0.01, (extinf, m["info"])
    cues = parse_vtt(tmp_path, requests.get(f"{url}/subs/0.vtt").text)
    # ffmpeg's timeline starts at the file's first timestamp (this MKV's audio
    # starts 21 ms early), as the remuxed rendition's does: within 50 ms.
    assert [c["text"] for c in cues] == [t for _, _, t in SRT_CUES]
    for c, (a, b, _) in zip(cues, SRT_CUES):
        assert abs(c["start"] - a) < 0.05 and abs(c["end"] - b) < 0.05, (c, a, b)
    # ffprobe and ffmpeg still read the master playlist: the duration, a subtitle stream, clean decoding.
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,codec_name",
                        "-of", "json", f"{url}/hls/master.m3u8"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    probe = json.loads(p.stdout)
    assert abs(float(probe["format"]["duration"]) - m["duration_secs"]) < 0.5, probe
    # (Debian 12's ffmpeg 5.1 does not open HLS subtitle renditions: it reads past the group.)
    kinds = [s["codec_type"] for s in probe["streams"]]
    assert "video" in kinds and "audio" in kinds, probe
    d = subprocess.run(["ffmpeg", "-v", "error", "-i", f"{url}/hls/master.m3u8", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=180)
    assert d.returncode == 0 and d.stderr.strip() == "", d.stderr
    # The page plays the rendition with the track.
    shot = os.path.join(ARTIFACTS, f"player-hls-{server.backend}")
    os.makedirs(ARTIFACTS, exist_ok=True)
    r = subprocess.run(["node", PLAYER_SCRIPT, shot, url], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["errors"] == [] and res["cue"] and res["cue"]["text"] in [t for _, _, t in SRT_CUES], res
    assert res["preview"]["shown"], res


def account_upload(server, tok, name, path_or_bytes):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb").read()
    r = requests.put(f"{server.url}/u/{name}", data=data, headers=H(tok))
    assert r.status_code == 201, r.text
    return r.json()


def move(server, tok, file_id, folder):
    r = requests.patch(f"{server.url}/api/files/{file_id}", json={"folder": folder}, headers=H(tok))
    assert r.status_code == 200, r.text


def tracks_of(server, url, tok):
    return media_of(server, url, tok, lambda m: m.get("state") == "ready")["tracks"]


def test_sidecars_in_the_same_folder(server, tmp_path):
    make_user(server, "subs@example.com")
    tok = token(server, "subs@example.com", "read,upload,manage")
    folder = lambda name: requests.post(f"{server.url}/api/folders", json={"name": name}, headers=H(tok)).json()["id"]
    films, other = folder("Films"), folder("Other")

    # Order 1: the video first, then its SubRip (with malformed timestamps) and a French WebVTT.
    v = account_upload(server, tok, "bunny.webm", BBB)
    move(server, tok, v["file_id"], films)
    assert tracks_of(server, v["url"], tok) == []
    s = account_upload(server, tok, "bunny.srt", SRT_MALFORMED)
    move(server, tok, s["file_id"], films)
    f = account_upload(server, tok, "bunny.fr.vtt", VTT_FR)
    move(server, tok, f["file_id"], films)
    # Not beside it: another folder, another name.
    x = account_upload(server, tok, "bunny.en.srt", SRT_NO_MS)
    move(server, tok, x["file_id"], other)
    y = account_upload(server, tok, "bunnies.srt", SRT_NO_MS)
    move(server, tok, y["file_id"], films)
    tracks = tracks_of(server, v["url"], tok)
    assert [(t["file_name"], t["language"], t["source"], t["state"]) for t in tracks] == [
        ("bunny.fr.vtt", "fr", "sidecar", "ready"),
        ("bunny.srt", None, "sidecar", "ready"),
    ], tracks
    fr = parse_vtt(tmp_path, requests.get(f"{v['url']}/subs/0.vtt").text)
    assert [(c["start"], c["end"]) for c in fr] == [
        (c["start"], c["end"]) for c in parse_vtt(tmp_path, open(VTT_FR, encoding="utf-8").read(), "src.vtt")]
    srt = requests.get(f"{v['url']}/subs/1.vtt")
    assert srt.status_code == 200 and srt.headers["Content-Type"].startswith("text/vtt")
    assert [(c["start"], c["end"], c["text"]) for c in parse_vtt(tmp_path, srt.text)] == SRT_CUES

    # Order 2: the SubRip (no milliseconds) first, then the video, in the account's top level.
    s2 = account_upload(server, tok, "talk.en.srt", SRT_NO_MS)
    v2 = account_upload(server, tok, "talk.webm", BBB)
    tracks = tracks_of(server, v2["url"], tok)
    assert [(t["file_name"], t["language"], t["label"]) for t in tracks] == [("talk.en.srt", "en", "English")]
    cues = parse_vtt(tmp_path, requests.get(f"{v2['url']}/subs/0.vtt").text)
    assert [(c["start"], c["end"]) for c in cues[:3]] == [(0.1, 4), (4, 7), (7, 10)]
    assert "&lt;video&gt;" in requests.get(f"{v2['url']}/subs/0.vtt").text
    # Moved away, it is no longer attached.
    move(server, tok, s2["file_id"], other)
    assert tracks_of(server, v2["url"], tok) == []
    assert requests.get(f"{v2['url']}/subs/0.vtt").status_code == 404

    # A .srt that is not SubRip: a clear refusal naming the file; the page still works.
    bad = account_upload(server, tok, "talk.srt", b"\x89PNG\r\n\x1a\n not subtitles at all")
    t = tracks_of(server, v2["url"], tok)
    assert [x["file_name"] for x in t] == ["talk.srt"]
    r = requests.get(f"{v2['url']}/subs/0.vtt")
    assert r.status_code == 422 and r.json()["error"]["code"] == "subtitles_unreadable", r.text
    assert "talk.srt" in r.json()["error"]["message"] and "no subtitle cue" in r.json()["error"]["message"]
    assert requests.get(v2["url"]).status_code == 200
    requests.delete(f"{server.url}/api/files/{bad['file_id']}", headers=H(tok))
    assert tracks_of(server, v2["url"], tok) == []
    # The HLS-less direct-play page lists the sidecars as <track>s.
    page = requests.get(v["url"]).text
    assert page.count("<track kind=\"subtitles\"") == 2 and 'srclang="fr"' in page, page
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_routes_respect_a_password(server, tmp_path):
    url, j = put(server, "locked.mkv", open(MKV3, "rb").read(), headers={"Carrel-Share-Password": "hunter2"})
    media_of(server, url, j["manage_token"], settled)
    for path in ("subs/0.vtt", "subs/0.m3u8", "media/poster.jpg", "media/sprite.jpg", "media/thumbs.vtt"):
        r = requests.get(f"{url}/{path}")
        assert r.status_code == 401, (path, r.status_code)
        assert b"WEBVTT" not in r.content and b"JFIF" not in r.content
        assert requests.get(f"{url}/{path}", auth=("", "wrong")).status_code == 403, path
        assert requests.get(f"{url}/{path}", auth=("", "hunter2")).status_code == 200, path
    s = requests.Session()
    s.post(url, data={"password": "hunter2"})
    assert s.get(f"{url}/subs/0.vtt").text.startswith("WEBVTT")
    assert s.get(f"{url}/media/poster.jpg").headers["Content-Type"] == "image/jpeg"
    assert requests.get(f"{server.url}/s/nonexistent/subs/0.vtt").status_code == 404
    assert requests.get(f"{server.url}/s/nonexistent/media/poster.jpg").status_code == 404


def test_mov_text_in_a_direct_play_mp4_and_sidecars_in_an_anonymous_folder(server, tmp_path):
    # An MP4 (plays directly) with a mov_text track made from the corpus's SubRip.
    mp4 = tmp_path / "chaplin-subs.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", os.path.join(MEDIA, "moviepy", "chaplin.mp4"),
                    "-i", SRT_MALFORMED, "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text",
                    "-metadata:s:s:0", "language=ger", str(mp4)],
                   check=True)
    url, j = put(server, "chaplin.mp4", mp4.read_bytes())
    m = media_of(server, url, j["manage_token"], settled)
    assert m["decision"] == "direct_play", m
    assert [(t["label"], t["language"], t["state"]) for t in m["tracks"]] == [("German", "de", "ready")], m
    cues = parse_vtt(tmp_path, requests.get(f"{url}/subs/0.vtt").text)
    assert [c["text"] for c in cues] == [t for _, _, t in SRT_CUES]
    page = requests.get(url).text
    assert '<track kind="subtitles" src="/s/' in page and 'label="German" srclang="de" default>' in page, page
    # Anonymous uploads gathered into one folder with their tokens: the SubRip beside the video is attached.
    s = put(server, "chaplin.srt", open(SRT_NO_MS, "rb").read())[1]
    r = requests.post(f"{server.url}/api/folders", json={"name": "talk", "files": [
        {"id": j["file_id"], "manage_token": j["manage_token"]},
        {"id": s["file_id"], "manage_token": s["manage_token"]}]})
    assert r.status_code == 201, r.text
    tracks = media_of(server, url, j["manage_token"], lambda m: len(m.get("tracks", [])) == 2)["tracks"]
    assert [(t["source"], t.get("file_name")) for t in tracks] == [("embedded", None), ("sidecar", "chaplin.srt")]
    assert parse_vtt(tmp_path, requests.get(f"{url}/subs/1.vtt").text)[0]["start"] == 0.1
    # An anonymous file in no folder has no sidecars: the other upload stays apart.
    u2, j2 = put(server, "alone.mp4", mp4.read_bytes())
    put(server, "alone.srt", open(SRT_NO_MS, "rb").read())
    assert [t["source"] for t in media_of(server, u2, j2["manage_token"], settled)["tracks"]] == ["embedded"]
