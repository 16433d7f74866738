#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# On-demand publishers: `wspipe broker --publishers=DIR` on its own, two
# gateways with --broker on it, and shell scripts in DIR that record
# what happens to them in a state directory.
#  - nothing runs before a subscriber: not at start, not for a script's
#    publish or get; the first subscriber (on gateway 1) starts DIR/tick,
#    whose lines reach it; a subscriber on gateway 2 gets the same
#    states from the same, single, instance;
#  - its environment: WSPIPE_RESOURCE, WSPIPE_BROKER, WSPIPE_SUBSCRIBERS,
#    SCRIPT_NAME and PATH_INFO (DIR/params serves /params/a/b), PATH, and
#    nothing of the broker's own environment;
#  - "subscribers N" lines on its stdin follow the count across both
#    gateways and a script;
#  - its stderr is logged, escaped;
#  - no program for a resource (a directory, a file that is not
#    executable, a symlink out of DIR, dot segments): nothing starts and
#    the resource works as before;
#  - grace: stopped no sooner than --publisher-grace after the last
#    subscriber left, and not at all if one came back within it;
#  - a program that exits at once is started again after 1 s, then 2 s;
#    one that closes its stdout is ended and started again; one that
#    exits leaving a child behind: the child is ended;
#  - a program that ignores SIGINT, SIGTERM and SIGHUP, and its forked
#    child, are killed;
#  - a 10 MB line is refused and logged, a non-UTF-8 line refused, a CR
#    before the newline dropped, as for a script's publish;
#  - a program flooding lines: the broker keeps answering, its memory is
#    bounded, and the flood stops after the grace;
#  - --max-publishers: subscribers cannot start more programs than that;
#  - SIGTERM to a gateway with its own broker (--publishers), and to the
#    stand-alone broker: exit 0, and no publisher, nor its fork, is left.

import os
import signal
import stat
import subprocess
import time

import lib as L

GRACE = 1.0
FLOOD_RSS_MB = 32


def script(d, name, body):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def lines_of(path):
    try:
        with open(path) as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except FileNotFoundError:
        return []


def wait_lines(path, n, timeout=10.0):
    """The lines of path once it has n, else what it has at the deadline."""
    L.wait_until(lambda: len(lines_of(path)) >= n, timeout * L.SLOW)
    return lines_of(path)


def read_env(path):
    env = {}
    try:
        with open(path, "rb") as f:
            for v in f.read().split(b"\0"):
                if b"=" in v:
                    k, _, x = v.partition(b"=")
                    env[k.decode()] = x.decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    return env


def blog(p):
    """The whole log of a broker started by the fixture."""
    p.logfile.seek(0)
    return p.logfile.read().decode("utf-8", "replace")


def wait_blog(p, needle, timeout=10.0):
    if L.wait_until(lambda: needle in blog(p), timeout * L.SLOW):
        return True, None
    return False, "no %r in the broker's log:\n%s" % (
        needle, "\n".join(blog(p).splitlines()[-12:]))


def running(ppid, name):
    """Live children of ppid running DIR/name."""
    out = []
    for k in L.children_of(ppid):
        if L.dead(k):
            continue
        if any(a.endswith("/pubs/" + name) for a in L.cmdline(k)):
            out.append(k)
    return out


def gone(pids, timeout=10.0):
    return L.wait_until(lambda: all(L.dead(p) for p in pids),
                        timeout * L.SLOW)


def ws_subscribe(fx, port, resource):
    w = fx.ws(port)
    w.send("subscribe " + resource)
    ok, why = w.expect("ok subscribe " + resource, 5.0 * L.SLOW)
    if not ok:
        raise RuntimeError("subscribe %s: %s" % (resource, why))
    return w


def next_update(w, resource, timeout=5.0):
    """The data of the next update of resource that w gets, or None."""
    deadline = time.monotonic() + timeout * L.SLOW
    while time.monotonic() < deadline:
        try:
            m = w.recv(max(0.0, deadline - time.monotonic()))
        except L.Timeout:
            return None
        pre = "update %s " % resource
        if m.startswith(pre):
            return m[len(pre):]
    return None


