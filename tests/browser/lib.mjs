// Helpers shared by the browser end-to-end tests (e2e.mjs, listen-e2e.mjs):
// the binary and browser under test, servers started and stopped by PID
// (each in its own process group, so a last-resort SIGKILL reaches what it
// started), waits with deadlines, Debian's Chromium headless with the
// flags both suites use, pages that record what happens in them, and the
// case runner that prints TAP and always cleans up.
//
// Environment:
//   WSPIPE          binary under test (default: <repo>/src/wspipe)
//   CHROMIUM        browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR  if set, cases save PNGs of their pages there
//   E2E_DEBUG=1     copy every server's output to our stderr

import { chromium } from 'playwright-core';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const WSPIPE = process.env.WSPIPE || path.join(ROOT, 'src', 'wspipe');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = process.env.SCREENSHOT_DIR || '';
export const DEBUG = !!process.env.E2E_DEBUG;

export const BROWSER_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const live = new Set();            // child processes still to be stopped
const tmpdirs = new Set();

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }
// A timer that does not keep node running (for races against an exit).
export function grace(ms) { return new Promise((r) => setTimeout(r, ms).unref()); }

// The promise's value, or `value` after ms (the timer does not outlive it).
export function within(promise, ms, value = null) {
  let timer;
  return Promise.race([promise, new Promise((r) => { timer = setTimeout(() => r(value), ms); })])
    .finally(() => clearTimeout(timer));
}

export class Failure extends Error {}
export class Skip extends Error {}
export function check(cond, msg) { if (!cond) throw new Failure(msg); }
export function eq(got, want, msg) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new Failure(`${msg}: got ${g}, want ${w}`);
}

export function tail(text, lines = 15) {
  return text.trimEnd().split('\n').slice(-lines);
}

export const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { timeout: 5000 }).status === 0;

// wspipe --help, and whether it lists an option.
export const helpText = (() => {
  const r = spawnSync(WSPIPE, ['--help'], { encoding: 'utf8', timeout: 5000 });
  return (r.stdout || '') + (r.stderr || '');
})();
export const has = (opt) => new RegExp(`(^|[\\s\\[])--?${opt}\\b`, 'm').test(helpText);

// A fresh temporary directory, removed when the run ends.
export function mktemp(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpdirs.add(d);
  return d;
}

export function copyInto(dir, from, names) {
  for (const n of names) fs.cpSync(path.join(from, n), path.join(dir, n), { recursive: true });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.on('connect', () => done(true));
    sock.on('error', () => done(false));
  });
}

// Starts a server process in its own process group; collects its output
// for diagnostics.
export function start(cmd, args, extraEnv = {}) {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,                 // own process group: a last-resort kill reaches its children
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

// SIGTERM by PID and wait; SIGKILL to its process group if it does not go
// in time.
export async function stop(child, ms = 8_000) {
  if (!child) return null;
  if (child.exitInfo) return child.exitInfo;
  try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
  const r = await Promise.race([child.exited, grace(ms).then(() => null)]);
  if (r) return r;
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  await Promise.race([child.exited, grace(2000)]);
  return { code: null, signal: 'SIGKILL', hung: true };
}

export async function waitFor(what, fn, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Failure(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

// Waits until the port accepts connections (the process must stay up).
export async function waitPort(child, port, ms = 15_000) {
  await waitFor(`port ${port}`, async () => {
    if (child.exitInfo) throw new Failure(`${child.label} exited early (${JSON.stringify(child.exitInfo)})`);
    return canConnect(port);
  }, ms);
}

export async function waitClosed(port, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await canConnect(port))) return true;
    await sleep(50);
  }
  return false;
}

