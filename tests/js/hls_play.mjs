// Plays a share page's <video> in Debian's headless Chromium and reports
// whether currentTime advances; keeps a screenshot of the playing frame.
// Prints JSON: {src, start, end, duration, errors: [..]}
//   node hls_play.mjs SCREENSHOT URL
import { run } from "./browser.mjs";

const [shot, url] = process.argv.slice(2);
await run(async ({ browser, out, watch }) => {
  const page = watch(await browser.newPage({ viewport: { width: 1000, height: 900 } }));
  await page.goto(url);
  const video = page.locator("video");
  await video.waitFor({ timeout: 10000 });
  out.start = await video.evaluate(async (v) => {
    v.muted = true;
    await v.play();
    return v.currentTime;
  });
  await page.waitForFunction(() => document.querySelector("video").currentTime > 2, null, { timeout: 20000 });
  await video.evaluate((v) => v.pause());
  Object.assign(out, await video.evaluate((v) => ({ src: v.currentSrc, end: v.currentTime, duration: v.duration, error: v.error && v.error.message })));
  await video.scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot, fullPage: true });
});
