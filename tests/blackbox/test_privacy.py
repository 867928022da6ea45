"""Privacy through the real server on both backends: the data export (JSON
and a ZIP holding the exact bytes), account deletion by its owner (password,
CSRF, sessions and tokens revoked, files gone, shared bytes kept, the address
free again) and by an administrator with a transfer (CLI and API), claims
of anonymous uploads at sign-up and later (valid, unknown, already claimed,
over quota), client addresses forgotten under an injected clock (`carrel
admin erase-ips --ahead`), logs without addresses or e-mails, hostile
input, and the pages in Chromium."""
import io
import json
import os
import socket
import sqlite3
import subprocess
import zipfile

import requests

from conftest import ARTIFACTS, BIN, ROOT, direct, tus_headers
from test_accounts import PW, field, login
from test_plans import cli, plans_env


def setup_admin(srv):
    """An administrator (sign-up is open once one exists) and its token."""
    cli(srv, "create-user", "root@example.org", "--admin", "--password-stdin", stdin=PW)
    tok = cli(srv, "create-token", "root@example.org", "--name", "t", "--scopes", "read,manage,admin").stdout.strip()
    return {"Authorization": f"Bearer {tok}"}


def user(srv, email, scopes="read,upload,manage"):
    cli(srv, "create-user", email, "--password-stdin", stdin=PW)
    tok = cli(srv, "create-token", email, "--name", "t", "--scopes", scopes).stdout.strip()
    return {"Authorization": f"Bearer {tok}"}


def upload(srv, name, data, auth=None):
    r = requests.put(f"{srv.url}/u/{name}", data=data, headers={"Accept": "application/json", **(auth or {})})
    assert r.status_code == 201, r.text
    return r.json()


def my_files(srv, auth):
    r = requests.get(f"{srv.url}/api/files", headers=auth)
    assert r.status_code == 200, r.text
    return {f["id"]: f for f in r.json()["files"]}


def error_code(r):
    return r.json()["error"]["code"]


def session_csrf(srv, s):
    return field(s.get(f"{srv.url}/account").text, "csrf")


