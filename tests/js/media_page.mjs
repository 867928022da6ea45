// Opens share pages of media files in Debian's headless Chromium and keeps a
// full-page screenshot of each: the playback card (duration, resolution,
// codecs, the decision) above the player.
// Prints JSON: [{url, media: "text of the playback card", errors: [..]}]
//   node media_page.mjs OUT_DIR URL...
import fs from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";

const [outDir, ...urls] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const browser = await launch();
const results = [];
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  for (const [i, url] of urls.entries()) {
    const errors = [];
    const page = await context.newPage();
    page.on("response", (r) => { if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`); });
    page.on("pageerror", (e) => errors.push(String(e)));
    try {
      await page.goto(url);
      const card = page.locator("#media");
      const media = (await card.count()) ? await card.innerText() : "";
      await page.screenshot({ path: path.join(outDir, `media-${i}.png`), fullPage: true });
      results.push({ url, media, errors });
    } catch (e) {
      errors.push(String(e));
      results.push({ url, media: "", errors });
    }
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