def next_tick(w, resource="/tick", timeout=5.0):
    """The next "tick N" update of resource (the state a script published
    before may come first), or None."""
    deadline = time.monotonic() + timeout * L.SLOW
    while True:
        got = next_update(w, resource, max(0.0, deadline -
                                             time.monotonic()))
        if got is None or got.startswith("tick "):
            return got


def until_update(w, resource, data, timeout=5.0):
    deadline = time.monotonic() + timeout * L.SLOW
    seen = []
    while time.monotonic() < deadline:
        got = next_update(w, resource, max(0.0, deadline - time.monotonic()))
        if got is None:
            break
        seen.append(got)
        if got == data:
            return True, None
    return False, "no update %r; got %r" % (data, seen[-5:])


def main(t):
    os.environ["WSPIPE_LEAK_CHECK"] = "secret"
    with L.Fixture("wspipe-pub") as fx:
        D = fx.path("pubs")
        ST = fx.path("state")
        os.mkdir(D)
        os.mkdir(ST)
        script(D, "tick",
               'echo "$$" >> %s/tick.starts\n'
               'env -0 > %s/tick.env\n'
               "printf 'hello \\033[31mred\\033[0m\\n' >&2\n"
               'i=0\n'
               'while :; do i=$((i+1)); echo "tick $i"; sleep 0.05; done\n'
               % (ST, ST))
        script(D, "params",
               'env -0 > %s/params.env\necho "info $PATH_INFO"\n'
               'exec sleep 100000\n' % ST)
        script(D, "count",
               'echo "at start $WSPIPE_SUBSCRIBERS"\n'
               'while read -r w n; do echo "$w $n"; done\n')
        script(D, "other", 'echo "$$" >> %s/other.starts\n'
               'exec sleep 100000\n' % ST)
        script(D, "crash", 'echo "$(date +%%s.%%N) $$" >> %s/crash.starts\n'
               'echo crashing\nexit 3\n' % ST)
        script(D, "closer", 'echo "$$" >> %s/closer.starts\n'
               'echo closing\nexec >&- <&-\nexec sleep 100000\n' % ST)
        script(D, "leaver",
               'sleep 100000 >/dev/null 2>&1 </dev/null &\n'
               'echo "$! $$" >> %s/leaver.pids\n'
               'echo leaving\nexit 0\n' % ST)
        script(D, "stubborn",
               "trap '' TERM INT HUP\n"
               'sleep 100000 &\n'
               'echo "$$ $!" >> %s/stubborn.pids\n'
               'echo up\n'
               'while :; do sleep 1; done\n' % ST)
        script(D, "lines",
               "head -c 10000000 /dev/zero | tr '\\0' a\n"
               "echo\n"
               "printf '\\377\\376 not utf-8\\n'\n"
               "printf 'with cr\\r\\n'\n"
               "echo last\n"
               "exec sleep 100000\n")
        script(D, "flood", 'exec yes "%s"\n' % ("x" * 1000))
        os.mkdir(os.path.join(D, "adir"))
        script(D, "noexec", 'echo "$$" >> %s/outside.starts\n' % ST)
        os.chmod(os.path.join(D, "noexec"), 0o644)
        outside = script(fx.dir, "outside",
                         'echo "$$" >> %s/outside.starts\n'
                         'exec sleep 100000\n' % ST)
        os.symlink(outside, os.path.join(D, "link"))

        S = fx.path("b.sock")
        # The broker's memory under a flood is measured: AddressSanitizer
        # must not keep what is freed (256 MB by default).
        os.environ["ASAN_OPTIONS"] = os.environ.get(
            "ASAN_OPTIONS", "detect_leaks=1") + ":quarantine_size_mb=4"
        bk = fx.broker(S, "--publishers=" + D,
                       "--publisher-grace=%g" % GRACE)
        g1 = fx.gateway(["--listen", "--broker=" + S])
        g2 = fx.gateway(["--listen", "--broker=" + S])
        L.sync_gateway(fx, g1.port, S)
        L.sync_gateway(fx, g2.port, S)
        lc = L.LineConn(S)

        def p_not_before():
            lc.ask("publish /tick by a script", "get /tick")
            kids = [k for k in L.children_of(bk.pid) if not L.dead(k)]
            return (kids == [] and lines_of(ST + "/tick.starts") == [],
                    "broker children %r" % kids)
        L.point(t, "nothing runs before a subscriber (start, a script's "
                "publish and get)", p_not_before)

        state = {}

        def p_first():
            c1 = ws_subscribe(fx, g1.port, "/tick")
            state["c1"] = c1
            got = next_tick(c1)
            if got is None or not got.startswith("tick "):
                return False, "first update %r" % got
            starts = wait_lines(ST + "/tick.starts", 1)
            pids = running(bk.pid, "tick")
            state["tick"] = int(starts[0])
            return (pids == [int(starts[0])],
                    "starts %r, running %r" % (starts, pids))
        L.point(t, "the first subscriber (gateway 1) starts DIR/tick, a "
                "child of the broker, whose lines are its states", p_first)

        def p_second():
            c2 = ws_subscribe(fx, g2.port, "/tick")
            state["c2"] = c2
            got = next_tick(c2)
            if got is None or not got.startswith("tick "):
                return False, "gateway 2: %r" % got
            ok, why = until_update(state["c1"], "/tick",
                                   "tick %d" % (int(got[5:]) + 3))
            if not ok:
                return False, "gateway 1 after: " + why
            return (lines_of(ST + "/tick.starts") == [str(state["tick"])] and
                    running(bk.pid, "tick") == [state["tick"]],
                    "starts %r, running %r" % (lines_of(ST + "/tick.starts"),
                                               running(bk.pid, "tick")))
        L.point(t, "a subscriber on gateway 2 gets the same states from "
                "the same, single, instance", p_second)

        def p_env():
            env = read_env(ST + "/tick.env")
            if env is None:
                return False, "no environment recorded"
            want = {"WSPIPE_RESOURCE": "/tick", "WSPIPE_BROKER": S,
                    "WSPIPE_SUBSCRIBERS": "1", "SCRIPT_NAME": "/tick",
                    "PATH_INFO": ""}
            for k, v in want.items():
                if env.get(k) != v:
                    return False, "%s=%r, wanted %r" % (k, env.get(k), v)
            if "WSPIPE_LEAK_CHECK" in env or "HOME" in env:
                return False, "the broker's environment leaked: %r" % env
            if not env.get("PATH"):
                return False, "no PATH"
            w = ws_subscribe(fx, g1.port, "/params/a/b")
            got = next_update(w, "/params/a/b")
            env = read_env(ST + "/params.env") or {}
            w.close()
            return (got == "info /a/b" and
                    env.get("SCRIPT_NAME") == "/params" and
                    env.get("PATH_INFO") == "/a/b" and
                    env.get("WSPIPE_RESOURCE") == "/params/a/b",
                    "update %r, env %r" % (got, env))
        L.point(t, "environment: WSPIPE_RESOURCE, WSPIPE_BROKER, "
                "WSPIPE_SUBSCRIBERS, SCRIPT_NAME, PATH_INFO (DIR/params "
                "serves /params/a/b), PATH, nothing else of the broker's",
                p_env)

        def p_stderr():
            ok, why = wait_blog(bk, "publisher /tick stderr: hello "
                                "\\033[31mred\\033[0m")
            if not ok:
                return ok, why
            return "\033" not in blog(bk), "a raw ESC in the log"
        L.point(t, "its stderr is logged, escaped, tagged with the "
                "resource", p_stderr)

        def p_counts():
            a = ws_subscribe(fx, g1.port, "/count")
            ok, why = until_update(a, "/count", "at start 1")
            if not ok:
                return False, "WSPIPE_SUBSCRIBERS: " + why
            ok, why = until_update(a, "/count", "subscribers 1")
            if not ok:
                return False, "first line: " + why
            b = ws_subscribe(fx, g2.port, "/count")
            ok, why = until_update(a, "/count", "subscribers 2")
            if not ok:
                return False, "gateway 2 joins: " + why
            x = fx.ws(g2.port)
            x.send("subscribe /count")
            ok, why = x.expect("ok subscribe /count")
            if not ok:
                return False, why
            s = L.LineConn(S)
            s.ask("subscribe /count")
            ok, why = until_update(a, "/count", "subscribers 3")
            if not ok:
                return False, "a script joins: " + why
            b.send("unsubscribe /count")
            x.send("unsubscribe /count")
            ok, why = until_update(a, "/count", "subscribers 2")
            s.close()
            b.close()
            x.close()
            a.close()
            return ok, "gateway 2's last client leaves: %s" % why
        L.point(t, "\"subscribers N\" on stdin follows the count (a "
                "gateway counts once, whatever its clients; a script "
                "once)", p_counts)

        def p_none():
            r = lc.ask("subscribe /adir", "subscribe /noexec",
                       "subscribe /link", "subscribe /../outside",
                       "subscribe /adir/../outside", "subscribe nothere",
                       "subscribe /nothing/here")
            kids = running(bk.pid, "outside") + running(bk.pid, "noexec") \
                + running(bk.pid, "link")
            if kids or lines_of(ST + "/outside.starts"):
                return False, "started: %r %r" % (
                    kids, lines_of(ST + "/outside.starts"))
            if len([x for x in r if x.startswith("ok subscribe")]) != 7:
                return False, "answers %r" % r
            L.wspipe_run(["publish", "--socket=" + S, "/nothing/here",
                          "as before"])
            got = lc.readline(3.0 * L.SLOW)
            return (got == "update /nothing/here as before",
                    "got %r" % got)
        L.point(t, "no program (a directory, not executable, a symlink out "
                "of DIR, dot segments, no leading /): nothing starts, the "
                "resource works as before", p_none)

        def p_grace():
            pid = state["tick"]
            t0 = time.monotonic()
            state["c1"].send("unsubscribe /tick")
            state["c2"].send("unsubscribe /tick")
            if not gone([pid], GRACE + 10):
                return False, "pid %d still runs" % pid
            dt = time.monotonic() - t0
            if dt < GRACE * 0.9:
                return False, "stopped %.2f s after the last left" % dt
            return wait_blog(bk, "publisher /tick no subscriber for 1 s: "
                             "stopping pid %d" % pid)
        L.point(t, "after the last subscriber left, stopped once the grace "
                "(%g s) has passed, not sooner" % GRACE, p_grace)

        def p_back():
            lc.ask("subscribe /tick", "subscribe /other")
            starts = wait_lines(ST + "/tick.starts", 2)
            if len(starts) != 2:
                return False, "not started again: %r" % starts
            tick = int(starts[1])
            others = wait_lines(ST + "/other.starts", 1)
            other = int(others[0])
            # Both left; /tick came back within the grace, /other not.
            lc.ask("unsubscribe /tick", "unsubscribe /other",
                   "subscribe /tick")
            if not gone([other], GRACE + 10):
                return False, "/other was never stopped"
            ok, why = wait_blog(bk, "stopping pid %d" % other)
            if not ok:
                return ok, why
            return (not L.dead(tick) and
                    lines_of(ST + "/tick.starts") == starts and
                    "stopping pid %d" % tick not in blog(bk),
                    "tick pid %d dead %r, starts %r" % (
                        tick, L.dead(tick), lines_of(ST + "/tick.starts")))
        L.point(t, "a subscriber back within the grace keeps it running "
                "(while another's grace ends)", p_back)

        def p_crash():
            lc.ask("subscribe /crash")
            starts = wait_lines(ST + "/crash.starts", 3, 20)
            lc.ask("unsubscribe /crash")
            if len(starts) < 3:
                return False, "starts %r" % starts
            at = [float(x.split()[0]) for x in starts]
            d1, d2 = at[1] - at[0], at[2] - at[1]
            t.diag("crash: started again after %.2f s, then %.2f s" % (d1,
                                                                       d2))
            if not (d1 >= 0.95 and d2 >= 1.95 and d2 <= 2 + 10 * L.SLOW):
                return False, "intervals %.2f s, %.2f s" % (d1, d2)
            return wait_blog(bk, "publisher /crash starting again in 2 s")
        L.point(t, "exits at once while subscribed: started again after "
                "1 s, then 2 s (backoff)", p_crash)

        def p_closer():
            lc.ask("subscribe /closer")
            starts = wait_lines(ST + "/closer.starts", 2, 10)
            lc.ask("unsubscribe /closer")
            if len(starts) < 2:
                return False, "starts %r" % starts
            if not gone([int(starts[0])], 5):
                return False, "the first one still runs"
            return wait_blog(bk, "publisher /closer closed its output: "
                             "ending it")
        L.point(t, "closes its stdout and keeps running: ended, and "
                "started again", p_closer)

        def p_leaver():
            lc.ask("subscribe /leaver")
            pids = wait_lines(ST + "/leaver.pids", 2, 10)
            lc.ask("unsubscribe /leaver")
            if len(pids) < 2:
                return False, "started %r" % pids
            left = int(pids[0].split()[0])
            return gone([left], 5), "its child %d still runs" % left
        L.point(t, "exits leaving a child (stdout elsewhere) in its group: "
                "the child is ended, and it starts again", p_leaver)

        def p_stubborn():
            lc.ask("subscribe /stubborn")
            pids = wait_lines(ST + "/stubborn.pids", 1)
            if not pids:
                return False, "it never started"
            both = [int(x) for x in pids[0].split()]
            lc.ask("unsubscribe /stubborn")
            if not gone(both, GRACE + 10):
                return False, "still alive: %r" % [
                    p for p in both if not L.dead(p)]
            return wait_blog(bk, "publisher /stubborn pid %d killed by "
                             "signal 9" % both[0])
        L.point(t, "ignores SIGINT, SIGTERM and SIGHUP: it and its forked "
                "child are killed (SIGKILL)", p_stubborn)

        def p_lines():
            s = L.LineConn(S)
            s.send("subscribe /lines")
            want = ["ok subscribe /lines", "update /lines with cr",
                    "update /lines last"]
            got = []
            try:
                while len(got) < 3:
                    got.append(s.readline(10.0 * L.SLOW))
            except L.Timeout:
                pass
            s.close()
            if got != want:
                return False, "got %r" % [L.trunc(x) for x in got]
            ok, why = wait_blog(bk, "publisher /lines a line over 65536 "
                                "bytes refused")
            if not ok:
                return ok, why
            return wait_blog(bk, "publisher /lines broker: error publish "
                             "/lines data is not valid UTF-8")
        L.point(t, "a 10 MB line is refused and logged, a non-UTF-8 line "
                "refused and logged, a CR before the newline dropped",
                p_lines)

        def stats():
            for line in lc.ask("stats"):
                f = line.split()
                if f[0] == "stats":
                    return int(f[f.index("publishes") + 1])
            return None

        def p_flood():
            w = ws_subscribe(fx, g1.port, "/flood")
            if next_update(w, "/flood") != "x" * 1000:
                return False, "no flood"
            rss0 = L.rss_kib(bk.pid)
            n0 = stats()
            peak = rss0
            slowest = 0.0
            deadline = time.monotonic() + 20 * L.SLOW
            while time.monotonic() < deadline:
                a = time.monotonic()
                n = stats()
                slowest = max(slowest, time.monotonic() - a)
                peak = max(peak, L.rss_kib(bk.pid))
                if n - n0 >= 20000:
                    break
            t.diag("flood: %d states, broker VmRSS %d kB to %d kB, slowest "
                   "stats %.3f s" % (n - n0, rss0, peak, slowest))
            if n - n0 < 20000:
                return False, "only %d states in 20 s" % (n - n0)
            pids = running(bk.pid, "flood")
            w.close()
            if not gone(pids, GRACE + 10):
                return False, "the flood was not stopped"
            if slowest > 2.0 * L.SLOW:
                return False, "stats took %.1f s" % slowest
            if os.environ.get("WSPIPE_VALGRIND"):
                return True
            return ((peak - rss0) / 1024.0 < FLOOD_RSS_MB,
                    "VmRSS grew %d kB" % (peak - rss0))
        L.point(t, "a line flood: the broker answers at once, its memory "
                "stays bounded, the flood stops after the grace", p_flood)

        def p_max():
            S2 = fx.path("b2.sock")
            b2 = fx.broker(S2, "--publishers=" + D, "--max-publishers=1")
            c = L.LineConn(S2)
            n = len(lines_of(ST + "/other.starts"))
            c.ask("subscribe /other", "subscribe /params/x",
                  "subscribe /params/y")
            # Programs start as the subscribe is handled: all have by now.
            kids = [k for k in L.children_of(b2.pid) if not L.dead(k)]
            starts = wait_lines(ST + "/other.starts", n + 1)
            if len(kids) != 1 or len(starts) != n + 1:
                return False, "children %r, /other starts %r" % (kids,
                                                                 starts)
            ok, why = wait_blog(b2, "publisher /params/x: not started, 1 "
                                "already (--max-publishers)")
            if not ok:
                return ok, why
            L.wspipe_run(["publish", "--socket=" + S2, "/params/y", "plain"])
            got = c.readline(3.0 * L.SLOW)
            c.close()
            b2.send_signal(signal.SIGTERM)
            st = b2.wait(10 * L.SLOW)
            return (got == "update /params/y plain" and st == 0 and
                    gone(kids, 1), "update %r, exit %r" % (got, st))
        L.point(t, "--max-publishers=1: a second resource's program is not "
                "started (logged), the resource works without it", p_max)

        def p_gateway_shutdown():
            g3 = fx.gateway(["--listen", "--publishers=" + D,
                             "--publisher-grace=60",
                             "--broker-socket=" + fx.path("g3.sock")])
            L.sync_gateway(fx, g3.port, fx.path("g3.sock"))
            brokers = L.broker_children(g3.pid)
            if len(brokers) != 1:
                return False, "brokers %r" % brokers
            n = len(lines_of(ST + "/stubborn.pids"))
            ws_subscribe(fx, g3.port, "/stubborn")
            pids = wait_lines(ST + "/stubborn.pids", n + 1)
            if len(pids) != n + 1:
                return False, "it never started"
            both = [int(x) for x in pids[n].split()]
            if L.proc_stat(both[0])[1] != brokers[0]:
                return False, "not the gateway's broker's child"
            st = g3.stop()
            if st != 0:
                return False, "gateway exit %r" % st
            return (gone(both + brokers, 1),
                    "left: %r" % [p for p in both + brokers
                                  if not L.dead(p)])
        L.point(t, "SIGTERM to a gateway with --publishers: exit 0, its "
                "broker and a publisher ignoring SIGTERM (and its fork) "
                "are gone", p_gateway_shutdown)

        def p_broker_shutdown():
            n = len(lines_of(ST + "/stubborn.pids"))
            lc.ask("subscribe /stubborn")
            pids = wait_lines(ST + "/stubborn.pids", n + 1)
            if len(pids) != n + 1:
                return False, "it never started"
            both = [int(x) for x in pids[n].split()]
            ticks = running(bk.pid, "tick")
            if not ticks:
                return False, "/tick is not running"
            bk.send_signal(signal.SIGTERM)
            try:
                st = bk.wait(10 * L.SLOW)
            except subprocess.TimeoutExpired:
                return False, "the broker still runs"
            if st != 0:
                return False, "broker exit %r" % st
            return (gone(both + ticks, 1) and not os.path.exists(S),
                    "left: %r" % [p for p in both + ticks if not L.dead(p)])
        L.point(t, "SIGTERM to the broker: exit 0, no publisher left (one "
                "ignoring SIGTERM, its fork, a quiet one)", p_broker_shutdown)
        lc.close()

        def p_none_left():
            left = [p for p in L.all_pids() if not L.dead(p) and
                    any(D in a or "sleep 100000" in a for a in L.cmdline(p))]
            return left == [], "left: %r" % [(p, L.cmdline(p)) for p in left]
        L.point(t, "no program of DIR is left running anywhere", p_none_left)

        def p_gateways():
            st = [g1.stop(), g2.stop()]
            return st == [0, 0], "exit statuses %r" % st
        L.point(t, "both gateways stop with exit 0", p_gateways)


if __name__ == "__main__":
    L.run(main, 240)
