#!/usr/bin/env node
// End-to-end tests of wspipe's listen mode and its examples in a real browser
// (headless Chromium driven by playwright-core, set up as for e2e.mjs:
// `npm ci` in tests/browser, Debian's chromium). Emits TAP on stdout; exit
// status 0 when every case passed or was skipped, 1 otherwise.
//
//   node tests/browser/listen-e2e.mjs [NAME-PREFIX...]
//
// Environment:
//   WSPIPE          binary under test (default: <repo>/src/wspipe)
//   CHROMIUM        browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR  if set, the chat and calendar pages are saved there as PNG
//   E2E_DEBUG=1     copy every server's output to our stderr
//
// Each case starts the real binary on a free port of 127.0.0.1 with its
// fixtures (copies of the example files, data, broker socket) in a fresh
// temporary directory, and stops it by PID. Every wait has a deadline.

import { chromium } from 'playwright-core';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const WSPIPE = process.env.WSPIPE || path.join(ROOT, 'src', 'wspipe');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOT_DIR || '';
const DEBUG = !!process.env.E2E_DEBUG;
const CASE_TIMEOUT_MS = 90_000;
const TOTAL_TIMEOUT_MS = 400_000;

const BROWSER_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// ---------------------------------------------------------------- helpers

const live = new Set();            // child processes still to be stopped
const tmpdirs = new Set();

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
// A timer that does not keep node running (for races against an exit).
function grace(ms) { return new Promise((r) => setTimeout(r, ms).unref()); }

class Failure extends Error {}
class Skip extends Error {}
const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { timeout: 5000 }).status === 0;
function check(cond, msg) { if (!cond) throw new Failure(msg); }
function eq(got, want, msg) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new Failure(`${msg}: got ${g}, want ${w}`);
}

function mktemp(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpdirs.add(d);
  return d;
}

function copyInto(dir, from, names) {
  for (const n of names) fs.cpSync(path.join(from, n), path.join(dir, n), { recursive: true });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.on('connect', () => done(true));
    sock.on('error', () => done(false));
  });
}

function start(cmd, args, extraEnv = {}) {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.output = '';
  const grab = (d) => {
    child.output += d.toString();
    if (child.output.length > 200_000) child.output = child.output.slice(-100_000);
    if (DEBUG) process.stderr.write(d);
  };
  child.stdout.on('data', grab);
  child.stderr.on('data', grab);
  child.exitInfo = null;
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); });
    child.on('error', (err) => {
      live.delete(child);
      child.output += `spawn error: ${err.message}\n`;
      resolve({ code: null, signal: null, error: err });
    });
  });
  child.exited.then((x) => { child.exitInfo = x; });
  child.label = [cmd, ...args].join(' ');
  live.add(child);
  return child;
}

// SIGTERM by PID and wait; SIGKILL (the same PID) if it does not go in time.
async function stop(child, ms = 8_000) {
  if (!child) return null;
  if (child.exitInfo) return child.exitInfo;
  try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
  const r = await Promise.race([child.exited, grace(ms).then(() => null)]);
  if (r) return r;
  try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  await Promise.race([child.exited, grace(2000)]);
  return { code: null, signal: 'SIGKILL', hung: true };
}

async function waitFor(what, fn, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Failure(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function waitPort(child, port, ms = 15_000) {
  await waitFor(`port ${port}`, async () => {
    if (child.exitInfo) throw new Failure(`${child.label} exited early (${JSON.stringify(child.exitInfo)})`);
    return canConnect(port);
  }, ms);
}

async function waitClosed(port, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await canConnect(port))) return true;
    await sleep(50);
  }
  return false;
}

function isSocket(p) {
  try { return fs.statSync(p).isSocket(); } catch { return false; }
}

// The gateway in listen mode: {child, port, sock}.
async function gateway(t, dir, extra = [], { port, env = {} } = {}) {
  port = port || await freePort();
  const sock = path.join(dir, 'broker.sock');
  const child = start(WSPIPE, [`--port=${port}`, '--address=127.0.0.1', '--listen',
    `--broker-socket=${sock}`, ...extra], env);
  t.servers.push(child);
  await waitPort(child, port);
  await waitFor(`the broker socket ${sock}`, () => isSocket(sock), 5_000);
  return { child, port, sock };
}

