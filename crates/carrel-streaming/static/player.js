// Seek previews for carrel's share page: the bar under a `.player`'s
// <video> shows how far it has played; hovering over it shows the frame at
// that point from the WebVTT thumbnail track named by `data-thumbs`
// (cues of `sprite.jpg#xywh=x,y,w,h`); a click seeks there.
"use strict";
(function () {
  function seconds(t) {
    const p = t.trim().split(":").map(Number);
    return p.reduce((a, b) => a * 60 + b, 0);
  }
  function parse(text, base) {
    const cues = [];
    for (const block of text.replace(/\r\n?/g, "\n").split(/\n\n+/)) {
      const lines = block.split("\n");
      const i = lines.findIndex((l) => l.includes("-->"));
      if (i < 0 || i + 1 >= lines.length) continue;
      const [a, b] = lines[i].split("-->");
      const m = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[i + 1].trim());
      if (!m) continue;
      cues.push({
        start: seconds(a), end: seconds(b.trim().split(/\s/)[0]),
        url: new URL(m[1], base).href, x: +m[2], y: +m[3], w: +m[4], h: +m[5],
      });
    }
    return cues;
  }
  function clock(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
  }
  for (const box of document.querySelectorAll(".player[data-thumbs]")) {
    const video = box.querySelector("video");
    const bar = box.querySelector(".seekbar");
    const fill = box.querySelector(".seekfill");
    const tip = box.querySelector(".seektip");
    const img = box.querySelector(".seekimg");
    const label = box.querySelector(".seektime");
    if (!video || !bar) continue;
    const thumbs = new URL(box.dataset.thumbs, location.href).href;
    let cues = [];
    fetch(thumbs, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : ""))
      .then((t) => { cues = parse(t, thumbs); box.dataset.thumbCues = String(cues.length); })
      .catch(() => {});
    const duration = () => (isFinite(video.duration) && video.duration > 0 ? video.duration
      : cues.length ? cues[cues.length - 1].end : 0);
    const at = (ev) => {
      const r = bar.getBoundingClientRect();
      const f = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
      return { f, t: f * duration(), px: f * r.width };
    };
    bar.addEventListener("mousemove", (ev) => {
      const { t, px } = at(ev);
      const c = cues.find((c) => t >= c.start && t < c.end) || cues[cues.length - 1];
      if (!c) return;
      img.style.width = c.w + "px";
      img.style.height = c.h + "px";
      img.style.backgroundImage = `url("${c.url}")`;
      img.style.backgroundPosition = `-${c.x}px -${c.y}px`;
      label.textContent = clock(t);
      tip.style.left = px + "px";
      tip.hidden = false;
    });
    bar.addEventListener("mouseleave", () => { tip.hidden = true; });
    bar.addEventListener("click", (ev) => {
      const d = duration();
      if (d > 0) video.currentTime = at(ev).f * d;
    });
    video.addEventListener("timeupdate", () => {
      const d = duration();
      fill.style.width = d > 0 ? (100 * video.currentTime / d) + "%" : "0";
    });
  }
})();
