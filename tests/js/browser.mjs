// Debian's Chromium, headless, as the page scripts launch it.
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// The start and end the page scripts share: launches the browser, runs
// `body({ browser, out, watch })`, where `watch(page)` records the page's
// failed responses (status ≥ 400) and script errors, then prints `out`
// (which `body` fills as it goes) as JSON with `errors`, whatever happened:
// what `body` throws is one of the errors. Closes the browser.
export async function run(body) {
  const browser = await launch();
  const errors = [];
  const out = {};
  const watch = (page) => {
    page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    page.on("pageerror", (e) => errors.push(String(e)));
    return page;
  };
  try {
    await body({ browser, out, watch });
  } catch (e) {
    errors.push(String(e));
  } finally {
    await browser.close();
  }
  out.errors = errors;
  console.log(JSON.stringify(out));
}