// Stops a server started for a case and checks it went away cleanly
// (wantCode undefined: any exit status).
export async function stopServer(child, port, { wantCode = 0 } = {}) {
  const r = await stop(child);
  check(!r.hung, `${child.label}: did not exit within 8 s of SIGTERM`);
  if (wantCode !== undefined) {
    check(r.code === wantCode, `${child.label}: exit ${JSON.stringify(r)}, want code ${wantCode}`);
  }
  check(await waitClosed(port), `port ${port} still accepting after the server stopped`);
}

// A fresh headless Chromium with a fresh profile; closed by the case runner.
export async function browser(t, { tls = false, viewport, profile = 'wspipe-e2e-profile-' } = {}) {
  const dir = mktemp(profile);
  const opts = {
    executablePath: CHROMIUM,
    headless: true,
    args: tls ? [...BROWSER_ARGS, '--ignore-certificate-errors'] : BROWSER_ARGS,
    timeout: 30_000,
  };
  if (tls) opts.ignoreHTTPSErrors = true;
  if (viewport) opts.viewport = viewport;
  const ctx = await chromium.launchPersistentContext(dir, opts);
  t.cleanups.push(async () => { await ctx.close().catch(() => {}); });
  ctx.setDefaultTimeout(15_000);
  return ctx;
}

// A page that records dialogs (dismissed), console messages and uncaught
// errors.
export async function newPage(ctx, t) {
  const fresh = ctx.pages().find((p) => !p.usedByUs);
  const page = fresh || await ctx.newPage();
  page.usedByUs = true;
  page.dialogs = [];
  page.consoleLines = [];
  page.errors = [];
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('console', (m) => page.consoleLines.push(m.text()));
  page.on('pageerror', (e) => page.errors.push(String(e)));
  t.pages.push(page);
  return page;
}

export function noPageErrors(page, name) {
  check(page.errors.length === 0, `${name}: uncaught page errors: ${page.errors.join(' | ')}`);
}

export async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true }).catch(() => {});
}

async function cleanupAll() {
  for (const c of [...live]) {
    try { process.kill(c.pid, 'SIGCONT'); } catch { /* gone */ }  // a case may have stopped it
    await stop(c, 3000);
  }
  for (const d of tmpdirs) fs.rmSync(d, { recursive: true, force: true });
  tmpdirs.clear();
}

// Runs the cases whose names start with one of the command-line arguments
// (all without arguments), each under caseTimeoutMs, the whole run under
// totalTimeoutMs; prints TAP (header lines after the plan) and sets the
// exit status: 0 when every case passed or was skipped, 1 otherwise.
// skip(c) names why a case cannot run (or null); a case may also throw
// Skip.  Each case gets t = {servers, pages, cleanups, diag}: what it
// pushes there is stopped, closed and reported by the runner.
export function runCases(CASES, { caseTimeoutMs, totalTimeoutMs, skip = () => null, header = [] }) {
  async function main() {
    const only = process.argv.slice(2);
    const cases = only.length ? CASES.filter((c) => only.some((o) => c.name.startsWith(o))) : CASES;
    console.log('TAP version 13');
    console.log(`1..${cases.length}`);
    console.log(`# wspipe: ${WSPIPE}`);
    for (const l of header) console.log(`# ${l}`);
    let failed = 0;
    for (const [i, c] of cases.entries()) {
      const n = i + 1;
      const why = skip(c);
      if (why) { console.log(`ok ${n} - ${c.name} # SKIP ${why}`); continue; }
      const t = { servers: [], pages: [], cleanups: [], diag: [] };
      let err = null;
      const began = Date.now();
      let timer;
      try {
        await Promise.race([
          c.fn(t),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Failure(`case took longer than ${caseTimeoutMs / 1000} s`)), caseTimeoutMs);
          }),
        ]);
      } catch (e) {
        err = e;
      } finally {
        clearTimeout(timer);
      }
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
          for (const l of tail(s.output)) console.log(`#   ${l}`);
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
    console.log(`Bail out! the whole run took longer than ${totalTimeoutMs / 1000} s`);
    await cleanupAll();
    process.exit(1);
  }, totalTimeoutMs);
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
}
