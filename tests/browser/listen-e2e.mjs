#!/usr/bin/env node
// End-to-end tests of wspipe's listen mode and its examples in a real browser
// (headless Chromium driven by playwright-core, set up as for e2e.mjs:
// `npm ci` in tests/browser, Debian's chromium). Emits TAP on stdout; exit
// status 0 when every case passed or was skipped, 1 otherwise.
//
//   node tests/browser/listen-e2e.mjs [NAME-PREFIX...]
//
// Environment: see lib.mjs (WSPIPE, CHROMIUM, SCREENSHOT_DIR: the chat and
// calendar pages are saved there as PNG, E2E_DEBUG).
//
// Each case starts the real binary on a free port of 127.0.0.1 with its
// fixtures (copies of the example files, data, broker socket) in a fresh
// temporary directory, and stops it by PID. Every wait has a deadline.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  ROOT, WSPIPE, CHROMIUM, Failure, Skip, check, eq, mktemp, copyInto, sleep,
  start, stop, waitFor, waitPort, waitClosed, stopServer, freePort, onPath, helpText, has,
  browser as launch, newPage, noPageErrors, shot, runCases,
} from './lib.mjs';

const EXAMPLES = path.join(ROOT, 'examples');
const CASE_TIMEOUT_MS = 90_000;
const TOTAL_TIMEOUT_MS = 600_000;

// ---------------------------------------------------------------- helpers

function isSocket(p) {
  try { return fs.statSync(p).isSocket(); } catch { return false; }
}

// The gateway in listen mode: {child, port, sock}.
async function gateway(t, dir, extra = [], { port, env = {}, sock = path.join(dir, 'broker.sock') } = {}) {
  port = port || await freePort();
  const child = start(WSPIPE, [`--port=${port}`, '--address=127.0.0.1', '--listen',
    `--broker-socket=${sock}`, ...extra], env);
  t.servers.push(child);
  await waitPort(child, port);
  await waitFor(`the broker socket ${sock}`, () => isSocket(sock), 30_000);
  return { child, port, sock };
}

function publish(sock, resource, data) {
  const r = spawnSync(WSPIPE, ['publish', `--socket=${sock}`, resource, data],
    { encoding: 'utf8', timeout: 5000 });
  check(r.status === 0, `wspipe publish ${resource}: exit ${r.status}: ${r.stderr}`);
}

async function browser(t) {
  return launch(t, { viewport: { width: 900, height: 700 }, profile: 'wspipe-listen-profile-' });
}

const text = (page, sel) => page.locator(sel).innerText();

// Sends `line` to a UNIX socket and resolves with the first line of the
// answer that `want` accepts, or null (refused, closed, or not within ms).
function askUnix(sockPath, line, want = () => true, ms = 1000) {
  return new Promise((resolve) => {
    const c = net.connect(sockPath);
    let buf = '', timer;
    const done = (v) => { clearTimeout(timer); c.destroy(); resolve(v); };
    timer = setTimeout(() => done(null), ms);
    c.on('connect', () => c.write(line));
    c.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.search(/\r?\n/)) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(buf[i] === '\r' ? i + 2 : i + 1);
        if (want(l)) return done(l);
      }
    });
    c.on('error', () => done(null));
    c.on('close', () => done(null));
  });
}

