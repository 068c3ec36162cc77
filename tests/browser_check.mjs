#!/usr/bin/env node
// Drives the system Chromium (Debian's /usr/bin/chromium) with playwright-core for the
// browser interop tests. playwright-core never downloads a browser; this script points
// it at the installed one, with a fresh profile directory that is removed at the end.
//
// Protocol: one JSON command per line on stdin, one JSON reply per line on stdout,
// {"ok": true, ...} or {"ok": false, "error": "..."}; the first line, once the browser
// is up, is {"ok": true, "ready": true}. Commands:
//   {"cmd": "open", "url": U}                      load a page
//   {"cmd": "state", "is": S} | {"prefix": P}      wait until #state reads S (or starts with P)
//   {"cmd": "event", "name": N, "text": T}         wait for <li data-event=N> containing T
//   {"cmd": "click", "selector": CSS}              click a button
//   {"cmd": "evaluate", "script": JS}              run a function expression in the page,
//                                                  reply {"value": what it returned}
//   {"cmd": "script", "path": P}                   add a local script file to the page
//   {"cmd": "eval", "js": EXPR}                    evaluate EXPR in the page: {value}
//   {"cmd": "until", "js": EXPR}                   wait until EXPR is truthy: {value}
//   {"cmd": "close"}                               close the browser and exit 0
// Each waiting command takes "timeout" (ms, default 10000). Page console messages and
// errors go to stderr, for the test's transcript.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// The npm packages live with the test clients, not beside this script.
const require = createRequire(join(here, '..', 'test_clients', 'package.json'));
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.MODELDECK_CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const reply = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const log = (msg) => process.stderr.write(`browser_check: ${msg}\n`);

const profile = mkdtempSync(join(tmpdir(), 'modeldeck-chromium-'));
let context;
try {
  // A persistent context is how playwright takes a --user-data-dir of our choosing.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
} catch (err) {
  rmSync(profile, { recursive: true, force: true });
  reply({ ok: false, error: `cannot launch ${CHROMIUM}: ${err.message}` });
  process.exit(1);
}
const page = context.pages()[0] ?? (await context.newPage());
page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => log(`page error: ${e.message}`));

async function close() {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

const commands = {
  async open({ url }) {
    const response = await page.goto(url, { waitUntil: 'load' });
    return { status: response?.status() ?? null };
  },
  async state({ is, prefix, timeout = 10000 }) {
    const handle = await page.waitForFunction(
      ([want, start]) => {
        const text = document.getElementById('state')?.textContent ?? '';
        return (want !== undefined ? text === want : text.startsWith(start)) && text;
      },
      [is, prefix],
      { timeout },
    );
    return { state: await handle.jsonValue() };
  },
  async event({ name, text = '', timeout = 10000 }) {
    const handle = await page.waitForFunction(
      ([n, t]) => {
        const items = document.querySelectorAll(`#events li[data-event="${CSS.escape(n)}"]`);
        const hit = Array.from(items).find((li) => li.textContent.includes(t));
        return hit ? hit.textContent : false;
      },
      [name, text],
      { timeout },
    );
    return { text: await handle.jsonValue() };
  },
  async click({ selector }) {
    await page.click(selector);
    return {};
  },
  async evaluate({ script }) {
    return { value: await page.evaluate(script) };
  },
  async script({ path }) {
    await page.addScriptTag({ path });
    return {};
  },
  async eval({ js }) {
    return { value: await page.evaluate(js) };
  },
  async until({ js, timeout = 10000 }) {
    const handle = await page.waitForFunction(js, null, { timeout });
    return { value: await handle.jsonValue() };
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
    const state = await page.locator('#state').textContent().catch(() => null);
    reply({ ok: false, error: err.message.split('\n')[0], state });
  }
}
await close();
reply({ ok: true, closed: true });
process.exit(0);
