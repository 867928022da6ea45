// The upload page's "add books to the library" box, in Debian's headless
// Chromium through Playwright: tick it, choose a book through the file
// picker, wait for the page to say where the book is in the library, follow
// that link to the work page, and keep screenshots of both.
// Prints JSON: {note, href, workTitle, formats}
//   node upload_to_library.mjs BASE_URL BOOK_FILE OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";

const [base, book, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  await page.goto(base + "/");
  await page.check("#tolibrary");
  await page.setInputFiles("#pick", book);
  const link = page.locator(".libnote a");
  await link.waitFor({ timeout: 60000 });
  const note = await page.locator(".libnote").innerText();
  const href = await link.getAttribute("href");
  await page.screenshot({ path: path.join(outDir, "upload-to-library.png"), fullPage: true });
  await link.click();
  await page.waitForSelector("h1");
  const workTitle = await page.locator("h1").first().innerText();
  const formats = await page.locator("td.files .fmt").allInnerTexts();
  await page.screenshot({ path: path.join(outDir, "work-page-with-file.png"), fullPage: true });
  console.log(JSON.stringify({ note, href, workTitle, formats }));
} finally {
  await browser.close();
}