// A redis-server of the case's own on a UNIX socket in dir (no TCP, no
// persistence): {child, sock}, once it answers PING.
async function redis(t, dir) {
  const sock = path.join(dir, 'redis.sock');
  const child = start('redis-server', ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no']);
  t.servers.push(child);
  await waitFor(`redis-server answering PING on ${sock}`, async () => {
    if (child.exitInfo) throw new Failure(`${child.label} exited early (${JSON.stringify(child.exitInfo)})`);
    return isSocket(sock) && (await askUnix(sock, 'PING\r\n')) === '+PONG';
  }, 30_000);
  return { child, sock };
}

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
      (await text(p, '#messages')).includes('hello from ann <b>not bold</b>'), 30_000);
  }
  eq(await b.locator('#messages b').count(), 0, 'markup in a message is shown as text');
  await b.fill('#name', 'bob');
  await b.fill('#text', 'hi ann');
  await b.press('#text', 'Enter');
  for (const [n, p] of [['first', a], ['second', b]]) {
    await waitFor(`bob's message in the ${n} page`, async () => (await text(p, '#messages')).includes('hi ann'), 30_000);
  }
  eq(await a.locator('#messages li').count(), 2, 'messages in the first page');
  eq(await b.locator('#messages li').count(), 2, 'messages in the second page');
  // The chat is a state: a page opened now starts with the last message only.
  const c = await newPage(ctx, t);
  await c.goto(`http://127.0.0.1:${port}/`);
  await waitFor('the retained message in a late page', async () => (await text(c, '#messages')).includes('hi ann'), 30_000);
  eq(await c.locator('#messages li').count(), 1, 'messages in the late page');
  // Browsers may publish only under /chat: anything else is refused, the socket stays.
  await c.evaluate(() => wspipe.publish('/elsewhere', 'nope'));
  await waitFor('the refusal in the console', () =>
    c.consoleLines.some((l) => /not allowed/.test(l) && l.includes('/elsewhere')), 30_000);
  eq(await c.getAttribute('#status', 'class'), 'open', 'status after a refused publish');
  for (const [n, p] of [['a', a], ['b', b], ['c', c]]) noPageErrors(p, `chat page ${n}`);
  await shot(a, 'listen-chat');
  await ctx.close();
  await stopServer(child, port);
});

test('listen-chat resume: the gateway restarts (its broker runs on); the page gets the lines sent meanwhile, in order, once each, no gap', async (t) => {
  const dir = mktemp('wspipe-listen-chat-resume-');
  copyInto(dir, path.join(EXAMPLES, 'listen-chat'), ['index.html', 'chat.js']);
  const sock = path.join(dir, 'broker.sock');
  const broker = start(WSPIPE, ['broker', `--socket=${sock}`, '--history=100']);
  t.servers.push(broker);
  await waitFor(`the broker socket ${sock}`, () => isSocket(sock), 30_000);
  const port = await freePort();
  const args = [`--port=${port}`, '--address=127.0.0.1', '--listen', `--staticdir=${dir}`,
    '--listen-publish=/chat', `--broker=${sock}`];
  const g1 = start(WSPIPE, args);
  t.servers.push(g1);
  await waitPort(g1, port);
  const msg = (n) => JSON.stringify({ name: 'bot', text: `line ${n}`, at: 1700000000000 + n });
  for (let n = 1; n <= 3; n++) publish(sock, '/chat', msg(n));
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${port}/`);
  const lines = async () => (await text(page, '#messages')).split('\n').filter((l) => /line \d+|missed|restarted/.test(l));
  await waitFor('the three kept lines (history: true)', async () => (await lines()).length === 3, 30_000);
  const marker = await page.evaluate(() => { window.loadedAt = Math.random(); return window.loadedAt; });
  await stopServer(g1, port);
  await waitFor('status closed', async () => (await page.getAttribute('#status', 'class')) !== 'open', 30_000);
  for (let n = 4; n <= 9; n++) publish(sock, '/chat', msg(n));   // while the gateway is down
  const g2 = start(WSPIPE, args);
  t.servers.push(g2);
  await waitPort(g2, port);
  await waitFor('status open again', async () => (await page.getAttribute('#status', 'class')) === 'open', 60_000);
  publish(sock, '/chat', msg(10));
  await waitFor('line 10', async () => (await lines()).some((l) => /line 10\b/.test(l)), 30_000);
  const got = (await lines()).map((l) => (/line (\d+)/.exec(l) || [l])[1] || l);
  eq(got, ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'], 'lines shown, in order, once each, no gap notice');
  eq(await page.evaluate(() => window.loadedAt), marker, 'page not reloaded');
  noPageErrors(page, 'chat page');
  await ctx.close();
  await stopServer(g2, port);
  const r = await stop(broker);
  check(!r.hung, 'the broker did not exit on SIGTERM');
});

test('listen-chat across machines: two gateways on one Redis, a page on each; a line typed in one page appears in the other, and back', async (t) => {
  if (!onPath('redis-server')) throw new Skip('redis-server not installed');
  if (!has('redis')) throw new Skip(`${WSPIPE} has no --redis`);
  const dir = mktemp('wspipe-listen-chat-redis-');
  copyInto(dir, path.join(EXAMPLES, 'listen-chat'), ['index.html', 'chat.js']);
  const rd = await redis(t, dir);
  // Two gateways, each with a broker of its own, sharing /chat through Redis.
  const args = [`--staticdir=${dir}`, '--listen-publish=/chat', `--redis=unix://${rd.sock}`, '--redis-timeout=0.5'];
  const ga = await gateway(t, dir, args, { sock: path.join(dir, 'broker-a.sock') });
  const gb = await gateway(t, dir, args, { sock: path.join(dir, 'broker-b.sock') });
  for (const [n, g] of [['first', ga], ['second', gb]]) {
    await waitFor(`the ${n} gateway's broker connected to Redis ("redis up" in its stats)`, async () => {
      if (g.child.exitInfo) throw new Failure(`${g.child.label} exited early (${JSON.stringify(g.child.exitInfo)})`);
      const l = await askUnix(g.sock, 'stats\n', (x) => x.startsWith('stats '));
      return l !== null && l.includes(' redis up ');
    }, 30_000);
  }
  const ctx = await browser(t);
  const a = await newPage(ctx, t), b = await newPage(ctx, t);
  for (const [p, g] of [[a, ga], [b, gb]]) {
    await p.goto(`http://127.0.0.1:${g.port}/`);
    await waitFor(`status "open" on port ${g.port}`, async () => (await p.getAttribute('#status', 'class')) === 'open');
  }
  await a.fill('#name', 'ann');
  await a.fill('#text', 'hello across from ann');
  await a.click('#send');
  await waitFor('ann\'s line in the page on the other gateway', async () =>
    (await text(b, '#messages')).includes('hello across from ann'), 30_000);
  await waitFor('ann\'s line in her own page', async () =>
    (await text(a, '#messages')).includes('hello across from ann'), 30_000);
  await b.fill('#name', 'bob');
  await b.fill('#text', 'and back from bob');
  await b.press('#text', 'Enter');
  await waitFor('bob\'s line in the page on the other gateway', async () =>
    (await text(a, '#messages')).includes('and back from bob'), 30_000);
  await waitFor('bob\'s line in his own page', async () =>
    (await text(b, '#messages')).includes('and back from bob'), 30_000);
  eq(await a.locator('#messages li').count(), 2, 'lines in the first page');
  eq(await b.locator('#messages li').count(), 2, 'lines in the second page');
  for (const [n, p] of [['a', a], ['b', b]]) noPageErrors(p, `chat page ${n}`);
  await shot(a, 'listen-chat-redis');
  await ctx.close();
  await stopServer(ga.child, ga.port);
  await stopServer(gb.child, gb.port);
  const r = await stop(rd.child);
  check(!r.hung, 'redis-server did not exit on SIGTERM');
});

