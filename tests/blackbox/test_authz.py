"""The authorization matrix: every route the server answers, requested as
nobody, the owner of the fixtures, another user, a moderator and an
administrator, gives the status written in authz_matrix.toml, on both
backends. The routes come from the server itself (`carrel routes --json`,
read from its router), so a new route without a row fails the test, and
every JSON API route must be in the OpenAPI document.

Scripts' routes (/api/…, tus, PUT) are requested with each principal's API
token (every scope its role allows); pages and forms with its session
cookie and CSRF token. Rows with `scope` are also requested with an owner's
token lacking that scope (403). `fresh` rows get fixtures of their own for
each principal (they change or delete them); `relogin` rows end the session they use.

CARREL_AUTHZ_PRINT=1 prints the observed statuses as matrix rows."""
import json
import os
import subprocess
import tomllib
import uuid

import requests

from conftest import BIN, ROOT
from test_accounts import PW, admin_cli, field, login

HERE = os.path.dirname(os.path.abspath(__file__))
PRINCIPALS = ["anonymous", "owner", "other", "moderator", "admin"]
# The owner goes last: what it may do (delete, revoke) happens after the others tried.
ORDER = ["anonymous", "other", "moderator", "admin", "owner"]


def load_matrix():
    with open(os.path.join(HERE, "authz_matrix.toml"), "rb") as f:
        rows = tomllib.load(f)["row"]
    seen = set()
    for r in rows:
        assert r["route"] not in seen, f"two rows for {r['route']}"
        seen.add(r["route"])
        assert len(r["expect"]) == len(PRINCIPALS), r
    return rows


def served_routes():
    out = subprocess.run([BIN, "routes", "--json"], capture_output=True, text=True, timeout=120, check=True)
    return {f"{r['method']} {r['path']}" for r in json.loads(out.stdout)}


def test_every_route_has_a_row_and_every_api_route_is_documented():
    served = served_routes()
    assert len(served) > 100, served
    rows = {r["route"] for r in load_matrix()}
    missing = sorted(served - rows)
    assert not missing, "routes without a row in authz_matrix.toml:\n  " + "\n  ".join(missing)
    stale = sorted(rows - served)
    assert not stale, "rows for routes the server does not answer:\n  " + "\n  ".join(stale)
    with open(os.path.join(ROOT, "crates", "carrel-server", "openapi.json")) as f:
        paths = json.load(f)["paths"]
    undocumented = sorted(r for r in served if r.split(" ")[1].startswith("/api/")
                          and r.split(" ")[0].lower() not in paths.get(r.split(" ")[1], {}))
    assert not undocumented, "JSON API routes missing from openapi.json:\n  " + "\n  ".join(undocumented)


class Principal:
    def __init__(self, srv, name, email, role):
        self.name = name
        self.email = email
        if role is None:
            self.session, self.token, self.csrf = requests.Session(), None, None
            return
        admin_cli(srv, "create-user", email, "--role", role, "--password-stdin", stdin=PW)
        scopes = "read,upload,manage" + (",admin" if role != "user" else "")
        self.token = admin_cli(srv, "create-token", email, "--name", "matrix", "--scopes", scopes).stdout.strip()
        self.srv = srv
        self.relogin()

    def relogin(self):
        if self.token is None:
            return
        self.session, _ = login(self.srv, self.email)
        self.csrf = field(self.session.get(f"{self.srv.url}/account").text, "csrf")


def uses_token(row):
    if "auth" in row:
        return row["auth"] == "token"
    method, path = row["route"].split(" ", 1)
    return path.startswith("/api/") or path.startswith("/u/") or (path.startswith("/files") and method != "GET")


