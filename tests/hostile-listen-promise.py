#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode: every answer the gateway gives means what it says, under
# load and when the broker cannot keep up.
#  - `ok subscribe R` comes only once the broker has the subscription: a
#    script's publish made right after the client saw it always arrives
#    (200 rounds of a fresh resource, a second client, and a resubscription
#    racing the unsubscribe), also with two CPU hogs running;
#  - subscribing twice gets two `ok subscribe R` (one update per publish);
#    20 subscribes at once get 20 answers; `unsubscribe` is answered at
#    once, also while the subscribe is in flight;
#  - subscribing twice while the broker is stopped: no answer until it
#    runs again, then both oks;
#  - with the broker stopped (SIGSTOP) and 100 browsers publishing 64 KB
#    states until the gateway's queue to it is over 4 MiB, a new subscribe
#    and a publish are answered `error ... broker busy, try again later`,
#    never dropped; unsubscribe is still answered at once; after SIGCONT
#    every publish is answered once (`ok publish` if it was taken), and
#    all works again;
#  - a broker's refusal reaches the client (`error subscribe R too many
#    resources` from a broker with --max-resources=2);
#  - 60,000 malformed commands sent without reading get exactly 60,000
#    `error ...` replies once the client reads;
#  - browsers' grants: subscribing is open by default, publishing only
#    with --listen-publish[=PREFIX], else `error publish R not allowed`;
#  - invalid UTF-8 published by a script is refused to it and never
#    reaches a browser, whose connection stays open (no 1007);
#  - a browser publishing the same resource twice: both `ok publish`,
#    both delivered, the broker unharmed.

import os
import signal
import subprocess
import threading
import time

import lib as L

ROUNDS = 200
DATA = 65000                    # bytes of a browser's busy-test publish
BAD = ["frobnicate /x", "subscribe", "subscribe a b", "", "ping x",
       "unsubscribe", "publish", "subscribe /a\x01b", "get /x",
       "subscribe /" + "r" * 256]
FLOOD = 60000
PUBLISHERS = 100


def gist(gw):
    """The lines of the gateway's log about its broker's fate."""
    keys = ("ERROR: AddressSanitizer", "SUMMARY", "lost the broker",
            "ended with status", "runtime error")
    lines = gw.log().splitlines()
    out = [l for l in lines if any(k in l for k in keys)]
    for i, l in enumerate(lines):
        if "ERROR: AddressSanitizer" in l:
            out += [x.strip() for x in lines[i + 1:i + 8]
                    if x.strip().startswith("#")]
            break
    return "\n".join(out[:14]) or gw.logtail(5)