test('listen-calendar: a second page updates, without reloading, when the first adds an appointment', async (t) => {
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
  // The update is an event to wait for; its latency is reported, not
  // asserted (a CGI script and a publisher are spawned on the way, and a
  // loaded machine may take seconds): bench/ measures speed.
  await waitFor('the new appointment in the second page', async () => (await text(b, '#calendar')).includes(title), 30_000);
  const ms = (await b.evaluate(() => window.shownAt)) - (await a.evaluate(() => window.submittedAt));
  t.diag.push(`second page updated ${ms} ms after the submit`);
  check(ms >= 0, `the second page updated ${ms} ms after the submit, not before it`);
  await waitFor('the new appointment in the first page', async () => (await text(a, '#calendar')).includes(title), 30_000);
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
    (await a.locator('#calendar li .title').allInnerTexts()).join('|') === `Standup|${title}`, 30_000);
  await shot(a, 'listen-calendar');
  await b.locator('#calendar li', { hasText: 'Dentist' }).locator('button.del').click();
  await waitFor('the removal in the first page', async () =>
    (await a.locator('#calendar li .title').allInnerTexts()).join('|') === 'Standup', 30_000);
  // A plain form post (no JavaScript) gets 303 to /.
  const r = await fetch(`http://127.0.0.1:${port}/api/appointments`, {
    method: 'POST', redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'date=2031-05-07&time=&title=Plain+post&who=',
  });
  eq(r.status, 303, 'status of a plain form post');
  eq(r.headers.get('location'), '/', 'Location of a plain form post');
  await waitFor('the plain post in the second page', async () => (await text(b, '#calendar')).includes('Plain post'), 30_000);
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
  await waitFor('the first state', () => page.evaluate(() => got.some((d) => d.n === 1)), 30_000);
  await stopServer(g1.child, g1.port);
  await waitFor('status closed', () => page.evaluate(() => statuses.includes('closed')), 30_000);
  const g2 = await gateway(t, dir, [`--staticdir=${dir}`], { port: g1.port });
  const restarted = Date.now();
  publish(g2.sock, '/x', '{"n":2}');       // a new broker: nothing retained
  await waitFor('the state published after the restart', () =>
    page.evaluate(() => got.some((d) => d.n === 2)), 30_000);
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
  await waitFor('the first state', () => page.evaluate(() => got.includes('before')), 30_000);
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
  await waitFor('the state published after the thaw', () => page.evaluate(() => got.includes('after')), 30_000);
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
  await waitFor('A1 and B1', () => page.evaluate(() => got.g.includes('A1') && got.b1.includes('B1')), 30_000);
  publish(g.sock, '/a', 'A2');
  await waitFor('A2 after stop-then-listen before open', () => page.evaluate(() => got.g.includes('A2')), 30_000);
  eq(await page.evaluate(() => got.f), [], 'the stopped listener got nothing');
  await page.evaluate(() => second());
  await waitFor('the late listener gets B1', () => page.evaluate(() => got.b2.includes('B1')), 30_000);
  // Give a wrongly re-sent state time to arrive before checking it did not.
  await sleep(500);
  eq(await page.evaluate(() => got.b1), ['B1'], 'the first listener did not get B1 again');
  publish(g.sock, '/b', 'B2');
  await waitFor('B2 to both', () => page.evaluate(() => got.b1.includes('B2') && got.b2.includes('B2')), 30_000);
  eq(await page.evaluate(() => got.b2), ['B1', 'B2'], 'the late listener: B1 then B2');
  noPageErrors(page, 'listen.js api page');
  await ctx.close();
  await stopServer(g.child, g.port);
});

