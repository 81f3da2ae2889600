// Opens one page in Debian's Chromium (through playwright-core, which never
// downloads a browser) and prints what a person would see, as one JSON
// document on stdout, for a Rust test to assert on
// (crates/arca-cli/tests/browser/mod.rs).
//
//   node tests/browser/page.mjs URL [options] [SELECTOR...]
//
// URL           http(s)://… or file:///… (a plain path is taken as a file)
// SELECTOR      CSS selectors; for each, the texts of the matching elements,
//               their data-* attributes and their count (after `--`, every
//               argument is a selector)
// --header K:V  an extra request header (repeatable), e.g.
//               "Authorization: Bearer TOKEN"
// --cookie N=V  a cookie for the URL's origin (repeatable)
// --screenshot FILE  save a full-page PNG
// --screenshot-viewport FILE  save a PNG of the viewport only
// --redact TEXT=WITH  in screenshots only, show WITH where the page's text
//               has TEXT (repeatable; e.g. a temporary directory's path);
//               everything printed is what the page had
// --width N     viewport width (default 1280)
// --repeat N    load the page N times in the same browser (default 1); the
//               timings of every load go to "timings" (the first, with the
//               browser just started, is the cold one)
// --timeout MS  for loading the page (default 30000)
//
// Output: {"url", "status", "title",
//          "selectors": {SEL: {"count", "texts", "data": [{NAME: VALUE}...]}},
//          "text" (the body's rendered text), "html" (the DOM, serialized),
//          "timing": {"first_paint", "first_contentful_paint", "response_start",
//                     "response_end", "dom_content_loaded", "load"} (ms since
//                     navigation start; null when the browser gives none),
//          "timings": [TIMING...] (one per load, the first = "timing"),
//          "console_errors": [...], "page_errors": [...],
//          "requests": [URL...], "failed_requests": [{"url", "error"}...]}
// Exit 0 when the page loaded (whatever it contains), 2 on bad arguments,
// 1 when the browser could not be started or the page not be opened.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.ARCA_CHROMIUM || '/usr/bin/chromium';
// The machine's network is closed: without the background-networking flags
// Chromium's own connections (updates, sync, QUIC probes) are refused and
// show up as noise.
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function usage(msg) {
  process.stderr.write(`page.mjs: ${msg}\nusage: node page.mjs URL [--header K:V] [--cookie N=V] [--screenshot FILE] [--screenshot-viewport FILE] [--redact TEXT=WITH] [--width N] [--repeat N] [--timeout MS] [SELECTOR...]\n`);
  process.exit(2);
}

function parse(argv) {
  const o = { headers: {}, cookies: [], redact: [], selectors: [], width: 1280, timeout: 30000, repeat: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { o.selectors.push(...argv.slice(i + 1)); break; }
    const value = () => (++i < argv.length ? argv[i] : usage(`${a} needs a value`));
    if (a === '--header') {
      const v = value();
      const at = v.indexOf(':');
      if (at < 1) usage(`--header ${v}: expected NAME: VALUE`);
      o.headers[v.slice(0, at).trim()] = v.slice(at + 1).trim();
    } else if (a === '--cookie') {
      const v = value();
      const at = v.indexOf('=');
      if (at < 1) usage(`--cookie ${v}: expected NAME=VALUE`);
      o.cookies.push({ name: v.slice(0, at), value: v.slice(at + 1) });
    } else if (a === '--screenshot') o.screenshot = value();
    else if (a === '--screenshot-viewport') o.viewportShot = value();
    else if (a === '--redact') {
      const v = value();
      const at = v.indexOf('=');
      if (at < 1) usage(`--redact ${v}: expected TEXT=WITH`);
      o.redact.push([v.slice(0, at), v.slice(at + 1)]);
    }
    else if (a === '--width') o.width = Number(value());
    else if (a === '--timeout') o.timeout = Number(value());
    else if (a === '--repeat') o.repeat = Number(value());
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (o.url === undefined) o.url = a;
    else o.selectors.push(a);
  }
  if (o.url === undefined) usage('no URL');
  if (!(o.repeat >= 1)) usage('--repeat needs a count of 1 or more');
  if (!/^[a-z]+:\/\//i.test(o.url)) o.url = pathToFileURL(resolve(o.url)).href;
  return o;
}

// The paint and navigation timings of the page's last load, in ms since
// its navigation began.
async function timing(page) {
  // Paint entries may come just after `load`.
  await page.waitForFunction(() => performance.getEntriesByType('paint').length > 0, null, { timeout: 5000 })
    .catch(() => {});
  return page.evaluate(() => {
    const ms = (v) => (typeof v === 'number' && v > 0 ? v : null);
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((p) => [p.name, p.startTime]));
    const nav = performance.getEntriesByType('navigation')[0] || {};
    return {
      first_paint: ms(paint['first-paint']),
      first_contentful_paint: ms(paint['first-contentful-paint']),
      response_start: ms(nav.responseStart),
      response_end: ms(nav.responseEnd),
      dom_content_loaded: ms(nav.domContentLoadedEventEnd),
      load: ms(nav.loadEventEnd),
    };
  });
}

const opts = parse(process.argv.slice(2));
const profile = mkdtempSync(join(tmpdir(), 'arca-chromium-'));
let context;
try {
  // A persistent context is how Playwright takes a fresh --user-data-dir.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    timeout: opts.timeout,
    viewport: { width: opts.width, height: 800 },
    extraHTTPHeaders: opts.headers,
  });
  if (opts.cookies.length) {
    await context.addCookies(opts.cookies.map((c) => ({ ...c, url: opts.url })));
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const out = {
    url: opts.url, status: null, title: '', selectors: {},
    console_errors: [], page_errors: [], requests: [], failed_requests: [],
  };
  page.on('console', (m) => { if (m.type() === 'error') out.console_errors.push(m.text()); });
  page.on('pageerror', (e) => out.page_errors.push(String(e)));
  page.on('request', (r) => out.requests.push(r.url()));
  page.on('requestfailed', (r) => out.failed_requests.push({ url: r.url(), error: r.failure()?.errorText ?? '' }));
  const response = await page.goto(opts.url, { waitUntil: 'load', timeout: opts.timeout });
  out.status = response ? response.status() : null;
  out.title = await page.title();
  for (const sel of opts.selectors) {
    const found = await page.locator(sel).evaluateAll((els) => els.map((e) => ({
      text: e.textContent.trim(),
      data: Object.fromEntries([...e.attributes].filter((a) => a.name.startsWith('data-')).map((a) => [a.name, a.value])),
    })));
    out.selectors[sel] = { count: found.length, texts: found.map((f) => f.text), data: found.map((f) => f.data) };
  }
  Object.assign(out, await page.evaluate(() => ({
    text: document.body ? document.body.innerText : '',
    html: document.documentElement.outerHTML,
  })));
  out.timing = await timing(page);
  out.timings = [out.timing];
  for (let i = 1; i < opts.repeat; i++) {
    await page.goto(opts.url, { waitUntil: 'load', timeout: opts.timeout });
    out.timings.push(await timing(page));
  }
  if (opts.redact.length) {
    await page.evaluate((pairs) => {
      const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        for (const [text, by] of pairs) n.nodeValue = n.nodeValue.split(text).join(by);
      }
    }, opts.redact);
  }
  if (opts.screenshot) await page.screenshot({ path: opts.screenshot, fullPage: true });
  if (opts.viewportShot) await page.screenshot({ path: opts.viewportShot, fullPage: false });
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (e) {
  process.stderr.write(`page.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
