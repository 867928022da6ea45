// Drives the admin pages in headless Chromium with JavaScript off, as an
// administrator: log in, search the users by address and plan, open one,
// put it on another plan, suspend it and lift that, make it a reset link,
// delete another account giving its files to a third, make an invitation
// link, and look at the usage page. Keeps full-page
// screenshots of each step.
// Prints JSON: {steps: {name: {url, title, status, text}}, links: {reset, invitation}, errors: [..]}
//   node admin_pages.mjs BASE_URL ADMIN_EMAIL PASSWORD USER_EMAIL DOOMED_EMAIL HEIR_EMAIL OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { launch } from "./browser.mjs";

const [base, email, password, user, doomed, heir, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const browser = await launch();
const errors = [];
const steps = {};
const links = {};
try {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  let last = null;
  page.on("response", (r) => {
    if (r.request().isNavigationRequest()) last = r.status();
    if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`);
  });
  const keep = async (name) => {
    await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
    steps[name] = { url: page.url(), title: await page.title(), status: last, text: await page.locator("main").innerText() };
  };
  const submit = async (name) => {
    await page.getByRole("button", { name }).click();
    await page.waitForLoadState();
  };
  await page.goto(`${base}/login?next=/admin/users`);
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await submit("Log in");
  await keep("users");
  await page.getByLabel("E-mail contains").fill(user.split("@")[0]);
  await page.getByLabel("Plan").selectOption("free");
  await submit("Search");
  await keep("users-search");
  await page.getByRole("link", { name: user }).click();
  await page.waitForLoadState();
  await keep("user");
  await page.getByLabel("Plan").selectOption("premium");
  await submit("Set plan");
  await keep("user-plan");
  await submit("Suspend");
  await keep("user-suspended");
  await submit("Lift the suspension");
  await keep("user-active");
  await submit("Create a reset link");
  await keep("user-reset-link");
  links.reset = await page.getByLabel("Reset link").inputValue();
  await page.goto(`${base}/admin/users?q=${encodeURIComponent(doomed)}`);
  await page.getByRole("link", { name: doomed }).click();
  await page.waitForLoadState();
  await page.getByLabel("give them to the account").check();
  await page.getByLabel("E-mail address of the account that gets the files").fill(heir);
  await page.getByLabel("I understand").check();
  await keep("delete-form");
  await submit("Delete account");
  await keep("deleted");
  await page.goto(`${base}/admin/users`);
  await submit("Create an invitation link");
  await keep("invitation");
  links.invitation = await page.getByLabel("Invitation link").inputValue();
  await page.goto(`${base}/admin/usage`);
  await page.getByText("Table").first().click();
  await keep("usage");
} catch (e) {
  errors.push(String(e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ steps, links, errors }));
