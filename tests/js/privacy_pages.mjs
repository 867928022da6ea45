// Drives the privacy parts of carrel's pages in Debian's headless Chromium
// through Playwright, with JavaScript on, as a person would: uploads a file
// without an account on the upload page (its management token stays in the
// browser), signs up (the page offers to add that file), sees the welcome
// notice on the account page (whose script then forgets the settled token),
// exports their data as JSON and as a ZIP with the buttons, tries to delete
// the account with a wrong password, then deletes it. Keeps screenshots.
// Prints JSON: {claimNote, notice, storedAfter, export, zipSize, deleteError,
//   deleted, afterUrl, errors}
//   node privacy_pages.mjs BASE_URL EMAIL PASSWORD OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";

const [base, email, password, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const browser = await launch();
const errors = [];
const out = { errors };
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => { if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`); });
  const keep = (name, fullPage = true) => page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage });

  // 1. An upload without an account.
  await page.goto(base + "/");
  await page.setInputFiles("#pick", { name: "hello.txt", mimeType: "text/plain", buffer: Buffer.from("hello, carrel\n") });
  await page.locator(".upload.done").waitFor({ timeout: 30000 });
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("carrel-claims") || "[]"));
  if (stored.length !== 1) errors.push(`expected one stored token, got ${JSON.stringify(stored)}`);

  // 2. Sign-up offers it.
  await page.goto(base + "/signup");
  await page.locator("#claimnote").waitFor();
  out.claimNote = await page.locator("#claimnote").innerText();
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password", { exact: false }).first().fill(password);
  await keep("signup-claim");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/account\?claimed=/);
  out.notice = await page.locator("p.ok[role=status]").innerText();
  // The page's script asks which tokens are settled and forgets them.
  await page.waitForFunction(() => !localStorage.getItem("carrel-claims"), null, { timeout: 10000 });
  out.storedAfter = await page.evaluate(() => JSON.parse(localStorage.getItem("carrel-claims") || "[]"));
  await keep("account-after-signup");

  // 3. The export buttons.
  let [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Export as JSON" }).click()]);
  out.export = JSON.parse(fs.readFileSync(await dl.path(), "utf8"));
  [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download everything (ZIP)" }).click()]);
  out.zipSize = fs.statSync(await dl.path()).size;
  await page.locator("#data-h").scrollIntoViewIfNeeded();
  await keep("account-privacy", false);

  // 4. Deletion: a wrong password first.
  await page.getByLabel("Your password, to confirm").fill("not the password");
  await page.getByRole("button", { name: "Delete my account and files" }).click();
  await page.waitForLoadState();
  out.deleteError = await page.locator("section.danger p.error[role=alert]").innerText();
  out.errorsShown = await page.locator("p.error[role=alert]").count();
  await keep("delete-error");
  await page.getByLabel("Your password, to confirm").fill(password);
  await page.getByRole("button", { name: "Delete my account and files" }).click();
  await page.waitForLoadState();
  out.deleted = await page.locator("main").innerText();
  await keep("deleted");
  await page.goto(base + "/account");
  out.afterUrl = page.url();
} catch (e) {
  errors.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
