// Drives report.html in a real headless Chromium (Debian's, through playwright-core) for
// tests/report_html.rs. Prints one JSON object on stdout.
//
//   node report_check.mjs <playwright-core dir> <chromium> <report.html> <screenshot dir> [failing case id]
//
// It opens the page from file://, records console messages and page errors, waits for the page
// to say it is ready, reads every case id from the table, screenshots the page, clicks the
// failing case's row (when given), screenshots it expanded and reads its detail's text.

import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

const [playwrightDir, chromium, reportPath, shotDir, failingId] = process.argv.slice(2);
const require = createRequire(join(playwrightDir, "package.json"));
const { chromium: launcher } = require("playwright-core");

const browser = await launcher.launchPersistentContext(mkdtempSync(join(tmpdir(), "aigne-ci-chromium-")), {
  executablePath: chromium,
  headless: true,
  // As the machine's notes say: no sandbox as root, and none of Chromium's own network chatter.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1400, height: 900 },
});
const result = { console: [], errors: [], requests: [] };
try {
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("console", (message) => result.console.push({ type: message.type(), text: message.text() }));
  page.on("pageerror", (error) => result.errors.push(String(error)));
  page.on("request", (request) => {
    if (!request.url().startsWith("file:")) result.requests.push(request.url());
  });
  const url = pathToFileURL(reportPath).href;
  const started = Date.now();
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("body[data-ready=true]", { timeout: 30000 });
  result.ready_ms = Date.now() - started;
  result.url = page.url();
  result.ids = await page.$$eval("#rows .case", (rows) => rows.map((row) => row.dataset.id));
  result.header = await page.$eval("#header", (header) => header.innerText);
  result.shown = await page.$eval("#shown", (node) => node.textContent);
  await page.screenshot({ path: join(shotDir, "report.png") });
  // Sorting and filtering respond (timed: the page must stay interactive).
  const sortStarted = Date.now();
  await page.click(".head [data-key=duration]");
  result.sort_ms = Date.now() - sortStarted;
  await page.click(".head [data-key=line]");
  // The baseline and flaky filters, when the page has them (a run with --baseline / --repeat).
  if (await page.$("#baseline-filter")) {
    await page.selectOption("#baseline-filter", "regressed");
    result.shown_regressed = await page.$$eval("#rows .case:not([hidden])", (rows) => rows.map((row) => row.dataset.id));
    await page.selectOption("#baseline-filter", "");
  }
  if (await page.$("#flaky-filter")) {
    await page.check("#flaky-filter");
    result.shown_flaky = await page.$$eval("#rows .case:not([hidden])", (rows) => rows.map((row) => row.dataset.id));
    await page.uncheck("#flaky-filter");
  }
  if (failingId) {
    const filterStarted = Date.now();
    await page.uncheck("input[data-status=passed]");
    result.filter_ms = Date.now() - filterStarted;
    result.shown_without_passed = await page.$eval("#shown", (node) => node.textContent);
    await page.check("input[data-status=passed]");
    const row = page.locator(`#rows .case[data-id="${failingId.replace(/"/g, '\\"')}"]`);
    await row.scrollIntoViewIfNeeded();
    const clickStarted = Date.now();
    await row.click();
    const detail = page.locator("#rows .detail-row").first();
    await detail.waitFor({ timeout: 10000 });
    result.expand_ms = Date.now() - clickStarted;
    result.detail = await detail.innerText();
    result.detail_calls = await detail.locator(".call").count();
    result.diff_lines = await detail.locator(".diff .add, .diff .del").count();
    await row.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shotDir, "failing-case.png"), fullPage: false });
    await detail.screenshot({ path: join(shotDir, "failing-case-detail.png") });
  }
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
