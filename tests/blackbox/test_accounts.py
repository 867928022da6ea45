"""Accounts through the real server on both backends, driven by requests as a
browser would (cookies, forms with CSRF fields) and as scripts do (bearer
tokens), and by `carrel admin` on the server's data directory: sign-up and
the first administrator, log-in and log-out, cookie attributes, session
fixation, CSRF, brute force, token scopes, password change and reset,
suspension, and the admin-only library corrections."""
import json
import re
import subprocess

import pytest
import requests

from conftest import BIN, Server

PW = "correct horse battery"


def admin_cli(srv, *args, stdin=None, check=True):
    cmd = [BIN, "admin", *args, "--data", srv.data]
    if srv.database:
        cmd += ["--database", srv.database]
    r = subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr + r.stdout
    return r


def make_user(srv, email, role="user", password=PW):
    admin_cli(srv, "create-user", email, "--role", role, "--password-stdin", stdin=password)


def field(html, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no {name} field in {html[:400]}"
    return m.group(1)


def login(srv, email, password=PW, session=None, expect=303):
    s = session or requests.Session()
    page = s.get(f"{srv.url}/login")
    assert page.status_code == 200
    r = s.post(f"{srv.url}/login", data={"csrf": field(page.text, "csrf"), "email": email,
                                         "password": password, "next": "/account"},
               allow_redirects=False)
    assert r.status_code == expect, (r.status_code, r.text[:500])
    return s, r


def csrf_of(srv, s):
    return field(s.get(f"{srv.url}/account").text, "csrf")


def test_first_start_link_makes_the_administrator_once(server):
    link = re.search(r"create the administrator at (\S+)", server.read_log())
    assert link, server.read_log()[-2000:]
    link = link.group(1)
    # Without the link, nobody can sign up yet.
    r = requests.get(f"{server.url}/signup", headers={"Accept": "text/html"})
    assert r.status_code == 403 and "no administrator yet" in r.text
    s = requests.Session()
    page = s.get(link)
    assert page.status_code == 200 and "Create the administrator" in page.text
    r = s.post(f"{server.url}/signup", data={"csrf": field(page.text, "csrf"), "email": "Boss@Example.org",
                                             "password": PW, "invitation": field(page.text, "invitation")},
               allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/account", r.text[:500]
    cookie = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("carrel_session=")][0]
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attrs and "secure" not in attrs, cookie
    assert "SameSite=Lax" in cookie
    me = s.get(f"{server.url}/api/me").json()
    assert me["email"] == "boss@example.org" and me["role"] == "admin"
    # The link works once.
    page2 = requests.Session()
    p = page2.get(link)
    r = page2.post(f"{server.url}/signup", data={"csrf": field(p.text, "csrf"), "email": "x@example.org",
                                                 "password": PW, "invitation": field(p.text, "invitation")})
    assert r.status_code == 403 and "invitation is unknown, used or expired" in r.text
    # Now sign-up is open (the default), and makes plain users.
    s2 = requests.Session()
    p = s2.get(f"{server.url}/signup")
    r = s2.post(f"{server.url}/signup", data={"csrf": field(p.text, "csrf"), "email": "ann@example.org",
                                              "password": PW, "invitation": ""}, allow_redirects=False)
    assert r.status_code == 303
    assert s2.get(f"{server.url}/api/me").json()["role"] == "user"


def test_signup_rejects_bad_input_clearly(server):
    make_user(server, "admin@example.org", "admin")
    s = requests.Session()
    p = s.get(f"{server.url}/signup")
    csrf = field(p.text, "csrf")
    cases = [
        ({"email": "not-an-address", "password": PW}, 400, "has an @"),
        ({"email": "ada@localhost", "password": PW}, 400, "looks like name@example.org"),
        ({"email": "a@example.org", "password": "short"}, 400, "at least 10 characters"),
        ({"email": "a@example.org", "password": "a@example.org"}, 400, "not the e-mail address"),
        ({"email": "a" * 300 + "@example.org", "password": PW}, 400, "3 to 254"),
        ({"email": "b@example.org", "password": "x" * 5000}, 400, "at most 1024"),
        ({"email": "admin@example.org", "password": PW}, 409, "already exists"),
    ]
    for form, status, msg in cases:
        r = s.post(f"{server.url}/signup", data={"csrf": csrf, "invitation": "", **form})
        assert r.status_code == status and msg in r.text, (form["email"][:40], r.status_code, r.text[-800:])
    # A form without its CSRF cookie (another site's form) is refused.
    r = requests.post(f"{server.url}/signup", data={"csrf": csrf, "email": "c@example.org", "password": PW})
    assert r.status_code == 403 and "csrf_failed" in r.text
    # Garbage bodies are clear errors, not crashes.
    r = s.post(f"{server.url}/login", data=b"\xff\xfe=\x00", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 403), r.status_code
    r = s.post(f"{server.url}/login", data="x" * 3_000_000, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 403, 413), r.status_code
    assert requests.get(f"{server.url}/healthz").status_code == 200


def test_login_logout_and_session_fixation(server):
    make_user(server, "ada@example.org")
    # A session id planted before log-in is never the one used after it.
    s = requests.Session()
    s.cookies.set("carrel_session", "planted-by-an-attacker-0123456789abcdef", domain="127.0.0.1", path="/")
    s, r = login(server, "ada@example.org", session=s)
    new = s.cookies.get("carrel_session")
    assert new and new != "planted-by-an-attacker-0123456789abcdef"
    assert requests.get(f"{server.url}/api/me", cookies={"carrel_session": "planted-by-an-attacker-0123456789abcdef"}).status_code == 401
    assert s.get(f"{server.url}/api/me").json()["email"] == "ada@example.org"
    # Logging in again over a live session ends the old one.
    old = new
    s, _ = login(server, "ada@example.org", session=s)
    assert s.cookies.get("carrel_session") != old
    assert requests.get(f"{server.url}/api/me", cookies={"carrel_session": old}).status_code == 401
    # Wrong password and unknown account answer the same.
    _, r1 = login(server, "ada@example.org", "wrong password!", expect=401)
    _, r2 = login(server, "nobody@example.org", "wrong password!", expect=401)
    assert "wrong e-mail address or password" in r1.text and "wrong e-mail address or password" in r2.text
    # Log-out needs the CSRF token, then ends the session for good.
    cur = s.cookies.get("carrel_session")
    assert s.post(f"{server.url}/logout", data={}).status_code == 403
    r = s.post(f"{server.url}/logout", data={"csrf": csrf_of(server, s)}, allow_redirects=False)
    assert r.status_code == 303
    assert requests.get(f"{server.url}/api/me", cookies={"carrel_session": cur}).status_code == 401
    # The account page sends anonymous visitors to log in, and back.
    r = requests.get(f"{server.url}/account", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/login?next=/account"
    # `next` never leaves the site.
    s2 = requests.Session()
    page = s2.get(f"{server.url}/login")
    r = s2.post(f"{server.url}/login", data={"csrf": field(page.text, "csrf"), "email": "ada@example.org",
                                             "password": PW, "next": "//evil.example/x"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/account"


def test_secure_cookies_behind_tls(server):
    make_user(server, "ada@example.org")
    s = requests.Session()
    page = s.get(f"{server.url}/login")
    r = s.post(f"{server.url}/login", data={"csrf": field(page.text, "csrf"), "email": "ada@example.org", "password": PW},
               headers={"X-Forwarded-Proto": "https"}, allow_redirects=False)
    cookie = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("carrel_session=")][0]
    assert "Secure" in cookie, cookie


def test_csrf_is_required_for_every_change_by_session(server):
    make_user(server, "ada@example.org")
    make_user(server, "bob@example.org")
    ada, _ = login(server, "ada@example.org")
    bob, _ = login(server, "bob@example.org")
    ada_csrf, bob_csrf = csrf_of(server, ada), csrf_of(server, bob)
    for data in [{}, {"csrf": ""}, {"csrf": "x" * 32}, {"csrf": bob_csrf}]:
        r = ada.post(f"{server.url}/account/tokens", data={"name": "t", "scope_read": "on", **data})
        assert r.status_code == 403 and "csrf_failed" in r.text, data
        r = ada.post(f"{server.url}/account/logout-all", data={"x": "1", **data})
        assert r.status_code == 403, data
    assert ada.get(f"{server.url}/api/me").status_code == 200, "refused requests changed nothing"
    # Scripts on carrel's page send the token as a header.
    r = ada.post(f"{server.url}/api/tokens", json={"name": "t", "scopes": ["read"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = ada.post(f"{server.url}/api/tokens", json={"name": "t", "scopes": ["read"]}, headers={"X-CSRF-Token": bob_csrf})
    assert r.status_code == 403
    r = ada.post(f"{server.url}/api/tokens", json={"name": "t", "scopes": ["read"]}, headers={"X-CSRF-Token": ada_csrf})
    assert r.status_code == 201, r.text
    # A form with the right token works.
    r = ada.post(f"{server.url}/account/tokens", data={"csrf": ada_csrf, "name": "form token", "scope_upload": "on"})
    assert r.status_code == 201 and "Your new token" in r.text and "crl_" in r.text


def test_brute_force_backs_off_per_account_and_address(server):
    make_user(server, "ada@example.org")
    make_user(server, "bob@example.org")
    for _ in range(5):
        login(server, "ada@example.org", "wrong password!", expect=401)
    # The sixth try waits, even with the right password, and says how long.
    s = requests.Session()
    page = s.get(f"{server.url}/login")
    r = s.post(f"{server.url}/login", data={"csrf": field(page.text, "csrf"), "email": "ada@example.org", "password": PW},
               allow_redirects=False)
    assert r.status_code == 429, r.status_code
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    assert "too many failed log-ins" in r.text
    # Case and spaces do not make a fresh account key.
    _, r = login(server, "  ADA@example.org ", PW, expect=429)
    # Another account from the same address is not locked by Ada's failures.
    login(server, "bob@example.org", PW)
    # Twenty failures from one address (Ada's five and fifteen more) lock
    # the address for every account.
    for i in range(15):
        login(server, f"guess{i}@example.org", "wrong password!", expect=401)
    _, r = login(server, "bob@example.org", PW, expect=429)


def test_token_scopes_and_revocation(server):
    make_user(server, "ada@example.org")
    read = admin_cli(server, "create-token", "ada@example.org", "--name", "reader", "--scopes", "read").stdout.strip()
    up = admin_cli(server, "create-token", "ada@example.org", "--name", "uploader", "--scopes", "upload").stdout.strip()
    manage = admin_cli(server, "create-token", "ada@example.org", "--name", "all", "--scopes", "read,upload,manage").stdout.strip()
    assert read.startswith("crl_")
    auth = lambda t: {"Authorization": f"Bearer {t}"}
    assert requests.get(f"{server.url}/api/me", headers=auth(read)).json()["email"] == "ada@example.org"
    assert requests.get(f"{server.url}/api/me", headers=auth(up)).status_code == 403
    # Upload needs the upload scope; the file belongs to the account.
    r = requests.put(f"{server.url}/u/a.txt", data=b"hello", headers={**auth(read), "Accept": "application/json"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "missing_scope"
    r = requests.put(f"{server.url}/u/a.txt", data=b"hello", headers={**auth(up), "Accept": "application/json"})
    assert r.status_code == 201, r.text
    fid = r.json()["file_id"]
    mine = requests.get(f"{server.url}/api/files", headers=auth(read)).json()
    assert mine["total"] == 1 and mine["files"][0]["id"] == fid and mine["files"][0]["links"]
    assert requests.get(f"{server.url}/api/files", headers=auth(up)).status_code == 403
    assert requests.get(f"{server.url}/api/files").status_code == 401
    assert requests.get(f"{server.url}/api/files?limit=0", headers=auth(read)).status_code == 400
    # Tokens make tokens only within their own scopes; users make no admin tokens.
    r = requests.post(f"{server.url}/api/tokens", json={"name": "x", "scopes": ["read"]}, headers=auth(read))
    assert r.status_code == 403
    r = requests.post(f"{server.url}/api/tokens", json={"name": "x", "scopes": ["admin"]}, headers=auth(manage))
    assert r.status_code == 403
    r = requests.post(f"{server.url}/api/tokens", json={"name": "x", "scopes": ["root"]}, headers=auth(manage))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_account"
    r = requests.post(f"{server.url}/api/tokens", data="{not json", headers={**auth(manage), "Content-Type": "application/json"})
    assert r.status_code == 400
    r = requests.post(f"{server.url}/api/tokens", json={"name": "", "scopes": ["read"]}, headers=auth(manage))
    assert r.status_code == 400
    r = requests.post(f"{server.url}/api/tokens", json={"name": "sub", "scopes": ["read"]}, headers=auth(manage))
    assert r.status_code == 201
    listed = requests.get(f"{server.url}/api/tokens", headers=auth(read)).json()["tokens"]
    assert {t["name"] for t in listed} == {"reader", "uploader", "all", "sub"}
    assert all("token" not in t and "token_hash" not in t for t in listed), "secrets are never listed"
    # The owner deletes the file with the manage scope, not with read.
    assert requests.delete(f"{server.url}/api/files/{fid}", headers=auth(read)).status_code == 403
    # Revoked tokens stop at once; unknown ones are a clear 401.
    rid = [t["id"] for t in listed if t["name"] == "reader"][0]
    assert requests.delete(f"{server.url}/api/tokens/{rid}", headers=auth(manage)).status_code == 204
    r = requests.get(f"{server.url}/api/me", headers=auth(read))
    assert r.status_code == 401 and "Bearer" in r.headers["WWW-Authenticate"]
    assert requests.delete(f"{server.url}/api/tokens/{rid}", headers=auth(manage)).status_code == 404
    assert requests.get(f"{server.url}/api/me", headers=auth("crl_" + "A" * 43)).status_code == 401
    assert requests.get(f"{server.url}/api/me", headers=auth("crl_" + "\u00e9" * 5000)).status_code in (400, 401, 431)
    assert requests.delete(f"{server.url}/api/files/{fid}", headers=auth(manage)).status_code == 204


def test_password_change_reset_and_logout_everywhere(server):
    make_user(server, "ada@example.org")
    one, _ = login(server, "ada@example.org")
    two, _ = login(server, "ada@example.org")
    csrf = csrf_of(server, one)
    r = one.post(f"{server.url}/account/password", data={"csrf": csrf, "current": "wrong password!", "password": "a new password 1"})
    assert r.status_code == 403 and "current password is wrong" in r.text
    r = one.post(f"{server.url}/account/password", data={"csrf": csrf, "current": PW, "password": "a new password 1"})
    assert r.status_code == 200 and "other sessions have ended" in r.text
    assert one.get(f"{server.url}/api/me").status_code == 200
    assert two.get(f"{server.url}/api/me").status_code == 401
    login(server, "ada@example.org", PW, expect=401)
    three, _ = login(server, "ada@example.org", "a new password 1")
    # Log out everywhere.
    r = one.post(f"{server.url}/account/logout-all", data={"csrf": csrf}, allow_redirects=False)
    assert r.status_code == 303
    assert one.get(f"{server.url}/api/me").status_code == 401
    assert three.get(f"{server.url}/api/me").status_code == 401
    # A reset link from the admin CLI works once and ends every session.
    four, _ = login(server, "ada@example.org", "a new password 1")
    out = admin_cli(server, "reset-link", "ada@example.org").stdout
    url = re.search(r"(http://\S+/reset\?token=\S+)", out).group(1)
    token = url.split("token=")[1]
    s = requests.Session()
    page = s.get(f"{server.url}/reset?token={token}")
    assert page.status_code == 200
    form = {"csrf": field(page.text, "csrf"), "token": token, "password": "reset password 2"}
    r = s.post(f"{server.url}/reset", data=form, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/login?reset=1"
    assert four.get(f"{server.url}/api/me").status_code == 401
    login(server, "ada@example.org", "reset password 2")
    r = s.post(f"{server.url}/reset", data={**form, "password": "reset password 3"})
    assert r.status_code == 400 and "unknown, used or expired" in r.text
    r = s.post(f"{server.url}/reset", data={**form, "token": "forged"})
    assert r.status_code == 400
    assert requests.get(f"{server.url}/reset").status_code == 400
    assert admin_cli(server, "reset-link", "nobody@example.org", check=False).returncode != 0


def test_signup_modes(make_server):
    srv = make_server(env={"CARREL_ACCOUNTS__SIGNUP": "invite"})
    make_user(srv, "admin@example.org", "admin")
    r = requests.get(f"{srv.url}/signup", headers={"Accept": "text/html"})
    assert r.status_code == 403 and "invitation" in r.text
    adm, _ = login(srv, "admin@example.org")
    r = adm.post(f"{srv.url}/api/admin/invitations", headers={"X-CSRF-Token": csrf_of(srv, adm)})
    assert r.status_code == 201
    url = r.json()["url"]
    s = requests.Session()
    p = s.get(url)
    r = s.post(f"{srv.url}/signup", data={"csrf": field(p.text, "csrf"), "email": "new@example.org", "password": PW,
                                          "invitation": field(p.text, "invitation")}, allow_redirects=False)
    assert r.status_code == 303
    assert s.get(f"{srv.url}/api/me").json()["role"] == "user"
    closed = make_server(env={"CARREL_ACCOUNTS__SIGNUP": "closed"})
    make_user(closed, "admin@example.org", "admin")
    r = requests.get(f"{closed.url}/signup")
    assert r.status_code == 403 and "closed" in r.text
    # The CLI's invitation still works on a closed server.
    url = re.search(r"(http://\S+)", admin_cli(closed, "invite").stdout).group(1)
    s = requests.Session()
    p = s.get(closed.url + url[url.index("/signup"):])
    assert p.status_code == 200


def test_admin_api_and_suspension(server):
    make_user(server, "admin@example.org", "admin")
    make_user(server, "ada@example.org")
    adm_tok = admin_cli(server, "create-token", "admin@example.org", "--name", "ops", "--scopes", "read,admin").stdout.strip()
    adm_read = admin_cli(server, "create-token", "admin@example.org", "--name", "ro", "--scopes", "read").stdout.strip()
    ada_tok = admin_cli(server, "create-token", "ada@example.org", "--name", "t", "--scopes", "read").stdout.strip()
    H = lambda t: {"Authorization": f"Bearer {t}"}
    assert requests.get(f"{server.url}/api/admin/users").status_code == 401
    assert requests.get(f"{server.url}/api/admin/users", headers=H(ada_tok)).status_code == 403
    assert requests.get(f"{server.url}/api/admin/users", headers=H(adm_read)).status_code == 403
    users = requests.get(f"{server.url}/api/admin/users?q=ADA", headers=H(adm_tok)).json()["users"]
    assert [u["email"] for u in users] == ["ada@example.org"]
    ada_id = users[0]["id"]
    ada, _ = login(server, "ada@example.org")
    r = requests.patch(f"{server.url}/api/admin/users/{ada_id}", json={"suspended": True}, headers=H(adm_tok))
    assert r.status_code == 200 and r.json()["suspended"] is True
    assert ada.get(f"{server.url}/api/me").status_code == 401, "a suspension ends sessions"
    assert requests.get(f"{server.url}/api/me", headers=H(ada_tok)).status_code == 401, "and stops tokens"
    _, r = login(server, "ada@example.org", expect=403)
    assert "suspended" in r.text
    r = requests.patch(f"{server.url}/api/admin/users/{ada_id}", json={"suspended": False, "role": "moderator"}, headers=H(adm_tok))
    assert r.json()["role"] == "moderator"
    assert requests.get(f"{server.url}/api/me", headers=H(ada_tok)).status_code == 200
    r = requests.patch(f"{server.url}/api/admin/users/{ada_id}", json={"role": "owner"}, headers=H(adm_tok))
    assert r.status_code == 400
    r = requests.patch(f"{server.url}/api/admin/users/{ada_id}", json={"plan": "x"}, headers=H(adm_tok))
    assert r.status_code == 400
    me = requests.get(f"{server.url}/api/me", headers=H(adm_tok)).json()["id"]
    r = requests.patch(f"{server.url}/api/admin/users/{me}", json={"suspended": True}, headers=H(adm_tok))
    assert r.status_code == 403
    assert requests.patch(f"{server.url}/api/admin/users/nope", json={}, headers=H(adm_tok)).status_code == 404
    r = requests.post(f"{server.url}/api/admin/users/{ada_id}/reset", headers=H(adm_tok))
    assert r.status_code == 200 and "/reset?token=" in r.json()["url"]


def test_library_merge_and_split_are_for_administrators(backend, tmp_path):
    srv = Server(backend)
    try:
        srv.stop()
        csv = tmp_path / "books.csv"
        csv.write_text("ID,T,A,ISBN\n1,The Moonstone,Wilkie Collins,9780140434088\n"
                       "2,Moonstone (annotated),Wilkie Collins,9780199536610\n")
        cmd = [BIN, "import", "--data", srv.data, "--format", "csv", "--map", "id=ID", "--map", "title=T",
               "--map", "authors=A", "--map", "isbn=ISBN", str(csv)]
        if srv.database:
            cmd += ["--database", srv.database]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        srv.start()
        make_user(srv, "admin@example.org", "admin")
        make_user(srv, "ada@example.org")
        adm = admin_cli(srv, "create-token", "admin@example.org", "--name", "ops", "--scopes", "read,admin").stdout.strip()
        ada = admin_cli(srv, "create-token", "ada@example.org", "--name", "t", "--scopes", "read").stdout.strip()
        H = lambda t: {"Authorization": f"Bearer {t}"}
        hits = requests.get(f"{srv.url}/api/library/search", params={"q": "moonstone"}).json()["results"]
        works = sorted({h["work_id"] for h in hits})
        assert len(works) == 2, hits
        into, other = works
        url = f"{srv.url}/api/library/works/{into}/merge"
        assert requests.post(url, json={"from": [other]}).status_code == 401
        assert requests.post(url, json={"from": [other]}, headers=H(ada)).status_code == 403
        assert requests.post(url, json={"from": [into]}, headers=H(adm)).status_code == 400
        assert requests.post(url, json={"from": []}, headers=H(adm)).status_code == 400
        assert requests.post(url, json={"from": [999999]}, headers=H(adm)).status_code == 400
        assert requests.post(url, data="{", headers={**H(adm), "Content-Type": "application/json"}).status_code == 400
        r = requests.post(url, json={"from": [other]}, headers=H(adm))
        assert r.status_code == 200, r.text
        moved = r.json()["moved_editions"]
        assert len(moved) == 1
        # Searchable at once: both editions under one work.
        hits = requests.get(f"{srv.url}/api/library/search", params={"q": "moonstone"}).json()["results"]
        assert {h["work_id"] for h in hits} == {into}
        assert len(requests.get(f"{srv.url}/api/library/works/{into}").json()["editions"]) == 2
        # Split it off again.
        sp = f"{srv.url}/api/library/editions/{moved[0]}/split"
        assert requests.post(sp, headers=H(ada)).status_code == 403
        r = requests.post(sp, headers=H(adm))
        assert r.status_code == 200, r.text
        new_work = r.json()["work"]
        hits = requests.get(f"{srv.url}/api/library/search", params={"q": "moonstone"}).json()["results"]
        assert {h["work_id"] for h in hits} == {into, new_work}
        assert requests.post(f"{srv.url}/api/library/editions/99999999/split", headers=H(adm)).status_code == 404
    finally:
        srv.close()


def test_account_pages_in_chromium(server, backend):
    """The forms work in a real browser with JavaScript off; screenshots kept."""
    import os
    from conftest import ARTIFACTS, ROOT
    link = re.search(r"create the administrator at (\S+)", server.read_log()).group(1)
    out_dir = os.path.join(ARTIFACTS, f"accounts-{backend}")
    r = subprocess.run(["node", os.path.join(ROOT, "tests", "js", "account_pages.mjs"), link,
                        "first@example.org", PW, out_dir], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert not res["errors"], res["errors"]
    steps = res["steps"]
    assert steps["account"]["url"].endswith("/account") and steps["account"]["title"].startswith("Your account")
    assert steps["logged-out"]["url"].endswith("/login")
    assert steps["login-error"]["url"].endswith("/login")
    assert steps["logged-in"]["url"].endswith("/account")
    # The token shown once works, with the scopes ticked (read by default, and upload).
    tok = res["token"]
    assert tok and tok.startswith("crl_")
    me = requests.get(f"{server.url}/api/me", headers={"Authorization": f"Bearer {tok}"}).json()
    assert me["email"] == "first@example.org" and me["role"] == "admin"
    r = requests.put(f"{server.url}/u/x.txt", data=b"x", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 201
    for name in ["signup-admin", "account", "account-new-token", "logged-out", "login-error", "logged-in"]:
        assert os.path.getsize(os.path.join(out_dir, f"{name}.png")) > 5000
