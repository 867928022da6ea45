// carrel's upload page: a small tus 1.0.0 client (creation, resume with HEAD,
// PATCH in chunks with progress) so uploads survive dropped connections and
// page reloads. Each file's upload URL is remembered in localStorage by a
// fingerprint (name, size, mtime) until the upload completes; then its
// management token is kept under "carrel-claims" for a later sign-up.
(function () {
  "use strict";
  const CHUNK = 16 * 1024 * 1024;
  const drop = document.getElementById("drop");
  const pick = document.getElementById("pick");
  const list = document.getElementById("list");

  function human(n) {
    const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function b64(s) { return btoa(unescape(encodeURIComponent(s))); }
  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function options() {
    const o = {};
    const e = document.getElementById("expires").value; if (e) o.expires = e;
    const m = document.getElementById("maxdl").value.trim(); if (m) o.max_downloads = m;
    const p = document.getElementById("password").value; if (p) o.password = p;
    return o;
  }

  function request(method, url, headers, body, onProgress) {
    return new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open(method, url);
      for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
      if (onProgress) x.upload.onprogress = (ev) => onProgress(ev.loaded);
      x.onload = () => resolve(x);
      x.onerror = () => reject(new Error("network error"));
      x.ontimeout = () => reject(new Error("timeout"));
      x.send(body);
    });
  }

  function row(file) {
    const card = el("div", "card upload");
    const head = el("div", "uhead");
    head.append(el("strong", "uname", file.name), el("span", "muted", human(file.size)));
    const bar = el("div", "bar"); const fill = el("div", "fill"); bar.append(fill);
    const status = el("div", "ustatus muted", "Waiting…");
    card.append(head, bar, status);
    list.prepend(card);
    return { card, fill, status };
  }

  async function upload(file) {
    const ui = row(file);
    const key = "carrel-upload:" + [file.name, file.size, file.lastModified].join(":");
    const tus = { "Tus-Resumable": "1.0.0" };
    let url = localStorage.getItem(key), offset = 0, share = null, token = null, fileId = null, failures = 0;
    const started = Date.now(); let sentThisSession = 0;

    function show(done) {
      const pct = file.size ? (done / file.size) * 100 : 100;
      ui.fill.style.width = pct.toFixed(1) + "%";
      const secs = (Date.now() - started) / 1000;
      const speed = secs > 0 ? sentThisSession / secs : 0;
      const left = speed > 0 ? (file.size - done) / speed : 0;
      ui.status.textContent = pct.toFixed(1) + "% · " + human(done) + " of " + human(file.size) +
        " · " + human(speed) + "/s" + (left > 1 ? " · " + Math.round(left) + " s left" : "");
    }

    for (;;) {
      try {
        if (url) {
          const h = await request("HEAD", url, tus, null);
          if (h.status === 200) { offset = parseInt(h.getResponseHeader("Upload-Offset"), 10); }
          else if (h.status === 404 || h.status === 410) { url = null; localStorage.removeItem(key); continue; }
          else throw new Error("HEAD " + h.status);
        } else {
          const meta = Object.assign({ filename: file.name, filetype: file.type || "application/octet-stream" }, options());
          const m = Object.entries(meta).map(([k, v]) => k + " " + b64(String(v))).join(",");
          const c = await request("POST", "/files", Object.assign({ "Upload-Length": String(file.size), "Upload-Metadata": m }, tus), null);
          if (c.status !== 201) {
            let msg = "upload refused (" + c.status + ")";
            try { msg = JSON.parse(c.responseText).error.message; } catch (e) {}
            ui.status.textContent = msg; ui.status.className = "ustatus error"; return;
          }
          url = c.getResponseHeader("Location");
          fileId = c.getResponseHeader("Carrel-File-Id");
          share = c.getResponseHeader("Carrel-Share-Url");
          token = c.getResponseHeader("Carrel-Manage-Token");
          localStorage.setItem(key, url);
          localStorage.setItem(key + ":share", share || ""); localStorage.setItem(key + ":token", token || "");
          offset = 0;
        }
        share = share || localStorage.getItem(key + ":share");
        token = token || localStorage.getItem(key + ":token");
        while (offset < file.size) {
          const end = Math.min(offset + CHUNK, file.size);
          const base = offset;
          const p = await request("PATCH", url, Object.assign({ "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" }, tus),
            file.slice(offset, end), (n) => show(base + n));
          if (p.status === 409) { const h = await request("HEAD", url, tus, null); offset = parseInt(h.getResponseHeader("Upload-Offset"), 10); continue; }
          if (p.status !== 204) throw new Error("PATCH " + p.status);
          sentThisSession += end - base;
          fileId = p.getResponseHeader("Carrel-File-Id") || fileId;
          offset = parseInt(p.getResponseHeader("Upload-Offset"), 10);
          failures = 0; show(offset);
        }
        break;
      } catch (err) {
        failures++;
        const wait = Math.min(30, 2 ** Math.min(failures, 5));
        ui.status.textContent = "Connection lost (" + err.message + "); resuming in " + wait + " s…";
        await sleep(wait * 1000);
      }
    }
    ui.done = true;
    localStorage.removeItem(key); localStorage.removeItem(key + ":share"); localStorage.removeItem(key + ":token");
    if (token) remember(token, file.name);
    ui.fill.style.width = "100%"; ui.card.classList.add("done");
    ui.status.textContent = "";
    const line = el("div", "shareline");
    const input = el("input", "shareurl"); input.type = "text"; input.readOnly = true; input.value = share || url;
    const copy = el("button", "btn secondary copy", "Copy link");
    copy.type = "button";
    copy.onclick = async () => {
      input.select();
      try { await navigator.clipboard.writeText(input.value); } catch (e) { document.execCommand("copy"); }
      copy.textContent = "Copied"; setTimeout(() => (copy.textContent = "Copy link"), 1500);
    };
    const open = el("a", "btn secondary", "Open"); open.href = share || url; open.target = "_blank"; open.rel = "noopener";
    line.append(input, copy, open);
    ui.card.append(line);
    if (token && fileId && document.getElementById("tolibrary").checked && BOOK.test(file.name)) {
      addToLibrary(ui, fileId, token);
    }
    if (token) {
      const t = el("details", "token"); t.append(el("summary", "muted", "Management token (keep it to delete the file)"), el("code", "", token));
      ui.card.append(t);
    }
  }

  // Uploads made here without an account keep their management token in
  // this browser, so signing up (or the account page) can claim them.
  function remember(token, name) {
    let list = [];
    try { list = JSON.parse(localStorage.getItem("carrel-claims") || "[]"); } catch (e) {}
    if (!Array.isArray(list)) list = [];
    if (list.some((x) => x.t === token)) return;
    list.push({ t: token, n: name });
    localStorage.setItem("carrel-claims", JSON.stringify(list.slice(-500)));
  }

  const BOOK = /\.(epub|pdf|mobi|azw3?|fb2|fbz|cbz)$/i;

  async function addToLibrary(ui, fileId, token) {
    const note = el("div", "small muted libnote", "Adding to the library…");
    ui.card.append(note);
    try {
      const r = await fetch("/api/library/files/" + encodeURIComponent(fileId), {
        method: "POST", headers: { "Authorization": "Bearer " + token } });
      const j = await r.json();
      if (!r.ok) { note.textContent = "Not added to the library: " + ((j.error && j.error.message) || r.status); note.className = "small error libnote"; return; }
      note.textContent = "";
      const a = el("a", "", j.title); a.href = "/library/works/" + j.work_id;
      note.append(j.outcome === "added" ? "In the library: " : "Already in the library: ", a,
        j.problems.length ? " (" + j.problems.length + " problem" + (j.problems.length > 1 ? "s" : "") + " reading it)" : "");
    } catch (e) { note.textContent = "Not added to the library: " + e.message; note.className = "small error libnote"; }
  }

  function start(files) { for (const f of files) upload(f); }
  drop.addEventListener("click", () => pick.click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") pick.click(); });
  pick.addEventListener("change", () => { start(pick.files); pick.value = ""; });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => start(e.dataTransfer.files));
})();
