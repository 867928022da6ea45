// Logs in through the real form in Debian's headless Chromium (JavaScript
// off) and keeps a full-page screenshot of the account page: the plan, its
// usage meters and the retention notice.
// Prints JSON: {url, usage: "text of the Plan and usage card", errors: [..]}
//   node plan_page.mjs BASE_URL EMAIL PASSWORD OUT_PNG
import fs from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";

const [base, email, password, out] = process.argv.slice(2);
fs.mkdirSync(path.dirname(out), { recursive: true });
const browser = await launch();
const errors = [];
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  page.on("response", (r) => { if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${base}/login?next=/account`);
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/account$/);
  const usage = await page.locator("section", { has: page.getByRole("heading", { name: "Plan and usage" }) }).innerText();
  await page.screenshot({ path: out, fullPage: true });
  console.log(JSON.stringify({ url: page.url(), usage, errors }));
} catch (e) {
  errors.push(String(e));
  console.log(JSON.stringify({ url: null, usage: "", errors }));
} finally {
  await browser.close();
}
