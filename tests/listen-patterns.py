#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Pattern subscriptions: `subscribe /sensors/*` follows every resource
# whose name begins with /sensors/ (the grants' grammar: a trailing `*`).
#  - the broker: `ok subscribe P`, the current state of each matching
#    resource in name order (the snapshot), then each update of any of
#    them, each naming its resource; nothing else;
#  - a connection gets a publish once, however many of its subscriptions
#    and patterns match it;
#  - nobody publishes to a pattern; a pattern is followed from now (no
#    resume id); `get P [AFTER]` answers in parts of 32 KiB;
#  - budgets: 10,000 patterns per connection; a reader that stops gets
#    `gap P behind` and a new snapshot (conflation), not a drop;
#  - through a gateway: each client its own snapshot (ids with
#    `current`), then updates; a snapshot of 200 KiB in parts while
#    publishes go on loses no state; grants cover a pattern only with a
#    pattern (403-like `not allowed`); a client that stops reading hears
#    `gap P behind` and a new snapshot; with --redis patterns are refused;
#  - afterwards nothing is left: broker patterns and gateway gauges 0.

import os
import socket
import time

import lib as W


def lines_until(c, want, timeout=10.0):
    """Lines from LineConn c up to and including want."""
    out = []
    deadline = time.monotonic() + timeout * W.SLOW
    while True:
        line = c.readline(max(0.0, deadline - time.monotonic()))
        if line is None:
            raise RuntimeError("EOF after %r" % out[-3:])
        out.append(line)
        if line == want:
            return out


def stat(sock, key):
    c = W.LineConn(sock)
    try:
        st = c.ask("stats")[0].split()
    finally:
        c.close()
    return int(st[st.index(key) + 1])


