// Plays a share page's <video> in Debian's headless Chromium and reports
// whether currentTime advances; keeps a screenshot of the playing frame.
// Prints JSON: {src, start, end, duration, errors: [..]}
//   node hls_play.mjs SCREENSHOT URL
import { launch } from "./browser.mjs";

const [shot, url] = process.argv.slice(2);
const browser = await launch();
const errors = [];
let out = {};
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  const video = page.locator("video");
  await video.waitFor({ timeout: 10000 });
  const start = await video.evaluate(async (v) => {
    v.muted = true;
    await v.play();
    return v.currentTime;
  });
  await page.waitForFunction(() => document.querySelector("video").currentTime > 2, null, { timeout: 20000 });
  await video.evaluate((v) => v.pause());
  out = await video.evaluate((v) => ({ src: v.currentSrc, end: v.currentTime, duration: v.duration, error: v.error && v.error.message }));
  out.start = start;
  await video.scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot, fullPage: true });
} catch (e) {
  errors.push(String(e));
} finally {
  await browser.close();
}
out.errors = errors;
console.log(JSON.stringify(out));