async function stopServer(child, port) {
  const r = await stop(child);
  check(!r.hung, `${child.label}: did not exit within 8 s of SIGTERM`);
  check(r.code === 0, `${child.label}: exit ${JSON.stringify(r)}, want code 0`);
  check(await waitClosed(port), `port ${port} still accepting after the server stopped`);
}

function publish(sock, resource, data) {
  const r = spawnSync(WSPIPE, ['publish', `--socket=${sock}`, resource, data],
    { encoding: 'utf8', timeout: 5000 });
  check(r.status === 0, `wspipe publish ${resource}: exit ${r.status}: ${r.stderr}`);
}

async function browser(t) {
  const profile = mktemp('wspipe-listen-profile-');
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: BROWSER_ARGS, timeout: 30_000,
    viewport: { width: 900, height: 700 },
  });
  t.cleanups.push(async () => { await ctx.close().catch(() => {}); });
  ctx.setDefaultTimeout(15_000);
  return ctx;
}

async function newPage(ctx, t) {
  const fresh = ctx.pages().find((p) => !p.usedByUs);
  const page = fresh || await ctx.newPage();
  page.usedByUs = true;
  page.consoleLines = [];
  page.errors = [];
  page.on('console', (m) => page.consoleLines.push(m.text()));
  page.on('pageerror', (e) => page.errors.push(String(e)));
  t.pages.push(page);
  return page;
}

function noPageErrors(page, name) {
  check(page.errors.length === 0, `${name}: uncaught page errors: ${page.errors.join(' | ')}`);
}

async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true }).catch(() => {});
}

const text = (page, sel) => page.locator(sel).innerText();

// ---------------------------------------------------------------- cases

const CASES = [];
function test(name, fn) { CASES.push({ name, fn }); }

test('listen-chat: a message published in one page appears in both; late joiners get the last one', async (t) => {
  const dir = mktemp('wspipe-listen-chat-');
  copyInto(dir, path.join(EXAMPLES, 'listen-chat'), ['index.html', 'chat.js']);
  const { child, port } = await gateway(t, dir, [`--staticdir=${dir}`, '--listen-publish=/chat']);
  const ctx = await browser(t);
  const a = await newPage(ctx, t), b = await newPage(ctx, t);
  for (const p of [a, b]) {
    await p.goto(`http://127.0.0.1:${port}/`);
    await waitFor('status "open"', async () => (await p.getAttribute('#status', 'class')) === 'open');
  }
  await a.fill('#name', 'ann');
  await a.fill('#text', 'hello from ann <b>not bold</b>');
  await a.click('#send');
  for (const [n, p] of [['first', a], ['second', b]]) {
    await waitFor(`ann's message in the ${n} page`, async () =>
      (await text(p, '#messages')).includes('hello from ann <b>not bold</b>'), 5_000);
  }
  eq(await b.locator('#messages b').count(), 0, 'markup in a message is shown as text');
  await b.fill('#name', 'bob');
  await b.fill('#text', 'hi ann');
  await b.press('#text', 'Enter');
  for (const [n, p] of [['first', a], ['second', b]]) {
    await waitFor(`bob's message in the ${n} page`, async () => (await text(p, '#messages')).includes('hi ann'), 5_000);
  }
  eq(await a.locator('#messages li').count(), 2, 'messages in the first page');
  eq(await b.locator('#messages li').count(), 2, 'messages in the second page');
  // The chat is a state: a page opened now starts with the last message only.
  const c = await newPage(ctx, t);
  await c.goto(`http://127.0.0.1:${port}/`);
  await waitFor('the retained message in a late page', async () => (await text(c, '#messages')).includes('hi ann'), 5_000);
  eq(await c.locator('#messages li').count(), 1, 'messages in the late page');
  // Browsers may publish only under /chat: anything else is refused, the socket stays.
  await c.evaluate(() => wspipe.publish('/elsewhere', 'nope'));
  await waitFor('the refusal in the console', () =>
    c.consoleLines.some((l) => /not allowed/.test(l) && l.includes('/elsewhere')), 5_000);
  eq(await c.getAttribute('#status', 'class'), 'open', 'status after a refused publish');
  for (const [n, p] of [['a', a], ['b', b], ['c', c]]) noPageErrors(p, `chat page ${n}`);
  await shot(a, 'listen-chat');
  await ctx.close();
  await stopServer(child, port);
});

