// Drives a share page's quality menu in Debian's headless Chromium (no HLS
// library: each choice is one MP4 the <video> plays whole). Plays with the
// menu on "Auto", checks currentTime advances, switches to the quality named
// SWITCH_TO, checks the picture's height changed to it and that playing goes
// on from about where it was; then the same with "Original" when offered.
// Also opens the page at devicePixelRatio 2 to see what "Auto" picks there.
// Keeps a screenshot of the player after the switch.
// Prints JSON: {menu: [labels], width, dpr, auto: {label, height, src},
//   switches: [{to, before, resumed, after, height, src}], autoAt2x, errors: [..]}
//   node quality_switch.mjs SCREENSHOT URL SWITCH_TO
import { run } from "./browser.mjs";

const [shot, url, switchTo] = process.argv.slice(2);

// Switches the menu to `label` and follows the player until it plays the
// new file: where it was when switched, where it went on from, and where
// it is 1.5 s later.
async function switchQuality(page, label, out) {
  const video = page.locator("video");
  const before = await video.evaluate((v) => v.currentTime);
  const oldSrc = await video.evaluate((v) => v.currentSrc);
  await page.locator("select.quality").selectOption({ label });
  await page.waitForFunction((old) => {
    const v = document.querySelector("video");
    return v.currentSrc !== old && v.readyState >= 2 && !v.paused && !v.seeking;
  }, oldSrc, { timeout: 20000 });
  // The first time reported once the new file plays.
  const resumed = await video.evaluate((v) => new Promise((resolve) => {
    v.addEventListener("timeupdate", () => resolve(v.currentTime), { once: true });
  }));
  await page.waitForTimeout(1500);
  const now = await video.evaluate((v) => ({ after: v.currentTime, height: v.videoHeight, width: v.videoWidth, src: v.currentSrc, paused: v.paused }));
  const r = { to: label, before, resumed, ...now };
  out.switches.push(r);
  return r;
}

await run(async ({ browser, out, watch }) => {
  out.switches = [];
  const page = watch(await browser.newPage({ viewport: { width: 1000, height: 1000 } }));
  await page.goto(url);
  const video = page.locator("video");
  await video.waitFor({ timeout: 10000 });
  await page.locator(".qualities").waitFor({ state: "visible", timeout: 10000 });
  out.width = await video.evaluate((v) => v.clientWidth);
  out.dpr = await page.evaluate(() => window.devicePixelRatio);
  // Plays on "Auto".
  await video.evaluate(async (v) => { v.muted = true; await v.play(); });
  await page.waitForFunction(() => document.querySelector("video").currentTime > 1.5, null, { timeout: 20000 });
  out.auto = await video.evaluate((v) => ({
    label: v.closest(".player").dataset.quality, height: v.videoHeight, src: v.currentSrc, time: v.currentTime,
  }));
  out.menu = await page.locator("select.quality option").allTextContents();
  await switchQuality(page, switchTo, out);
  await video.evaluate((v) => v.pause());
  await video.scrollIntoViewIfNeeded();
  out.shownQuality = await page.locator(".qualitynow").textContent();
  await page.screenshot({ path: shot, fullPage: true });
  if (out.menu.includes("Original")) {
    await video.evaluate(async (v) => { await v.play(); });
    await switchQuality(page, "Original", out);
  }
  await page.close();
  // The same page on a screen of twice the pixels: "Auto" picks by device pixels.
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 1000 }, deviceScaleFactor: 2 });
  const hi = watch(await ctx.newPage());
  await hi.goto(url);
  await hi.locator(".qualities").waitFor({ state: "visible", timeout: 10000 });
  await hi.waitForFunction(() => document.querySelector("video").readyState >= 1, null, { timeout: 20000 });
  out.autoAt2x = await hi.locator("video").evaluate((v) => ({
    label: v.closest(".player").dataset.quality, height: v.videoHeight, width: v.clientWidth,
  }));
  await ctx.close();
});
