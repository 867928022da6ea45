"""A made rendition's playlist, segments and file are served from memory (its
probe and rendition rows are not read again per request), yet the share
link's rules hold exactly as before, at once: on both backends, a rung
served a moment ago stops being served the moment its file is deleted, its
link is turned off, gets a password or expires, and a password-protected
link needs its password for every segment and range. The same bytes under
another file's link keep playing."""
import subprocess
import time

import requests

from conftest import put

AUTH = lambda j: {"Authorization": f"Bearer {j['manage_token']}"}  # noqa: E731


def tiny_video(path, secs=4, size="640x360"):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={secs}",
                    "-f", "lavfi", "-i", f"sine=duration={secs}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return path.read_bytes()


def ladder_ready(server, url, j, seconds=180):
    sid = url.rsplit("/", 1)[1]
    t = time.monotonic()
    while True:
        r = requests.get(f"{server.url}/api/shares/{sid}", headers=AUTH(j))
        assert r.status_code == 200, r.text
        m = r.json().get("media") or {}
        state = (m.get("ladder") or {}).get("state")
        if state in ("ready", "failed") or m.get("state") == "failed":
            assert state == "ready", m
            return m
        assert time.monotonic() - t < seconds, f"no ladder after {seconds} s: {m}"
        time.sleep(0.3)


def rung_urls(url):
    """A made rung's playlist, init segment, first segment, and a range of its file."""
    base = f"{url}/hls"
    return [(f"{base}/360p.m3u8", {}), (f"{base}/360p/init.mp4", {}), (f"{base}/360p/0.m4s", {}),
            (f"{base}/360p.mp4", {"Range": "bytes=100-199"})]


def statuses(url, **kw):
    return [requests.get(u, headers={**h, **kw.pop("headers", {})}, **kw).status_code for u, h in rung_urls(url)]


def served_twice(url, **kw):
    """Every rung URL answers (twice: the second from memory)."""
    for _ in range(2):
        for u, h in rung_urls(url):
            r = requests.get(u, headers=h, **kw)
            assert r.status_code in (200, 206), (u, r.status_code, r.text[:200])
            assert len(r.content) > 0


def test_deleting_the_file_stops_its_rendition_at_once(server, tmp_path):
    data = tiny_video(tmp_path / "v.mp4")
    url, j = put(server, "v.mp4", data)
    url2, j2 = put(server, "same.mp4", data)  # the same bytes: the same renditions
    ladder_ready(server, url, j)
    served_twice(url)
    served_twice(url2)
    r = requests.delete(f"{server.url}/api/files/{j['file_id']}", headers=AUTH(j))
    assert r.status_code == 204
    assert statuses(url) == [404] * 4
    # The other file with the same bytes still plays them.
    served_twice(url2)
    r = requests.delete(f"{server.url}/api/files/{j2['file_id']}", headers=AUTH(j2))
    assert r.status_code == 204
    assert statuses(url2) == [404] * 4
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_turning_the_link_off_or_expiring_it_stops_its_rendition_at_once(server, tmp_path):
    url, j = put(server, "v.mp4", tiny_video(tmp_path / "v.mp4"))
    sid = url.rsplit("/", 1)[1]
    api = f"{server.url}/api/shares/{sid}"
    ladder_ready(server, url, j)
    served_twice(url)
    assert requests.patch(api, json={"disabled": True}, headers=AUTH(j)).status_code == 200
    off = statuses(url)
    assert off == [off[0]] * 4 and off[0] in (403, 404, 410, 451), off
    assert requests.patch(api, json={"disabled": False}, headers=AUTH(j)).status_code == 200
    served_twice(url)
    # An expiry is checked against the clock on every request.
    assert requests.patch(api, json={"expires": "2s"}, headers=AUTH(j)).status_code == 200
    served_twice(url)
    time.sleep(2.5)
    assert statuses(url) == [410] * 4


def test_a_password_protects_every_segment_even_once_served(server, tmp_path):
    url, j = put(server, "locked.mp4", tiny_video(tmp_path / "v.mp4"), headers={"Carrel-Share-Password": "hunter2"})
    sid = url.rsplit("/", 1)[1]
    ladder_ready(server, url, j)
    served_twice(url, auth=("", "hunter2"))
    assert statuses(url) == [401] * 4
    assert statuses(url, auth=("", "wrong")) == [403] * 4
    for u, h in rung_urls(url):
        assert "EXTM3U" not in requests.get(u, headers=h).text
    # A password set on an open link that was just played applies at once.
    url2, j2 = put(server, "open.mp4", tiny_video(tmp_path / "w.mp4", secs=3))
    ladder_ready(server, url2, j2)
    served_twice(url2)
    api = f"{server.url}/api/shares/{url2.rsplit('/', 1)[1]}"
    assert requests.patch(api, json={"password": "s3cret"}, headers=AUTH(j2)).status_code == 200
    assert statuses(url2) == [401] * 4
    served_twice(url2, auth=("", "s3cret"))
    assert sid != url2.rsplit("/", 1)[1]