test('listen-calendar: a second page updates within 2 s when the first adds an appointment', async (t) => {
  const dir = mktemp('wspipe-listen-calendar-');
  copyInto(dir, path.join(EXAMPLES, 'listen-calendar'), ['public', 'cgi-bin']);
  const data = path.join(dir, 'data');
  const { child, port } = await gateway(t, dir,
    [`--staticdir=${dir}/public`, `--cgidir=${dir}/cgi-bin`, '--passenv=PATH,LD_LIBRARY_PATH,WSPIPE_BIN,CALENDAR_DATA'],
    { env: { WSPIPE_BIN: WSPIPE, CALENDAR_DATA: data } });
  const ctx = await browser(t);
  const a = await newPage(ctx, t), b = await newPage(ctx, t);
  for (const p of [a, b]) {
    await p.goto(`http://127.0.0.1:${port}/`);
    await waitFor('status "open"', async () => (await p.getAttribute('#status', 'class')) === 'open');
    await waitFor('the empty calendar', async () => (await text(p, '#calendar')).includes('No appointments'));
  }
  const title = 'Dentist <img src=x onerror="window.pwned=1">';
  await a.fill('#date', '2031-05-06');
  await a.fill('#time', '14:30');
  await a.fill('#title', title);
  await a.fill('#who', 'ann');
  // Measured inside the browser (both pages share its clock): from the
  // submit event in the first page to the DOM change in the second.
  await a.evaluate(() => document.getElementById('add').addEventListener('submit',
    () => { window.submittedAt = Date.now(); }, true));
  await b.evaluate((want) => {
    const box = document.getElementById('calendar');
    new MutationObserver(() => {
      if (!window.shownAt && box.textContent.includes(want)) window.shownAt = Date.now();
    }).observe(box, { childList: true, subtree: true, characterData: true });
  }, title);
  await a.click('#submit');
  await waitFor('the new appointment in the second page', async () => (await text(b, '#calendar')).includes(title), 5_000);
  const ms = (await b.evaluate(() => window.shownAt)) - (await a.evaluate(() => window.submittedAt));
  t.diag.push(`second page updated ${ms} ms after the submit`);
  check(ms >= 0 && ms < 2000, `the second page updated ${ms} ms after the submit, want < 2000`);
  await waitFor('the new appointment in the first page', async () => (await text(a, '#calendar')).includes(title), 2_000);
  check(await b.evaluate(() => window.pwned === undefined), 'a title was inserted as HTML');
  eq(await text(a, '#error'), '', 'error line of the first page');
  // Stored and served as REST too.
  const stored = JSON.parse(fs.readFileSync(path.join(data, 'appointments.json'), 'utf8'));
  eq(stored.appointments.map((x) => [x.date, x.time, x.title, x.who]), [['2031-05-06', '14:30', title, 'ann']], 'stored appointments');
  const got = await (await fetch(`http://127.0.0.1:${port}/api/appointments`)).json();
  eq(got.rev, stored.rev, 'GET /api/appointments rev');
  // A second one sorts before; then the second page removes the first one.
  await b.fill('#date', '2031-05-06');
  await b.fill('#time', '09:00');
  await b.fill('#title', 'Standup');
  await b.click('#submit');
  await waitFor('"Standup" first in the first page', async () =>
    (await a.locator('#calendar li .title').allInnerTexts()).join('|') === `Standup|${title}`, 2_000);
  await shot(a, 'listen-calendar');
  await b.locator('#calendar li', { hasText: 'Dentist' }).locator('button.del').click();
  await waitFor('the removal in the first page', async () =>
    (await a.locator('#calendar li .title').allInnerTexts()).join('|') === 'Standup', 2_000);
  // A plain form post (no JavaScript) gets 303 to /.
  const r = await fetch(`http://127.0.0.1:${port}/api/appointments`, {
    method: 'POST', redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'date=2031-05-07&time=&title=Plain+post&who=',
  });
  eq(r.status, 303, 'status of a plain form post');
  eq(r.headers.get('location'), '/', 'Location of a plain form post');
  await waitFor('the plain post in the second page', async () => (await text(b, '#calendar')).includes('Plain post'), 2_000);
  for (const [n, p] of [['a', a], ['b', b]]) noPageErrors(p, `calendar page ${n}`);
  await ctx.close();
  await stopServer(child, port);
});

