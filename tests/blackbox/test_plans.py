"""Plans through the real server on both backends: storage quota and plan
file size on PUT and tus (at creation and as bytes arrive, with no partial
file left), daily download volume (429 with Retry-After), a speed cap
measured by curl on HTTP/1.1 (sendfile) and HTTP/2, downloads at once,
retention under an injected clock (`carrel admin retention --ahead`), the
notice on the account page, plan changes by the admin CLI and API, and the
signed plan webhook (bad signature, stale timestamp, replay)."""
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time

import requests

from conftest import BIN, direct, put, tus_headers
from test_accounts import PW, login

MIB = 1 << 20


def plans_env(anonymous="free", **tiers):
    """CARREL_PLANS__… variables: tiers as {name: {limit: value}}."""
    env = {"CARREL_PLANS__ANONYMOUS": anonymous}
    for name, limits in tiers.items():
        for k, v in limits.items():
            env[f"CARREL_PLANS__TIERS__{name.upper()}__{k.upper()}"] = str(v)
    return env


def cli(srv, *args, stdin=None, check=True):
    cmd = [BIN, "admin", *args, "--data", srv.data]
    if srv.database:
        cmd += ["--database", srv.database]
    r = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=120, env=srv.env)
    if check:
        assert r.returncode == 0, r.stderr + r.stdout
    return r


def user_with_token(srv, email, plan=None, scopes="read,upload,manage"):
    cli(srv, "create-user", email, "--password-stdin", stdin=PW)
    if plan:
        out = cli(srv, "set-plan", email, plan).stdout
        assert f"now on the {plan} plan" in out
    tok = cli(srv, "create-token", email, "--name", "t", "--scopes", scopes).stdout.strip()
    return {"Authorization": f"Bearer {tok}"}


def staging_files(srv):
    d = os.path.join(srv.data, "staging")
    return [f for f in os.listdir(d)] if os.path.isdir(d) else []