test('listen.js: a pattern gets the current state of each match, then their updates, each once, with its resource', async (t) => {
  const dir = mktemp('wspipe-listen-pattern-');
  fs.writeFileSync(path.join(dir, 'index.html'), `<!DOCTYPE html><html><body>
<script src="/wspipe/listen.js"></script>
<script>
  window.got = { all: [], a: [] };
  wspipe.listen('/sensors/*', function (d, uri) { got.all.push(uri + '=' + d); });
  wspipe.listen('/sensors/a', function (d, uri) { got.a.push(uri + '=' + d); });
</script></body></html>`);
  const g = await gateway(t, dir, [`--staticdir=${dir}`]);
  publish(g.sock, '/sensors/b', 'b1');
  publish(g.sock, '/sensors/a', 'a1');
  publish(g.sock, '/other', 'o1');
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${g.port}/`);
  await waitFor('the snapshot', () => page.evaluate(() => got.all.length >= 2 && got.a.length >= 1), 30_000);
  publish(g.sock, '/sensors/a', 'a2');
  publish(g.sock, '/other', 'o2');
  publish(g.sock, '/sensors/c/d', 'c1');
  publish(g.sock, '/sensors/zz', 'end');
  await waitFor('the marker', () => page.evaluate(() => got.all.includes('/sensors/zz=end')), 30_000);
  eq(await page.evaluate(() => got.all), ['/sensors/a=a1', '/sensors/b=b1', '/sensors/a=a2', '/sensors/c/d=c1', '/sensors/zz=end'],
    'the pattern: snapshot in name order, then each update once');
  eq(await page.evaluate(() => got.a), ['/sensors/a=a1', '/sensors/a=a2'], 'the resource listener: its states once');
  noPageErrors(page, 'pattern page');
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
  await waitFor('a price', async () => /^\d+\.\d\d$/.test(await text(page, '#price')), 30_000);
  await waitFor('a clock', async () => /^\d\d:\d\d:\d\d$/.test(await text(page, '#clock')), 30_000);
  await waitFor('a vmstat row', async () => (await page.locator('#stats-row td').count()) >= 5, 30_000);
  const first = await text(page, '#clock');
  await waitFor('the clock to move', async () => (await text(page, '#clock')) !== first, 30_000);
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
  await waitFor('every process of the example to end', () => left().length === 0, 30_000)
    .catch(() => { throw new Failure(`still running: ${left().join(' ')}`); });
  eq(fs.readdirSync(tmp).filter((n) => n.startsWith('publishers.')), [], 'run.sh left its temp dir');
});

test('listen-sensors: one pattern shows every sensor; a sensor posting over plain HTTP appears by itself; EventSource follows the pattern too', async (t) => {
  if (!onPath('curl')) throw new Skip('curl not installed');
  const tmp = mktemp('wspipe-listen-sensors-');
  const port = await freePort();
  const child = start('sh', [path.join(EXAMPLES, 'listen-sensors', 'run.sh')],
    { WSPIPE, PORT: String(port), ADDRESS: '127.0.0.1', TMPDIR: tmp, SENSORS: '3' });
  t.servers.push(child);
  await waitPort(child, port, 30_000);
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${port}/`);
  const rows = () => page.evaluate(() => Array.from(document.querySelectorAll('#rows tr')).map((r) =>
    [r.children[0].textContent, r.children[1].textContent, r.children[2].textContent]));
  await waitFor('three sensors with readings', async () => {
    const r = await rows();
    return r.length === 3 && r.every((x) => /^\d+\.\d$/.test(x[1]));
  }, 30_000);
  eq((await rows()).map((r) => r[0]), ['cellar', 'hall', 'kitchen'], 'rows in name order');
  // A new sensor: one POST, as sensors.sh does; the page never asked for it.
  const post = await page.evaluate(async (u) => (await fetch(u, { method: 'POST', body: '{"celsius": 99.5}' })).status,
    `http://127.0.0.1:${port}/wspipe/live/sensors/new`);
  eq(post, 204, 'POST of a new sensor');
  await waitFor('the new sensor in the page', async () => (await rows()).some((r) => r[0] === 'new' && r[1] === '99.5'), 30_000);
  const got = await page.evaluate(async (u) => {
    const r = await fetch(u);
    return [r.status, r.headers.get('ETag'), await r.text()];
  }, `http://127.0.0.1:${port}/wspipe/live/sensors/new`);
  const id = (await rows()).find((r) => r[0] === 'new')[2];
  eq(got, [200, `"${id}"`, '{"celsius": 99.5}'], 'GET: the state, its id as the ETag the page saw');
  // The same pattern as a stream of events: each names its resource.
  const streamed = await page.evaluate(() => new Promise((resolve) => {
    const seen = {}, es = new EventSource('/wspipe/live/sensors/*');
    es.onmessage = (e) => {
      const i = e.data.indexOf('\n');
      seen[e.data.slice(0, i)] = [e.lastEventId, e.data.slice(i + 1)];
      if (seen['/sensors/new']) { es.close(); resolve(seen); }
    };
  }));
  eq(streamed['/sensors/new'], [id, '{"celsius": 99.5}'], 'EventSource on the pattern: the new sensor, its id');
  noPageErrors(page, 'sensors page');
  await ctx.close();
  await stop(child);
});

