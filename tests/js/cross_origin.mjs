// Another site's page uploads to carrel through tus-js-client, in Debian's
// headless Chromium, so the browser enforces CORS for real: the page's
// origin (http://localhost:9, served by Playwright's router) is not
// carrel's. Several PATCHes (small chunks) and the exposed carrel headers.
// Prints JSON: {ok, url, share, token, file, error}
//   node cross_origin.mjs BASE_URL SIZE
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const [base, size] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const tusJs = fs.readFileSync(path.join(here, "node_modules", "tus-js-client", "dist", "tus.min.js"));
// A loopback origin (so Chromium's private-network rules stay out of it),
// but not carrel's: another host name and port.
const APP = "http://localhost:9";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // Both origins are on this machine; in real use they are public sites. The
  // local-network permission (a prompt for people) is switched off, CORS is not.
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-features=LocalNetworkAccessChecks",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.route(`${APP}/**`, (r) => r.request().url().endsWith("/tus.js")
    ? r.fulfill({ body: tusJs, contentType: "text/javascript" })
    : r.fulfill({ body: `<!doctype html><script src="${APP}/tus.js"></script>`, contentType: "text/html" }));
  await page.goto(`${APP}/`);
  const res = await page.evaluate(([endpoint, n]) => new Promise((resolve) => {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = (i * 31 + 7) & 255;
    let share = null, token = null;
    const upload = new tus.Upload(new Blob([bytes]), {
      endpoint, chunkSize: 256 * 1024, retryDelays: [],
      metadata: { filename: "cross-origin.bin", filetype: "application/octet-stream" },
      // carrel's own headers must be exposed to the page to be readable here.
      onAfterResponse: (req, res) => {
        if (req.getMethod() === "POST") {
          share = res.getHeader("Carrel-Share-Url") || null;
          token = res.getHeader("Carrel-Manage-Token") || null;
        }
      },
      onSuccess: (p) => resolve({ ok: true, url: upload.url, share, token,
        file: p.lastResponse.getHeader("Carrel-File-Id") || null }),
      onError: (e) => resolve({ ok: false, error: String(e).slice(0, 300) }),
    });
    upload.start();
  }), [`${base}/files/`, Number(size)]);
  console.log(JSON.stringify(res));
} finally {
  await browser.close();
}