test('reconnect: the gateway restarts; the page resubscribes and gets the new state without reloading', async (t) => {
  const dir = mktemp('wspipe-listen-reconnect-');
  fs.writeFileSync(path.join(dir, 'index.html'), `<!DOCTYPE html>
<meta charset="utf-8"><title>reconnect</title>
<script src="/wspipe/listen.js"></script>
<script>
  window.got = []; window.statuses = []; window.loadedAt = Math.random();
  wspipe.onstatus(function (s) { statuses.push(s); });
  wspipe.listen('/x', function (d) { got.push(d); });
</script>`);
  const g1 = await gateway(t, dir, [`--staticdir=${dir}`]);
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${g1.port}/`);
  const marker = await page.evaluate(() => window.loadedAt);
  await waitFor('status open', () => page.evaluate(() => statuses.includes('open')));
  publish(g1.sock, '/x', '{"n":1}');
  await waitFor('the first state', () => page.evaluate(() => got.some((d) => d.n === 1)), 5_000);
  await stopServer(g1.child, g1.port);
  await waitFor('status closed', () => page.evaluate(() => statuses.includes('closed')), 5_000);
  const g2 = await gateway(t, dir, [`--staticdir=${dir}`], { port: g1.port });
  const restarted = Date.now();
  publish(g2.sock, '/x', '{"n":2}');       // a new broker: nothing retained
  await waitFor('the state published after the restart', () =>
    page.evaluate(() => got.some((d) => d.n === 2)), 8_000);
  t.diag.push(`new state arrived ${Date.now() - restarted} ms after the restart`);
  eq(await page.evaluate(() => statuses), ['open', 'closed', 'open'], 'onstatus calls');
  eq(await page.evaluate(() => window.loadedAt), marker, 'page not reloaded');
  eq(await page.evaluate(() => got.map((d) => d.n)), [1, 2], 'states received');
  noPageErrors(page, 'reconnect page');
  await ctx.close();
  await stopServer(g2.child, g2.port);
});

test('heartbeat: a frozen gateway is noticed by the page (ping/pong), which reconnects when it thaws', async (t) => {
  const dir = mktemp('wspipe-listen-heartbeat-');
  fs.writeFileSync(path.join(dir, 'index.html'), `<!DOCTYPE html>
<meta charset="utf-8"><title>heartbeat</title>
<script src="/wspipe/listen.js"></script>
<script>
  window.got = []; window.statuses = [];
  wspipe.onstatus(function (s) { statuses.push([s, Date.now()]); });
  wspipe.listen('/hb', function (d) { got.push(d); });
</script>`);
  const g = await gateway(t, dir, [`--staticdir=${dir}`]);
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${g.port}/`);
  await waitFor('status open', () => page.evaluate(() => statuses.length === 1));
  publish(g.sock, '/hb', 'before');
  await waitFor('the first state', () => page.evaluate(() => got.includes('before')), 5_000);
  // TCP stays up while the process is stopped: only the application ping
  // (every 10 s, 5 s to answer) can tell.
  const frozen = Date.now();
  process.kill(g.child.pid, 'SIGSTOP');
  try {
    await waitFor('status closed', () => page.evaluate(() => statuses.length >= 2), 20_000);
  } finally {
    process.kill(g.child.pid, 'SIGCONT');
  }
  const noticed = await page.evaluate(() => statuses[1]);
  eq(noticed[0], 'closed', 'second status');
  t.diag.push(`page noticed the frozen gateway after ${Date.now() - frozen} ms`);
  await waitFor('status open again', () => page.evaluate(() => statuses.length >= 3 && statuses[2][0] === 'open'), 40_000);
  publish(g.sock, '/hb', 'after');
  await waitFor('the state published after the thaw', () => page.evaluate(() => got.includes('after')), 5_000);
  noPageErrors(page, 'heartbeat page');
  await ctx.close();
  await stopServer(g.child, g.port);
});

