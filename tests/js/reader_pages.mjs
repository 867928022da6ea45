// Drives the library in Debian's headless Chromium through Playwright, as a
// reader would: the search page, a work page, its "Read" button, the EPUB
// reader (next chapter with the arrow key, scroll, reload: the position is
// restored; reopen the book: "Continue where you left off" is offered and
// taken), the table of contents, dark mode, and a comic page. Screenshots go
// to OUT_DIR. Prints JSON with what it saw.
//   node reader_pages.mjs BASE_URL EPUB_FILE_ID WORK_ID CBZ_FILE_ID OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const [base, fileId, workId, comicId, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const shot = (page, name) => page.screenshot({ path: path.join(outDir, name) });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const res = { errors: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 860 }, colorScheme: "light" });
  const page = await context.newPage();
  page.on("pageerror", (e) => res.errors.push("pageerror: " + String(e)));
  page.on("console", (m) => {
    // The book's own refused content (CSP) is expected; carrel's scripts must not fail.
    if (m.type() === "error" && !/Content Security Policy|Failed to load resource/.test(m.text())) res.errors.push(m.text());
  });

  // Search.
  await page.goto(`${base}/library?q=adventures+sherlock`);
  await page.waitForLoadState("networkidle");
  res.searchHit = await page.locator(`a[href*="/library/works/${workId}"]`).count() > 0;
  await shot(page, "search.png");

  // The work page and its Read button.
  await page.goto(`${base}/library/works/${workId}`);
  await page.waitForLoadState("networkidle");
  await shot(page, "work.png");
  const read = page.locator(`a[href="/library/read/${fileId}"]`).first();
  res.readLink = await read.evaluate((a) => a.href);
  await read.click();
  await page.waitForURL(`**/library/read/${fileId}`);

  const frameReady = async () => {
    await page.waitForFunction(() => {
      const f = document.getElementById("chapter");
      return f && f.contentDocument && f.contentDocument.readyState === "complete" && f.contentDocument.body;
    });
    await page.waitForTimeout(300);
  };
  const fraction = () => page.evaluate(() => {
    const w = document.getElementById("chapter").contentWindow;
    const el = w.document.scrollingElement;
    const max = el.scrollHeight - w.innerHeight;
    return max > 0 ? w.scrollY / max : 0;
  });
  const scrollable = () => page.evaluate(() => {
    const w = document.getElementById("chapter").contentWindow;
    return w.document.scrollingElement.scrollHeight - w.innerHeight > 2000;
  });
  await frameReady();
  res.serif = await page.evaluate(() => {
    const d = document.getElementById("chapter").contentDocument;
    const p = d.querySelector("p") || d.body;
    return /serif/i.test(getComputedStyle(p).fontFamily) && !/sans-serif/i.test(getComputedStyle(p).fontFamily.split(",")[0]);
  });
  await shot(page, "reader-first.png");

  // Next with the arrow key until a chapter long enough to scroll.
  let n = 1;
  for (let i = 0; i < 12; i++) {
    await page.locator("header.bar .where").click();
    await page.keyboard.press("ArrowRight");
    n += 1;
    await page.waitForURL(`**/library/read/${fileId}/${n}`);
    await frameReady();
    if (await scrollable()) break;
  }
  res.movedNext = n > 1;
  res.chapter = n;
  await shot(page, "reader.png");

  // Scroll the chapter to 40 % the way a reader does (wheel), let the page store it.
  await page.locator("#chapter").hover();
  const target = 0.4;
  await page.evaluate((t) => {
    const w = document.getElementById("chapter").contentWindow;
    const el = w.document.scrollingElement;
    w.scrollTo(0, Math.round(t * (el.scrollHeight - w.innerHeight)));
  }, target);
  await page.mouse.wheel(0, 1);
  await page.waitForTimeout(1500);
  res.scrolledTo = await fraction();
  await page.reload();
  await frameReady();
  await page.waitForTimeout(500);
  res.restored = await fraction();

  // Arrow keys also work with the focus inside the chapter.
  await page.locator("#chapter").click({ position: { x: 600, y: 300 } });
  await page.keyboard.press("ArrowLeft");
  try {
    await page.waitForURL(`**/library/read/${fileId}/${n - 1}`, { timeout: 5000 });
    res.keysInFrame = true;
  } catch { res.keysInFrame = false; }
  await frameReady();

  // Reopen the book: the last position is offered.
  await page.evaluate(() => localStorage.length); // same origin storage
  // Going back a chapter stored chapter n-1; return to n's place first.
  await page.goto(`${base}/library/read/${fileId}/${n}?pos=${res.scrolledTo}`);
  await frameReady();
  await page.waitForTimeout(1300);
  await page.goto(`${base}/library/read/${fileId}`);
  await frameReady();
  const banner = page.locator("#resume");
  await banner.waitFor({ state: "visible", timeout: 5000 }).catch(() => {});
  res.offered = await banner.isVisible();
  res.offerLink = res.offered ? await page.locator("#resume-link").getAttribute("href") : null;
  await shot(page, "reader-resume.png");
  if (res.offered) {
    await page.locator("#resume-link").click();
    await page.waitForURL(`**/library/read/${fileId}/${n}?pos=*`);
    await frameReady();
    await page.waitForTimeout(300);
    res.afterContinue = await fraction();
  }

  // The table of contents.
  await page.locator("#toc > summary").click();
  await page.waitForTimeout(300);
  res.tocEntries = await page.locator("#toc li").count();
  await shot(page, "reader-toc.png");
  await page.keyboard.press("Escape");

  // Dark mode.
  await page.emulateMedia({ colorScheme: "dark" });
  await page.waitForTimeout(300);
  await shot(page, "reader-dark.png");
  await page.emulateMedia({ colorScheme: "light" });

  // A comic, page by page.
  await page.goto(`${base}/library/read/${comicId}`);
  await page.waitForFunction(() => document.getElementById("page")?.complete);
  await shot(page, "comic.png");
  await page.keyboard.press("ArrowRight");
  await page.waitForURL(`**/library/read/${comicId}/page/2`);
  res.comicNext = true;

  // Narrow screens.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(`${base}/library/read/${fileId}/${n}`);
  await frameReady();
  await shot(page, "reader-phone.png");
} catch (e) {
  res.errors.push("driver: " + String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(res));
