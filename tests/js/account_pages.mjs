// Drives the account pages in Debian's headless Chromium through Playwright,
// with JavaScript off (the forms need none), as the first administrator
// would: the first-start sign-up link, the account page, a new API token,
// logging out, a wrong password and logging in again. Keeps full-page
// screenshots of each step.
// Prints JSON: {token, steps: {name: {url, title}}, errors: [..]}
//   node account_pages.mjs FIRST_START_LINK EMAIL PASSWORD OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";

const [link, email, password, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const browser = await launch();
const errors = [];
const steps = {};
let token = null;
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  page.on("response", (r) => { if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`); });
  const keep = async (name) => {
    await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
    steps[name] = { url: page.url(), title: await page.title() };
  };
  await page.goto(link);
  await keep("signup-admin");
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForLoadState();
  await keep("account");
  await page.getByLabel("Name").fill("backup script");
  await page.getByLabel("upload").check();
  await page.getByRole("button", { name: "Create token" }).click();
  await page.waitForLoadState();
  token = await page.getByLabel("New API token").inputValue();
  await keep("account-new-token");
  await page.getByRole("button", { name: "Log out", exact: true }).click();
  await page.waitForLoadState();
  await keep("logged-out");
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForLoadState();
  await keep("login-error");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForLoadState();
  await keep("logged-in");
} catch (e) {
  errors.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ token, steps, errors }));
