#!/usr/bin/env node
// End-to-end tests of wspipe in a real browser (headless Chromium driven by
// playwright-core). Emits TAP on stdout; exit status 0 when every case
// passed or was skipped, 1 otherwise.
//
//   node tests/browser/e2e.mjs [NAME...]      (names: see CASES below)
//
// Environment: see lib.mjs (WSPIPE, CHROMIUM, SCREENSHOT_DIR: each case saves
// a PNG of its page there, E2E_DEBUG).
//
// Every server runs on a fresh port of 127.0.0.1; every wait has a deadline.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  ROOT, WSPIPE, CHROMIUM, Failure, check, eq, mktemp, sleep, start,
  waitFor, waitPort, waitClosed, stopServer, browser, newPage, noPageErrors, shot,
  freePort, onPath, has, runCases,
} from './lib.mjs';

const EXAMPLES = process.env.EXAMPLES_DIR || path.join(ROOT, 'examples');  // override: development only
const CASE_TIMEOUT_MS = 60_000;
const TOTAL_TIMEOUT_MS = 600_000;

// ---------------------------------------------------------------- helpers

// Processes (by /proc) having each of the words as a whole argument.
function procsMatching(words) {
  const out = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let argv;
    try { argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (words.every((w) => argv.includes(w))) out.push(`${pid}: ${argv.join(' ')}`);
  }
  return out;
}

async function waitNoProcs(words, ms = 15_000) {
  const deadline = Date.now() + ms;
  let left = procsMatching(words);
  while (left.length && Date.now() < deadline) { await sleep(50); left = procsMatching(words); }
  return left;
}

// Runs an example's run.sh on a free port; returns {child, port}.
async function startExample(t, dir, args = [], env = {}) {
  const port = await freePort();
  const child = start('sh', [path.join(EXAMPLES, dir, 'run.sh'), ...args],
    { WSPIPE, PORT: String(port), ADDRESS: '127.0.0.1', ...env });
  t.servers.push(child);
  await waitPort(child, port);
  return { child, port };
}

// ---------------------------------------------------------------- cases

const fizz = (n) => (n % 15 === 0 ? 'FizzBuzz' : n % 3 === 0 ? 'Fizz' : n % 5 === 0 ? 'Buzz' : String(n));

const CASES = [];
function test(name, needs, fn) { CASES.push({ name, needs, fn }); }

test('ex1-echo: the alert says "Hello !"', ['staticdir'], async (t) => {
  const { child, port } = await startExample(t, 'ex1-echo');
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  const dialog = page.waitForEvent('dialog', { timeout: 15_000 });
  await page.goto(`http://127.0.0.1:${port}/`);
  eq((await dialog).message(), 'Hello !', 'alert text');
  await waitFor('the dialog to be recorded', () => page.dialogs.length >= 1);
  eq(page.dialogs, ['Hello !'], 'dialogs');
  noPageErrors(page, 'ex1');
  await shot(page, 'ex1-echo');
  await ctx.close();
  await stopServer(child, port);
});

test('ex2-fizzbuzz: 101 answers in order, 0 => FizzBuzz ... 100 => Buzz', ['staticdir'], async (t) => {
  const { child, port } = await startExample(t, 'ex2-fizzbuzz');
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.querySelectorAll('#answers li').length >= 101, null, { timeout: 20_000 });
  const got = await page.$$eval('#answers li', (lis) => lis.map((li) => li.textContent));
  const want = Array.from({ length: 101 }, (_, n) => `${n} => ${fizz(n)}`);
  eq(got.length, 101, 'number of answers');
  eq(got[0], '0 => FizzBuzz', 'first answer');
  eq(got[100], '100 => Buzz', 'last answer');
  eq(got, want, 'answers');
  eq(page.consoleLines.filter((l) => / => /.test(l)), want, 'console.log lines');
  noPageErrors(page, 'ex2');
  await shot(page, 'ex2-fizzbuzz');
  await ctx.close();
  await stopServer(child, port);
});