test('listen-game: two pages see each other move', async (t) => {
  if (!onPath('python3')) throw new Skip('python3 not installed');
  const tmp = mktemp('wspipe-listen-game-');
  const port = await freePort();
  // run.sh itself: the gateway (--listen-publish=/game/in, its own broker in
  // TMPDIR) and server.py on that broker's socket.
  const child = start('sh', [path.join(EXAMPLES, 'listen-game', 'run.sh')],
    { WSPIPE, PORT: String(port), ADDRESS: '127.0.0.1', TMPDIR: tmp });
  t.servers.push(child);
  await waitPort(child, port, 30_000);
  const ctx = await browser(t);
  const a = await newPage(ctx, t), b = await newPage(ctx, t);
  for (const p of [a, b]) {
    await p.goto(`http://127.0.0.1:${port}/`);
    await waitFor('status "open"', async () => (await p.getAttribute('#status', 'class')) === 'open', 30_000);
  }
  const ida = await a.evaluate(() => window.gameId), idb = await b.evaluate(() => window.gameId);
  check(ida && idb && ida !== idb, `player ids ${ida} and ${idb}`);
  await a.fill('#name', 'ann <b>bold</b>');
  await a.press('#name', 'Enter');              // renames, and gives the keys back to the game
  const player = (p, id) => p.evaluate((i) => (window.gameState && window.gameState.players[i]) || null, id);
  for (const [n, p] of [['first', a], ['second', b]]) {
    await waitFor(`both players in the ${n} page`, async () => (await player(p, ida)) && (await player(p, idb)), 30_000);
    await waitFor(`ann's name in the ${n} page`, async () => (await player(p, ida)).name === 'ann <b>bold</b>', 30_000);
    await waitFor(`two players listed in the ${n} page`, async () => (await p.locator('#players li').count()) === 2, 30_000);
    eq(await p.locator('#players b').count(), 0, `markup in a name shown as text in the ${n} page`);
  }
  // Five presses, each one step of 10 toward the middle (players start at
  // least 50 from the edges, so no step is clamped); the other page sees it.
  for (const [n, mover, watcher, id, axis, keys] of [
    ['first', a, b, ida, 'x', ['ArrowLeft', 'ArrowRight']],
    ['second', b, a, idb, 'y', ['ArrowUp', 'ArrowDown']],
  ]) {
    const from = (await player(watcher, id))[axis];
    const sign = from > 500 ? -1 : 1;
    const key = keys[sign > 0 ? 1 : 0];
    for (let i = 0; i < 5; i++) await mover.keyboard.press(key);
    await waitFor(`the ${n} player's ${key} moves seen by the other page`, async () =>
      sign * ((await player(watcher, id))[axis] - from) >= 50 - 1e-6, 30_000);
    await waitFor(`the ${n} page agreeing on where its player is`, async () =>
      (await player(mover, id))[axis] === (await player(watcher, id))[axis], 30_000);
    t.diag.push(`${n} player: ${axis} ${from} -> ${(await player(watcher, id))[axis]} (${key} x5)`);
  }
  for (const [n, p] of [['a', a], ['b', b]]) noPageErrors(p, `game page ${n}`);
  await shot(a, 'listen-game');
  await ctx.close();
  const r = await stop(child);
  check(!r.hung && r.code === 0, `run.sh: ${JSON.stringify(r)}`);
  check(await waitClosed(port), `port ${port} still accepting`);
  const left = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    // run.sh exports WSPIPE_BROKER=<tmp>/listen-game.*/broker.sock to server.py.
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(tmp) ||
        fs.readFileSync(`/proc/${p}/environ`, 'utf8').includes(`WSPIPE_BROKER=${tmp}`);
    } catch { return false; }
  });
  await waitFor('every process of the example to end', () => left().length === 0, 30_000)
    .catch(() => { throw new Failure(`still running: ${left().join(' ')}`); });
  eq(fs.readdirSync(tmp).filter((n) => n.startsWith('listen-game.')), [], 'run.sh left its temp dir');
});