test('listen.js: stop and listen again before the socket opens stays subscribed; a late listener gets the state alone', async (t) => {
  const dir = mktemp('wspipe-listen-api-');
  fs.writeFileSync(path.join(dir, 'index.html'), `<!DOCTYPE html><html><body>
<script src="/wspipe/listen.js"></script>
<script>
  window.got = { f: [], g: [], b1: [], b2: [] };
  var s = wspipe.listen('/a', function (d) { got.f.push(d); });
  s();
  wspipe.listen('/a', function (d) { got.g.push(d); });
  wspipe.listen('/b', function (d) { got.b1.push(d); });
  window.second = function () {
    wspipe.listen('/b', function (d) { got.b2.push(d); });
  };
</script></body></html>`);
  const g = await gateway(t, dir, [`--staticdir=${dir}`]);
  publish(g.sock, '/a', 'A1');
  publish(g.sock, '/b', 'B1');
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${g.port}/`);
  await waitFor('A1 and B1', () => page.evaluate(() => got.g.includes('A1') && got.b1.includes('B1')), 5_000);
  publish(g.sock, '/a', 'A2');
  await waitFor('A2 after stop-then-listen before open', () => page.evaluate(() => got.g.includes('A2')), 5_000);
  eq(await page.evaluate(() => got.f), [], 'the stopped listener got nothing');
  await page.evaluate(() => second());
  await waitFor('the late listener gets B1', () => page.evaluate(() => got.b2.includes('B1')), 5_000);
  // Give a wrongly re-sent state time to arrive before checking it did not.
  await sleep(500);
  eq(await page.evaluate(() => got.b1), ['B1'], 'the first listener did not get B1 again');
  publish(g.sock, '/b', 'B2');
  await waitFor('B2 to both', () => page.evaluate(() => got.b1.includes('B2') && got.b2.includes('B2')), 5_000);
  eq(await page.evaluate(() => got.b2), ['B1', 'B2'], 'the late listener: B1 then B2');
  noPageErrors(page, 'listen.js api page');
  await ctx.close();
  await stopServer(g.child, g.port);
});

test('publishers: run.sh starts the gateway and the publishers; the page shows /ticker, /clock and /stats; SIGTERM stops all', async (t) => {
  for (const cmd of ['python3', 'tclsh', 'vmstat']) if (!onPath(cmd)) throw new Skip(`${cmd} not installed`);
  const tmp = mktemp('wspipe-listen-publishers-');
  const port = await freePort();
  const child = start('sh', [path.join(EXAMPLES, 'publishers', 'run.sh')],
    { WSPIPE, PORT: String(port), ADDRESS: '127.0.0.1', TMPDIR: tmp });
  t.servers.push(child);
  await waitPort(child, port);
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${port}/`);
  await waitFor('a price', async () => /^\d+\.\d\d$/.test(await text(page, '#price')), 8_000);
  await waitFor('a clock', async () => /^\d\d:\d\d:\d\d$/.test(await text(page, '#clock')), 8_000);
  await waitFor('a vmstat row', async () => (await page.locator('#stats-row td').count()) >= 5, 8_000);
  const first = await text(page, '#clock');
  await waitFor('the clock to move', async () => (await text(page, '#clock')) !== first, 5_000);
  noPageErrors(page, 'publishers page');
  await ctx.close();
  const r = await stop(child);
  check(!r.hung && r.code === 0, `run.sh: ${JSON.stringify(r)}`);
  check(await waitClosed(port), `port ${port} still accepting`);
  const left = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    // run.sh exports WSPIPE_BROKER=<tmp>/publishers.*/broker.sock to all it starts.
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(tmp) ||
        fs.readFileSync(`/proc/${p}/environ`, 'utf8').includes(`WSPIPE_BROKER=${tmp}`);
    } catch { return false; }
  });
  await waitFor('every process of the example to end', () => left().length === 0, 5_000)
    .catch(() => { throw new Failure(`still running: ${left().join(' ')}`); });
  eq(fs.readdirSync(tmp).filter((n) => n.startsWith('publishers.')), [], 'run.sh left its temp dir');
});

