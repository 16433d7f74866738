#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode: ids, history and resume.
#  - the broker's socket: every state has an id EPOCH-SEQ whose SEQ grows
#    by one per state of a resource; `subscribe R current`, `subscribe R
#    0`, `subscribe R ID`, `get R FROM` (32 KiB at a time, then `ok get R
#    NEWEST`); a resource forgotten and made again never repeats an id;
#    `gap R history` / `gap R reset` when a replay cannot be whole;
#  - malformed ids are refused, on the broker's socket and by the gateway;
#  - through a gateway: plain subscribers are unchanged; `current`, `0`
#    and an id; subscribing again with ids is refused;
#  - resume across a gateway restart (the broker runs on): exactly the
#    states published meanwhile, in order, once each, no gap;
#  - resume 0, 1 and 2 states behind the gateway's cached state;
#  - resume past the history length: `gap R history`, then what is kept;
#  - an id of another id space, or one ahead of the broker's: `gap R
#    reset`, then what is kept;
#  - a broker restart: a connected subscriber hears `gap R reset` before
#    the first state of the new id space; a client resuming with an old id
#    likewise;
#  - a replay longer than one get (300 states of 1 KB) arrives whole, in
#    order, for 20 clients at once;
#  - 10 clients resuming 2 MB of history without reading: the gateway's
#    memory stays bounded and its broker link stays up; once they read,
#    each gets every state in order;
#  - unsubscribing and closing during a replay leave the gateway working.

import os
import re
import signal
import socket

import lib as L

ID = re.compile(r"^([0-9a-f]{1,16})-([0-9]{1,20})$")


def parse_update(m, name):
    """(epoch, seq, data) of `update name ID DATA`, else None."""
    pre = "update %s " % name
    if not isinstance(m, str) or not m.startswith(pre):
        return None
    rest = m[len(pre):]
    idtext, _, data = rest.partition(" ")
    mm = ID.match(idtext)
    if not mm:
        return None
    return mm.group(1), int(mm.group(2)), data


def ask(c, *lines, timeout=5.0):
    return c.ask(*lines, timeout=timeout)


def publish_all(sock, name, datas):
    c = L.LineConn(sock)
    try:
        for d in datas:
            c.send("publish %s %s" % (name, d))
        c.lines_until_pong(10.0 * L.SLOW)
    finally:
        c.close()


def updates(ws, name, n, timeout):
    """n messages from ws: (list of (epoch, seq, data) or raw str)."""
    out = []
    for m in ws.collect(n, timeout):
        u = parse_update(m, name)
        out.append(u if u is not None else m)
    return out


def contiguous(got, datas, epoch=None):
    """(ok, diag): got is exactly updates carrying datas, seqs +1 each."""
    if len(got) != len(datas):
        return False, "%d messages, wanted %d: %r" % (
            len(got), len(datas), [L.trunc(str(g), 50) for g in got[:4]])
    for i, (g, d) in enumerate(zip(got, datas)):
        if not isinstance(g, tuple):
            return False, "message %d is %r" % (i, L.trunc(g, 80))
        if g[2] != d:
            return False, "message %d carries %r, wanted %r" % (
                i, L.trunc(g[2], 40), L.trunc(d, 40))
        if epoch is not None and g[0] != epoch:
            return False, "message %d has epoch %s, wanted %s" % (
                i, g[0], epoch)
        if i > 0 and (g[0] != got[i - 1][0] or g[1] != got[i - 1][1] + 1):
            return False, "ids not contiguous at %d: %s-%d after %s-%d" % (
                i, g[0], g[1], got[i - 1][0], got[i - 1][1])
    return True, None


