// carrel's reader: arrow keys, and the last position kept in localStorage
// ("carrel.read.<file>": {c: chapter, f: scroll fraction} for an EPUB,
// {p: page} for a comic) and offered when the book is opened again.
(() => {
  const d = document.body.dataset;
  if (!d.file) return;
  const key = "carrel.read." + d.file;
  const n = Number(d.n);
  const params = new URLSearchParams(location.search);
  const load = () => { try { return JSON.parse(localStorage.getItem(key) || "null"); } catch { return null; } };
  const store = (pos) => { try { localStorage.setItem(key, JSON.stringify(Object.assign(pos, { t: Date.now() }))); } catch {} };
  const saved = load();

  const onKey = (e) => {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName || ""))) return;
    const to = e.key === "ArrowLeft" ? d.prev : e.key === "ArrowRight" ? d.next : null;
    if (to) { e.preventDefault(); location.href = to; }
  };
  document.addEventListener("keydown", onKey);

  const offer = (text, url) => {
    const box = document.getElementById("resume");
    if (!box) return;
    document.getElementById("resume-link").href = url;
    box.querySelector(".what").textContent = text;
    box.hidden = false;
    box.querySelector(".dismiss").addEventListener("click", () => { box.hidden = true; });
  };

  const toc = document.getElementById("toc");
  if (toc) {
    toc.addEventListener("toggle", () => { if (toc.open) toc.querySelector(".current a")?.scrollIntoView({ block: "center" }); });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") toc.open = false; });
    document.addEventListener("click", (e) => { if (toc.open && !toc.contains(e.target)) toc.open = false; });
  }

  if (d.kind === "epub") {
    const frame = document.getElementById("chapter");
    let tracking = d.entry !== "1", last = -1, wired = false;
    const view = () => {
      const w = frame.contentWindow, doc = w && w.document;
      if (!doc || !doc.documentElement) return null;
      const el = doc.scrollingElement || doc.documentElement;
      return { w, max: Math.max(0, el.scrollHeight - w.innerHeight) };
    };
    const fraction = () => { const v = view(); return v && v.max > 0 ? Math.min(1, Math.max(0, v.w.scrollY / v.max)) : 0; };
    const goTo = (f) => { const v = view(); if (v) v.w.scrollTo(0, Math.round(f * v.max)); };
    const record = () => {
      if (!tracking) return;
      const f = Math.round(fraction() * 10000) / 10000;
      if (f === last) return;
      last = f;
      store({ c: n, f, label: d.label });
    };
    const ready = () => {
      if (wired) return;
      const v = view();
      if (!v || v.w.location.href === "about:blank") return;
      wired = true;
      try {
        v.w.document.addEventListener("keydown", onKey);
        v.w.document.addEventListener("click", () => { if (toc) toc.open = false; });
        v.w.addEventListener("scroll", () => { tracking = true; record(); }, { passive: true });
      } catch {}
      const pos = parseFloat(params.get("pos"));
      if (!Number.isNaN(pos)) goTo(pos);
      else if (!params.has("anchor") && saved && saved.c === n && d.entry !== "1") goTo(saved.f || 0);
      if (d.entry === "1" && saved && (saved.c !== n || (saved.f || 0) > 0.01)) {
        const label = saved.label || ("chapter " + saved.c);
        offer(label + " · " + Math.round((saved.f || 0) * 100) + "%", d.base + "/" + saved.c + "?pos=" + (saved.f || 0));
      }
      record();
      setInterval(record, 1000);
    };
    frame.addEventListener("load", () => { wired = false; ready(); });
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") ready();
    addEventListener("pagehide", record);
  } else if (d.kind === "cbz") {
    if (d.entry === "1" && saved && saved.p > 1) offer("page " + saved.p + " of " + d.count, d.base + "/page/" + saved.p);
    else store({ p: n });
  }
})();
