"""Uploads through real clients: tuspy, tus-js-client, curl, the carrel CLI."""
import base64
import hashlib
import json
import os
import subprocess
import time

import requests
from tusclient import client as tus

from conftest import BIN, ROOT, direct, put, tus_headers


def rand_file(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return path


def sha(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return hashlib.sha256(path_or_bytes).hexdigest()
    with open(path_or_bytes, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def share_of(server, upload_url):
    r = requests.get(upload_url)
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["complete"], st
    return st["share_url"]


def test_tuspy_upload_with_checksums_is_byte_identical(server, workdir):
    src = rand_file(workdir / "big.bin", 3 * 1024 * 1024 + 17)
    c = tus.TusClient(f"{server.url}/files")
    up = c.uploader(str(src), chunk_size=1024 * 1024, metadata={"filename": "big.bin"}, upload_checksum=True)
    up.upload()
    got = requests.get(direct(share_of(server, up.url)))
    assert got.status_code == 200
    assert sha(got.content) == sha(src)


def test_tuspy_resumes_after_server_sigkill(server, workdir):
    src = rand_file(workdir / "resume.bin", 4 * 1024 * 1024)
    c = tus.TusClient(f"{server.url}/files")
    up = c.uploader(str(src), chunk_size=1024 * 1024, metadata={"filename": "resume.bin"})
    up.upload_chunk()
    up.upload_chunk()
    assert up.offset == 2 * 1024 * 1024
    url = up.url
    server.restart_after_kill()
    head = requests.head(url, headers=tus_headers())
    assert head.status_code == 200
    assert int(head.headers["Upload-Offset"]) == 2 * 1024 * 1024
    c2 = tus.TusClient(f"{server.url}/files")
    up2 = c2.uploader(str(src), url=url, chunk_size=1024 * 1024)
    assert up2.offset == 2 * 1024 * 1024, "tuspy must resume, not restart"
    up2.upload()
    assert sha(requests.get(direct(share_of(server, url))).content) == sha(src)


def test_checksum_mismatch_gives_460_and_keeps_offset(server):
    r = requests.post(f"{server.url}/files", headers=tus_headers(**{"Upload-Length": "10"}))
    assert r.status_code == 201
    loc = r.headers["Location"]
    bad = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    p = requests.patch(loc, data=b"0123456789", headers=tus_headers(**{
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Upload-Checksum": f"sha1 {bad}"}))
    assert p.status_code == 460, p.text
    assert p.json()["error"]["code"] == "checksum_mismatch"
    assert requests.head(loc, headers=tus_headers()).headers["Upload-Offset"] == "0"
    good = base64.b64encode(hashlib.sha256(b"01234").digest()).decode()
    p = requests.patch(loc, data=b"01234", headers=tus_headers(**{
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Upload-Checksum": f"sha256 {good}"}))
    assert p.status_code == 204 and p.headers["Upload-Offset"] == "5"
    p = requests.patch(loc, data=b"56789", headers=tus_headers(**{
        "Upload-Offset": "5", "Content-Type": "application/offset+octet-stream", "Upload-Checksum": "crc32 AAAA"}))
    assert p.status_code == 400 and p.json()["error"]["code"] == "unsupported_checksum_algorithm"


def test_concatenation_of_parallel_parts(server, workdir):
    parts = [os.urandom(300_000), os.urandom(123_457), b"tail"]
    urls = []
    for data in parts:
        r = requests.post(f"{server.url}/files", data=data, headers=tus_headers(**{
            "Upload-Length": str(len(data)), "Upload-Concat": "partial",
            "Content-Type": "application/offset+octet-stream"}))
        assert r.status_code == 201 and r.headers["Upload-Offset"] == str(len(data)), r.text
        assert "Carrel-Share-Url" not in r.headers, "parts are not files"
        urls.append(r.headers["Location"])
    meta = "filename " + base64.b64encode(b"joined.bin").decode()
    r = requests.post(f"{server.url}/files", headers=tus_headers(**{
        "Upload-Concat": "final;" + " ".join(urls), "Upload-Metadata": meta}))
    assert r.status_code == 201, r.text
    got = requests.get(direct(r.headers["Carrel-Share-Url"]))
    assert got.content == b"".join(parts)
    assert "joined.bin" in got.headers["Content-Disposition"]
    h = requests.head(r.headers["Location"], headers=tus_headers())
    assert h.headers["Upload-Concat"].startswith("final;")
    # An unfinished part cannot be concatenated.
    r = requests.post(f"{server.url}/files", headers=tus_headers(**{"Upload-Length": "9", "Upload-Concat": "partial"}))
    r2 = requests.post(f"{server.url}/files", headers=tus_headers(**{"Upload-Concat": "final;" + r.headers["Location"]}))
    assert r2.status_code == 400 and r2.json()["error"]["code"] == "concat_part_incomplete"


def test_termination_and_deferred_length(server):
    r = requests.post(f"{server.url}/files", headers=tus_headers(**{"Upload-Defer-Length": "1"}))
    assert r.status_code == 201
    loc = r.headers["Location"]
    assert requests.head(loc, headers=tus_headers()).headers["Upload-Defer-Length"] == "1"
    p = requests.patch(loc, data=b"abc", headers=tus_headers(**{
        "Upload-Offset": "0", "Upload-Length": "3", "Content-Type": "application/offset+octet-stream"}))
    assert p.status_code == 204 and "Carrel-File-Id" in p.headers
    r = requests.post(f"{server.url}/files", headers=tus_headers(**{"Upload-Length": "100"}))
    loc = r.headers["Location"]
    assert requests.delete(loc, headers=tus_headers()).status_code == 204
    assert requests.head(loc, headers=tus_headers()).status_code == 404
    assert requests.delete(loc, headers=tus_headers()).status_code == 404
    o = requests.options(f"{server.url}/files")
    assert o.status_code == 204
    for ext in ["creation", "creation-with-upload", "expiration", "checksum", "termination", "concatenation"]:
        assert ext in o.headers["Tus-Extension"].split(",")


def test_tus_js_client_uploads_and_resumes_after_sigkill(server, workdir):
    src = rand_file(workdir / "js.bin", 3 * 1024 * 1024 + 5)
    script = os.path.join(ROOT, "tests", "js", "tus_upload.mjs")
    first = subprocess.run(["node", script, "start", f"{server.url}/files", str(src)], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    state = json.loads(first.stdout)
    assert 0 < state["offset"] < 3 * 1024 * 1024 + 5
    server.restart_after_kill()
    second = subprocess.run(["node", script, "resume", state["url"], str(src)], capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    done = json.loads(second.stdout)
    assert done["resumedFrom"] >= state["offset"] > 0, done
    assert sha(requests.get(direct(share_of(server, state["url"]))).content) == sha(src)


def test_curl_put_and_options(server, workdir):
    src = rand_file(workdir / "put me.bin", 200_000)
    out = subprocess.run(["curl", "-sS", "-f", "-T", str(src), f"{server.url}/u/"], capture_output=True, text=True, check=True)
    url = out.stdout.strip()
    assert "/s/" in url
    assert sha(requests.get(direct(url)).content) == sha(src)
    url, j = put(server, "limited.txt", b"x", params={"max_downloads": "1", "expires": "1h"})
    assert requests.get(direct(url)).status_code == 200
    r = requests.get(direct(url))
    assert r.status_code == 410 and r.json()["error"]["code"] == "share_download_limit_reached"


def test_cli_upload_parallel_parts_json_and_download(server, workdir):
    src = rand_file(workdir / "cli.bin", 5 * 1024 * 1024 + 3)
    env = dict(os.environ, CARREL_STATE_DIR=str(workdir / "state"))
    out = subprocess.run([BIN, "upload", str(src), "--server", server.url, "--json", "--parallel", "4",
                          "--part-threshold", "1048576", "--max-downloads", "5"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout.strip().splitlines()[0])
    assert obj["url"].startswith(server.url + "/s/") and obj["manage_token"]
    dst = workdir / "back.bin"
    d = subprocess.run([BIN, "download", obj["url"], "-o", str(dst)], capture_output=True, text=True, timeout=120)
    assert d.returncode == 0, d.stderr
    assert sha(dst) == sha(src)
    # Plain output: one URL per file.
    small = rand_file(workdir / "s.txt", 10)
    out = subprocess.run([BIN, "upload", str(small), str(src), "--server", server.url], capture_output=True, text=True, env=env, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and len(lines) == 2 and all("/s/" in l for l in lines), out


def test_full_disk_gives_507_and_breaks_nothing(make_server, workdir):
    mnt = workdir / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)]).returncode != 0:
        raise AssertionError("this test needs to mount a tmpfs (run as root)")
    try:
        s = make_server(data=str(mnt / "data"), database=f"sqlite://{workdir}/meta.db")
        url, _ = put(s, "before.txt", b"still here")
        r = requests.post(f"{s.url}/files", headers=tus_headers(**{"Upload-Length": str(8 * 1024 * 1024)}))
        loc = r.headers["Location"]
        p = requests.patch(loc, data=os.urandom(8 * 1024 * 1024), headers=tus_headers(**{
            "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
        assert p.status_code == 507, p.text
        assert p.json()["error"]["code"] == "storage_full"
        assert requests.head(loc, headers=tus_headers()).headers["Upload-Offset"] == "0"
        assert requests.delete(loc, headers=tus_headers()).status_code == 204
        assert requests.get(direct(url)).content == b"still here"
        url2, _ = put(s, "after.txt", b"fits again")
        assert requests.get(direct(url2)).content == b"fits again"
        s.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_unfinished_uploads_expire_and_are_cleaned(make_server):
    s = make_server(env={"CARREL_HOSTING__UPLOAD_EXPIRY_SECS": "1"})
    r = requests.post(f"{s.url}/files", headers=tus_headers(**{"Upload-Length": "100"}))
    loc = r.headers["Location"]
    assert "Upload-Expires" in r.headers
    p = requests.patch(loc, data=b"x" * 10, headers=tus_headers(**{
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
    assert p.status_code == 204
    staged = os.path.join(s.data, "staging", loc.rsplit("/", 1)[1])
    assert os.path.exists(staged)
    # The sweep removes the staging file first, then the row (a crash in
    # between leaves an expired row that the next sweep removes): wait for both.
    deadline = time.time() + 10
    forgotten = lambda: requests.head(loc, headers=tus_headers()).status_code == 404  # noqa: E731
    while time.time() < deadline and (os.path.exists(staged) or not forgotten()):
        time.sleep(0.2)
    assert not os.path.exists(staged), "the staging file of an expired upload is removed"
    assert forgotten(), "and the upload is forgotten"


def test_per_ip_limit_on_unfinished_uploads(make_server):
    s = make_server(env={"CARREL_HOSTING__MAX_CONCURRENT_UPLOADS_PER_IP": "2"})
    locs = [requests.post(f"{s.url}/files", headers=tus_headers(**{"Upload-Length": "3"})).headers["Location"] for _ in range(2)]
    r = requests.post(f"{s.url}/files", headers=tus_headers(**{"Upload-Length": "3"}))
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_uploads"
    p = requests.patch(locs[0], data=b"abc", headers=tus_headers(**{
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
    assert p.status_code == 204
    assert requests.post(f"{s.url}/files", headers=tus_headers(**{"Upload-Length": "3"})).status_code == 201, \
        "a finished upload frees its place"