async function chatCase(t, kind) {
  const chatPort = await freePort();
  const { child, port } = await startExample(t, 'ex3-chat', [kind], { CHAT_PORT: String(chatPort) });
  const ctx = await browser(t);
  const url = `http://127.0.0.1:${port}/`;
  const lines = (page) => page.$$eval('#chat .line', (ds) => ds.map((d) => d.textContent));
  const waitLine = (page, who, pred, what) =>
    waitFor(`${who} to show ${what}`, async () => (await lines(page)).find(pred));

  const a = await newPage(ctx, t);
  await a.goto(url);
  const joinA = await waitLine(a, 'page A', (l) => /^client\d+ connected$/.test(l), 'its join line');
  const nameA = joinA.split(' ')[0];
  await a.waitForSelector('#send:not([disabled])');

  const b = await newPage(ctx, t);
  await b.goto(url);
  const joinB = await waitLine(b, 'page B', (l) => /^client\d+ connected$/.test(l), 'its join line');
  const nameB = joinB.split(' ')[0];
  check(nameA !== nameB, `both pages got the name ${nameA}`);
  await b.waitForSelector('#send:not([disabled])');
  await waitLine(a, 'page A', (l) => l === `${nameB} connected`, `"${nameB} connected"`);

  // Typed in A, sent with Enter: appears in both.
  await a.fill('#input', 'hello from A');
  await a.press('#input', 'Enter');
  for (const [p, who] of [[a, 'page A'], [b, 'page B']]) {
    await waitLine(p, who, (l) => l === `${nameA}: hello from A`, `"${nameA}: hello from A"`);
  }
  eq(await a.inputValue('#input'), '', 'input cleared after sending');

  // Typed in B, sent with the button; HTML-looking text stays text.
  const html = '<b>bold?</b> & <img src=x onerror=alert(1)>';
  await b.fill('#input', html);
  await b.click('#send');
  for (const [p, who] of [[a, 'page A'], [b, 'page B']]) {
    await waitLine(p, who, (l) => l === `${nameB}: ${html}`, 'the HTML-looking message as text');
    eq(await p.$$eval('#chat img, #chat b', (e) => e.length), 0, `${who}: markup elements in #chat`);
  }
  await shot(a, `ex3-chat-${kind}`);

  // B leaves: A is told.
  await b.close();
  await waitLine(a, 'page A', (l) => l === `${nameB} disconnected`, `"${nameB} disconnected"`);
  eq(a.dialogs, [], 'dialogs on page A');
  eq(b.dialogs, [], 'dialogs on page B');
  noPageErrors(a, 'page A');
  noPageErrors(b, 'page B');

  // Stopping run.sh stops wspipe, every nc and the chat server.
  await stopServer(child, port, { wantCode: 143 });
  check(await waitClosed(chatPort), `chat server still listening on ${chatPort} after run.sh stopped`);
  const left = await waitNoProcs([String(chatPort)]);
  eq(left, [], 'processes left behind by run.sh');
  await ctx.close();
}

test('ex3-chat (chat.py): a message typed in one page appears in both', ['staticdir', 'nc', 'python3'],
  (t) => chatCase(t, 'py'));
test('ex3-chat (chat.tcl): a message typed in one page appears in both', ['staticdir', 'nc', 'tclsh'],
  (t) => chatCase(t, 'tcl'));

test('devconsole: Enter sends, the echo shows as .in, HTML stays text', ['devconsole'], async (t) => {
  const port = await freePort();
  const child = start(WSPIPE, [`--port=${port}`, '--address=127.0.0.1', '--devconsole',
    'sh', '-c', 'echo "uri $REQUEST_URI"; while IFS= read -r l; do [ "$l" = quit ] && exit 3; printf "%s\\n" "$l"; done']);
  t.servers.push(child);
  await waitPort(child, port);
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  // The console connects to the page's own path and query.
  await page.goto(`http://127.0.0.1:${port}/room/42?x=1`);
  const ins = () => page.$$eval('#wspipe-log .in', (e) => e.map((x) => x.textContent));
  const outs = () => page.$$eval('#wspipe-log .out', (e) => e.map((x) => x.textContent));
  // The program's first line proves the WebSocket is open.
  await waitFor('the first received line', async () => (await ins()).some((s) => s.includes('uri /room/42?x=1')));
  check((await page.$$('#wspipe-log .event')).length >= 1, 'no .event element (open) in #wspipe-log');

  await page.fill('#wspipe-input', 'hello console');
  await page.press('#wspipe-input', 'Enter');
  await waitFor('the echo as .in', async () => (await ins()).some((s) => s.includes('hello console')));
  check((await outs()).some((s) => s.includes('hello console')), 'the sent message is not shown as .out');

  const xss = '<img src=x onerror=alert(1)>';
  await page.fill('#wspipe-input', xss);
  await page.click('#wspipe-send');
  await waitFor('the HTML-looking echo as text', async () => (await ins()).some((s) => s.includes(xss)));
  eq(await page.$$eval('#wspipe-log img', (e) => e.length), 0, 'img elements in #wspipe-log');
  await sleep(500);   // give a wrongly inserted onerror handler time to fire
  eq(page.dialogs, [], 'dialogs');

  // The program exits with status 3: the close event shows code 1011.
  await page.fill('#wspipe-input', 'quit');
  await page.press('#wspipe-input', 'Enter');
  await waitFor('a close event with code 1011', async () =>
    (await page.$$eval('#wspipe-log .event', (e) => e.map((x) => x.textContent))).some((s) => s.includes('1011')));
  await shot(page, 'devconsole');
  noPageErrors(page, 'devconsole');
  await ctx.close();
  await stopServer(child, port);
});

