// Drives a share page's player in Debian's headless Chromium: the poster
// and subtitle tracks of the <video>, a subtitle cue showing while it plays
// (TextTrack.activeCues after a `cuechange`), the seek preview (hovering the
// seek bar shows a sprite tile), and a screenshot of each state.
// Prints JSON: {poster, tracks: [{label, srclang, src, default}], cue, cueAt,
//   preview: {shown, image, position, size}, download, errors: [..]}
//   node player_page.mjs SHOT_PREFIX URL
import { run } from "./browser.mjs";

const [shot, url] = process.argv.slice(2);
await run(async ({ browser, out, watch }) => {
  const page = watch(await browser.newPage({ viewport: { width: 1000, height: 1100 } }));
  await page.goto(url);
  const video = page.locator("video");
  await video.waitFor({ timeout: 10000 });
  Object.assign(out, await video.evaluate((v) => ({
    poster: v.poster,
    tracks: [...v.querySelectorAll("track")].map((t) => ({ label: t.label, srclang: t.srclang, src: t.src, default: t.default })),
  })));
  out.download = await page.locator("#download-original").getAttribute("href");
  // The poster before playing.
  await video.scrollIntoViewIfNeeded();
  await page.waitForFunction(() => {
    const v = document.querySelector("video");
    return !v.poster || v.readyState >= 1;
  }, null, { timeout: 10000 });
  await page.screenshot({ path: `${shot}-poster.png`, fullPage: true });
  // A cue of the default track while playing.
  const cue = await video.evaluate(async (v) => {
    const track = [...v.textTracks].find((t) => t.mode === "showing") || v.textTracks[0];
    if (!track) return null;
    track.mode = "showing";
    const got = new Promise((resolve) => {
      const check = () => {
        if (track.activeCues && track.activeCues.length) {
          resolve({ text: track.activeCues[0].text, start: track.activeCues[0].startTime, at: v.currentTime });
        }
      };
      track.addEventListener("cuechange", check);
      setTimeout(() => resolve(null), 20000);
    });
    v.muted = true;
    await v.play();
    return got;
  });
  out.cue = cue;
  await page.waitForTimeout(300);
  await video.evaluate((v) => v.pause());
  await page.screenshot({ path: `${shot}-cue.png`, fullPage: true });
  // The seek preview: hover over the middle of the bar.
  const bar = page.locator(".seekbar");
  if (await bar.count()) {
    await page.waitForFunction(() => Number(document.querySelector(".player").dataset.thumbCues || 0) > 0, null, { timeout: 10000 });
    await bar.scrollIntoViewIfNeeded();
    await bar.hover();
    await page.waitForTimeout(200);
    out.preview = await page.evaluate(() => {
      const tip = document.querySelector(".seektip");
      const img = document.querySelector(".seekimg");
      return {
        shown: !tip.hidden, image: img.style.backgroundImage, position: img.style.backgroundPosition,
        size: [img.offsetWidth, img.offsetHeight], time: document.querySelector(".seektime").textContent,
      };
    });
    await page.screenshot({ path: `${shot}-preview.png`, fullPage: true });
  }
});