test('events: EventSource follows a resource, and resumes by Last-Event-ID across a gateway restart', async (t) => {
  const dir = mktemp('wspipe-listen-events-');
  fs.writeFileSync(path.join(dir, 'index.html'), `<!DOCTYPE html>
<meta charset="utf-8"><title>events</title><p>events</p>`);
  // A broker of its own, so that it and its history outlive the gateway.
  const sock = path.join(dir, 'b.sock');
  const broker = start(WSPIPE, ['broker', `--socket=${sock}`, '--history=100']);
  t.servers.push(broker);
  await waitFor(`the broker socket ${sock}`, () => {
    if (broker.exitInfo) throw new Failure(`${broker.label} exited early (${JSON.stringify(broker.exitInfo)})`);
    return isSocket(sock);
  }, 30_000);
  const port = await freePort();
  const args = [`--port=${port}`, '--address=127.0.0.1', '--listen', `--staticdir=${dir}`, `--broker=${sock}`];
  const g1 = start(WSPIPE, args);
  t.servers.push(g1);
  await waitPort(g1, port);
  const state = (n) => JSON.stringify({ n, text: `state ${n}` });
  for (let n = 1; n <= 3; n++) publish(sock, '/ev', state(n));
  const ctx = await browser(t);
  const page = await newPage(ctx, t);
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.evaluate(() => {
    window.got = []; window.opens = 0; window.errors = 0;
    const es = new EventSource('/wspipe/live/ev');
    window.es = es;
    es.onopen = () => { window.opens++; };
    es.onerror = () => { window.errors++; };
    es.onmessage = (e) => window.got.push([e.lastEventId, e.data]);
  });
  const got = () => page.evaluate(() => window.got);
  const ns = (g) => g.map(([, d]) => { try { return JSON.parse(d).n; } catch { return d; } });
  // Waits for cond(got); on timeout says what the page had.
  const until = (what, cond, ms = 30_000) => waitFor(what, async () => cond(await got()), ms)
    .catch(async (e) => {
      const s = await page.evaluate(() => ({ got: window.got, readyState: window.es.readyState,
        opens: window.opens, errors: window.errors })).catch(() => null);
      throw new Failure(`${e.message}; page: ${JSON.stringify(s)}`);
    });
  // Each event's id is the state's (EPOCH-SEQ), one epoch, SEQ growing by one.
  const checkIds = (g, msg) => {
    for (const [id] of g) check(/^[0-9a-f]+-[0-9]+$/.test(id), `${msg}: lastEventId ${JSON.stringify(id)} is not EPOCH-SEQ`);
    const [epoch, first] = g[0][0].split('-');
    eq(g.map(([id]) => id), g.map((_, i) => `${epoch}-${Number(first) + i}`), `${msg}: ids`);
  };
  // A fresh stream starts with the current state alone.
  await until('the current state', (g) => g.length >= 1);
  eq(ns(await got()), [3], 'states on a fresh stream (the current one only)');
  checkIds(await got(), 'fresh stream');
  for (let n = 4; n <= 5; n++) publish(sock, '/ev', state(n));
  await until('states 4 and 5', (g) => g.length >= 3);
  eq(ns(await got()), [3, 4, 5], 'states followed');
  checkIds(await got(), 'states followed');
  // The gateway goes; the broker keeps what is published meanwhile.
  const errorsBefore = await page.evaluate(() => window.errors);
  await stopServer(g1, port);
  await waitFor('the EventSource to notice the gateway went (an error event)', () =>
    page.evaluate((n) => window.errors > n, errorsBefore), 30_000);
  for (let n = 6; n <= 8; n++) publish(sock, '/ev', state(n));
  const g2 = start(WSPIPE, args);
  t.servers.push(g2);
  await waitPort(g2, port);
  const restarted = Date.now();
  // EventSource reconnects by itself (every few seconds), with Last-Event-ID.
  await until('states 6, 7 and 8 after the restart', (g) => g.length >= 6, 60_000);
  t.diag.push(`the states sent meanwhile arrived ${Date.now() - restarted} ms after the restart`);
  eq(ns(await got()), [3, 4, 5, 6, 7, 8], 'states resumed after Last-Event-ID, in order, once each');
  publish(sock, '/ev', state(9));
  await until('state 9 on the resumed stream', (g) => g.length >= 7);
  eq(ns(await got()), [3, 4, 5, 6, 7, 8, 9], 'states, in order, once each, after the restart');
  checkIds(await got(), 'all states');
  eq(await page.evaluate(() => window.es.readyState), 1, 'EventSource readyState (OPEN)');
  t.diag.push(`EventSource opened ${await page.evaluate(() => window.opens)} times, ` +
    `${await page.evaluate(() => window.errors)} error events`);
  noPageErrors(page, 'events page');
  await ctx.close();
  await stopServer(g2, port);
  const r = await stop(broker);
  check(!r.hung, 'the broker did not exit on SIGTERM');
});

// ---------------------------------------------------------------- runner

runCases(CASES, {
  caseTimeoutMs: CASE_TIMEOUT_MS,
  totalTimeoutMs: TOTAL_TIMEOUT_MS,
  skip: () => (!fs.existsSync(CHROMIUM) ? `no browser at ${CHROMIUM}`
    : !/--listen/.test(helpText) ? `${WSPIPE} has no --listen` : null),
});