class Fixtures:
    """An owner's file (with its share link and tus upload), folder and spare
    token, and a victim account for the administrators' routes."""

    def __init__(self, srv, owner, needs):
        auth = {"Authorization": f"Bearer {owner.token}"}
        self.needs = needs
        r = requests.put(f"{srv.url}/u/matrix-{uuid.uuid4().hex[:6]}.txt", data=b"matrix bytes",
                         headers={"Accept": "application/json", **auth})
        assert r.status_code == 201, r.text
        self.file = r.json()["file_id"]
        self.share = r.json()["url"].rstrip("/").rsplit("/", 1)[1]
        r = requests.post(f"{srv.url}/api/folders", json={"name": "F" + uuid.uuid4().hex[:6]}, headers=auth)
        assert r.status_code == 201, r.text
        self.folder = r.json()["id"]
        self.token = ""
        if "{token}" in needs:
            r = requests.post(f"{srv.url}/api/tokens", json={"name": "spare", "scopes": ["read"]}, headers=auth)
            assert r.status_code == 201, r.text
            self.token = r.json()["id"]
        self.upload = ""
        if "{upload}" in needs:
            r = requests.post(f"{srv.url}/files", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5", **auth})
            assert r.status_code == 201, r.text
            self.upload = r.headers["Location"].rstrip("/").rsplit("/", 1)[1]
        self.user = self.user_email = ""
        if "{user" not in needs:
            return
        email = f"victim-{uuid.uuid4().hex[:8]}@example.org"
        r = requests.post(f"{srv.url}/api/signup", json={"email": email, "password": PW})
        assert r.status_code == 201, r.text
        self.user = r.json()["account"]["id"]
        self.user_email = email

    def fill(self, v):
        if isinstance(v, str):
            for k in ("file", "share", "folder", "token", "upload", "user", "user_email"):
                v = v.replace("{" + k + "}", getattr(self, k))
            return v
        if isinstance(v, list):
            return [self.fill(x) for x in v]
        if isinstance(v, dict):
            return {k: self.fill(x) for k, x in v.items()}
        return v


def request(srv, row, p, fx, token=None):
    method, route = row["route"].split(" ", 1)
    path = fx.fill(row.get("path", route))
    headers = {k: fx.fill(v) for k, v in row.get("headers", {}).items()}
    kw = {"headers": headers, "allow_redirects": False, "timeout": 30}
    if "json" in row:
        kw["json"] = fx.fill(row["json"])
    form = fx.fill(row["form"]) if "form" in row else None
    if "body" in row:
        kw["data"] = row["body"].encode()
    if uses_token(row):
        s = requests
        tok = token or p.token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
    else:
        s = p.session
        if p.csrf:
            headers["X-CSRF-Token"] = p.csrf
            if method not in ("GET", "HEAD", "OPTIONS"):
                form = {"csrf": p.csrf, **(form or {})}
    if form is not None:
        kw["data"] = form
    return s.request(method, srv.url + path, **kw)


def test_every_route_gives_its_expected_status(make_server):
    # Every request comes from one address: its unfinished tus uploads may be many.
    server = make_server(env={"CARREL_HOSTING__MAX_CONCURRENT_UPLOADS_PER_IP": "10000"})
    principals = {
        "anonymous": Principal(server, "anonymous", None, None),
        "owner": Principal(server, "owner", "owner@example.org", "user"),
        "other": Principal(server, "other", "other@example.org", "user"),
        "moderator": Principal(server, "moderator", "mod@example.org", "moderator"),
        "admin": Principal(server, "admin", "admin@example.org", "admin"),
    }
    owner = principals["owner"]
    rows = load_matrix()
    shared = Fixtures(server, owner, json.dumps(rows))
    # Owner's tokens each lacking one scope.
    lacking = {}
    for scope in ("read", "upload", "manage"):
        rest = ",".join(s for s in ("read", "upload", "manage") if s != scope)
        lacking[scope] = admin_cli(server, "create-token", owner.email, "--name", "no " + scope,
                                   "--scopes", rest).stdout.strip()
    mismatches, observed = [], []
    for row in rows:
        got = {}
        for name in ORDER:
            # Rows that change or delete their fixtures get new ones for each principal.
            fx = Fixtures(server, owner, json.dumps(row)) if row.get("fresh") else shared
            r = request(server, row, principals[name], fx)
            got[name] = r.status_code
            if r.status_code >= 500:
                mismatches.append(f"{row['route']} as {name}: {r.status_code} {r.text[:200]}")
            if row.get("relogin"):
                principals[name].relogin()
        statuses = [got[n] for n in PRINCIPALS]
        observed.append((row["route"], statuses))
        if statuses != row["expect"]:
            mismatches.append(f"{row['route']}: expected {row['expect']} "
                              f"({'/'.join(PRINCIPALS)}), got {statuses}")
        if "scope" in row:
            # The owner's token without the scope the route needs.
            fx2 = Fixtures(server, owner, json.dumps(row)) if row.get("fresh") else shared
            r = request(server, row, owner, fx2, token=lacking[row["scope"]])
            if r.status_code != 403:
                mismatches.append(f"{row['route']}: a token without {row['scope']!r} got {r.status_code}, not 403")
    if os.environ.get("CARREL_AUTHZ_PRINT"):
        for route, statuses in observed:
            print(f'route = "{route}", expect = {statuses}')
    assert not mismatches, "\n".join(mismatches)
