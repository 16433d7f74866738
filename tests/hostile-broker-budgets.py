#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The broker's budgets under hostile load, on its own socket:
#  - 100,100 tiny states published once each (default --max-states, 100000):
#    none refused, the oldest forgotten, and a new resource still works and
#    is retained (never "every new resource fails");
#  - --max-states=N and --max-retained=BYTES forget the least recently
#    published states (a state published again is recent again);
#  - --max-resources=N: a subscribe past the table is refused `error
#    subscribe R too many resources`;
#  - guests (a connection that said `hello gateway`) are answered `ok
#    publish R` and charged to their prefix's budget (--guest-states,
#    --guest-retained): they never evict scripts' states nor another
#    prefix's, and a guest state that finds no room of its own is refused
#    `error publish R too many states`;
#  - data that is not valid UTF-8 is refused and reaches nobody;
#  - get, list [PATTERN] and stats answer exactly what the broker holds;
#  - 100 connections x 1024 subscriptions, their unsubscribes and their
#    closes cost the broker little CPU (the old code took 32 s).

import re

import lib as L

CPU_LIMIT = 5.0         # seconds of broker CPU (measured ~1 s under ASan)


def ask(c, *lines, timeout=10.0):
    return c.ask(*lines, timeout=timeout)


def get(c, r):
    """R's retained state (str) or None, by `get R`; raises on a bad
    answer."""
    got = ask(c, "get " + r)
    if got == ["ok get " + r]:
        return None
    if len(got) == 2 and got[1] == "ok get " + r and \
            got[0].startswith("state %s " % r):
        return got[0][len("state %s " % r):]
    raise RuntimeError("get %s answered %r" % (r, [L.trunc(g) for g in got]))


def held(c, names):
    """{name: state or None}."""
    return {n: get(c, n) for n in names}


def expect_held(c, want):
    """(ok, diag): each resource of want holds that state (None: none)."""
    got = held(c, want)
    bad = {k: (L.trunc(v, 20), L.trunc(want[k], 20))
           for k, v in got.items() if v != want[k]}
    return not bad, "got vs wanted: %r" % bad


def crash(p):
    """How broker process p ended, with its sanitizer report's gist."""
    if p.poll() is None:
        return "the broker is alive"
    try:
        p.logfile.seek(0)
        log = p.logfile.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        log = ""
    lines = log.splitlines()
    gist = [l for l in lines if "ERROR: AddressSanitizer" in l or
            "SUMMARY" in l or "runtime error" in l]
    frames = [l.strip() for l in lines if l.strip().startswith("#")][:6]
    return "the broker exited %r: %s" % (p.returncode,
                                         "\n".join(gist + frames) or
                                         log[-500:])


def guarded(p, fn):
    """fn as a point body that, if it raises, says how broker p is."""
    def body():
        try:
            return fn()
        except (OSError, RuntimeError, L.Timeout) as e:
            return False, "%r; %s" % (e, crash(p))
    return body


def guest(path):
    """A connection that said `hello gateway`."""
    g = L.LineConn(path)
    got = ask(g, "hello gateway")
    if got != ["ok hello gateway"]:
        raise RuntimeError("hello gateway answered %r" % got)
    return g


