// Drives carrel's upload page in Debian's headless Chromium through Playwright,
// the way a person uses it:
//   1. drops two files on the drop zone (a real drag-and-drop `drop` event
//      carrying a DataTransfer) and chooses a third through the file picker;
//   2. cuts the connection of one upload mid-way (the second PATCH of the big
//      file fails at the network level) and checks that the page says so and
//      resumes by itself;
//   3. watches the progress bar and status line (percentages between 0 and
//      100, a speed);
//   4. reads each share link from the page, opens it, presses Download and
//      saves what the browser downloads;
//   5. keeps screenshots of the upload page and of a landing page.
// Prints JSON: {links, progress, sawSpeed, sawResume, cut, downloads: [{name, suggested, path, link}],
//   clip, expected: {name: sha256 of the dropped files}}
//   node upload_page.mjs BASE_URL PICKED_FILE OUT_DIR
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { chromium } from "playwright-core";

// Deterministic bytes, made the same way in the page and here.
function gen(n, seed) {
  const a = new Uint8Array(n); let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; a[i] = x & 255; }
  return a;
}
const DROPPED = [["dropped-big.bin", 40 * 1024 * 1024 + 11, 7, "application/octet-stream"],
  ["dropped small é.txt", 3000, 9, "text/plain"]];
const sha256 = (b) => crypto.createHash("sha256").update(b).digest("hex");
const expected = Object.fromEntries(DROPPED.map(([name, n, seed]) => [name, sha256(gen(n, seed))]));

const [base, picked, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const fail = async (msg) => { await browser.close(); console.error(msg); process.exit(1); };
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // Cut the network under the second PATCH of "dropped-big.bin" (offset > 0).
  let cut = false;
  await page.route("**/files/*", async (route) => {
    const req = route.request();
    const offset = req.headers()["upload-offset"];
    // Only the 40 MiB file has a second 16 MiB chunk.
    if (!cut && req.method() === "PATCH" && offset === String(16 * 1024 * 1024)) {
      cut = true;
      return route.abort("connectionreset");
    }
    return route.continue();
  });

  await page.goto(base + "/");
  await page.screenshot({ path: path.join(outDir, "upload-page-empty.png"), fullPage: true });

  // Record every status line and bar width the page shows.
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      for (const c of document.querySelectorAll(".upload")) {
        const s = c.querySelector(".ustatus")?.textContent || "";
        const w = c.querySelector(".fill")?.style.width || "";
        window.__seen.push({ name: c.querySelector(".uname")?.textContent, s, w });
      }
    }).observe(document.getElementById("list"), { subtree: true, childList: true, characterData: true, attributes: true });
  });

  // 1a. Drag and drop: two files made in the page with deterministic bytes
  // (the same generator runs in Node below to check the downloads).
  const dt = await page.evaluateHandle(([genSrc, files]) => {
    const make = new Function("return " + genSrc)();
    const d = new DataTransfer();
    for (const [name, n, seed, type] of files) d.items.add(new File([make(n, seed)], name, { type }));
    return d;
  }, [gen.toString(), DROPPED]);
  await page.dispatchEvent("#drop", "dragenter", { dataTransfer: dt });
  await page.dispatchEvent("#drop", "drop", { dataTransfer: dt });
  // 1b. The file picker.
  await page.setInputFiles("#pick", picked);

  await page.waitForFunction(() => document.querySelectorAll(".upload.done").length === 3, null, { timeout: 120000 });
  // Every bar full (after its CSS transition), as the person sees it.
  await page.waitForFunction(() => [...document.querySelectorAll(".upload .fill")].every(
    (f) => Math.abs(f.getBoundingClientRect().width - f.parentElement.getBoundingClientRect().width) < 1));
  await page.screenshot({ path: path.join(outDir, "upload-page-done.png"), fullPage: true });

  const seen = await page.evaluate(() => window.__seen);
  const progress = [...new Set(seen.filter((r) => r.name === "dropped-big.bin").map((r) => parseFloat(r.w)).filter((w) => !Number.isNaN(w)))];
  const sawSpeed = seen.some((r) => /\/s/.test(r.s) && /%/.test(r.s));
  const sawResume = seen.some((r) => r.name === "dropped-big.bin" && /Connection lost/.test(r.s));

  // 2. The links, and a download through each landing page's button.
  const rows = await page.$$eval(".upload", (cards) => cards.map((c) => ({
    name: c.querySelector(".uname").textContent, link: c.querySelector(".shareurl").value,
  })));
  const downloads = [];
  for (const r of rows) {
    // "Copy link" puts the link on the clipboard (or says it could not).
    const landing = await context.newPage();
    await landing.goto(r.link);
    if (r.name === "dropped-big.bin") {
      await landing.screenshot({ path: path.join(outDir, "share-page.png"), fullPage: true });
    }
    const [dl] = await Promise.all([landing.waitForEvent("download"), landing.click("#download")]);
    const to = path.join(outDir, "downloaded-" + downloads.length);
    await dl.saveAs(to);
    downloads.push({ name: r.name, suggested: dl.suggestedFilename(), path: to, link: r.link });
    await landing.close();
  }
  // The copy button reports success.
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await page.click(".upload .copy");
  await page.waitForFunction(() => document.querySelector(".upload .copy").textContent === "Copied");
  const clip = await page.evaluate(() => navigator.clipboard.readText());

  if (errors.length) await fail("page errors: " + errors.join("; "));
  console.log(JSON.stringify({ links: rows, progress, sawSpeed, sawResume, cut, downloads, clip, expected }));
  await browser.close();
} catch (e) {
  await fail(e.stack || String(e));
}