test('https + wss: ex1 over TLS says "Hello !"', ['staticdir', 'ssl', 'openssl'], async (t) => {
  const dir = mktemp('wspipe-e2e-tls-');
  const cert = path.join(dir, 'cert.pem'), key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
    '-days', '1', '-keyout', key, '-out', cert,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8', timeout: 30_000 });
  check(r.status === 0, `openssl failed: ${r.stderr}`);
  const port = await freePort();
  const child = start(WSPIPE, [`--port=${port}`, '--address=127.0.0.1', '--ssl', `--sslcert=${cert}`,
    `--sslkey=${key}`, `--staticdir=${path.join(EXAMPLES, 'ex1-echo')}`, 'cat']);
  t.servers.push(child);
  await waitPort(child, port);
  const ctx = await browser(t, { tls: true });
  const page = await newPage(ctx, t);
  const dialog = page.waitForEvent('dialog', { timeout: 15_000 });
  const resp = await page.goto(`https://127.0.0.1:${port}/`);
  check(resp && resp.ok(), `GET https://127.0.0.1:${port}/ -> ${resp && resp.status()}`);
  eq(await page.evaluate(() => location.protocol), 'https:', 'page protocol');
  eq((await dialog).message(), 'Hello !', 'alert text over wss');
  noPageErrors(page, 'https');
  await ctx.close();
  await stopServer(child, port);
});

test('subprotocol: new WebSocket(url, "ex1") opens with ws.protocol === "ex1"', [], async (t) => {
  let staticArgs = [];
  if (has('staticdir')) {
    const dir = mktemp('wspipe-e2e-proto-');
    fs.writeFileSync(path.join(dir, 'index.html'), `<!DOCTYPE html><meta charset="utf-8"><title>proto</title>
<pre id="out">waiting</pre>
<script>
  var ws = new WebSocket("ws://" + location.host + "/", "ex1");
  var out = document.getElementById("out");
  ws.onopen = function () { out.textContent = "open " + ws.protocol; ws.send("ping"); };
  ws.onmessage = function (e) { out.textContent += "\\n" + e.data; };
  ws.onclose = function (e) { out.textContent += "\\nclose " + e.code; };
</script>`);
    staticArgs = [`--staticdir=${dir}`];
  }
  const port = await freePort();
  const child = start(WSPIPE, [`--port=${port}`, '--address=127.0.0.1', ...staticArgs,
    'sh', '-c', 'echo "protocol=$WEBSOCKET_PROTOCOL"; exec cat']);
  t.servers.push(child);
  await waitPort(child, port);
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  if (staticArgs.length) {
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => /\nping$/m.test(document.getElementById('out').textContent));
    eq((await page.textContent('#out')).split('\n'), ['open ex1', 'protocol=ex1', 'ping'], 'page log');
  } else {
    t.diag.push('wspipe has no --staticdir yet: the page is about:blank');
  }
  // More offers, evaluated in the page (same origin when served statically).
  const probe = (protocols) => page.evaluate(({ url, protocols }) => new Promise((resolve) => {
    const ws = protocols === null ? new WebSocket(url) : new WebSocket(url, protocols);
    const res = { opened: false, protocol: null, first: null };
    const timer = setTimeout(() => { res.timeout = true; resolve(res); }, 10_000);
    ws.onopen = () => { res.opened = true; res.protocol = ws.protocol; };
    ws.onmessage = (e) => { res.first = e.data; clearTimeout(timer); ws.close(); resolve(res); };
    ws.onclose = () => { clearTimeout(timer); resolve(res); };
  }), { url: `ws://127.0.0.1:${port}/`, protocols });
  eq(await probe('ex1'), { opened: true, protocol: 'ex1', first: 'protocol=ex1' }, 'offer "ex1"');
  eq(await probe(['ex2', 'ex1']), { opened: true, protocol: 'ex2', first: 'protocol=ex2' }, 'offer ["ex2","ex1"]');
  eq(await probe(null), { opened: true, protocol: '', first: 'protocol=' }, 'no offer');
  await stopServer(child, port);

  // With --subprotocol=ex1 only ex1 is accepted.
  const port2 = await freePort();
  const child2 = start(WSPIPE, [`--port=${port2}`, '--address=127.0.0.1', '--subprotocol=ex1',
    'sh', '-c', 'echo "protocol=$WEBSOCKET_PROTOCOL"; exec cat']);
  t.servers.push(child2);
  await waitPort(child2, port2);
  const probe2 = (protocols) => page.evaluate(({ url, protocols }) => new Promise((resolve) => {
    const ws = new WebSocket(url, protocols);
    const res = { opened: false, protocol: null, first: null };
    const timer = setTimeout(() => { res.timeout = true; resolve(res); }, 10_000);
    ws.onopen = () => { res.opened = true; res.protocol = ws.protocol; };
    ws.onmessage = (e) => { res.first = e.data; clearTimeout(timer); ws.close(); resolve(res); };
    ws.onclose = () => { clearTimeout(timer); resolve(res); };
  }), { url: `ws://127.0.0.1:${port2}/`, protocols });
  eq(await probe2(['ex2', 'ex1']), { opened: true, protocol: 'ex1', first: 'protocol=ex1' },
    '--subprotocol=ex1, offer ["ex2","ex1"]');
  eq(await probe2('ex2'), { opened: false, protocol: null, first: null }, '--subprotocol=ex1, offer "ex2" (refused)');
  noPageErrors(page, 'subprotocol');
  await ctx.close();
  await stopServer(child2, port2);
});