// ---------------------------------------------------------------- runner

async function cleanupAll() {
  for (const c of [...live]) {
    try { process.kill(c.pid, 'SIGCONT'); } catch { /* gone */ }
    await stop(c, 3000);
  }
  for (const d of tmpdirs) fs.rmSync(d, { recursive: true, force: true });
  tmpdirs.clear();
}

async function main() {
  const only = process.argv.slice(2);
  const cases = only.length ? CASES.filter((c) => only.some((o) => c.name.startsWith(o))) : CASES;
  console.log('TAP version 13');
  console.log(`1..${cases.length}`);
  console.log(`# wspipe: ${WSPIPE}`);
  const help = spawnSync(WSPIPE, ['--help'], { encoding: 'utf8', timeout: 5000 });
  const why = !fs.existsSync(CHROMIUM) ? `no browser at ${CHROMIUM}`
    : !/--listen/.test((help.stdout || '') + (help.stderr || '')) ? `${WSPIPE} has no --listen` : null;
  let failed = 0;
  for (const [i, c] of cases.entries()) {
    const n = i + 1;
    if (why) { console.log(`ok ${n} - ${c.name} # SKIP ${why}`); continue; }
    const t = { servers: [], pages: [], cleanups: [], diag: [] };
    let err = null;
    const began = Date.now();
    let timer = null;
    try {
      await Promise.race([
        c.fn(t),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Failure(`case took longer than ${CASE_TIMEOUT_MS / 1000} s`)), CASE_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      err = e;
    }
    clearTimeout(timer);
    for (const f of t.cleanups.reverse()) await f();
    for (const s of t.servers) {
      try { process.kill(s.pid, 'SIGCONT'); } catch { /* gone */ }
      await stop(s, 3000);
    }
    const secs = ((Date.now() - began) / 1000).toFixed(1);
    if (err instanceof Skip) {
      console.log(`ok ${n} - ${c.name} # SKIP ${err.message}`);
    } else if (err) {
      failed++;
      console.log(`not ok ${n} - ${c.name} (${secs}s)`);
      console.log(`# ${(err instanceof Failure ? err.message : err.stack || String(err)).split('\n').join('\n# ')}`);
      for (const s of t.servers) {
        console.log(`# --- ${s.label} (last lines of its output):`);
        for (const l of s.output.trimEnd().split('\n').slice(-15)) console.log(`#   ${l}`);
      }
      for (const p of t.pages) {
        for (const l of p.consoleLines.slice(-5)) console.log(`#   console: ${l}`);
      }
    } else {
      console.log(`ok ${n} - ${c.name} (${secs}s)`);
    }
    for (const d of t.diag) console.log(`# ${d}`);
  }
  await cleanupAll();
  console.log(`# ${failed ? `${failed} failed` : 'all passed or skipped'}`);
  return failed ? 1 : 0;
}

const watchdog = setTimeout(async () => {
  console.log(`Bail out! the whole run took longer than ${TOTAL_TIMEOUT_MS / 1000} s`);
  await cleanupAll();
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    console.log(`Bail out! interrupted by ${sig}`);
    await cleanupAll();
    process.exit(1);
  });
}

main().then((code) => {
  clearTimeout(watchdog);
  process.exitCode = code;
}, async (e) => {
  console.log(`Bail out! ${e && e.stack ? e.stack.split('\n').join('\n# ') : e}`);
  await cleanupAll();
  process.exit(1);
});
