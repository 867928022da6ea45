// Drives the "my files" page in Debian's headless Chromium through
// Playwright, as its owner would: log in from the redirect, search, sort by
// size, make a folder, move two files into it, rename a file, edit a link
// (limit, password, off) and make another, and delete two files at once
// (accepting the confirmation). Keeps full-page screenshots of each step.
// Prints JSON: {steps: {name: {url, title, rows, first, notice}}, errors: [..]}
//   node my_files_page.mjs BASE_URL EMAIL PASSWORD OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";

const [base, email, password, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const browser = await launch();
const errors = [];
const steps = {};
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.on("response", (r) => { if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`); });
  page.on("pageerror", (e) => errors.push(`page error: ${e}`));
  page.on("dialog", (d) => d.accept());
  const fileRows = () => page.locator("tbody tr:not(.folder) .fname");
  const keep = async (name) => {
    await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
    const notice = page.locator('p.ok[role="status"]');
    steps[name] = {
      url: page.url(),
      title: await page.title(),
      rows: await fileRows().count(),
      first: (await fileRows().count()) ? (await fileRows().first().innerText()).trim() : null,
      notice: (await notice.count()) ? (await notice.innerText()).trim() : null,
    };
  };
  const row = (name) => page.locator("tbody tr", { has: page.locator(".fname", { hasText: name }) });
  const submit = async (locator) => {
    await Promise.all([page.waitForNavigation(), locator.click()]);
  };

  await page.goto(`${base}/files`);
  await keep("redirected");
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await submit(page.getByRole("button", { name: "Log in" }));
  await keep("files");

  await page.getByLabel("Search by name").fill("DRAFT");
  await submit(page.getByRole("button", { name: "Search" }));
  await keep("search");
  await submit(page.getByRole("link", { name: "Clear" }));

  await submit(page.getByRole("link", { name: "Size", exact: true }));
  await keep("sorted-by-size");

  await page.getByLabel("New folder name").fill("Invoices");
  await submit(page.getByRole("button", { name: "Create folder" }));
  await page.getByLabel("Select budget 2025.xlsx", { exact: true }).check();
  await page.getByLabel("Select notes.txt", { exact: true }).check();
  await page.getByLabel("move to").selectOption({ label: "Invoices" });
  await submit(page.getByRole("button", { name: "Move selected" }));
  await keep("moved");

  await submit(page.getByRole("link", { name: "Invoices" }));
  await keep("folder");
  await submit(page.getByRole("link", { name: "All files" }));

  const report = row("Quarterly report.pdf");
  await report.locator("summary", { hasText: "Rename" }).click();
  await report.getByLabel("New name for Quarterly report.pdf").fill("Q3 report.pdf");
  await submit(report.getByRole("button", { name: "Rename" }));
  await keep("renamed");

  const q3 = row("Q3 report.pdf");
  await q3.locator("summary", { hasText: "1 link" }).click();
  await keep("links-open");
  const link = q3.locator(".link").first();
  await link.getByLabel("Download limit").fill("5");
  await link.getByLabel("Password").fill("page pass");
  await link.getByLabel("turned off").check();
  await submit(link.getByRole("button", { name: "Save link" }));
  await keep("link-edited");
  // The editor stays open after the change; make another link that expires in a week.
  const q3again = row("Q3 report.pdf");
  const fresh = q3again.locator('form[action="/files/forms/link-new"]');
  await fresh.getByLabel("Expires").selectOption({ label: "in 7 days" });
  await submit(fresh.getByRole("button", { name: "New link" }));

  await page.getByLabel("Select draft.docx", { exact: true }).check();
  await page.getByLabel("Select old draft.docx", { exact: true }).check();
  await submit(page.getByRole("button", { name: "Delete selected" }));
  await keep("deleted");
} catch (e) {
  errors.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ steps, errors }));
