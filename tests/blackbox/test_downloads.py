"""Downloads through share links with curl, wget and aria2c; ranges,
conditionals, passwords, link states and hostile input."""
import calendar
import hashlib
import os
import socket
import subprocess
import time
import zipfile

import requests

from conftest import direct, put, tus_headers


def sha(b):
    return hashlib.sha256(b).hexdigest()


def test_curl_wget_aria2c_resume_byte_identical(server, workdir):
    data = os.urandom(6 * 1024 * 1024 + 123)
    url, _ = put(server, "dl.bin", data)
    d = direct(url)
    for tool in ["curl", "wget", "aria2c"]:
        out = workdir / f"{tool}.bin"
        out.write_bytes(data[: 1024 * 1024 + 7])  # a partial earlier download
        if tool == "curl":
            cmd = ["curl", "-sS", "-f", "-C", "-", "-o", str(out), d]
        elif tool == "wget":
            cmd = ["wget", "-q", "-c", "-O", str(out), d]
        else:
            cmd = ["aria2c", "-q", "-x", "8", "-s", "8", "-k", "1M", "--continue=true", "--allow-overwrite=false",
                   "-d", str(workdir), "-o", out.name, d]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (tool, r.stdout, r.stderr)
        assert sha(out.read_bytes()) == sha(data), tool
    fresh = workdir / "fresh"
    fresh.mkdir()
    r = subprocess.run(["aria2c", "-q", "-x", "8", "-s", "8", "-k", "1M", "-d", str(fresh), d], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sha((fresh / "dl.bin").read_bytes()) == sha(data), "aria2c names the file from Content-Disposition"


def test_ranges_and_conditionals(server):
    data = bytes(range(256)) * 40
    url, _ = put(server, "r.bin", data)
    d = direct(url)
    h = requests.head(d)
    assert h.status_code == 200 and h.headers["Content-Length"] == str(len(data)) and h.headers["Accept-Ranges"] == "bytes"
    etag, lm = h.headers["ETag"], h.headers["Last-Modified"]
    r = requests.get(d, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20] and r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    r = requests.get(d, headers={"Range": "bytes=-5"})
    assert r.content == data[-5:]
    r = requests.get(d, headers={"Range": "bytes=0-1,100-101"})
    assert r.status_code == 206 and r.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert data[0:2] in r.content and data[100:102] in r.content and "Content-Range: bytes 100-101" in r.text
    assert int(r.headers["Content-Length"]) == len(r.content)
    for bad in ["bytes=999999-", "bytes=5-1", "bytes=0-10,5-20", "pages=1-2", "bytes=a-b"]:
        r = requests.get(d, headers={"Range": bad})
        assert r.status_code == 416, bad
        assert r.headers["Content-Range"] == f"bytes */{len(data)}"
    assert requests.get(d, headers={"If-None-Match": etag}).status_code == 304
    assert requests.get(d, headers={"If-Modified-Since": lm}).status_code == 304
    r = requests.get(d, headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert r.status_code == 200 and len(r.content) == len(data)
    r = requests.get(d, headers={"Range": "bytes=0-3", "If-Range": etag})
    assert r.status_code == 206


def test_active_content_is_never_inline(server):
    url, _ = put(server, "evil.html", b"<script>alert(1)</script>", headers={"Content-Type": "text/html"})
    r = requests.get(direct(url))
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in r.headers["Content-Security-Policy"]
    url, _ = put(server, "naïve résumé.svg", b"<svg/>")
    cd = requests.get(direct(url)).headers["Content-Disposition"]
    assert cd.startswith("attachment") and "filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.svg" in cd
    url, _ = put(server, "pic.png", b"\x89PNG\r\n\x1a\n")
    assert requests.get(direct(url)).headers["Content-Disposition"].startswith("inline")
    assert requests.get(direct(url), params={"download": "1"}).headers["Content-Disposition"].startswith("attachment")


def test_passwords_cookies_and_rate_limit(server):
    url, _ = put(server, "secret.txt", b"top secret", headers={"Carrel-Share-Password": "hunter2"})
    d = direct(url)
    assert requests.get(d).status_code == 401
    assert requests.get(d, auth=("", "wrong")).status_code == 403
    assert requests.get(d, auth=("", "hunter2")).content == b"top secret"
    page = requests.get(url)
    assert page.status_code == 200 and "protected" in page.text and "top secret" not in page.text
    s = requests.Session()
    r = s.post(url, data={"password": "hunter2"}, allow_redirects=True)
    assert r.status_code == 200 and "secret.txt" in r.text
    assert s.get(d).content == b"top secret"
    codes = [requests.post(url, data={"password": f"guess{i}"}, allow_redirects=False).status_code for i in range(6)]
    assert codes[:4] == [403] * 4 and codes[-1] == 429, codes
    r = requests.get(d, auth=("", "hunter2"))
    assert r.status_code == 429 and "Retry-After" in r.headers, "the right password is refused while rate-limited"


def test_link_states_and_management(server):
    url, j = put(server, "m.txt", b"manage me")
    token, sid = j["manage_token"], url.rsplit("/", 1)[1]
    api = f"{server.url}/api/shares/{sid}"
    assert requests.patch(api, json={"disabled_reason": "copyright notice"}).status_code == 401
    assert requests.patch(api, json={"disabled_reason": "x"}, headers={"Authorization": "Bearer nope"}).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    # Downloaded first, so the server has the link in memory: the change must still apply at once.
    assert requests.get(direct(url)).content == b"manage me"
    r = requests.patch(api, json={"disabled_reason": "copyright notice"}, headers=auth)
    assert r.status_code == 200 and r.json()["disabled_reason"] == "copyright notice"
    r = requests.get(direct(url))
    assert r.status_code == 410 and r.json()["error"]["code"] == "share_disabled"
    page = requests.get(url, headers={"Accept": "text/html"})
    assert page.status_code == 410 and "copyright notice" in page.text
    requests.patch(api, json={"disabled_reason": None, "expires": "1s"}, headers=auth)
    time.sleep(1.2)
    assert requests.get(direct(url)).json()["error"]["code"] == "share_expired"
    assert requests.patch(api, json={"expires": "soon"}, headers=auth).status_code == 400
    assert requests.patch(api, json={"bogus": 1}, headers=auth).status_code == 400
    assert requests.patch(api, data=b"{not json", headers=auth).status_code == 400
    requests.patch(api, json={"expires": None}, headers=auth)
    assert requests.get(direct(url)).content == b"manage me"
    assert requests.delete(f"{server.url}/api/files/{j['file_id']}", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert requests.delete(f"{server.url}/api/files/{j['file_id']}", headers=auth).status_code == 204
    assert requests.get(direct(url)).status_code == 404
    for bad in ["unknown", "A" * 22, "../../etc/passwd", "%00"]:
        assert requests.get(f"{server.url}/d/{bad}").status_code == 404, bad


def test_folder_listing_and_streaming_zip(server, workdir):
    files = []
    for name, data in [("a.txt", b"alpha"), ("b.bin", os.urandom(300_000)), ("a.txt", b"second a")]:
        _, j = put(server, name, data)
        files.append((j, data))
    r = requests.post(f"{server.url}/api/folders", json={"name": "bundle", "files": [{"id": j["file_id"], "manage_token": j["manage_token"]} for j, _ in files]})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    page = requests.get(url)
    assert page.status_code == 200 and "bundle" in page.text and "b.bin" in page.text
    z = requests.get(direct(url))
    assert z.headers["Content-Type"] == "application/zip"
    (workdir / "f.zip").write_bytes(z.content)
    assert subprocess.run(["unzip", "-tq", str(workdir / "f.zip")], capture_output=True).returncode == 0
    with zipfile.ZipFile(workdir / "f.zip") as zf:
        got = {n: zf.read(n) for n in zf.namelist()}
        now = time.gmtime()
        for info in zf.infolist():  # dated with the upload time (UTC), not 1980
            assert abs(calendar.timegm(info.date_time + (0, 0, 0)) - calendar.timegm(now)) < 3600, info.date_time
    assert sorted(got.values()) == sorted(d for _, d in files)
    assert set(got) == {"a.txt", "a (2).txt", "b.bin"}
    r = requests.post(f"{server.url}/api/folders", json={"name": "x", "files": [{"id": files[0][0]["file_id"], "manage_token": "wrong"}]})
    assert r.status_code == 401


def test_hostile_tus_requests_change_nothing(make_server):
    s = make_server(env={"CARREL_HOSTING__MAX_FILE_SIZE": "1000000"})
    f = f"{s.url}/files"
    assert requests.post(f, headers={"Upload-Length": "5"}).status_code == 412
    assert requests.post(f, headers=tus_headers(**{"Tus-Resumable": "0.2.2", "Upload-Length": "5"})).status_code == 412
    assert requests.post(f, headers=tus_headers(**{"Upload-Length": "-1"})).status_code == 400
    assert requests.post(f, headers=tus_headers(**{"Upload-Length": "abc"})).status_code == 400
    assert requests.post(f, headers=tus_headers()).status_code == 400
    assert requests.post(f, headers=tus_headers(**{"Upload-Length": "1000001"})).status_code == 413
    assert requests.post(f, headers=tus_headers(**{"Upload-Length": "5", "Upload-Metadata": "filename !!!"})).status_code == 400
    import base64
    for name in [b"../etc/passwd", b"/etc/passwd", b"a\x00b", b"bell\x07", b"x" * 10000, b".."]:
        meta = "filename " + base64.b64encode(name).decode()
        r = requests.post(f, headers=tus_headers(**{"Upload-Length": "5", "Upload-Metadata": meta}))
        assert r.status_code == 400 and r.json()["error"]["code"] in ("invalid_file_name", "invalid_upload_metadata"), (name[:20], r.text)
    for name in ["..%2Fx", "%2Fetc", "a%00b", "x" * 300]:
        assert requests.put(f"{s.url}/u/{name}", data=b"x").status_code in (400, 404), name
    r = requests.post(f, headers=tus_headers(**{"Upload-Length": "10"}))
    loc = r.headers["Location"]
    ct = {"Content-Type": "application/offset+octet-stream"}
    assert requests.patch(loc, data=b"abc", headers=tus_headers(**{"Upload-Offset": "3", **ct})).status_code == 409
    assert requests.patch(loc, data=b"abc", headers=tus_headers(**{"Upload-Offset": "0"})).status_code == 415
    assert requests.patch(loc, data=b"abc", headers=tus_headers(**{"Upload-Offset": "x", **ct})).status_code == 400
    assert requests.patch(loc, data=b"x" * 11, headers=tus_headers(**{"Upload-Offset": "0", **ct})).status_code == 413
    assert requests.head(loc, headers=tus_headers()).headers["Upload-Offset"] == "0", "nothing changed"
    r = requests.put(f"{s.url}/u/big.bin", data=b"x" * 1000001)
    assert r.status_code == 413
    assert requests.head(f"{s.url}/files/{'A' * 22}", headers=tus_headers()).status_code == 404


def test_slow_headers_are_cut_off(make_server):
    s = make_server(env={"CARREL_HEADER_READ_TIMEOUT_SECS": "1"})
    host, port = s.url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    sock.settimeout(10)
    t = time.time()
    data = sock.recv(4096)
    assert time.time() - t < 5
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
    assert requests.get(f"{s.url}/healthz").text == "ok\n", "the server is fine"


def test_metrics_openapi_and_graceful_shutdown(server):
    from openapi_spec_validator import validate
    put(server, "m.txt", b"x")
    m = requests.get(f"{server.url}/metrics").text
    assert "carrel_uploads_completed_total 1" in m and 'carrel_http_requests_total{method="PUT",status="201"} 1' in m
    validate(requests.get(f"{server.url}/api/openapi.json").json())
    server.stop()
    assert server.proc.returncode == 0
    assert "stopped" in server.read_log()


def test_http2_and_downloads_in_flight_finish_on_shutdown(server, workdir):
    data = os.urandom(3 * 1024 * 1024)
    url, _ = put(server, "slow.bin", data)
    h2 = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}", direct(url)],
                        capture_output=True, text=True, timeout=30)
    assert h2.returncode == 0 and h2.stdout == "2", (h2.stdout, h2.stderr)
    out = workdir / "slow.bin"
    dl = subprocess.Popen(["curl", "-sS", "-f", "--limit-rate", "1M", "-o", str(out), direct(url)])
    time.sleep(0.7)
    server.stop()  # SIGTERM while the download runs (about 3 s at 1 MB/s)
    assert server.proc.returncode == 0
    assert dl.wait(timeout=30) == 0
    assert sha(out.read_bytes()) == sha(data), "a download in flight finishes during a graceful shutdown"


def test_a_second_server_on_the_same_database_sees_link_changes_within_its_cache_time(make_server):
    ttl = {"CARREL_HOSTING__LINK_CACHE_MS": "500"}
    a = make_server(env=ttl)
    b = make_server(data=a.data, database=a.database, env=ttl)  # same blobs, same database
    url, j = put(a, "shared.txt", b"on both servers")
    sid = url.rsplit("/", 1)[1]
    assert requests.get(f"{b.url}/d/{sid}").content == b"on both servers"  # b remembers the link now
    r = requests.patch(f"{a.url}/api/shares/{sid}", json={"disabled_reason": "withdrawn"},
                       headers={"Authorization": f"Bearer {j['manage_token']}"})
    assert r.status_code == 200
    changed = time.monotonic()
    assert requests.get(f"{a.url}/d/{sid}").status_code == 410, "the server that made the change applies it at once"
    while requests.get(f"{b.url}/d/{sid}").status_code != 410:
        assert time.monotonic() - changed < 2.0, "the other server still serves a disabled link"
        time.sleep(0.05)


def test_downloads_are_the_same_with_both_caches_off(make_server):
    s = make_server(env={"CARREL_MEMORY_CACHE_BYTES": "0", "CARREL_HOSTING__LINK_CACHE_MS": "0"})
    data = os.urandom(3000)
    url, j = put(s, "small.bin", data)
    d = direct(url)
    assert requests.get(d).content == data
    r = requests.get(d, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert requests.get(d, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    requests.patch(f"{s.url}/api/shares/{url.rsplit('/', 1)[1]}", json={"disabled_reason": "x"},
                   headers={"Authorization": f"Bearer {j['manage_token']}"})
    assert requests.get(d).status_code == 410