test('permessage-deflate: Chromium negotiates it; 1 MB of JSON and 300 small messages echo intact; --deflate=false turns it off', [], async (t) => {
  const probe = (page, url) => page.evaluate((url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    const big = JSON.stringify(Array.from({ length: 20000 }, (_, i) => ({ id: i, name: 'row' })));
    const smalls = Array.from({ length: 300 }, (_, i) => `message ${i} ${'z'.repeat(i % 150)}`);
    const got = [];
    const res = { extensions: null, bigOk: false, smallsOk: false, bigLen: big.length };
    const timer = setTimeout(() => { res.timeout = true; resolve(res); }, 30_000);
    ws.onopen = () => { res.extensions = ws.extensions; ws.send(big); smalls.forEach((m) => ws.send(m)); };
    ws.onmessage = (e) => {
      got.push(e.data);
      if (got.length === 1 + smalls.length) {
        res.bigOk = got[0] === big;
        res.smallsOk = got.slice(1).every((m, i) => m === smalls[i]);
        clearTimeout(timer);
        ws.close();
        resolve(res);
      }
    };
    ws.onclose = () => { clearTimeout(timer); resolve(res); };
  }), url);
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  for (const [args, want] of [[[], 'permessage-deflate; server_no_context_takeover; client_no_context_takeover'],
    [['--deflate=false'], '']]) {
    const port = await freePort();
    const child = start(WSPIPE, [`--port=${port}`, '--address=127.0.0.1', ...args, 'cat']);
    t.servers.push(child);
    await waitPort(child, port);
    const res = await probe(page, `ws://127.0.0.1:${port}/`);
    eq({ extensions: res.extensions, bigOk: res.bigOk, smallsOk: res.smallsOk },
      { extensions: want, bigOk: true, smallsOk: true }, `echo with ${args.join(' ') || 'defaults'}`);
    await stopServer(child, port);
  }
  noPageErrors(page, 'deflate');
  await ctx.close();
});

// ---------------------------------------------------------------- runner

function missing(needs) {
  for (const n of needs) {
    if (['staticdir', 'devconsole', 'ssl'].includes(n)) {
      if (!has(n)) return `${path.basename(WSPIPE)} has no --${n}`;
    } else if (!onPath(n)) {
      return `${n} not installed`;
    }
  }
  return null;
}

runCases(CASES, {
  caseTimeoutMs: CASE_TIMEOUT_MS,
  totalTimeoutMs: TOTAL_TIMEOUT_MS,
  header: fs.existsSync(CHROMIUM) ? [] : [`no browser at ${CHROMIUM}`],
  skip: (c) => (!fs.existsSync(CHROMIUM) ? `no ${CHROMIUM}` : missing(c.needs)),
});
