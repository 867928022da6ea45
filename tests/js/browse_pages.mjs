// Opens the library's browsing pages in Debian's headless Chromium through
// Playwright, as a reader would: the browse index, an author's page (reached
// from a search result) and a subject's list (reached from the subjects
// page), with JavaScript off to show they need none. Keeps full-page
// screenshots of each.
// Prints JSON: {pages: {name: {url, title, items}}, errors: [..]}
//   node browse_pages.mjs BASE_URL OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";

const [base, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const browser = await launch();
const errors = [];
const pages = {};
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  const keep = async (name) => {
    await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
    pages[name] = { url: page.url(), title: await page.title(),
      items: await page.locator("ol.items > li, ul.counts > li").count() };
  };
  await page.goto(base + "/library/browse");
  await keep("browse");
  await page.goto(base + "/library?q=" + encodeURIComponent("pride and prejudice"));
  await page.locator("#results a", { hasText: "Jane Austen" }).first().click();
  await page.waitForLoadState();
  await keep("author");
  await page.goto(base + "/library/subjects");
  await keep("subjects");
  await page.locator("#counts a").first().click();
  await page.waitForLoadState();
  await keep("subject");
} catch (e) {
  errors.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ pages, errors }));