def main(t):
    with L.Fixture("wspipe-budgets") as fx:
        # 1. 100,100 tiny states with the default limits.
        big = fx.path("big.sock")
        bb = fx.broker(big)

        def p_many():
            # The broker takes 2 MB of lines as fast as it can: on a busy
            # machine that is more than a few seconds.
            c = L.LineConn(big, 60.0 * L.SLOW)
            try:
                blob = "".join("publish /t/%d x%d\n" % (i, i)
                               for i in range(100100))
                c.send_raw(blob.encode())
                got = c.lines_until_pong(60.0 * L.SLOW)
                if got:
                    return False, "%d answers, first %r" % (len(got),
                                                           got[:3])
                return True, None
            finally:
                c.close()
        L.point(t, "100,100 tiny states published once each: the broker "
                "refuses none (a script's publish has no answer)", p_many)

        def p_new_after():
            c = L.LineConn(big)
            s = L.LineConn(big)
            try:
                got = ask(s, "subscribe /new/after")
                if got != ["ok subscribe /new/after"]:
                    return False, "subscribe answered %r" % got
                got = ask(c, "publish /new/after fresh")
                if got:
                    return False, "publish answered %r" % got
                line = s.readline(5.0)
                if line != "update /new/after fresh":
                    return False, "subscriber got %r" % line
                return expect_held(c, {"/new/after": "fresh"})
            finally:
                c.close()
                s.close()
        L.point(t, "then a new resource still works: subscribed, published, "
                "delivered and retained", p_new_after)

        def p_many_lru():
            c = L.LineConn(big)
            try:
                want = {"/t/0": None, "/t/100": None, "/t/101": "x101",
                        "/t/100099": "x100099", "/t/50000": "x50000"}
                ok, why = expect_held(c, want)
                if not ok:
                    return ok, why
                st = ask(c, "stats")
                m = re.match(r"stats resources (\d+) states (\d+) ", st[0]) \
                    if len(st) == 1 else None
                if not m or m.group(1) != "100000" or \
                        m.group(2) != "100000":
                    return False, "stats %r (wanted 100000 resources and " \
                        "states)" % st
                return True, None
            finally:
                c.close()
        L.point(t, "100,000 states are kept: the 101 least recently "
                "published are forgotten, the rest are held", p_many_lru)
        bb.terminate()
        bb.wait(10)

        # 2. --max-states LRU.
        ms = fx.path("states.sock")
        fx.broker(ms, "--max-states=3")

        def p_max_states():
            c = L.LineConn(ms)
            try:
                ask(c, "publish /a A", "publish /b B", "publish /c C",
                    "publish /d D")
                ok, why = expect_held(c, {"/a": None, "/b": "B", "/c": "C",
                                          "/d": "D"})
                if not ok:
                    return False, "after /a..d: " + why
                ask(c, "publish /b B2", "publish /e E")
                ok, why = expect_held(c, {"/b": "B2", "/c": None,
                                          "/d": "D", "/e": "E"})
                if not ok:
                    return False, "after /b again and /e: " + why
                return True, None
            finally:
                c.close()
        L.point(t, "--max-states=3: the least recently published state is "
                "forgotten; one published again is recent again",
                p_max_states)

        # 3. --max-retained LRU.
        mr = fx.path("bytes.sock")
        fx.broker(mr, "--max-retained=65536")

        def p_max_bytes():
            c = L.LineConn(mr)
            try:
                a, b, d = "a" * 30000, "b" * 30000, "d" * 30000
                ask(c, "publish /a " + a, "publish /b " + b)
                ok, why = expect_held(c, {"/a": a, "/b": b})
                if not ok:
                    return False, "60000 bytes: " + why
                ask(c, "publish /a " + a, "publish /d " + d)
                ok, why = expect_held(c, {"/a": a, "/b": None, "/d": d})
                if not ok:
                    return False, "after /a again and /d: " + why
                big = "z" * 65536
                ask(c, "publish /z " + big)
                return expect_held(c, {"/a": None, "/d": None, "/z": big})
            finally:
                c.close()
        L.point(t, "--max-retained=65536: the least recently published "
                "states are forgotten to make room, a 65536-byte state "
                "fits alone", p_max_bytes)

        # 4. --max-resources.
        mres = fx.path("res.sock")
        fx.broker(mres, "--max-resources=2")

        def p_max_resources():
            c = L.LineConn(mres)
            try:
                got = ask(c, "subscribe /r1", "subscribe /r2",
                          "subscribe /r3")
                if got != ["ok subscribe /r1", "ok subscribe /r2",
                           "error subscribe /r3 too many resources"]:
                    return False, "got %r" % got
                got = ask(c, "unsubscribe /r1", "subscribe /r3")
                if got != ["ok unsubscribe /r1", "ok subscribe /r3"]:
                    return False, "after unsubscribe /r1: %r" % got
                return True, None
            finally:
                c.close()
        L.point(t, "--max-resources=2: the third subscribe -> `error "
                "subscribe /r3 too many resources`; a name freed by "
                "unsubscribe is usable again", p_max_resources)

        # 5. Guests, per prefix.
        gs = fx.path("guests.sock")
        pgs = fx.broker(gs, "--guest-states=2")

        def p_guest_ok():
            g = guest(gs)
            s = L.LineConn(gs)
            try:
                ask(s, "subscribe /chat/a")
                got = ask(g, "publish /chat/a hi")
                if got != ["ok publish /chat/a"]:
                    return False, "guest publish answered %r" % got
                line = s.readline(3.0)
                return line == "update /chat/a hi", "subscriber got %r" % \
                    line
            finally:
                g.close()
                s.close()
        L.point(t, "hello gateway -> ok; a guest publish is answered `ok "
                "publish R` and delivered", guarded(pgs, p_guest_ok))

        g1 = fx.path("guestagain.sock")
        b1 = fx.broker(g1)

        def p_guest_again():
            g = guest(g1)
            s = L.LineConn(g1)
            try:
                ask(s, "subscribe /again/a")
                got = ask(g, "publish /again/a one", "publish /again/a two",
                          "publish /again/b three")
                if got != ["ok publish /again/a", "ok publish /again/a",
                           "ok publish /again/b"]:
                    return False, "guest got %r; %s" % (got, crash(b1))
                got = s.lines_until_pong()
                if got != ["update /again/a one", "update /again/a two"]:
                    return False, "subscriber got %r" % got
                return expect_held(s, {"/again/a": "two",
                                       "/again/b": "three"})
            finally:
                g.close()
                s.close()
        L.point(t, "a guest publishes the same resource twice (default "
                "limits): both taken, delivered and retained, the broker "
                "lives", guarded(b1, p_guest_again))

        def p_guest_prefix():
            g = guest(gs)
            c = L.LineConn(gs)
            try:
                ask(c, "publish /chat/script S")
                ask(g, "publish /news/1 N1", "publish /news/2 N2")
                got = ask(g, "publish /chat/b B", "publish /chat/c C")
                if got != ["ok publish /chat/b", "ok publish /chat/c"]:
                    return False, "guest publishes answered %r" % got
                return expect_held(c, {
                    "/chat/a": None, "/chat/b": "B", "/chat/c": "C",
                    "/chat/script": "S", "/news/1": "N1", "/news/2": "N2"})
            finally:
                g.close()
                c.close()
        L.point(t, "--guest-states=2: a third /chat/ state evicts the oldest "
                "/chat/ guest state, never a script's /chat/ state nor "
                "/news/ states", guarded(pgs, p_guest_prefix))

        gb = fx.path("guestbytes.sock")
        pgb = fx.broker(gb, "--guest-retained=65536")

        def p_guest_bytes():
            g = guest(gb)
            c = L.LineConn(gb)
            try:
                x, y, n = "x" * 40000, "y" * 40000, "n" * 40000
                ask(c, "publish /chat/s " + x)
                got = ask(g, "publish /chat/1 " + x, "publish /news/1 " + n,
                          "publish /chat/2 " + y)
                if got != ["ok publish /chat/1", "ok publish /news/1",
                           "ok publish /chat/2"]:
                    return False, "guest publishes answered %r" % got
                return expect_held(c, {"/chat/1": None, "/chat/2": y,
                                       "/news/1": n, "/chat/s": x})
            finally:
                g.close()
                c.close()
        L.point(t, "--guest-retained=65536: a second 40000-byte /chat/ guest "
                "state evicts the first, not /news/'s nor the script's",
                guarded(pgb, p_guest_bytes))

        gf = fx.path("guestfull.sock")
        pgf = fx.broker(gf, "--max-states=4", "--guest-states=10")

        def p_guest_full():
            g = guest(gf)
            c = L.LineConn(gf)
            s = L.LineConn(gf)
            try:
                ask(s, "subscribe /news/1")
                got = ask(g, "publish /chat/1 C1", "publish /chat/2 C2")
                if got != ["ok publish /chat/1", "ok publish /chat/2"]:
                    return False, "first guest publishes: %r" % got
                ask(c, "publish /s/1 S1", "publish /s/2 S2")
                got = ask(g, "publish /news/1 N1")
                if got != ["error publish /news/1 too many states"]:
                    return False, "a guest with no state of its own, the " \
                        "broker full: %r" % got
                got = s.lines_until_pong()
                if got != []:
                    return False, "the refused state was delivered: %r" % got
                got = ask(g, "publish /chat/3 C3")
                if got != ["ok publish /chat/3"]:
                    return False, "/chat/3 answered %r" % got
                ok, why = expect_held(c, {
                    "/chat/1": None, "/chat/2": "C2", "/chat/3": "C3",
                    "/s/1": "S1", "/s/2": "S2", "/news/1": None})
                if not ok:
                    return False, "guests evicting: " + why
                # A script may evict anybody's, oldest first.
                ask(c, "publish /s/3 S3")
                return expect_held(c, {"/chat/2": None, "/chat/3": "C3",
                                       "/s/1": "S1", "/s/3": "S3"})
            finally:
                g.close()
                c.close()
                s.close()
        L.point(t, "--max-states=4: a guest finding no room of its own -> "
                "`error publish R too many states` (not delivered), another "
                "prefix's and scripts' states are kept; a script evicts the "
                "oldest state of anyone", guarded(pgf, p_guest_full))

        # 6. Invalid UTF-8.
        u8 = fx.path("utf8.sock")
        fx.broker(u8)
        bad = [("a lone continuation byte", b"\x80"),
               ("a truncated sequence", b"ok \xe2\x82"),
               ("an overlong encoding", b"\xc0\xaf"),
               ("a surrogate", b"\xed\xa0\x80"),
               ("a code point past U+10FFFF", b"\xf4\x90\x80\x80"),
               ("a 0xff byte", b"a\xffb")]

        def p_utf8(data):
            def fn():
                c = L.LineConn(u8)
                s = L.LineConn(u8)
                g = guest(u8)
                try:
                    got = ask(s, "subscribe /u", "publish /u good")
                    if got[-1:] != ["update /u good"]:
                        return False, "subscriber's own state: %r" % got
                    c.send_raw(b"publish /u " + data + b"\n")
                    got = c.lines_until_pong()
                    if got != ["error publish /u data is not valid UTF-8"]:
                        return False, "script got %r" % got
                    g.send_raw(b"publish /u " + data + b"\n")
                    got = g.lines_until_pong()
                    if got != ["error publish /u data is not valid UTF-8"]:
                        return False, "guest got %r" % got
                    got = s.lines_until_pong()
                    if got != []:
                        return False, "subscriber got %r" % got
                    return expect_held(c, {"/u": "good"})
                finally:
                    c.close()
                    s.close()
                    g.close()
            return fn
        for what, data in bad:
            L.point(t, "publish with %s -> `error publish R data is not "
                    "valid UTF-8` (script and guest), nothing delivered, "
                    "the old state kept" % what, p_utf8(data))

        def p_utf8_ok():
            c = L.LineConn(u8)
            try:
                text = "h\u00e9 \u20ac \U0001f600 \U0010ffff"
                ask(c, "publish /v " + text)
                return expect_held(c, {"/v": text})
            finally:
                c.close()
        L.point(t, "valid 2-, 3- and 4-byte UTF-8 (up to U+10FFFF) is taken",
                p_utf8_ok)

        # 7. list and stats.
        ls = fx.path("list.sock")
        fx.broker(ls)

        def p_list():
            c = L.LineConn(ls)
            s = L.LineConn(ls)
            try:
                ask(s, "subscribe /l/a", "subscribe /l/sub", "subscribe /m")
                ask(c, "publish /l/a hello", "publish /l/a hello2",
                    "publish /l/b xy", "publish /m q")
                got = ask(c, "list /l/*")
                rx = re.compile(r"^resource (\S+) subscribers (\d+) states "
                                r"(\d+) bytes (\d+) age (-?\d+) "
                                r"history (\d+)$")
                rows = []
                for line in got[:-1]:
                    m = rx.match(line)
                    if not m:
                        return False, "bad line %r in %r" % (line, got)
                    rows.append(m.groups())
                if got[-1:] != ["ok list 3"]:
                    return False, "list /l/* ended %r" % got
                names = [r[0] for r in rows]
                if sorted(names) != ["/l/a", "/l/b", "/l/sub"]:
                    return False, "list /l/* named %r" % names
                d = {r[0]: r[1:] for r in rows}
                want = {"/l/a": ("1", "2", "6"), "/l/b": ("0", "1", "2"),
                        "/l/sub": ("1", "0", "0")}
                kept = {"/l/a": "1", "/l/b": "1", "/l/sub": "0"}
                for n, k in kept.items():
                    if d[n][4] != k:
                        return False, "%s keeps %s states, not %s (the " \
                            "default history is 1): %r" % (n, d[n][4], k, got)
                for n, w in want.items():
                    if d[n][:3] != w:
                        return False, "%s: subscribers/states/bytes %r, " \
                            "wanted %r" % (n, d[n][:3], w)
                if not (0 <= int(d["/l/a"][3]) <= 30 and
                        0 <= int(d["/l/b"][3]) <= 30):
                    return False, "ages %r" % d
                got = ask(c, "list /l/b")
                if len(got) != 2 or not got[0].startswith(
                        "resource /l/b subscribers 0 states 1 bytes 2 age ") \
                        or got[1] != "ok list 1":
                    return False, "list /l/b: %r" % got
                got = ask(c, "list /nothing*")
                if got != ["ok list 0"]:
                    return False, "list /nothing*: %r" % got
                got = ask(c, "list /l/")
                if got != ["ok list 0"]:
                    return False, "list /l/ (exact, no such): %r" % got
                for pat in ("list", "list *"):
                    got = ask(c, pat)
                    names = sorted(l.split()[1] for l in got[:-1])
                    if names != ["/l/a", "/l/b", "/l/sub", "/m"] or \
                            got[-1] != "ok list 4":
                        return False, "%s: %r" % (pat, got)
                return True, None
            finally:
                c.close()
                s.close()
        L.point(t, "list: `resource R subscribers N states S bytes B age "
                "SECONDS history H` per match, then `ok list COUNT`; `*`, `PREFIX*` "
                "and exact patterns", p_list)

        st = fx.path("stats.sock")
        fx.broker(st)

        def p_stats():
            a = L.LineConn(st)
            b = L.LineConn(st)
            try:
                ask(a, "subscribe /x", "subscribe /y")
                ask(b, "subscribe /x", "publish /x 12345", "publish /z abc",
                    "publish /x 678")
                ask(a)          # its updates are queued before its pong
                got = ask(b, "stats")
                rx = re.compile(
                    r"^stats resources (\d+) states (\d+) bytes (\d+) "
                    r"connections (\d+) subscriptions (\d+) patterns 0 "
                    r"publishes (\d+) "
                    r"deliveries (\d+) publishes/s (\d+) deliveries/s "
                    r"(\d+)$")
                m = rx.match(got[0]) if len(got) == 1 else None
                if not m:
                    return False, "stats answered %r" % got
                v = [int(x) for x in m.groups()]
                want = [3, 2, 6, 2, 3, 3, 4]
                names = ["resources", "states", "bytes", "connections",
                         "subscriptions", "publishes", "deliveries"]
                if v[:7] != want:
                    return False, "%r, wanted %r" % (
                        list(zip(names, v[:7])), want)
                if v[7] > 3 or v[8] > 4:
                    return False, "rates %r higher than anything done" % \
                        v[7:]
                return True, None
            finally:
                a.close()
                b.close()
        L.point(t, "stats: `stats resources 3 states 2 bytes 6 connections "
                "2 subscriptions 3 patterns 0 publishes 3 deliveries 4 "
                "publishes/s N deliveries/s N`", p_stats)

        def p_stats_after():
            # The connections above are closed: their subscriptions go.
            c = L.LineConn(st)
            try:
                def counts():
                    got = ask(c, "stats")
                    m = re.search(r"connections (\d+) subscriptions (\d+)",
                                  got[0])
                    return m and (int(m.group(1)), int(m.group(2)))
                last = L.wait_until(lambda: counts() == (1, 0), 5.0)
                got = ask(c, "stats")
                return bool(last) and got[0].startswith(
                    "stats resources 2 states 2 bytes 6 connections 1 "
                    "subscriptions 0 "), got
            finally:
                c.close()
        L.point(t, "stats after the subscribers left: their subscriptions "
                "and state-less resources are gone", p_stats_after)

        # 8. Broker CPU: 100 connections x 1024 subscriptions.
        cp = fx.path("cpu.sock")
        cb = fx.broker(cp)

        def p_cpu():
            cpu0 = L.proc_cputime(cb.pid)
            conns = [L.LineConn(cp, 30.0) for _ in range(100)]
            try:
                subs = "".join("subscribe /cpu/%d\n" % i
                               for i in range(1024)).encode()
                unsubs = "".join("unsubscribe /cpu/%d\n" % i
                                 for i in range(1024)).encode()
                for rnd, blob, verb in ((1, subs, "subscribe"),
                                        (2, unsubs, "unsubscribe"),
                                        (3, subs, "subscribe")):
                    for c in conns:
                        c.send_raw(blob)
                    for i, c in enumerate(conns):
                        got = c.lines_until_pong(60.0 * L.SLOW)
                        if len(got) != 1024 or got[0] != "ok %s /cpu/0" % \
                                verb or got[-1] != "ok %s /cpu/1023" % verb:
                            return False, "round %d, connection %d: %d " \
                                "lines, %r" % (rnd, i, len(got), got[:2])
                s = L.LineConn(cp)
                got = ask(s, "stats")
                s.close()
                if "connections 101 subscriptions 102400 " not in got[0]:
                    return False, "stats %r" % got
            finally:
                for c in conns:
                    c.close()
            c = L.LineConn(cp)
            try:
                L.wait_until(lambda: " subscriptions 0 " in
                             ask(c, "stats")[0], 30.0)
                got = ask(c, "stats")
            finally:
                c.close()
            used = L.proc_cputime(cb.pid) - cpu0
            t.diag("broker CPU for 100 x 1024 subscribes, unsubscribes, "
                   "subscribes and closes: %.2f s" % used)
            if " subscriptions 0 " not in got[0]:
                return False, "after the closes: %r" % got
            return used < CPU_LIMIT, "broker used %.1f s of CPU" % used
        L.point(t, "100 connections x 1024 subscriptions, unsubscribed, "
                "subscribed again and closed: the broker uses under %.0f s "
                "of CPU" % CPU_LIMIT, p_cpu)

        L.point(t, "the brokers are still running", lambda: (
            all(p.poll() is None for p in fx.procs if p is not bb),
            "\n".join(crash(p) for p in fx.procs
                      if p is not bb and p.poll() is not None)))


if __name__ == "__main__":
    L.run(main, 240)