def test_export_json_and_zip_hold_everything(make_server):
    srv = make_server()
    setup_admin(srv)
    ada = user(srv, "ada@example.org")
    bob = user(srv, "bob@example.org")
    a1 = upload(srv, "report.pdf", b"%PDF-1.4 ada's report", ada)
    a2 = upload(srv, "notes.txt", b"first notes", ada)
    a3 = upload(srv, "notes.txt", b"second notes, same name", ada)
    a4 = upload(srv, "empty.bin", b"", ada)
    upload(srv, "bob.txt", b"bob's", bob)
    folder = requests.post(f"{srv.url}/api/folders", json={"name": "Papers"}, headers=ada).json()
    r = requests.post(f"{srv.url}/api/files/move", json={"ids": [a1["file_id"]], "folder": folder["id"]}, headers=ada)
    assert r.status_code == 200, r.text
    assert requests.get(direct(a2["url"])).content == b"first notes"

    r = requests.get(f"{srv.url}/api/account/export", headers=ada)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert "attachment" in r.headers["Content-Disposition"] and "carrel-export.json" in r.headers["Content-Disposition"]
    doc = r.json()
    assert doc["format"] == "carrel-export" and doc["version"] == 1 and doc["exported_at"] > 0
    acct = doc["account"]
    assert acct["email"] == "ada@example.org" and acct["role"] == "user" and acct["plan"] == "free"
    assert isinstance(acct["created_at"], int) and acct["id"]
    assert [t["name"] for t in doc["api_tokens"]] == ["t"] and "token" not in doc["api_tokens"][0]
    assert ada["Authorization"].split("crl_")[1] not in r.text, "no token secret in the export"
    files = {f["id"]: f for f in doc["files"]}
    assert set(files) == {a1["file_id"], a2["file_id"], a3["file_id"], a4["file_id"]}
    for f in files.values():
        assert set(f) >= {"id", "name", "size", "media_type", "blake3", "folder", "created_at", "downloads", "links", "path"}
        assert len(f["blake3"]) == 64 and int(f["blake3"], 16) >= 0
    assert files[a1["file_id"]]["folder"] == folder["id"]
    assert files[a1["file_id"]]["path"] == "files/Papers/report.pdf"
    assert files[a2["file_id"]]["downloads"] == 1 and files[a3["file_id"]]["downloads"] == 0
    assert files[a2["file_id"]]["links"][0]["url"] == a2["url"]
    assert sorted(f["path"] for f in doc["files"]) == sorted(
        ["files/Papers/report.pdf", "files/notes.txt", "files/notes (2).txt", "files/empty.bin"])
    assert [f["name"] for f in doc["folders"]] == ["Papers"] and doc["folders"][0]["files"] == 1
    assert "bob.txt" not in r.text and "bob@" not in r.text

    r = requests.get(f"{srv.url}/api/account/export.zip", headers=ada)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert z.testzip() is None
    assert z.namelist()[0] == "carrel-export.json"
    inner = json.loads(z.read("carrel-export.json"))
    assert inner["account"]["email"] == "ada@example.org"
    by_path = {f["path"]: f for f in inner["files"]}
    assert len(by_path) == 4 and set(by_path) <= set(z.namelist())
    expected = {a1["file_id"]: b"%PDF-1.4 ada's report", a2["file_id"]: b"first notes",
                a3["file_id"]: b"second notes, same name", a4["file_id"]: b""}
    for path, f in by_path.items():
        assert z.read(path) == expected[f["id"]], path

    # Anonymous callers and read-less tokens get nothing; a session works too.
    assert requests.get(f"{srv.url}/api/account/export").status_code == 401
    up_only = user(srv, "cy@example.org", scopes="upload")
    assert requests.get(f"{srv.url}/api/account/export", headers=up_only).status_code == 403
    s, _ = login(srv, "ada@example.org")
    page = s.get(f"{srv.url}/account").text
    assert 'href="/api/account/export"' in page and 'href="/api/account/export.zip"' in page
    assert s.get(f"{srv.url}/api/account/export").json()["account"]["email"] == "ada@example.org"


def blob_files(srv):
    out = []
    for root, _, names in os.walk(srv.data):
        if "staging" in root or "library-index" in root:
            continue
        out += [n for n in names if len(n) == 64]
    return set(out)


