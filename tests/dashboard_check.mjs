#!/usr/bin/env node
// Drives Debian's Chromium with playwright-core for the dashboard tests
// (tests/test_dashboard.py). Same protocol as browser_check.mjs: one JSON command per
// line on stdin, one JSON reply per line on stdout ({"ok": true, ...} or
// {"ok": false, "error": "..."}); the first line, once the browser is up, is
// {"ok": true, "ready": true}. Commands (waiting ones take "timeout" in ms, default 10000):
//   {"cmd": "open", "url": U}                         load a page (its origin is "home")
//   {"cmd": "wait", "selector": CSS, "text": T}        until an element matching CSS contains T
//   {"cmd": "gone", "selector": CSS, "text": T}        until no element matching CSS contains T
//   {"cmd": "until", "expr": JS}                       until the expression is truthy; its value
//   {"cmd": "eval", "expr": JS}                        the expression's value, now
//   {"cmd": "click", "selector": CSS, "text": T}       click the first match (containing T)
//   {"cmd": "fill", "selector": CSS, "value": V}       type into an input
//   {"cmd": "press", "key": K}                         a key on the focused element
//   {"cmd": "viewport", "width": W, "height": H}
//   {"cmd": "screenshot", "path": P, "fullPage": B}
//   {"cmd": "tab", "index": N}                        switch to tab N (opened when new)
//   {"cmd": "offline", "value": B}                   cut (true) or restore the network
//   {"cmd": "report"}                                  console errors and requests to other origins
//   {"cmd": "close"}
// Page console messages go to stderr, for the test's transcript.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'test_clients', 'package.json'));
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.MODELDECK_CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const reply = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const log = (msg) => process.stderr.write(`dashboard_check: ${msg}\n`);

let browser;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
} catch (err) {
  reply({ ok: false, error: `cannot launch ${CHROMIUM}: ${err.message}` });
  process.exit(1);
}
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const errors = [];
const foreign = [];
let home = null;

function watch(p, label) {
  p.on('console', (m) => {
    log(`${label} console.${m.type()}: ${m.text()}`);
    if (m.type() === 'error') errors.push(m.text());
  });
  p.on('pageerror', (e) => {
    log(`${label} page error: ${e.message}`);
    errors.push(`page error: ${e.message}`);
  });
  p.on('response', (r) => {
    if (r.status() >= 400) log(`${label} response ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  p.on('request', (r) => {
    const url = r.url();
    if (home && /^(https?|wss?):/.test(url) && new URL(url).host !== home) foreign.push(url);
  });
  return p;
}

// Tabs of one browser window: commands act on the current one.
const tabs = [watch(await context.newPage(), 'tab 0')];
let page = tabs[0];

function matching(selector, text) {
  return ([sel, t]) => {
    const hit = Array.from(document.querySelectorAll(sel)).find((el) => (el.textContent ?? '').includes(t));
    return hit ? hit.textContent : false;
  };
}

const commands = {
  async open({ url }) {
    home = new URL(url).host;
    const response = await page.goto(url, { waitUntil: 'load' });
    return { status: response?.status() ?? null };
  },
  async wait({ selector, text = '', timeout = 10000 }) {
    const handle = await page.waitForFunction(matching(selector, text), [selector, text], { timeout });
    return { text: await handle.jsonValue() };
  },
  async gone({ selector, text = '', timeout = 10000 }) {
    await page.waitForFunction(
      ([sel, t]) => !Array.from(document.querySelectorAll(sel)).some((el) => (el.textContent ?? '').includes(t)),
      [selector, text], { timeout },
    );
    return {};
  },
  async until({ expr, timeout = 10000 }) {
    const handle = await page.waitForFunction(expr, null, { timeout, polling: 'raf' });
    return { value: await handle.jsonValue() };
  },
  async eval({ expr }) {
    return { value: await page.evaluate(expr) };
  },
  async click({ selector, text, timeout = 10000 }) {
    const locator = text ? page.locator(selector, { hasText: text }) : page.locator(selector);
    await locator.first().click({ timeout });
    return {};
  },
  async fill({ selector, value, timeout = 10000 }) {
    await page.locator(selector).first().fill(value, { timeout });
    return {};
  },
  async press({ key }) {
    await page.keyboard.press(key);
    return {};
  },
  async viewport({ width, height }) {
    await page.setViewportSize({ width, height });
    return {};
  },
  async screenshot({ path, fullPage = false }) {
    await page.screenshot({ path, fullPage, animations: 'disabled', caret: 'hide' });
    return {};
  },
  async tab({ index }) {
    while (tabs.length <= index) tabs.push(watch(await context.newPage(), `tab ${tabs.length}`));
    page = tabs[index];
    await page.bringToFront();
    return {};
  },
  async offline({ value }) {
    await context.setOffline(Boolean(value));
    return {};
  },
  async report() {
    return { errors: [...errors], foreign: [...foreign] };
  },
};

reply({ ok: true, ready: true });
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let command;
  try {
    command = JSON.parse(line);
  } catch (err) {
    reply({ ok: false, error: `not JSON: ${err.message}` });
    continue;
  }
  if (command.cmd === 'close') break;
  const run = commands[command.cmd];
  if (!run) {
    reply({ ok: false, error: `unknown command ${command.cmd}` });
    continue;
  }
  try {
    reply({ ok: true, ...(await run(command)) });
  } catch (err) {
    reply({ ok: false, error: err.message.split('\n')[0] });
  }
}
await browser.close().catch(() => {});
reply({ ok: true, closed: true });
process.exit(0);