def main(t):
    with W.Fixture("wspipe-patterns") as fx:
        sock = fx.path("b.sock")
        fx.broker(sock)
        pub = W.LineConn(sock)

        def p_snapshot():
            pub.ask("publish /s/b 2", "publish /s/a 1", "publish /t/c 3",
                    "publish /s/c/d 4", "publish /s 5", "publish /sx 6")
            c = W.LineConn(sock)
            try:
                snap = c.ask("subscribe /s/*")
                pub.ask("publish /s/a 7", "publish /t/x 8",
                        "publish /s/new 9")
                live = c.ask()
            finally:
                c.close()
            return (snap == ["ok subscribe /s/*", "update /s/a 1",
                             "update /s/b 2", "update /s/c/d 4"] and
                    live == ["update /s/a 7", "update /s/new 9"]), (
                        snap, live)

        W.point(t, "broker: ok, the snapshot in name order (matching "
                "names only), then each update naming its resource",
                p_snapshot)

        def p_once():
            c = W.LineConn(sock)
            try:
                c.ask("subscribe /s/a", "subscribe /s/*",
                      "subscribe /* current", "subscribe * current")
                pub.ask("publish /s/a 10")
                got = c.ask()
                pub.ask("publish /t/c 11")
                got2 = c.ask()
            finally:
                c.close()
            return (got == ["update /s/a 10"] and len(got2) == 1 and
                    got2[0].startswith("update /t/c ") and
                    got2[0].endswith(" 11")), (got, got2)

        W.point(t, "a connection gets a publish once, whatever number of "
                "its subscriptions and patterns match", p_once)

        def p_refused():
            c = W.LineConn(sock)
            try:
                got = c.ask("publish /s/* x", "subscribe /s/* 0",
                            "subscribe /s/* 1234abcd-5", "get /s/* bad name")
                none = c.ask("get /s/a")
            finally:
                c.close()
            return (got[0] == "error a pattern is not a resource (it ends "
                    "in *)" and got[1].startswith("error a pattern is "
                                                  "followed from now") and
                    got[2] == got[1] and got[3].startswith("error ") and
                    none[0] == "state /s/a 10"), (got, none)

        W.point(t, "nobody publishes to a pattern; a pattern takes no "
                "resume id; a bad AFTER is refused", p_refused)

        def p_get_parts():
            big = "x" * 1000
            pub.ask(*["publish /g/%03d %s-%03d" % (i, big, i)
                      for i in range(100)])
            c = W.LineConn(sock)
            states, parts, after = [], 0, ""
            try:
                while parts < 20:
                    got = c.ask("get /g/* " + after if after else
                                "get /g/*")
                    parts += 1
                    end = got[-1]
                    body = [g for g in got[:-1] if g.startswith("state ")]
                    if sum(len(g) for g in body) > 40000:
                        return False, "a part of %d bytes" % sum(
                            len(g) for g in body)
                    states += body
                    if end == "ok get /g/*":
                        break
                    after = end.split()[3]
            finally:
                c.close()
            names = [s.split()[1] for s in states]
            return (names == ["/g/%03d" % i for i in range(100)] and
                    parts >= 4 and all(s.endswith("-%s" % n[3:]) for s, n
                                       in zip(states, names))), (
                        parts, names[:3], len(names))

        W.point(t, "get P [AFTER]: 100 KiB of states in parts of at most "
                "32 KiB, in name order, none twice, none missed",
                p_get_parts)

        def p_get_names():
            c = W.LineConn(sock, timeout=10)
            try:
                c.send_raw("".join("subscribe /n/%05d\n" % i for i in
                                   range(10001)).encode())
                c.ask(timeout=60)
                pub.ask("publish /n/99999 last")
                first = c.ask("get /n/*")
                after = first[-1].split()[3] if len(
                    first[-1].split()) > 3 else None
                second = c.ask("get /n/* %s" % after) if after else []
            finally:
                c.close()
            return (first == ["ok get /n/* /n/09999"] and
                    second[0].startswith("state /n/99999 ") and
                    second[0].endswith(" last") and
                    second[-1] == "ok get /n/*"), (first, second)

        W.point(t, "get P looks at 10,000 names at most: 10,001 resources "
                "without a state before one with: a part with none, then "
                "the rest", p_get_names)

        def p_too_many():
            c = W.LineConn(sock, timeout=10)
            try:
                for i in range(10):
                    c.send_raw(("".join("subscribe /m/%d/%d/*\n" % (i, j)
                                        for j in range(1001))).encode())
                got = c.ask(timeout=60)
                n = stat(sock, "patterns")
            finally:
                c.close()
            refused = [g for g in got if g.startswith("error subscribe")]
            return (len(refused) == 10 and
                    refused[0].endswith("too many patterns") and
                    n == 10000), (len(refused), n)

        W.point(t, "10,000 patterns per connection, then `too many "
                "patterns`", p_too_many)

        def p_slow_reader():
            pats = W.LineConn(sock)
            pats.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            pats.send("subscribe /slow/*")
            blob = "y" * 8000
            n = 1400    # 11 MB: past what the broker holds for a reader
            p2 = W.LineConn(sock, timeout=30)
            try:
                for k in range(0, n, 100):
                    p2.send_raw("".join("publish /slow/%d %d-%s\n" % (
                        i % 50, i, blob) for i in range(k, k + 100))
                        .encode())
                p2.ask("publish /slow/zz end", timeout=60)
                got = lines_until(pats, "update /slow/zz end", 60)
            finally:
                p2.close()
                pats.close()
            gap = "gap /slow/* behind" in got
            last = {}
            for line in got[:-1]:
                if line.startswith("update /slow/"):
                    name, data = line.split()[1:3]
                    last[name] = int(data.split("-")[0])
            want = {"/slow/%d" % r: max(i for i in range(n) if i % 50 == r)
                    for r in range(50)}
            return gap and last == want and len(got) < n, (
                gap, len(got), [k for k in want if last.get(k) !=
                                want[k]][:5])

        W.point(t, "a reader that stops: `gap P behind`, then a new "
                "snapshot, every resource's newest state, not a drop",
                p_slow_reader)

        # Through a gateway.
        gsock = fx.path("g.sock")
        gw = fx.gateway(["--listen", "--broker-socket=" + gsock,
                         "--metrics=/metrics"])
        W.wait_until(lambda: W.broker_answers(gsock), 10 * W.SLOW)
        gpub = W.LineConn(gsock)
        gpub.ask("publish /s/b 2", "publish /s/a 1", "publish /t/c 3")
        a = W.WS(gw.port, "/")
        fx.wss.append(a)

        def p_gw_snapshot():
            a.send("subscribe /s/* current")
            got = a.collect(3, 5 * W.SLOW)
            gpub.ask("publish /s/a 4", "publish /t/x 5", "publish /s/z 6")
            got2 = a.collect(2, 5 * W.SLOW)
            ok, why = W.no_more(a)
            b = W.WS(gw.port, "/")
            try:
                b.send("subscribe /s/*")
                gotb = b.collect(4, 5 * W.SLOW)
                okb, whyb = W.no_more(b)
            finally:
                b.close()
            ids = [g.split()[2] for g in got[1:] + got2]
            return (got[0] == "ok subscribe /s/*" and
                    [g.split()[1] for g in got[1:]] == ["/s/a", "/s/b"] and
                    [g.split()[1] for g in got2] == ["/s/a", "/s/z"] and
                    all(len(i.split("-")) == 2 for i in ids) and ok and
                    gotb == ["ok subscribe /s/*", "update /s/a 4",
                             "update /s/b 2", "update /s/z 6"] and okb), (
                got, got2, why, gotb, whyb)

        W.point(t, "gateway: each client its own snapshot (with ids when "
                "asked), then the updates of matching resources only",
                p_gw_snapshot)

        def p_gw_exact_not_new():
            c = W.WS(gw.port, "/")
            try:
                c.send("subscribe /s/b")
                okc = c.collect(2, 5 * W.SLOW)
            finally:
                c.close()
            ok, why = W.no_more(a)
            return (okc == ["ok subscribe /s/b", "update /s/b 2"] and ok,
                    (okc, why))

        W.point(t, "gateway: another client's subscribe to a resource "
                "brings its state to that client, not again to the "
                "pattern's", p_gw_exact_not_new)

        def p_gw_parts():
            big = "z" * 1000
            c = W.WS(gw.port, "/")
            final = {}
            try:
                gpub.ask(*["publish /p/%03d v0-%s" % (i, big)
                           for i in range(200)])
                c.send("subscribe /p/* current")
                # Publishes go on while the snapshot comes in parts.
                for k in range(5):
                    lines = ["publish /p/%03d v%d-%s" % ((k * 41 + j * 7) %
                             200, k + 1, big) for j in range(30)]
                    gpub.ask(*lines)
                    for ln in lines:
                        final[ln.split()[1]] = ln.split()[2]
                gpub.ask("publish /p/end done")
                deadline = time.monotonic() + 30 * W.SLOW
                seen = {}
                while time.monotonic() < deadline:
                    m = c.recv(10 * W.SLOW)
                    if m.startswith("update /p/"):
                        seen[m.split()[1]] = m.split()[3]
                        if m.split()[1] == "/p/end":
                            break
            finally:
                c.close()
            want = {"/p/%03d" % i: "v0-" + big for i in range(200)}
            want.update(final)
            want["/p/end"] = "done"
            bad = [k for k in want if seen.get(k) != want[k]]
            return not bad, ("wrong or missing", bad[:5], len(seen))

        W.point(t, "gateway: a 200 KiB snapshot in parts while publishes go "
                "on: every resource ends at its newest state",
                p_gw_parts)

        def p_gw_slow():
            c = W.Client(gw.port, 30 * W.SLOW, rcvbuf=4096)
            try:
                c.upgrade("/")
                c.send_text("subscribe /q/*")
                blob = "w" * 8000
                n = 1400
                for k in range(0, n, 100):
                    gpub.ask(*["publish /q/%d %d-%s" % (i % 20, i, blob)
                               for i in range(k, k + 100)], timeout=60)
                gpub.ask("publish /q/zz end")
                msgs = []
                deadline = time.monotonic() + 60 * W.SLOW
                while time.monotonic() < deadline:
                    m = c.recv_message(30 * W.SLOW)
                    msgs.append(m[1].decode() if isinstance(m, tuple)
                                else m)
                    if msgs[-1] == "update /q/zz end":
                        break
            finally:
                c.close()
            gap = "gap /q/* behind" in msgs
            last = {}
            for m in msgs:
                if m.startswith("update /q/") and m != "update /q/zz end":
                    name, data = m.split()[1:3]
                    last[name] = int(data.split("-")[0])
            want = {"/q/%d" % r: max(i for i in range(n) if i % 20 == r)
                    for r in range(20)}
            return gap and last == want and len(msgs) < n, (
                gap, len(msgs), sorted(last.items())[:3])

        W.point(t, "gateway: a client that stops reading hears `gap P "
                "behind`, then a new snapshot: every newest state, the "
                "connection kept", p_gw_slow)

        # Grants: an authorizer lets this client follow /ok/* only.
        auth = fx.path("auth.sh")
        with open(auth, "w") as f:
            f.write("#!/bin/sh\necho 'subscribe /ok/*'\nexit 0\n")
        os.chmod(auth, 0o755)
        g2 = fx.gateway(["--listen", "--authorizer=" + auth,
                         "--broker-socket=" + fx.path("g2.sock")])

        def p_grants():
            c = W.WS(g2.port, "/")
            try:
                got = []
                for p in ("/ok/*", "/ok/x/*", "/o*", "*", "/ok*"):
                    c.send("subscribe " + p)
                    got.append(c.recv(5 * W.SLOW))
            finally:
                c.close()
            return got == ["ok subscribe /ok/*", "ok subscribe /ok/x/*",
                           "error subscribe /o* not allowed",
                           "error subscribe * not allowed",
                           "error subscribe /ok* not allowed"], got

        W.point(t, "grants: a pattern is allowed only under a granted "
                "pattern", p_grants)

        def p_redis():
            rd = fx.redis()
            rsock = fx.path("r.sock")
            fx.broker(rsock, "--redis=" + rd.url)
            c = W.LineConn(rsock)
            try:
                got = c.ask("subscribe /s/*", "get /s/*")
            finally:
                c.close()
            return got == ["error subscribe /s/* patterns need the "
                           "in-memory broker",
                           "error get /s/* patterns need the in-memory "
                           "broker"], got

        W.point(t, "--redis: patterns are refused with a reason", p_redis)

        def p_gone():
            a.close()
            pub.close()
            gpub.close()

            ok = W.wait_until(lambda: W.listen_idle(gw.port), 10 * W.SLOW)
            okb = W.wait_until(lambda: stat(sock, "patterns") == 0 and
                               stat(gsock, "patterns") == 0, 10 * W.SLOW)
            return ok and okb, "gauges %s, broker patterns %s" % (ok, okb)

        W.point(t, "afterwards no pattern is left at the brokers, and no "
                "client, subscription or resource at the gateway", p_gone)


W.run(main, timeout=300, plan=14)