def test_deleting_your_account(make_server):
    srv = make_server()
    admin = setup_admin(srv)
    ada = user(srv, "ada@example.org")
    bob = user(srv, "bob@example.org")
    mine = upload(srv, "only-ada.txt", b"bytes only ada has", ada)
    shared = upload(srv, "shared.txt", b"bytes both have", ada)
    bobs = upload(srv, "bobs-copy.txt", b"bytes both have", bob)
    s, _ = login(srv, "ada@example.org")
    csrf = session_csrf(srv, s)
    blobs_before = blob_files(srv)
    assert len(blobs_before) == 2

    # Bad input loses nothing.
    r = requests.post(f"{srv.url}/api/account/delete", data="{not json", headers={**ada, "Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == "invalid_json"
    r = requests.post(f"{srv.url}/api/account/delete", json={"password": "wrong password!"}, headers=ada)
    assert r.status_code == 403 and error_code(r) == "wrong_password"
    r = requests.post(f"{srv.url}/api/account/delete", json={"password": PW, "also": 1}, headers=ada)
    assert r.status_code == 400
    r = s.post(f"{srv.url}/account/delete", data={"password": PW}, allow_redirects=False)
    assert r.status_code == 403 and "csrf" in r.text.lower()
    r = s.post(f"{srv.url}/account/delete", data={"csrf": csrf, "password": "wrong password!"})
    assert r.status_code == 403 and "current password is wrong" in r.text
    # The error is beside the delete form, not at the top of the page.
    assert r.text.count('role="alert"') == 1
    assert r.text.index("Delete your account") < r.text.index("current password is wrong") < r.text.index('action="/account/delete')
    # Bodies that are not forms carry no CSRF token: refused like a forged form, for every account form.
    for path in ("/account/delete", "/account/password", "/account/tokens", "/account/claim", "/account/logout-all"):
        r = s.post(f"{srv.url}{path}", data=b"\xff\xfe{", headers={"Content-Type": "application/json"}, allow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
        r = s.post(f"{srv.url}{path}", data={"csrf": csrf + "x", "password": PW}, allow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
    r = requests.post(f"{srv.url}/api/account/delete", json={"password": PW}, headers=user(srv, "ro@example.org", "read"))
    assert r.status_code == 403
    assert len(my_files(srv, ada)) == 2 and s.get(f"{srv.url}/api/me").status_code == 200
    # An administrator is deleted by another administrator, never by a click.
    root, _ = login(srv, "root@example.org")
    r = root.post(f"{srv.url}/account/delete", data={"csrf": session_csrf(srv, root), "password": PW})
    assert r.status_code == 403 and "another administrator" in r.text

    old_cookie = s.cookies.get("carrel_session")
    assert old_cookie
    r = s.post(f"{srv.url}/account/delete", data={"csrf": csrf, "password": PW}, allow_redirects=False)
    assert r.status_code == 200 and "Your account is deleted" in r.text, r.text[:500]
    assert any(c.startswith("carrel_session=;") or "Max-Age=0" in c for c in r.raw.headers.getlist("Set-Cookie"))
    # Sessions and tokens are revoked: the old cookie is nobody, the token is refused.
    old = requests.get(f"{srv.url}/api/me", cookies={"carrel_session": old_cookie})
    assert old.status_code == 401
    r = requests.get(f"{srv.url}/account", cookies={"carrel_session": old_cookie}, allow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["Location"]
    assert requests.get(f"{srv.url}/api/me", headers=ada).status_code == 401
    # Its files and links are gone; bytes another file shares stay, the rest go.
    assert requests.get(direct(mine["url"])).status_code == 404
    assert requests.get(direct(shared["url"])).status_code == 404
    assert requests.get(direct(bobs["url"])).content == b"bytes both have"
    assert len(blob_files(srv)) == 1
    # Personal data is erased: the address is free, the account is not listed.
    users = requests.get(f"{srv.url}/api/admin/users", headers=admin).json()["users"]
    assert "ada@example.org" not in {u["email"] for u in users}
    assert all("deleted" not in u["email"] for u in users)
    login(srv, "ada@example.org", expect=401)
    r = requests.post(f"{srv.url}/api/signup", json={"email": "ada@example.org", "password": PW})
    assert r.status_code == 201, r.text
    assert r.json()["account"]["email"] == "ada@example.org" and r.json()["claims"] == []
    assert requests.get(f"{srv.url}/api/me", cookies=r.cookies).json()["email"] == "ada@example.org"


def test_an_administrator_deletes_or_transfers(make_server):
    srv = make_server()
    admin = setup_admin(srv)
    ada = user(srv, "ada@example.org")
    bob = user(srv, "bob@example.org")
    carol = user(srv, "carol@example.org")
    a1 = upload(srv, "a1.txt", b"ada one", ada)
    a2 = upload(srv, "a2.txt", b"ada two", ada)
    folder = requests.post(f"{srv.url}/api/folders", json={"name": "Archive"}, headers=ada).json()
    requests.post(f"{srv.url}/api/files/move", json={"ids": [a2["file_id"]], "folder": folder["id"]}, headers=ada)
    c1 = upload(srv, "c1.txt", b"carol", carol)

    # The CLI: ada's files become bob's.
    r = cli(srv, "delete-user", "ada@example.org", "--transfer-to", "bob@example.org")
    assert "now belong to bob@example.org" in r.stdout and "2 file(s)" in r.stdout, r.stdout
    assert set(my_files(srv, bob)) >= {a1["file_id"], a2["file_id"]}
    assert [f["name"] for f in requests.get(f"{srv.url}/api/folders", headers=bob).json()["folders"]] == ["Archive"]
    assert requests.get(direct(a1["url"])).content == b"ada one"
    assert requests.get(f"{srv.url}/api/me", headers=ada).status_code == 401
    login(srv, "ada@example.org", expect=401)
    assert cli(srv, "delete-user", "ada@example.org", check=False).returncode != 0
    assert cli(srv, "delete-user", "bob@example.org", "--transfer-to", "nobody@example.org", check=False).returncode != 0
    assert len(my_files(srv, bob)) == 2

    # The API: only administrators, never themselves, a known target or nothing happens.
    cid = requests.get(f"{srv.url}/api/me", headers=carol).json()["id"]
    r = requests.post(f"{srv.url}/api/admin/users/{cid}/delete", json={}, headers=bob)
    assert r.status_code == 403
    r = requests.post(f"{srv.url}/api/admin/users/{cid}/delete", json={"transfer_to": "nobody@example.org"}, headers=admin)
    assert r.status_code == 404
    r = requests.post(f"{srv.url}/api/admin/users/{cid}/delete", data="[", headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert requests.get(f"{srv.url}/api/me", headers=carol).status_code == 200
    rid = requests.get(f"{srv.url}/api/me", headers=admin).json()["id"]
    assert requests.post(f"{srv.url}/api/admin/users/{rid}/delete", json={}, headers=admin).status_code == 403
    r = requests.post(f"{srv.url}/api/admin/users/{cid}/delete", json={}, headers=admin)
    assert r.status_code == 200 and r.json() == {"deleted": True, "files_deleted": 1}, r.text
    assert requests.get(direct(c1["url"])).status_code == 404
    assert requests.get(f"{srv.url}/api/me", headers=carol).status_code == 401
    assert requests.post(f"{srv.url}/api/admin/users/{cid}/delete", json={}, headers=admin).status_code == 404


def test_claims_at_sign_up_and_later(make_server):
    srv = make_server(env=plans_env(anonymous="free", tiny={"storage": 100}) | {"CARREL_PLANS__DEFAULT": "tiny"})
    setup_admin(srv)
    up = {n: upload(srv, f"{n}.bin", b"x" * size) for n, size in [("a", 40), ("b", 50), ("c", 30), ("d", 20), ("e", 5)]}
    tok = {n: u["manage_token"] for n, u in up.items()}
    # Bob claims d first.
    bob = user(srv, "bob@example.org")
    r = requests.post(f"{srv.url}/api/account/claim", json={"tokens": [tok["d"]]}, headers=bob)
    assert r.status_code == 200 and r.json()["claimed"] == 1, r.text

    # Too many tokens: refused before the account exists, so nothing is lost.
    r = requests.post(f"{srv.url}/api/signup", json={"email": "ada@example.org", "password": PW,
                                                     "manage_tokens": [f"t{i}" for i in range(501)]})
    assert r.status_code == 400 and error_code(r) == "too_many_tokens"
    r = requests.post(f"{srv.url}/api/signup", data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == "invalid_json"
    r = requests.post(f"{srv.url}/api/signup", json={"email": "ada@example.org", "password": "short"})
    assert r.status_code == 400

    r = requests.post(f"{srv.url}/api/signup", json={
        "email": "ada@example.org", "password": PW,
        "manage_tokens": [tok["a"], tok["b"], tok["c"], tok["d"], "not-a-token", tok["a"], tok["e"]]})
    assert r.status_code == 201, r.text
    res = [(c["name"], c["result"]) for c in r.json()["claims"]]
    assert res == [("a.bin", "claimed"), ("b.bin", "claimed"), ("c.bin", "over_quota"),
                   ("d.bin", "already_claimed"), (None, "unknown"), ("e.bin", "claimed")], res
    assert r.json()["claimed"] == 3
    over = [c for c in r.json()["claims"] if c["result"] == "over_quota"][0]
    assert "storage" in over["message"] and over["token"].endswith("…") and len(over["token"]) < 10
    s = requests.Session()
    s.cookies.update(r.cookies)
    me = s.get(f"{srv.url}/api/me").json()
    assert me["email"] == "ada@example.org" and me["usage"]["storage_used"] == 95
    names = lambda: sorted(f["name"] for f in s.get(f"{srv.url}/api/files").json()["files"])
    assert names() == ["a.bin", "b.bin", "e.bin"]
    # Claimed files are managed by the account now; the link keeps working.
    assert requests.get(direct(up["a"]["url"])).content == b"x" * 40

    # Later, from the API with the session: CSRF is required, bad input is clear.
    csrf = session_csrf(srv, s)
    r = s.post(f"{srv.url}/api/account/claim", json={"tokens": [tok["c"]]})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"
    h = {"X-CSRF-Token": csrf}
    r = s.post(f"{srv.url}/api/account/claim", data="nope", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == "invalid_json"
    r = s.post(f"{srv.url}/api/account/claim", json={"tokens": []}, headers=h)
    assert r.status_code == 400 and error_code(r) == "no_tokens"
    r = s.post(f"{srv.url}/api/account/claim", json={"tokens": [f"t{i}" for i in range(501)]}, headers=h)
    assert r.status_code == 400 and error_code(r) == "too_many_tokens"
    r = s.post(f"{srv.url}/api/account/claim", json={"tokens": "x" * (3 << 20)}, headers=h)
    assert r.status_code == 413 and error_code(r) == "body_too_large"
    assert requests.post(f"{srv.url}/api/account/claim", json={"tokens": [tok["c"]]}).status_code == 401
    r = s.post(f"{srv.url}/api/account/claim", json={"tokens": [tok["c"], tok["b"]]}, headers=h)
    assert [c["result"] for c in r.json()["claims"]] == ["over_quota", "already_yours"]
    # Space freed: c fits now.
    assert s.post(f"{srv.url}/api/files/delete", json={"ids": [up["a"]["file_id"]]}, headers=h).status_code == 200
    r = s.post(f"{srv.url}/api/account/claim", json={"tokens": [tok["c"], tok["a"]]}, headers=h)
    assert [c["result"] for c in r.json()["claims"]] == ["claimed", "unknown"]
    assert names() == ["b.bin", "c.bin", "e.bin"]

    # The sign-up page takes the tokens its script found in the browser.
    extra = upload(srv, "f.bin", b"f" * 10)
    cy = requests.Session()
    page = cy.get(f"{srv.url}/signup")
    assert 'name="claims"' in page.text
    r = cy.post(f"{srv.url}/signup", data={"csrf": field(page.text, "csrf"), "email": "cy@example.org",
                                           "password": PW, "claims": f"{extra['manage_token']}\n{tok['b']}\n"},
                allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/account?claimed=1&kept=0", r.headers.get("Location")
    page = cy.get(f"{srv.url}/account").text
    assert cy.get(f"{srv.url}/account?claimed=1&kept=0").text.count("1 upload from before you signed up is now yours") == 1
    assert [f["name"] for f in cy.get(f"{srv.url}/api/files").json()["files"]] == ["f.bin"]
    # The account page's form claims too, with a result per token.
    r = cy.post(f"{srv.url}/account/claim", data={"csrf": field(page, "csrf"), "tokens": f"{tok['b']}\nbogus"})
    assert r.status_code == 200
    assert 'data-result="already_claimed"' in r.text and 'data-result="unknown"' in r.text
    r = cy.post(f"{srv.url}/account/claim", data={"tokens": tok["b"]})
    assert r.status_code == 403


def db_addresses(srv):
    """client_ip of every upload row, straight from the database."""
    if srv.database:
        out = subprocess.run(["psql", srv.database, "-tAc", "SELECT COALESCE(client_ip, '-') FROM uploads ORDER BY created_at"],
                             capture_output=True, text=True, check=True).stdout.split()
        return [None if x == "-" else x for x in out]
    with sqlite3.connect(os.path.join(srv.data, "carrel.db")) as c:
        return [r[0] for r in c.execute("SELECT client_ip FROM uploads ORDER BY created_at")]


def test_addresses_are_forgotten_after_the_retention(make_server):
    srv = make_server(env={"CARREL_HOSTING__MAX_CONCURRENT_UPLOADS_PER_IP": "2",
                           "CARREL_HOSTING__UPLOAD_EXPIRY_SECS": str(30 * 86400),
                           "CARREL_LOG": "info,carrel_http=debug"})
    setup_admin(srv)
    # A finished upload keeps no address at all.
    r = requests.post(f"{srv.url}/files", data=b"done", headers=tus_headers(**{
        "Upload-Length": "4", "Content-Type": "application/offset+octet-stream"}))
    assert r.status_code == 201 and r.headers["Upload-Offset"] == "4", r.text
    assert db_addresses(srv) == [None]
    create = lambda: requests.post(f"{srv.url}/files", headers=tus_headers(**{"Upload-Length": "10"}))
    assert create().status_code == 201 and create().status_code == 201
    r = create()
    assert r.status_code == 429 and error_code(r) == "too_many_uploads"
    assert sorted(db_addresses(srv), key=str) == ["127.0.0.1", "127.0.0.1", None]

    out = cli(srv, "erase-ips", "--ahead", "6d").stdout
    assert "0 client address(es) older than 7 day(s) forgotten" in out, out
    assert db_addresses(srv).count("127.0.0.1") == 2
    assert create().status_code == 429
    out = cli(srv, "erase-ips", "--ahead", "8d").stdout
    assert "2 client address(es)" in out, out
    assert db_addresses(srv) == [None, None, None]
    # Forgotten addresses count no more; a new upload's address is kept until its time.
    assert create().status_code == 201
    assert "0 client address(es)" in cli(srv, "erase-ips", "--ahead", "6d").stdout
    assert db_addresses(srv).count("127.0.0.1") == 1
    # The retention is a setting.
    r = admin_with_env(srv, {"CARREL_HOSTING__IP_RETENTION_DAYS": "1"}, "erase-ips", "--ahead", "2d")
    assert r.returncode == 0 and "1 client address(es) older than 1 day(s)" in r.stdout, r.stderr + r.stdout
    r = admin_with_env(srv, {}, "erase-ips", "--ahead", "soon")
    assert r.returncode != 0 and "invalid duration" in r.stderr

    # Logs name networks, never addresses or e-mail addresses.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
        c.sendall(b"GARBAGE / HTTP/9\r\nx\r\n\r\n")
        c.recv(100)
    requests.post(f"{srv.url}/api/signup", json={"email": "secret.person@example.org", "password": PW})
    login(srv, "secret.person@example.org", password="wrong password!", expect=401)
    requests.post(f"{srv.url}/api/signup", json={"email": "secret.person@example.org", "password": PW})
    srv.stop()
    log = srv.read_log()
    assert "127.0.0.0/24" in log, log[-2000:]
    noisy = [l for l in log.splitlines() if "127.0.0.1" in l and "listening" not in l and "create the administrator" not in l]
    assert noisy == [], noisy[:5]
    assert "secret.person" not in log


def admin_with_env(srv, env, *args):
    cmd = [BIN, "admin", *args, "--data", srv.data] + (["--database", srv.database] if srv.database else [])
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(srv.env, **env), timeout=120)


def test_privacy_pages_in_chromium(make_server):
    srv = make_server()
    setup_admin(srv)
    out = os.path.join(ARTIFACTS, f"privacy-{srv.backend}")
    r = subprocess.run(["node", os.path.join(ROOT, "tests", "js", "privacy_pages.mjs"), srv.url,
                        "dana@example.org", PW, out], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert not res["errors"], res["errors"]
    assert res["claimNote"].startswith("Add the file you uploaded"), res
    assert "1 upload from before you signed up is now yours" in res["notice"], res
    assert res["storedAfter"] == [], res
    assert res["export"]["account"]["email"] == "dana@example.org"
    assert [f["name"] for f in res["export"]["files"]] == ["hello.txt"]
    assert res["zipSize"] > 100
    assert "current password is wrong" in res["deleteError"] and res["errorsShown"] == 1
    assert "Your account is deleted" in res["deleted"]
    assert res["afterUrl"].endswith("/login?next=/account")
    for name in ["signup-claim", "account-after-signup", "account-privacy", "delete-error", "deleted"]:
        assert os.path.getsize(os.path.join(out, f"{name}.png")) > 5000, name
