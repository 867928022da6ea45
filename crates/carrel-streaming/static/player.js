// carrel's share page player, in two parts:
// - seek previews: the bar under a `.player`'s <video> shows how far it has
//   played; hovering over it shows the frame at that point from the WebVTT
//   thumbnail track named by `data-thumbs` (cues of
//   `sprite.jpg#xywh=x,y,w,h`); a click seeks there;
// - the quality menu (`select.quality`): each choice is one MP4 that plays
//   whole (a rung of the ladder, or the original), so switching swaps the
//   element's `src` and puts back where it was and whether it was playing;
//   no HLS library is needed. "Auto" picks the highest rung not taller than
//   the picture is shown (its displayed height × devicePixelRatio; the
//   lowest rung when all are taller), again when the window is resized;
//   for audio, the best rung.
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

  function seekPreviews(box, video) {
    const bar = box.querySelector(".seekbar");
    const fill = box.querySelector(".seekfill");
    const tip = box.querySelector(".seektip");
    const img = box.querySelector(".seekimg");
    const label = box.querySelector(".seektime");
    if (!bar) return;
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

  function qualityMenu(box, media) {
    const select = box.querySelector("select.quality");
    if (!select) return;
    const now = box.querySelector(".qualitynow");
    const choices = [...select.options].filter((o) => o.value !== "auto").map((o) => ({
      option: o, label: o.dataset.label, src: new URL(o.value, location.href).href,
      w: Number(o.dataset.width || 0), h: Number(o.dataset.height || 0), rung: "rung" in o.dataset,
    }));
    const rungs = choices.filter((c) => c.rung); // best first
    if (!choices.length) return;
    const autoOption = select.querySelector("option[value=auto]");
    if (!rungs.length) autoOption.remove();
    // The height the picture is shown at, in device pixels: the element is as
    // wide as its box and as tall as the picture's aspect makes it.
    const shownHeight = (c) => {
      const width = media.clientWidth || box.clientWidth;
      const css = c.w ? width * c.h / c.w : media.clientHeight;
      return css * (window.devicePixelRatio || 1);
    };
    const auto = () => rungs.find((c) => !c.h || c.h <= shownHeight(c) + 1) || rungs[rungs.length - 1];
    const chosen = () => (select.value === "auto" ? auto() : choices.find((c) => c.option.selected));
    function show(c) {
      autoOption.textContent = select.value === "auto" ? `Auto (${c.label})` : "Auto";
      box.dataset.quality = c.label;
      if (now) now.textContent = c.h ? `${c.w}×${c.h}` : "";
    }
    function apply() {
      const c = chosen();
      if (!c) return;
      show(c);
      if (media.currentSrc === c.src || media.getAttribute("src") === c.src) return;
      // Where it was, and whether it was playing, go to the new file once it is known.
      const at = media.currentTime, paused = media.paused, rate = media.playbackRate;
      media.src = c.src;
      media.addEventListener("loadedmetadata", () => {
        if (at > 0) media.currentTime = Math.min(at, isFinite(media.duration) ? media.duration : at);
        media.playbackRate = rate;
        if (!paused) media.play().catch(() => {});
      }, { once: true });
    }
    // The page's own source may already be one of the choices.
    const current = choices.find((c) => c.src === new URL(media.getAttribute("src") || "", location.href).href);
    if (current && !rungs.length) current.option.selected = true;
    select.addEventListener("change", apply);
    let timer = 0;
    window.addEventListener("resize", () => {
      if (select.value !== "auto") return;
      clearTimeout(timer);
      timer = setTimeout(apply, 300);
    });
    box.querySelector(".qualities").hidden = false;
    apply();
  }

  for (const box of document.querySelectorAll(".player")) {
    const media = box.querySelector("video, audio");
    if (!media) continue;
    if (box.dataset.thumbs) seekPreviews(box, media);
    qualityMenu(box, media);
  }
})();