def main(t):
    with L.Fixture() as fx:
        bsock = fx.path("alone.sock")
        fx.broker(bsock, "--history=5")

        def p_broker_ids():
            c = L.LineConn(bsock)
            try:
                got = ask(c, "subscribe /b current", "publish /b one",
                          "publish /b two")
                if len(got) != 3 or got[0] != "ok subscribe /b":
                    return False, "got %r" % got
                u1, u2 = parse_update(got[1], "/b"), parse_update(got[2],
                                                                  "/b")
                if not u1 or not u2 or u1[2] != "one" or u2[2] != "two":
                    return False, "updates %r" % got[1:]
                if u1[0] != u2[0] or u2[1] != u1[1] + 1:
                    return False, "ids %r do not grow by one" % got[1:]
                return True, None
            finally:
                c.close()

        L.point(t, "broker: `subscribe R current` gets `update R ID DATA`; "
                "a resource's ids grow by one per state", p_broker_ids)

        def p_broker_replay():
            c = L.LineConn(bsock)
            try:
                got = ask(c, *["publish /h s%d" % i for i in range(8)])
                if got:
                    return False, "publishes answered %r" % got
                got = ask(c, "get /h 0")
                states = [g for g in got if g.startswith("state /h ")]
                datas = [g.rsplit(" ", 1)[1] for g in states]
                if datas != ["s3", "s4", "s5", "s6", "s7"]:
                    return False, "get /h 0 (history 5): %r" % got
                last = states[-1].split()[2]
                if got[-1] != "ok get /h " + last:
                    return False, "get ended %r, wanted `ok get /h %s`" % (
                        got[-1], last)
                epoch, seq = last.split("-")
                got = ask(c, "get /h %s-%d" % (epoch, int(seq) - 2))
                if [g.rsplit(" ", 1)[1] for g in got[:-1]] != ["s6", "s7"]:
                    return False, "get after the third newest: %r" % got
                got = ask(c, "get /h %s-%d" % (epoch, int(seq) - 7))
                if got[:1] != ["gap /h history"] or len(got) != 7:
                    return False, "get from before the history: %r" % got
                other = "%x" % ((int(epoch, 16) % 0xfffffff) + 1)
                got = ask(c, "get /h %s-1" % other)
                if got[:1] != ["gap /h reset"] or len(got) != 7:
                    return False, "get with another epoch: %r" % got
                got = ask(c, "subscribe /h %s-%d" % (epoch, int(seq) - 1))
                if got != ["ok subscribe /h", "update /h %s s7" % last]:
                    return False, "subscribe from the one before: %r" % got
                got = ask(c, "get /h current", "get /h")
                if got != ["state /h %s s7" % last, "ok get /h " + last,
                           "state /h s7", "ok get /h"]:
                    return False, "get current / plain get: %r" % got
                return True, None
            finally:
                c.close()

        L.point(t, "broker: history 5 — `get R 0` the 5 kept, `get R ID` "
                "what follows, `gap R history` / `gap R reset` before what "
                "is kept; `ok get R NEWEST`; plain `get R` unchanged",
                p_broker_replay)

        def p_broker_chunks():
            b2 = fx.path("chunk.sock")
            fx.broker(b2, "--history=100")
            c = L.LineConn(b2)
            try:
                datas = ["%04d" % i + "x" * 1000 for i in range(100)]
                ask(c, *["publish /big " + d for d in datas])
                got = ask(c, "get /big 0")
                states = [g for g in got if g.startswith("state ")]
                if not got[-1].startswith("ok get /big ") or \
                        not 20 <= len(states) <= 40:
                    return False, "first part: %d states, ended %r" % (
                        len(states), L.trunc(got[-1]))
                seen = [s.split(" ", 3)[3] for s in states]
                newest = got[-1].split()[3]
                while states and states[-1].split()[2] != newest:
                    got = ask(c, "get /big " + states[-1].split()[2])
                    states = [g for g in got if g.startswith("state ")]
                    seen += [s.split(" ", 3)[3] for s in states]
                if seen != datas:
                    return False, "parts together: %d states, first %r" % (
                        len(seen), [L.trunc(x, 8) for x in seen[:3]])
                return True, None
            finally:
                c.close()

        L.point(t, "broker: `get` answers at most 32 KiB at a time; asked "
                "again from its last id it gives all 100 KB, in order",
                p_broker_chunks)

        def p_broker_reborn():
            b3 = fx.path("evict.sock")
            fx.broker(b3, "--max-states=2")
            c = L.LineConn(b3)
            try:
                ask(c, "subscribe /e current")
                got = ask(c, "publish /e a", "unsubscribe /e")
                first = parse_update(got[0], "/e")
                ask(c, "publish /f 1", "publish /g 2")   # /e forgotten
                got = ask(c, "list /e")
                if got != ["ok list 0"]:
                    return False, "/e still listed: %r" % got
                got = ask(c, "subscribe /e current", "publish /e b")
                again = parse_update(got[-1], "/e")
                if not first or not again or again[0] != first[0] or \
                        again[1] <= first[1]:
                    return False, "ids %r then %r" % (first, again)
                return True, None
            finally:
                c.close()

        L.point(t, "broker: a resource forgotten and made again never "
                "repeats an id", p_broker_reborn)

        bad = ["zz-1", "0-5", "-5", "5-", "1-18446744073709551616",
               "12345678901234567-1", "5-x", "5--1", "Current", "00"]

        def p_bad_ids_broker():
            c = L.LineConn(bsock)
            try:
                for b in bad:
                    for verb in ("subscribe", "get"):
                        got = ask(c, "%s /b %s" % (verb, b))
                        if len(got) != 1 or not got[0].startswith(
                                "error bad id"):
                            return False, "%s /b %s: %r" % (verb, b, got)
                return True, None
            finally:
                c.close()

        L.point(t, "broker: malformed ids are refused (`error bad id ...`)",
                p_bad_ids_broker)

        gsock = fx.path("gw.sock")
        gw = fx.gateway(["--listen", "--broker-socket=" + gsock,
                         "--listen-history=5"])
        L.sync_gateway(fx, gw.port, gsock)

        def p_gw_forms():
            w = fx.ws(gw.port)
            publish_all(gsock, "/f", ["f1", "f2", "f3"])
            w.send("subscribe /f")
            ok, why = L.expect_seq(w, ["ok subscribe /f", "update /f f3"])
            if not ok:
                return False, "plain: " + why
            w2 = fx.ws(gw.port)
            w2.send("subscribe /f current")
            got = w2.collect(2, 3.0 * L.SLOW)
            u = parse_update(got[-1] if got else None, "/f")
            if got[:1] != ["ok subscribe /f"] or not u or u[2] != "f3":
                return False, "current: %r" % got
            w2.send("subscribe /f current")
            ok, why = w2.expect("error subscribe /f already subscribed",
                                3.0 * L.SLOW)
            if not ok:
                return False, "again: " + why
            w3 = fx.ws(gw.port)
            w3.send("subscribe /f 0")
            got = updates(w3, "/f", 4, 3.0 * L.SLOW)
            if got[:1] != ["ok subscribe /f"]:
                return False, "0: %r" % got
            ok, why = contiguous(got[1:], ["f1", "f2", "f3"])
            if not ok:
                return False, "0: " + why
            publish_all(gsock, "/f", ["f4"])
            for x, want in ((w, "update /f f4"),
                            (w2, "update /f %s-%d f4" % (u[0], u[1] + 1))):
                ok, why = x.expect(want, 3.0 * L.SLOW)
                if not ok:
                    return False, "live: " + why
            for x in (w, w2, w3):
                ok, why = L.no_more(x) if x is not w3 else (True, None)
                if not ok:
                    return False, why
            return True, None

        L.point(t, "gateway: plain `subscribe R` unchanged; `current` gets "
                "ids; `0` everything kept; with ids a second subscribe is "
                "refused", p_gw_forms)

        def p_gw_bad_ids():
            w = fx.ws(gw.port)
            for b in bad:
                w.send("subscribe /b %s" % b)
                m = w.recv(3.0 * L.SLOW)
                if not m.startswith("error bad id"):
                    return False, "subscribe /b %s: %r" % (b, m)
            w.send("ping")
            ok, why = w.expect("pong")
            return ok, why

        L.point(t, "gateway: malformed ids are refused with an error line; "
                "the connection stays usable", p_gw_bad_ids)

        def p_near_newest():
            w = fx.ws(gw.port)          # keeps /n followed: cached
            w.send("subscribe /n current")
            ok, why = w.expect("ok subscribe /n", 5.0 * L.SLOW)
            if not ok:
                return False, "follower: " + why
            publish_all(gsock, "/n", ["n1", "n2", "n3"])
            got = updates(w, "/n", 3, 5.0 * L.SLOW)
            if len(got) != 3 or not all(isinstance(g, tuple)
                                        for g in got):
                return False, "follower: %r" % got
            epoch, seq = got[2][0], got[2][1]
            for back, want in ((0, []), (1, ["n3"]), (2, ["n2", "n3"])):
                x = fx.ws(gw.port)
                x.send("subscribe /n %s-%d" % (epoch, seq - back))
                res = updates(x, "/n", 1 + len(want), 3.0 * L.SLOW)
                if res[:1] != ["ok subscribe /n"]:
                    return False, "%d behind: %r" % (back, res)
                ok, why = contiguous(res[1:], want, epoch)
                if not ok:
                    return False, "%d behind: %s" % (back, why)
                ok, why = L.no_more(x)
                if not ok:
                    return False, "%d behind: %s" % (back, why)
                x.close()
            return True, None

        L.point(t, "resume 0, 1 and 2 states behind a state the gateway "
                "has cached: exactly the states after the id", p_near_newest)

        def p_past_history():
            w = fx.ws(gw.port)
            w.send("subscribe /p current")
            publish_all(gsock, "/p", ["p0"])
            got = updates(w, "/p", 2, 3.0 * L.SLOW)
            if len(got) != 2 or not isinstance(got[1], tuple):
                return False, "first: %r" % got
            epoch, seq, _ = got[1]
            w.close()
            datas = ["p%d" % i for i in range(1, 21)]
            publish_all(gsock, "/p", datas)
            w = fx.ws(gw.port)
            w.send("subscribe /p %s-%d" % (epoch, seq))
            got = updates(w, "/p", 7, 5.0 * L.SLOW)
            if got[:2] != ["ok subscribe /p", "gap /p history"]:
                return False, "resume: %r" % got[:3]
            ok, why = contiguous(got[2:], datas[-5:], epoch)
            if not ok:
                return False, why
            return L.no_more(w)

        L.point(t, "resume past the history length (5): `gap R history`, "
                "then the 5 kept, in order", p_past_history)

        def p_foreign_ids():
            publish_all(gsock, "/q", ["q1", "q2"])
            w = fx.ws(gw.port)
            w.send("subscribe /q current")
            got = updates(w, "/q", 2, 3.0 * L.SLOW)
            if len(got) != 2 or not isinstance(got[1], tuple):
                return False, "current: %r" % got
            epoch, seq, _ = got[1]
            other = "%x" % ((int(epoch, 16) % 0xfffffff) + 1)
            for idtext, what in (("%s-%d" % (other, seq), "another epoch"),
                                 ("%s-%d" % (epoch, seq + 1000),
                                  "an id ahead")):
                x = fx.ws(gw.port)
                x.send("subscribe /q " + idtext)
                got = updates(x, "/q", 4, 3.0 * L.SLOW)
                if got[:2] != ["ok subscribe /q", "gap /q reset"]:
                    return False, "%s: %r" % (what, got)
                ok, why = contiguous(got[2:], ["q1", "q2"], epoch)
                if not ok:
                    return False, "%s: %s" % (what, why)
                ok, why = L.no_more(x)
                if not ok:
                    return False, "%s: %s" % (what, why)
            return True, None

        L.point(t, "an id of another id space, or ahead of the broker's: "
                "`gap R reset`, then what is kept", p_foreign_ids)

        def p_replay_parts():
            datas = ["%03d" % i + "y" * 1000 for i in range(300)]
            g2sock = fx.path("gw2.sock")
            gw2 = fx.gateway(["--listen", "--broker-socket=" + g2sock,
                              "--listen-history=300"])
            L.sync_gateway(fx, gw2.port, g2sock)
            publish_all(g2sock, "/r", datas)
            ws = [fx.ws(gw2.port) for _ in range(20)]
            for w in ws:
                w.send("subscribe /r 0")
            for i, w in enumerate(ws):
                got = updates(w, "/r", 301, 20.0 * L.SLOW)
                if got[:1] != ["ok subscribe /r"]:
                    return False, "client %d: %r" % (i, got[:2])
                ok, why = contiguous(got[1:], datas)
                if not ok:
                    return False, "client %d: %s" % (i, why)
            for w in ws:
                w.abort()
            return True, None

        L.point(t, "20 clients resume 300 states of 1 KB at once (several "
                "gets each): every state, in order, once", p_replay_parts)

        def p_replay_unread():
            n, size = 500, 4000
            datas = ["%03d" % i + "z" * size for i in range(n)]
            g3sock = fx.path("gw3.sock")
            gw3 = fx.gateway(["--listen", "--broker-socket=" + g3sock,
                              "--listen-history=%d" % n])
            L.sync_gateway(fx, gw3.port, g3sock)
            publish_all(g3sock, "/u", datas)
            before = L.rss_kib(gw3.pid)
            cs = []
            for _ in range(10):
                c = L.Client(gw3.port, handshake=True, rcvbuf=4096)
                c.send_text("subscribe /u 0")
                cs.append(c)
            # They do not read; the gateway answers others meanwhile.
            w = fx.ws(gw3.port)
            w.send("subscribe /u current")
            got = updates(w, "/u", 2, 5.0 * L.SLOW)
            if len(got) != 2 or not isinstance(got[1], tuple):
                return False, "a reader meanwhile: %r" % got[:2]
            grown = L.rss_kib(gw3.pid) - before
            t.diag("gateway RSS growth with 10 resumes of %d KB unread: "
                   "%d KiB" % (n * size // 1000, grown))
            if not L.sanitized() and grown > 8 * 1024:
                return False, "the gateway grew %d KiB" % grown
            for i, c in enumerate(cs):
                msgs = []
                while len(msgs) < n + 1:
                    m = c.recv_message(timeout=20.0 * L.SLOW)
                    if not m or m[0] != L.TEXT:
                        return False, "client %d: ended after %d" % (
                            i, len(msgs))
                    msgs.append(m[1].decode())
                got = [parse_update(m, "/u") or m for m in msgs]
                if got[:1] != ["ok subscribe /u"]:
                    return False, "client %d: %r" % (i, got[:1])
                ok, why = contiguous(got[1:], datas)
                if not ok:
                    return False, "client %d: %s" % (i, why)
                c.close()
            if "lost the broker" in gw3.log():
                return False, "the broker link was dropped: " + gw3.logtail()
            return True, None

        L.point(t, "10 clients resume 2 MB each without reading: the "
                "gateway stays bounded and keeps its broker; read later, "
                "each gets every state in order", p_replay_unread)

        def p_leave_midway():
            g4sock = fx.path("gw4.sock")
            gw4 = fx.gateway(["--listen", "--broker-socket=" + g4sock,
                              "--listen-history=300"])
            L.sync_gateway(fx, gw4.port, g4sock)
            publish_all(g4sock, "/m", ["%d" % i + "w" * 2000
                                       for i in range(300)])
            for i in range(30):
                c = L.Client(gw4.port, handshake=True, rcvbuf=4096)
                c.send_text("subscribe /m 0")
                if i % 3 == 0:
                    c.send_text("unsubscribe /m")
                elif i % 3 == 1:
                    c.close(rst=True)
                    continue
                c.send_text("subscribe /m current")
                c.close()
            w = fx.ws(gw4.port)
            w.send("subscribe /m 0")
            got = w.collect(301, 20.0 * L.SLOW)
            if len(got) != 301 or got[0] != "ok subscribe /m":
                return False, "afterwards: %d messages" % len(got)
            if not gw4.running():
                return False, "the gateway is gone: " + gw4.logtail()
            return True, None

        L.point(t, "unsubscribing or resetting during a replay: the "
                "gateway keeps working", p_leave_midway)

        def p_gateway_restart():
            b4 = fx.path("runs-on.sock")
            fx.broker(b4, "--history=50")
            g = fx.gateway(["--listen", "--broker=" + b4])
            L.sync_gateway(fx, g.port, b4)
            w = fx.ws(g.port)
            w.send("subscribe /chat current")
            ok, why = w.expect("ok subscribe /chat", 5.0 * L.SLOW)
            if not ok:
                return False, "before: " + why
            publish_all(b4, "/chat", ["c1", "c2", "c3"])
            got = updates(w, "/chat", 3, 5.0 * L.SLOW)
            if len(got) != 3 or not isinstance(got[2], tuple):
                return False, "before: %r" % got
            epoch, seq, _ = got[2]
            g.stop()
            datas = ["m%d" % i for i in range(5)]
            publish_all(b4, "/chat", datas)
            g2 = fx.gateway(["--listen", "--broker=" + b4])
            L.sync_gateway(fx, g2.port, b4)
            w = fx.ws(g2.port)
            w.send("subscribe /chat %s-%d" % (epoch, seq))
            got = updates(w, "/chat", 6, 5.0 * L.SLOW)
            if got[:1] != ["ok subscribe /chat"]:
                return False, "resume: %r" % got[:2]
            ok, why = contiguous(got[1:], datas, epoch)
            if not ok:
                return False, why
            if got[1][1] != seq + 1:
                return False, "first resumed id %d, wanted %d" % (
                    got[1][1], seq + 1)
            publish_all(b4, "/chat", ["live"])
            ok, why = w.expect("update /chat %s-%d live" % (epoch, seq + 6),
                               3.0 * L.SLOW)
            if not ok:
                return False, "live after the resume: " + why
            return L.no_more(w)

        L.point(t, "resume across a gateway restart (its broker runs on): "
                "the 5 states published meanwhile, in order, once each, no "
                "gap, then live", p_gateway_restart)

        def p_broker_restart():
            g5sock = fx.path("gw5.sock")
            g = fx.gateway(["--listen", "--broker-socket=" + g5sock])
            L.sync_gateway(fx, g.port, g5sock)
            w = fx.ws(g.port)
            w.send("subscribe /k current")
            publish_all(g5sock, "/k", ["k1"])
            got = updates(w, "/k", 2, 5.0 * L.SLOW)
            if len(got) != 2 or not isinstance(got[1], tuple):
                return False, "before: %r" % got
            epoch, seq, _ = got[1]
            old = L.broker_children(g.pid)
            if len(old) != 1:
                return False, "brokers %r" % old
            os.kill(old[0], signal.SIGKILL)
            if not L.wait_until(lambda: [b for b in L.broker_children(g.pid)
                                         if b not in old] and
                                L.broker_answers(g5sock), 15.0 * L.SLOW):
                return False, "no new broker: " + g.logtail()
            fx.track_brokers(g)
            L.sync_gateway(fx, g.port, g5sock)
            publish_all(g5sock, "/k", ["k2"])
            ok, why = w.expect("gap /k reset", 5.0 * L.SLOW)
            if not ok:
                return False, "connected subscriber: " + why
            u = parse_update(w.recv(3.0 * L.SLOW), "/k")
            if not u or u[2] != "k2" or u[0] == epoch:
                return False, "after the gap: %r" % (u,)
            x = fx.ws(g.port)
            x.send("subscribe /k %s-%d" % (epoch, seq))
            got = updates(x, "/k", 3, 3.0 * L.SLOW)
            if got[:2] != ["ok subscribe /k", "gap /k reset"] or \
                    len(got) != 3 or not isinstance(got[2], tuple) or \
                    got[2][:2] != u[:2]:
                return False, "resuming with the old id: %r" % got
            return L.no_more(x)

        L.point(t, "the broker restarts: a connected subscriber hears `gap "
                "R reset` before the new id space's first state; resuming "
                "with an old id likewise", p_broker_restart)

        L.still_running(t, gw)


L.run(main, timeout=240 * L.SLOW)