def test_storage_quota_and_file_size(make_server):
    srv = make_server(env=plans_env(tiny={"storage": 100_000, "max_file": 60_000}))
    auth = user_with_token(srv, "ada@example.org", "tiny")
    j = {**auth, "Accept": "application/json"}
    # Larger than the plan's largest file: 413, named as the plan's limit.
    r = requests.put(f"{srv.url}/u/big.bin", data=b"x" * 70_000, headers=j)
    assert r.status_code == 413 and r.json()["error"]["code"] == "plan_file_too_large", r.text
    assert "tiny" in r.json()["error"]["message"]
    for _ in range(2):
        r = requests.put(f"{srv.url}/u/a.bin", data=b"a" * 40_000, headers=j)
        assert r.status_code == 201, r.text
    # 80 000 used of 100 000: a third 40 000 does not fit (507, clear message).
    r = requests.put(f"{srv.url}/u/c.bin", data=b"c" * 40_000, headers=j)
    assert r.status_code == 507, r.text
    e = r.json()["error"]
    assert e["code"] == "quota_exceeded" and "left of" in e["message"], e
    # Without a Content-Length the body is cut off as it arrives.
    r = requests.put(f"{srv.url}/u/d.bin", data=(b"d" * 10_000 for _ in range(4)), headers=j)
    assert r.status_code == 507 and r.json()["error"]["code"] == "quota_exceeded", r.text
    # tus: refused at creation when the length is declared ...
    r = requests.post(f"{srv.url}/files", headers=tus_headers(**auth, **{"Upload-Length": "40000"}))
    assert r.status_code == 507, r.text
    # ... and as bytes arrive when it is deferred; the offset stays put.
    r = requests.post(f"{srv.url}/files", headers=tus_headers(**auth, **{"Upload-Defer-Length": "1"}))
    assert r.status_code == 201, r.text
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else srv.url + loc
    r = requests.patch(loc, data=b"e" * 30_000, headers=tus_headers(**{
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
    assert r.status_code == 507, r.text
    assert requests.head(loc, headers=tus_headers()).headers["Upload-Offset"] == "0"
    r = requests.patch(loc, data=b"e" * 15_000, headers=tus_headers(**{
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
    assert r.status_code == 204, r.text
    # No partial file anywhere: two files, usage as stored.
    mine = requests.get(f"{srv.url}/api/files", headers=auth).json()
    assert mine["total"] == 2
    me = requests.get(f"{srv.url}/api/me", headers=auth).json()
    assert me["plan"] == "tiny"
    assert me["usage"]["storage_used"] == 80_000 + 15_000
    assert me["usage"]["limits"]["storage"] == 100_000
    assert not [f for f in staging_files(srv) if f.startswith("put-")], staging_files(srv)
    # Anonymous uploads follow the anonymous plan, not Ada's.
    put(srv, "anon.bin", b"z" * 70_000)


def test_daily_volume_is_refused_with_retry_after(make_server):
    srv = make_server(env=plans_env(anonymous="metered", metered={"daily_download": 100_000}))
    url, _ = put(srv, "v.bin", os.urandom(60_000))
    assert requests.get(direct(url)).status_code == 200
    # A range counts its bytes; the check is made when a download starts.
    r = requests.get(direct(url), headers={"Range": "bytes=0-29999"})
    assert r.status_code == 206 and len(r.content) == 30_000
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", direct(url)],
                       capture_output=True, text=True)
    assert r.stdout == "200"
    r = requests.get(direct(url))
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "daily_volume_exceeded"
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= 86_400
    # Folder links are held to the same volume: the ZIP and each file in it.
    _, f = put(srv, "f.bin", os.urandom(1000))
    r = requests.post(f"{srv.url}/api/folders", json={"name": "bundle", "files": [
        {"id": f["file_id"], "manage_token": f["manage_token"]}]})
    assert r.status_code == 201, r.text
    folder = direct(r.json()["url"])
    for u in (folder, f"{folder}/{f['file_id']}"):
        r = requests.get(u)
        assert r.status_code == 429 and r.json()["error"]["code"] == "daily_volume_exceeded", (u, r.text)
    # An account on a plan without a volume limit is not held back, and
    # every byte it takes is counted: the file, the ZIP, a file of the folder.
    auth = user_with_token(srv, "ada@example.org", "unlimited")
    r = requests.get(direct(url), headers=auth)
    assert r.status_code == 200 and len(r.content) == 60_000
    z = requests.get(folder, headers=auth)
    assert z.status_code == 200 and z.headers["Content-Type"] == "application/zip"
    one = requests.get(f"{folder}/{f['file_id']}", headers=auth)
    assert one.status_code == 200 and len(one.content) == 1000
    time.sleep(0.1)
    today = requests.get(f"{srv.url}/api/me", headers=auth).json()["usage"]["downloaded_today"]
    assert today == 60_000 + len(z.content) + 1000, today


def curl_speed(url, *extra):
    r = subprocess.run(["curl", "-sS", *extra, "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    size, secs = r.stdout.split()
    return int(size), float(secs)


def test_speed_cap_is_measured_at_the_configured_rate(make_server):
    srv = make_server(env=plans_env(anonymous="slow", slow={"speed": MIB, "concurrent_downloads": 2}))
    url, _ = put(srv, "s.bin", os.urandom(3 * MIB))
    for proto in ([], ["--http2-prior-knowledge"]):
        size, secs = curl_speed(direct(url), *proto)
        rate = size / secs
        assert size == 3 * MIB
        assert abs(rate - MIB) / MIB <= 0.10, (proto, rate / MIB)
    # Two downloads at once share the address's bucket: together 1 MiB/s.
    results = []
    ts = [threading.Thread(target=lambda: results.append(curl_speed(direct(url)))) for _ in range(2)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    time.sleep(0.3)
    # A third at once is over the plan's two.
    r = requests.get(direct(url), stream=True)
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_downloads"
    assert r.headers["Retry-After"]
    for t in ts:
        t.join()
    total = time.monotonic() - t0
    rate = 2 * 3 * MIB / total
    assert abs(rate - MIB) / MIB <= 0.10, rate / MIB


def test_retention_deletes_exactly_the_inactive_files(make_server):
    srv = make_server(env=plans_env(anonymous="free", short={"retention_days": 10},
                                    long={"retention_days": 60}, notice={"retention_days": 1, "storage": 100}))
    ada = user_with_token(srv, "ada@example.org", "short")
    bob = user_with_token(srv, "bob@example.org", "long")
    j = {"Accept": "application/json"}
    a = [requests.put(f"{srv.url}/u/a{i}.txt", data=b"a", headers={**ada, **j}).json() for i in range(2)]
    b = requests.put(f"{srv.url}/u/b.txt", data=b"b", headers={**bob, **j}).json()
    n_url, n = put(srv, "n.txt", b"n")
    ids = lambda: {f["id"] for who in (ada, bob) for f in requests.get(f"{srv.url}/api/files", headers=who).json()["files"]}
    assert len(ids()) == 3

    def sweep(ahead, dry=False):
        args = ["retention", "--ahead", ahead] + (["--dry-run"] if dry else [])
        return cli(srv, *args).stdout

    assert "0 file(s) would be deleted" in sweep("9d", dry=True)
    assert "0 file(s) past" in sweep("9d")
    preview = sweep("11d", dry=True)
    assert "2 file(s) would be deleted" in preview
    assert all(f["file_id"] in preview for f in a) and b["file_id"] not in preview
    assert "2 file(s) past" in sweep("11d")
    assert ids() == {b["file_id"]}
    assert requests.get(direct(n_url)).status_code == 200
    assert "1 file(s) past" in sweep("61d")
    assert ids() == set()
    assert requests.get(direct(n_url)).status_code == 200
    # The anonymous plan (free) keeps files 90 days.
    assert "1 file(s) past" in sweep("91d")
    time.sleep(1.2)  # the server remembers a link it read for hosting.link_cache_ms (1 s)
    assert requests.get(direct(n_url)).status_code == 404
    # The account page warns before a deletion (a 1-day plan is within notice at once).
    cy = user_with_token(srv, "cy@example.org", "notice")
    requests.put(f"{srv.url}/u/old-report.pdf", data=b"%PDF-1.4", headers={**cy, **j})
    s, _ = login(srv, "cy@example.org")
    page = s.get(f"{srv.url}/account").text
    assert "will be deleted" in page and "old-report.pdf" in page
    # The same page in Chromium, logged in through the form; screenshot kept.
    from conftest import ARTIFACTS, ROOT
    png = os.path.join(ARTIFACTS, f"plans-{srv.backend}", "account-retention-notice.png")
    r = subprocess.run(["node", os.path.join(ROOT, "tests", "js", "plan_page.mjs"), srv.url,
                        "cy@example.org", PW, png], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert not res["errors"], res["errors"]
    assert "1 file will be deleted" in res["usage"] and "old-report.pdf" in res["usage"], res["usage"]
    assert "8 B of 100 B" in res["usage"] and "1 day after the last download" in res["usage"], res["usage"]
    assert os.path.getsize(png) > 5000
    # An unknown plan is refused by name, with the list.
    r = cli(srv, "set-plan", "cy@example.org", "gold", check=False)
    assert r.returncode != 0 and "premium" in r.stderr


def sign(secret, body, t=None):
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Carrel-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def test_plan_webhook_is_signed_and_replay_proof(make_server):
    secret = "whsec-" + "k" * 40
    srv = make_server(env={"CARREL_ACCOUNTS__WEBHOOK_SECRET": secret})
    auth = user_with_token(srv, "ada@example.org")
    hook = f"{srv.url}/api/webhooks/plan"
    plan = lambda: requests.get(f"{srv.url}/api/me", headers=auth).json()["plan"]
    assert plan() == "free"
    ev1 = json.dumps({"id": "evt_1", "email": "ada@example.org", "plan": "premium"}).encode()
    ev2 = json.dumps({"id": "evt_2", "email": "ada@example.org", "plan": "free"}).encode()
    # Wrong secret, stale or future timestamps, a changed body, no signature: 401.
    for headers, body in [(sign("wrong", ev1), ev1), (sign(secret, ev1, int(time.time()) - 600), ev1),
                          (sign(secret, ev1, int(time.time()) + 600), ev1), (sign(secret, ev2), ev1),
                          ({"Content-Type": "application/json"}, ev1)]:
        r = requests.post(hook, data=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "bad_signature", r.text
    assert plan() == "free"
    r = requests.post(hook, data=ev1, headers=sign(secret, ev1))
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    assert plan() == "premium"
    r = requests.post(hook, data=ev2, headers=sign(secret, ev2))
    assert r.json()["status"] == "applied" and plan() == "free"
    # A replay of the first event (even freshly signed) changes nothing.
    r = requests.post(hook, data=ev1, headers=sign(secret, ev1))
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert plan() == "free"
    # Bad events: unknown plan, unknown user, malformed and oversized bodies.
    for body, status in [({"id": "e3", "email": "ada@example.org", "plan": "gold"}, 400),
                         ({"id": "e4", "email": "nobody@example.org", "plan": "free"}, 404),
                         ({"id": "e5", "plan": "free"}, 400),
                         ({"id": "", "email": "ada@example.org", "plan": "free"}, 400)]:
        raw = json.dumps(body).encode()
        assert requests.post(hook, data=raw, headers=sign(secret, raw)).status_code == status, body
    raw = b"{not json"
    assert requests.post(hook, data=raw, headers=sign(secret, raw)).status_code == 400
    raw = b"{" + b" " * (100 << 10) + b"}"
    assert requests.post(hook, data=raw, headers=sign(secret, raw)).status_code == 413
    # The admin API sets plans too (known names only).
    cli(srv, "create-user", "root@example.org", "--admin", "--password-stdin", stdin=PW)
    root = {"Authorization": "Bearer " + cli(srv, "create-token", "root@example.org", "--name", "a",
                                             "--scopes", "read,admin").stdout.strip()}
    uid = requests.get(f"{srv.url}/api/me", headers=auth).json()["id"]
    r = requests.patch(f"{srv.url}/api/admin/users/{uid}", json={"plan": "premium"}, headers=root)
    assert r.status_code == 200 and r.json()["plan"] == "premium"
    r = requests.patch(f"{srv.url}/api/admin/users/{uid}", json={"plan": "gold"}, headers=root)
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_plan"
    assert requests.patch(f"{srv.url}/api/admin/users/{uid}", json={"plan": "free"}, headers=auth).status_code == 403
    # An administrator starts on the unlimited plan.
    assert requests.get(f"{srv.url}/api/me", headers=root).json()["plan"] == "unlimited"


def test_webhook_is_off_without_a_secret(server):
    body = b'{"id":"1","email":"a@example.org","plan":"free"}'
    r = requests.post(f"{server.url}/api/webhooks/plan", data=body, headers=sign("x", body))
    assert r.status_code == 404


def at_once(fn, n=2):
    """fn(0) … fn(n-1) in threads released at the same moment; their results in order."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_uploads_at_once_cannot_together_pass_the_quota(make_server):
    """Two tus uploads started at the same moment, each within the quota but
    not both: exactly one is created and completes, the other is refused with
    507 and the quota's message, and nothing of it stays behind."""
    from tusclient import client as tus_client
    from tusclient.exceptions import TusCommunicationError

    srv = make_server(env=plans_env(tiny={"storage": 150_000}))
    auth = user_with_token(srv, "ada@example.org", "tiny")
    for attempt in range(3):
        def upload(i):
            data = bytes([65 + i]) * 100_000
            import io
            c = tus_client.TusClient(f"{srv.url}/files", headers=auth)
            up = c.uploader(file_stream=io.BytesIO(data), chunk_size=50_000,
                            metadata={"filename": f"race-{attempt}-{i}.bin"}, retries=0)
            try:
                up.upload()
                return ("ok", up.url)
            except TusCommunicationError as e:
                return ("refused", e.status_code, e.response_content)

        results = at_once(upload)
        oks = [r for r in results if r and r[0] == "ok"]
        refused = [r for r in results if r and r[0] == "refused"]
        assert len(oks) == 1 and len(refused) == 1, results
        status, body = refused[0][1], refused[0][2]
        assert status == 507, results
        body = body.decode() if isinstance(body, bytes) else str(body)
        assert "quota" in body and "left of" in body, body
        mine = requests.get(f"{srv.url}/api/files", headers=auth).json()
        assert mine["total"] == 1, mine
        me = requests.get(f"{srv.url}/api/me", headers=auth).json()
        assert me["usage"]["storage_used"] == 100_000, me
        # Only the finished upload's staging was used; the refused one left no file.
        assert staging_files(srv) == [], staging_files(srv)
        for f in mine["files"]:
            assert requests.delete(f"{srv.url}/api/files/{f['id']}", headers=auth).status_code == 204


def test_deferred_lengths_declared_at_once_cannot_together_pass_the_quota(make_server):
    """Two uploads created with Upload-Defer-Length declare their lengths in
    PATCHes sent at the same moment: each fits the quota, both do not; one
    is taken, the other refused with 507 and left as it was."""
    srv = make_server(env=plans_env(tiny={"storage": 150_000}))
    auth = user_with_token(srv, "ada@example.org", "tiny")
    for attempt in range(3):
        locs = []
        for _ in range(2):
            r = requests.post(f"{srv.url}/files", headers=tus_headers(**auth, **{"Upload-Defer-Length": "1"}))
            assert r.status_code == 201, r.text
            loc = r.headers["Location"]
            locs.append(loc if loc.startswith("http") else srv.url + loc)
        results = at_once(lambda i: requests.patch(locs[i], data=b"x" * 100_000, headers=tus_headers(**{
            "Upload-Offset": "0", "Upload-Length": "100000", "Content-Type": "application/offset+octet-stream"})))
        codes = sorted(r.status_code for r in results)
        assert codes == [204, 507], [(r.status_code, r.text[:200]) for r in results]
        refused = [i for i in range(2) if results[i].status_code == 507][0]
        assert results[refused].json()["error"]["code"] == "quota_exceeded"
        h = requests.head(locs[refused], headers=tus_headers()).headers
        assert h["Upload-Offset"] == "0" and h.get("Upload-Defer-Length") == "1", dict(h)
        me = requests.get(f"{srv.url}/api/me", headers=auth).json()
        assert me["usage"]["storage_used"] == 100_000, me
        requests.delete(locs[refused], headers=tus_headers())
        for f in requests.get(f"{srv.url}/api/files", headers=auth).json()["files"]:
            assert requests.delete(f"{srv.url}/api/files/{f['id']}", headers=auth).status_code == 204


def test_puts_at_once_cannot_together_pass_the_quota(make_server):
    """The same for plain PUTs with a Content-Length (curl -T): one stored,
    the other refused with 507 before its bytes are kept; a PUT refused or
    cut off midway leaves no reservation behind."""
    srv = make_server(env=plans_env(tiny={"storage": 150_000}))
    auth = user_with_token(srv, "ada@example.org", "tiny")
    j = {**auth, "Accept": "application/json"}
    for attempt in range(3):
        results = at_once(lambda i: requests.put(f"{srv.url}/u/race-{attempt}-{i}.bin",
                                                 data=bytes([65 + i]) * 100_000, headers=j))
        codes = sorted(r.status_code for r in results)
        assert codes == [201, 507], [(r.status_code, r.text[:200]) for r in results]
        e = [r for r in results if r.status_code == 507][0].json()["error"]
        assert e["code"] == "quota_exceeded" and "left of" in e["message"], e
        me = requests.get(f"{srv.url}/api/me", headers=auth).json()
        assert me["usage"]["storage_used"] == 100_000, me
        for f in requests.get(f"{srv.url}/api/files", headers=auth).json()["files"]:
            assert requests.delete(f"{srv.url}/api/files/{f['id']}", headers=auth).status_code == 204
    # A body cut off before its Content-Length: its reservation goes with it.
    import socket
    host, port = srv.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port))) as c:
        c.sendall((f"PUT /u/cut.bin HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth['Authorization']}\r\n"
                   "Content-Length: 120000\r\n\r\n").encode() + b"x" * 1000)
        time.sleep(0.5)
    deadline = time.time() + 10
    while time.time() < deadline:
        used = requests.get(f"{srv.url}/api/me", headers=auth).json()["usage"]["storage_used"]
        if used == 0:
            break
        time.sleep(0.2)
    assert used == 0
    assert not [f for f in staging_files(srv) if f.startswith("put-")], staging_files(srv)
    r = requests.put(f"{srv.url}/u/after.bin", data=b"y" * 140_000, headers=j)
    assert r.status_code == 201, r.text


def test_library_downloads_count_against_the_plan(make_server):
    """A book in the library is downloaded under the downloader's plan, as
    a share link is: its bytes count toward the day's volume."""
    srv = make_server(env=plans_env(anonymous="metered", metered={"daily_download": 100_000}))
    src = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "corpus", "epub", "standard-ebooks")
    epub = next(os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith(".epub"))
    body = open(epub, "rb").read()
    assert len(body) > 100_000
    _, up = put(srv, "book.epub", body)
    r = requests.post(f"{srv.url}/api/library/files/{up['file_id']}",
                      headers={"Authorization": f"Bearer {up['manage_token']}"}, timeout=60)
    assert r.status_code == 201, r.text
    url = f"{srv.url}/library/files/{up['file_id']}"
    # A HEAD sends no bytes and is not counted.
    assert requests.head(url, timeout=10).status_code == 200
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == body
    r = requests.get(url, timeout=10)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "daily_volume_exceeded"
    assert 0 < int(r.headers["Retry-After"]) <= 86_400
    # An account on an unlimited plan downloads it, and the bytes are its own.
    auth = user_with_token(srv, "reader@example.org", "unlimited")
    r = requests.get(url, headers=auth, timeout=30)
    assert r.status_code == 200 and r.content == body
    time.sleep(0.1)
    today = requests.get(f"{srv.url}/api/me", headers=auth).json()["usage"]["downloaded_today"]
    assert today == len(body), today


def test_streams_count_against_the_plan_and_a_view_counts_once(make_server, tmp_path):
    """HLS under a share link follows the link's and the plan's rules: a
    player's master playlist (or a rendition's file from its first byte)
    counts as one download of the link, its segments not again; a link at its
    download limit starts no new view; the rendition's bytes count toward the
    viewer's daily volume like a download's."""
    from test_transcode import ladder_done, sid_of
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=640x360:d=4:r=25",
                    "-f", "lavfi", "-i", "sine=d=4", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                    "-shortest", str(clip)], check=True)
    srv = make_server(env=plans_env(anonymous="metered", metered={"daily_download": 2_000_000}))
    url, up = put(srv, "clip.mp4", clip.read_bytes())
    auth = {"Authorization": f"Bearer {up['manage_token']}"}
    m = ladder_done(srv, url, up)
    assert m["ladder"]["state"] == "ready", m
    sid = sid_of(url)
    r = requests.patch(f"{srv.url}/api/shares/{sid}", json={"max_downloads": 3}, headers=auth, timeout=10)
    assert r.status_code == 200, r.text

    def downloads():
        return requests.get(f"{srv.url}/api/shares/{sid}", headers=auth, timeout=10).json()["downloads"]

    # One view: the master playlist counts once; the rung's playlist and segments do not.
    assert requests.get(f"{url}/hls/master.m3u8", timeout=10).status_code == 200
    assert downloads() == 1
    playlist = requests.get(f"{url}/hls/360p.m3u8", timeout=10)
    assert playlist.status_code == 200
    seg = requests.get(f"{url}/hls/360p/0.m4s", timeout=30)
    assert seg.status_code == 200 and len(seg.content) > 0
    assert requests.head(f"{url}/hls/360p.mp4", timeout=10).status_code == 200
    assert downloads() == 1
    # The rung's whole file from its first byte is a view; a later range of it is not.
    whole = requests.get(f"{url}/hls/360p.mp4", timeout=30)
    assert whole.status_code == 200
    part = requests.get(f"{url}/hls/360p.mp4", headers={"Range": "bytes=100-"}, timeout=30)
    assert part.status_code == 206
    assert downloads() == 2
    assert requests.get(f"{url}/hls/master.m3u8", timeout=10).status_code == 200
    assert downloads() == 3
    # At its limit, the link starts no new view.
    r = requests.get(f"{url}/hls/master.m3u8", timeout=10)
    assert r.status_code in (403, 410), r.text
    assert downloads() == 3

    # The bytes count toward the day's volume: with half a rung's bytes
    # left for the day, a download starts and ends whole (as a file's does),
    # and the next is refused with 429 and Retry-After.
    srv2 = make_server(env=plans_env(anonymous="metered", metered={"daily_download": len(whole.content) // 2}))
    url2, up2 = put(srv2, "clip.mp4", clip.read_bytes())
    assert ladder_done(srv2, url2, up2)["ladder"]["state"] == "ready"
    size = int(requests.head(f"{url2}/hls/360p.mp4", timeout=10).headers["Content-Length"])
    r = requests.get(f"{url2}/hls/360p.mp4", timeout=30)
    assert r.status_code == 200 and len(r.content) == size
    for u in (f"{url2}/hls/360p.mp4", f"{url2}/hls/360p/0.m4s"):
        r = requests.get(u, timeout=10)
        assert r.status_code == 429, (u, r.status_code, r.text)
        assert r.json()["error"]["code"] == "daily_volume_exceeded"
        assert 0 < int(r.headers["Retry-After"]) <= 86_400
    # Playlists are not metered: a player is told why, not left without its list.
    assert requests.get(f"{url2}/hls/master.m3u8", timeout=10).status_code == 200