def hogs(fx, n=2):
    return [fx.spawn(["yes"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL) for _ in range(n)]


def kill_hogs(ps):
    for p in ps:
        p.kill()
        p.wait(5)


def until_update(w, name, want, timeout):
    """(ok, diag): w gets `update name want`, preceded at most by updates
    of name (a retained state)."""
    out, found = w.until("update %s %s" % (name, want), timeout)
    if not found:
        return False, "no `update %s %s`; got %r" % (
            name, want, [L.trunc(m, 60) for m in out[-3:]])
    bad = [m for m in out[:-1] if not m.startswith("update %s " % name)]
    return not bad, "before it: %r" % bad[:3]


def promise_rounds(fx, port, sock, tag, rounds=ROUNDS, timeout=5.0):
    """(ok, diag): each round, a fresh resource (one client), the same
    resource for a second client, and both leave then one resubscribes at
    once; after each `ok subscribe` a script publishes on the broker's
    socket and the client must get it."""
    w = fx.ws(port)
    w2 = fx.ws(port)
    c = L.LineConn(sock)
    try:
        for i in range(rounds):
            name = "/%s/%d" % (tag, i)
            # A fresh resource: the gateway asks the broker first.
            w.send("subscribe " + name)
            ok, why = w.expect("ok subscribe " + name, timeout)
            if not ok:
                return False, "round %d, fresh: %s" % (i, why)
            c.send("publish %s a%d" % (name, i))
            ok, why = w.expect("update %s a%d" % (name, i), timeout)
            if not ok:
                return False, "round %d: a publish right after `ok " \
                    "subscribe` of a fresh resource: %s" % (i, why)
            # Followed already: no broker round trip.
            w2.send("subscribe " + name)
            ok, why = L.expect_seq(w2, ["ok subscribe " + name,
                                        "update %s a%d" % (name, i)],
                                   timeout, exact=False)
            if not ok:
                return False, "round %d, second client: %s" % (i, why)
            c.send("publish %s b%d" % (name, i))
            for n, x in (("first", w), ("second", w2)):
                ok, why = x.expect("update %s b%d" % (name, i), timeout)
                if not ok:
                    return False, "round %d, %s client: %s" % (i, n, why)
            # Both leave (the gateway unsubscribes), one is back at once.
            w.send("unsubscribe " + name)
            w2.send("unsubscribe " + name)
            w.send("subscribe " + name)
            ok, why = L.expect_seq(w, ["ok unsubscribe " + name,
                                       "ok subscribe " + name], timeout,
                                   exact=False)
            if not ok:
                return False, "round %d, resubscribing: %s" % (i, why)
            ok, why = w2.expect("ok unsubscribe " + name, timeout)
            if not ok:
                return False, "round %d, second unsubscribe: %s" % (i, why)
            c.send("publish %s c%d" % (name, i))
            ok, why = until_update(w, name, "c%d" % i, timeout)
            if not ok:
                return False, "round %d: a publish right after `ok " \
                    "subscribe` racing an unsubscribe: %s" % (i, why)
            w.send("unsubscribe " + name)
            ok, why = w.expect("ok unsubscribe " + name, timeout)
            if not ok:
                return False, "round %d, last unsubscribe: %s" % (i, why)
        ok, why = L.no_more(w2)
        if not ok:
            return False, "second client: " + why
        return L.no_more(w)
    finally:
        c.close()
        w.close()
        w2.close()


def read_texts(c, n, timeout):
    """Up to n text messages from raw client c (fewer on a deadline, a
    close or EOF): (list of str, what ended it or None)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        try:
            m = c.recv_message(max(0.0, deadline - time.monotonic()))
        except L.Timeout:
            return out, "timeout"
        if not m:
            return out, "EOF"
        if m[0] != L.TEXT:
            return out, "opcode %d %r" % (m[0], m[1][:40])
        out.append(m[1].decode("utf-8", "replace"))
    return out, None


def main(t):
    with L.Fixture("wspipe-promise") as fx:
        sock = fx.path("broker.sock")
        gw = fx.gateway(["--listen", "--listen-publish",
                         "--broker-socket=" + sock])
        L.sync_gateway(fx, gw.port, sock)
        found = L.wait_until(lambda: L.broker_children(gw.pid), 5.0)
        broker = found[0] if found else None
        for b in found or []:
            fx.pids.append(b)

        L.point(t, "%d rounds: a script's publish right after `ok subscribe "
                "R` always arrives (fresh resource, second client, "
                "resubscription racing the unsubscribe)" % ROUNDS,
                lambda: promise_rounds(fx, gw.port, sock, "p"))

        def p_hogs():
            ps = hogs(fx)
            try:
                return promise_rounds(fx, gw.port, sock, "h", timeout=10.0)
            finally:
                kill_hogs(ps)
        L.point(t, "the same %d rounds with two CPU hogs running" % ROUNDS,
                p_hogs)

        # Duplicates and unsubscribe.
        def p_twice_pending():
            if broker is None:
                return False, "no broker child of the gateway"
            L.wspipe_run(["publish", "--socket=" + sock, "/dup/a", "st"])
            w = fx.ws(gw.port)
            x = fx.ws(gw.port)
            os.kill(broker, signal.SIGSTOP)
            try:
                if not L.wait_until(lambda: (L.proc_stat(broker) or
                                             "?")[0] == "T", 5.0):
                    return False, "the broker did not stop"
                w.send("subscribe /dup/a")
                w.send("subscribe /dup/a")
                # The gateway has read them once it answers another
                # client; the broker cannot have confirmed anything.
                x.send("ping")
                ok, why = x.expect("pong", 5.0)
                if not ok:
                    return False, "another client's ping: " + why
                early = w.collect(1, 0.5)
                if early:
                    return False, "answered %r while the broker was " \
                        "stopped" % early
            finally:
                os.kill(broker, signal.SIGCONT)
            w.send("ping")
            got, found = w.until("pong", 10.0)
            if not found:
                return False, "no pong after SIGCONT; got %r" % got
            got = got[:-1]
            oks = got.count("ok subscribe /dup/a")
            states = got.count("update /dup/a st")
            if got[:1] != ["ok subscribe /dup/a"] or oks != 2 or \
                    not 1 <= states <= 2 or oks + states != len(got):
                return False, "got %r" % got
            L.wspipe_run(["publish", "--socket=" + sock, "/dup/a", "new"])
            return L.expect_only(w, "update /dup/a new")
        L.point(t, "subscribe R twice (R new to the gateway, with a retained "
                "state) while the broker is stopped: no answer until it "
                "runs, then two `ok subscribe R` (the first first) and its "
                "state; one update per publish", p_twice_pending)

        def p_twice_followed():
            a = fx.ws(gw.port)
            a.send("subscribe /dup/b")
            ok, why = a.expect("ok subscribe /dup/b")
            if not ok:
                return False, why
            L.wspipe_run(["publish", "--socket=" + sock, "/dup/b", "st"])
            ok, why = a.expect("update /dup/b st")
            if not ok:
                return False, why
            w = fx.ws(gw.port)
            w.send("subscribe /dup/b")
            w.send("subscribe /dup/b")
            ok, why = L.expect_seq(w, ["ok subscribe /dup/b",
                                       "update /dup/b st",
                                       "ok subscribe /dup/b",
                                       "update /dup/b st"])
            if not ok:
                return False, why
            L.wspipe_run(["publish", "--socket=" + sock, "/dup/b", "new"])
            return L.expect_only(w, "update /dup/b new")
        L.point(t, "subscribe R twice at once (R followed already): `ok "
                "subscribe R` and its state, twice; one update per publish",
                p_twice_followed)

        def p_twenty():
            c = L.Client(gw.port, handshake=True, timeout=5.0)
            try:
                c.send(b"".join(L.frame(L.TEXT, "subscribe /dup/c")
                                for _ in range(20)) +
                       L.frame(L.TEXT, "ping"))
                got, end = read_texts(c, 21, 5.0)
                if end is not None or got[-1] != "pong":
                    return False, "%d answers then %s: %r" % (
                        len(got), end, got[-3:])
                bad = [m for m in got[:-1] if m != "ok subscribe /dup/c" and
                       not m.startswith("error subscribe /dup/c ")]
                if bad:
                    return False, "answers %r" % bad[:3]
                if "ok subscribe /dup/c" not in got:
                    return False, "no ok among %r" % got[:3]
                return True, None
            finally:
                c.close()
        L.point(t, "20 subscribes of one new resource at once: exactly 20 "
                "answers (`ok subscribe R` or `error subscribe R ...`) "
                "before the pong", p_twenty)

        def p_unsub_pending():
            w = fx.ws(gw.port)
            w.send("subscribe /un/a")
            w.send("unsubscribe /un/a")
            w.send("unsubscribe /un/never")
            ok, why = L.expect_seq(w, ["ok subscribe /un/a",
                                       "ok unsubscribe /un/a",
                                       "ok unsubscribe /un/never"])
            if not ok:
                return False, why
            L.wspipe_run(["publish", "--socket=" + sock, "/un/a", "x"])
            return L.no_more(w)
        L.point(t, "subscribe and unsubscribe at once: `ok subscribe`, `ok "
                "unsubscribe`, no update after it; unsubscribing what one "
                "never had is ok too", p_unsub_pending)

        # The broker stopped: the queue to it fills up.
        def p_busy():
            if broker is None:
                return False, "no broker child of the gateway"
            follower = fx.ws(gw.port)
            follower.send("subscribe /followed")
            ok, why = follower.expect("ok subscribe /followed")
            if not ok:
                return False, "follower: " + why
            pubs = []           # (client, resource, answers so far)
            os.kill(broker, signal.SIGSTOP)
            try:
                if not L.wait_until(lambda: (L.proc_stat(broker) or
                                             "?")[0] == "T", 5.0):
                    return False, "the broker did not stop"
                # 64 KB each, from PUBLISHERS clients: 6.2 MiB for a
                # queue of 4 MiB and a socket buffer.
                for i in range(PUBLISHERS):
                    c = L.Client(gw.port, handshake=True, timeout=10.0)
                    name = "/q/%d" % i
                    pubs.append((c, name, []))
                    c.send(L.frame(L.TEXT, "publish %s %s" % (
                        name, chr(97 + i % 26) * DATA)) +
                        L.frame(L.TEXT, "ping"))
                busy = "error publish %s broker busy, try again later"

                def refused():
                    """Reads what has come; the publishers refused."""
                    out = []
                    for c, name, got in pubs:
                        try:
                            while True:
                                m = c.recv_message(0.002)
                                if not m or m[0] != L.TEXT:
                                    got.append(repr(m))
                                    break
                                got.append(m[1].decode())
                        except L.Timeout:
                            pass
                        if busy % name in got:
                            out.append(name)
                    return out
                if not L.wait_until(refused, 10.0, 0.05):
                    return False, "%d publishers x 64 KB and none was " \
                        "refused: %r" % (PUBLISHERS, [
                            g for _, _, g in pubs if g][:3])
                t.diag("broker stopped: %d of %d publishers refused as "
                       "busy" % (len(refused()), PUBLISHERS))
                n = fx.ws(gw.port)
                n.send("subscribe /new")
                ok, why = n.expect("error subscribe /new broker busy, try "
                                   "again later", 5.0)
                if not ok:
                    return False, "a new subscribe: " + why
                n.send("publish /q/new x")
                ok, why = n.expect("error publish /q/new broker busy, try "
                                   "again later", 5.0)
                if not ok:
                    return False, "a publish: " + why
                n.send("ping")
                ok, why = n.expect("pong")
                if not ok:
                    return False, "ping after the refusals: " + why
                follower.send("unsubscribe /followed")
                ok, why = follower.expect("ok unsubscribe /followed", 5.0)
                if not ok:
                    return False, "unsubscribe while busy: " + why
            finally:
                os.kill(broker, signal.SIGCONT)
            # Each publish is answered once, taken or refused, then pong.
            for i, (c, name, got) in enumerate(pubs):
                deadline = time.monotonic() + 30.0
                while "pong" not in got:
                    try:
                        m = c.recv_message(max(0.0, deadline -
                                               time.monotonic()))
                    except L.Timeout:
                        break
                    if not m or m[0] != L.TEXT:
                        got.append(repr(m))
                        break
                    got.append(m[1].decode())
                if got not in (["ok publish " + name, "pong"],
                               [busy % name, "pong"]):
                    return False, "publisher %d got %r" % (
                        i, [L.trunc(g, 60) for g in got])
            for name, w in (("/new", n), ("/followed", follower)):
                w.send("subscribe " + name)
                ok, why = w.expect("ok subscribe " + name, 10.0)
                if not ok:
                    return False, "after SIGCONT, subscribe %s: %s" % (
                        name, why)
                L.wspipe_run(["publish", "--socket=" + sock, name, "back"])
                ok, why = until_update(w, name, "back", 5.0)
                if not ok:
                    return False, "after SIGCONT, %s: %s" % (name, why)
            n.send("publish /q/new y")
            ok, why = n.expect("ok publish /q/new", 10.0)
            if not ok:
                return False, "after SIGCONT, publish: " + why
            if broker not in L.broker_children(gw.pid):
                return False, "the broker %d is gone: %s" % (
                    broker, gist(gw))
            return True, None

        def p_busy_clean():
            try:
                return p_busy()
            finally:
                if broker is not None and not L.dead(broker):
                    os.kill(broker, signal.SIGCONT)
        L.point(t, "broker stopped, the gateway's queue to it over 4 MiB: a "
                "new subscribe and a publish -> `error ... broker busy, try "
                "again later`, unsubscribe still ok at once; after SIGCONT "
                "each publish taken gets `ok publish`, subscribe and publish "
                "work", p_busy_clean)

        # A broker's refusal.
        def p_refusal():
            s2 = fx.path("small.sock")
            fx.broker(s2, "--max-resources=2")
            g = fx.gateway(["--listen", "--broker=" + s2])
            a = fx.ws(g.port)
            for r in ("/r1", "/r2"):
                a.send("subscribe " + r)
                ok, why = a.expect("ok subscribe " + r, 10.0)
                if not ok:
                    return False, r + ": " + why
            a.send("subscribe /r3")
            ok, why = a.expect("error subscribe /r3 too many resources",
                               5.0)
            if not ok:
                return False, "/r3: " + why
            ok, why = L.no_more(a)
            if not ok:
                return False, "after the refusal: " + why
            b = fx.ws(g.port)
            b.send("subscribe /r3")
            ok, why = b.expect("error subscribe /r3 too many resources",
                               5.0)
            if not ok:
                return False, "a second client: " + why
            a.send("unsubscribe /r1")
            a.send("subscribe /r3")
            ok, why = L.expect_seq(a, ["ok unsubscribe /r1",
                                       "ok subscribe /r3"], 5.0)
            if not ok:
                return False, "after freeing /r1: " + why
            L.wspipe_run(["publish", "--socket=" + s2, "/r3", "in"])
            return L.expect_only(a, "update /r3 in")
        L.point(t, "a broker with --max-resources=2: the third resource -> "
                "`error subscribe /r3 too many resources` for each client, "
                "the connection usable; once one is freed it works",
                p_refusal)

        # Malformed flood.
        def p_flood():
            c = L.Client(gw.port, handshake=True, timeout=10.0, rcvbuf=65536)
            blob = b"".join(L.frame(L.TEXT, BAD[i % len(BAD)])
                            for i in range(FLOOD)) + L.frame(L.TEXT, "ping")
            out = c.sock.dup()
            out.settimeout(60.0)
            sent = [0]
            err = []

            def sender():
                try:
                    mv = memoryview(blob)
                    while sent[0] < len(blob):
                        n = out.send(mv[sent[0]:sent[0] + 65536])
                        sent[0] += n
                except OSError as e:
                    err.append(e)
            th = threading.Thread(target=sender, daemon=True)
            th.start()
            try:
                # Nothing is read until the sender is done or stuck.
                L.settle(lambda: sent[0], 20.0, 0.5)
                t.diag("flood: %d of %d bytes sent before reading" % (
                    sent[0], len(blob)))
                got, end = read_texts(c, FLOOD + 1, 60.0)
                th.join(10.0)
                if err:
                    return False, "sending: %r" % err[0]
                if end is not None:
                    return False, "%d replies, then %s" % (len(got), end)
                if got[-1] != "pong":
                    return False, "%d replies, last %r" % (len(got),
                                                          got[-1])
                bad = [(i, m) for i, m in enumerate(got[:-1])
                       if not m.startswith("error ")]
                if bad:
                    return False, "not errors: %r" % bad[:3]
                c.send_text("ping")
                got, end = read_texts(c, 1, 5.0)
                return got == ["pong"], "then %r %s" % (got, end)
            finally:
                out.close()
                c.close()
        L.point(t, "%d malformed commands sent without reading: exactly %d "
                "`error ...` replies, then the pong" % (FLOOD, FLOOD),
                p_flood)

        # Grants.
        def p_grants():
            g0 = fx.gateway(["--listen", "--broker=" + sock])
            g1 = fx.gateway(["--listen", "--listen-publish=/chat/",
                             "--broker=" + sock])
            w = fx.ws(g0.port)
            for r in ("/any/thing", "weird", "/chat/x"):
                w.send("subscribe " + r)
                ok, why = w.expect("ok subscribe " + r, 10.0)
                if not ok:
                    return False, "default, subscribe %s: %s" % (r, why)
            w.send("publish /chat/x hi")
            ok, why = w.expect("error publish /chat/x not allowed")
            if not ok:
                return False, "default, publish: " + why
            p = fx.ws(g1.port)
            for r, want in (("/chat/x", "ok publish /chat/x"),
                            ("/news/x", "error publish /news/x not allowed"),
                            ("/chat", "error publish /chat not allowed"),
                            ("/chatx", "error publish /chatx not allowed")):
                p.send("publish %s from-browser" % r)
                ok, why = p.expect(want, 5.0)
                if not ok:
                    return False, "--listen-publish=/chat/, %s: %s" % (r, why)
            ok, why = L.expect_only(w, "update /chat/x from-browser", 5.0)
            if not ok:
                return False, "the allowed publish: " + why
            return True, None
        L.point(t, "grants: without options any resource may be subscribed, "
                "none published (`error publish R not allowed`); with "
                "--listen-publish=/chat/ only /chat/... may be published",
                p_grants)

        # Invalid UTF-8 from a script.
        def p_utf8():
            w = fx.ws(gw.port)
            w.send("subscribe /u8")
            ok, why = w.expect("ok subscribe /u8")
            if not ok:
                return False, why
            c = L.LineConn(sock)
            try:
                for data in (b"\xff", b"ok \xc3\x28", b"\xed\xa0\x80",
                             b"\xf4\x90\x80\x80", b"trunc \xe2\x82"):
                    c.send_raw(b"publish /u8 " + data + b"\n")
                    got = c.lines_until_pong()
                    if got != ["error publish /u8 data is not valid UTF-8"]:
                        return False, "script, %r: %r" % (data, got)
                    ok, why = L.no_more(w)
                    if not ok:
                        return False, "subscriber, after %r: %s" % (data, why)
                c.send("publish /u8 fine \u00e9")
                ok, why = L.expect_only(w, "update /u8 fine \u00e9")
                if not ok:
                    return False, "a valid state afterwards: " + why
                return True, None
            finally:
                c.close()
        L.point(t, "invalid UTF-8 from a script -> `error publish R data is "
                "not valid UTF-8`, subscribers get nothing and stay open "
                "(no 1007)", p_utf8)

        # A browser publishes the same resource twice.
        def p_browser_twice():
            before = L.broker_children(gw.pid)
            w = fx.ws(gw.port)
            w.send("subscribe /b2/x")
            ok, why = w.expect("ok subscribe /b2/x")
            if not ok:
                return False, why
            p = fx.ws(gw.port)
            for v in ("one", "two", "three"):
                p.send("publish /b2/x " + v)
                ok, why = p.expect("ok publish /b2/x", 5.0)
                if not ok:
                    return False, "publish %s: %s; brokers before %r, now " \
                        "%r;\n%s" % (v, why, before,
                                     L.broker_children(gw.pid), gist(gw))
                ok, why = w.expect("update /b2/x " + v, 5.0)
                if not ok:
                    return False, "update %s: %s" % (v, why)
            after = L.broker_children(gw.pid)
            return after == before, "brokers before %r, after %r;\n%s" % (
                before, after, gist(gw))
        L.point(t, "a browser publishes one resource three times: `ok "
                "publish` and the update each time, the same broker "
                "process throughout", p_browser_twice)

        L.point(t, "the gateway is still running", lambda: (
            gw.alive(), gw.logtail()))


if __name__ == "__main__":
    L.run(main, 280)
