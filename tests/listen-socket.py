#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# The broker on its own (wspipe broker --socket=S), spoken to over
# AF_UNIX: publish/subscribe/ping lines, an ok line for each subscribe
# and unsubscribe (none for a script's publish), retained state, a
# publisher's own update, error lines for bad and overlong lines with the
# connection kept; a subscriber far behind conflated, not dropped; the
# socket's mode (0600, 0660 with --group); a second broker on a live
# socket exits 3; a stale socket file is replaced;
# SIGTERM removes the socket and exits 0; --max-retained forgets the
# least recently published state; and the command-line clients: wspipe
# publish with stdin lines, wspipe subscribe printing states, wspipe
# publish without a broker.

import grp
import os
import signal
import stat
import socket
import subprocess
import time

import lib as L


def main(t):
    with L.Fixture() as fx:
        S = fx.path("broker.sock")
        b = fx.broker(S)

        def p_mode():
            st = os.stat(S)
            return (stat.S_ISSOCK(st.st_mode) and
                    stat.S_IMODE(st.st_mode) == 0o600,
                    "mode %o" % st.st_mode)
        L.point(t, "broker socket is a socket with mode 0600", p_mode)

        sub = L.LineConn(S)
        pub = L.LineConn(S)

        def p_pubsub():
            sub.send("subscribe /s")
            before = sub.lines_until_pong()
            if before != ["ok subscribe /s"]:
                return False, "subscribe answered %r" % before
            pub.send("publish /s hello  there")
            got = sub.readline(20.0)
            return got == "update /s hello  there", got
        L.point(t, "subscribe on one connection, publish on another -> "
                "`update /s hello  there`", p_pubsub)

        def p_no_ok():
            lines = pub.lines_until_pong()
            return lines == [], "publisher got %r before pong" % lines
        L.point(t, "the broker sends no ok line for a script's publish",
                p_no_ok)

        def p_ping():
            c = L.LineConn(S)
            try:
                c.send("ping")
                got = c.readline(20.0)
                return got == "pong", got
            finally:
                c.close()
        L.point(t, "ping -> pong", p_ping)

        def p_retained():
            c = L.LineConn(S)
            try:
                c.send("subscribe /s")
                got = c.lines_until_pong()
                return got == ["ok subscribe /s",
                               "update /s hello  there"], got
            finally:
                c.close()
        L.point(t, "a late subscriber gets the current state first",
                p_retained)

        def p_own():
            c = L.LineConn(S)
            try:
                c.send("subscribe /own")
                c.send("publish /own mine")
                got = c.lines_until_pong()
                return got == ["ok subscribe /own", "update /own mine"], got
            finally:
                c.close()
        L.point(t, "a publisher that is also subscribed gets its own "
                "update", p_own)

        def p_unsub():
            c = L.LineConn(S)
            try:
                c.send("subscribe /us")
                c.send("unsubscribe /us")
                c.send("publish /us gone")
                got = c.lines_until_pong()
                return got == ["ok subscribe /us", "ok unsubscribe /us"], got
            finally:
                c.close()
        L.point(t, "unsubscribe stops the updates", p_unsub)

        def p_bad():
            c = L.LineConn(S)
            try:
                c.send("frobnicate /x")
                got = c.readline(20.0)
                if not (got or "").startswith("error "):
                    return False, "got %r" % got
                c.send("subscribe a b")
                got = c.readline(20.0)
                if not (got or "").startswith("error "):
                    return False, "subscribe a b -> %r" % got
                c.send("subscribe /bad")
                c.send("publish /bad ok")
                got = c.lines_until_pong()
                return got == ["ok subscribe /bad", "update /bad ok"], \
                    "then %r" % got
            finally:
                c.close()
        L.point(t, "bad lines -> `error ...` line, connection keeps "
                "working", p_bad)

        def p_long():
            c = L.LineConn(S)
            try:
                c.send("subscribe /long")
                if c.lines_until_pong() != ["ok subscribe /long"]:
                    return False, "no ok subscribe"
                c.send_raw(b"publish /long " + b"x" * 200000 + b"\n")
                got = c.lines_until_pong(5.0)
                if len(got) != 1 or not got[0].startswith("error "):
                    return False, "got %r" % [L.trunc(g) for g in got]
                c.send("publish /long short")
                got = c.lines_until_pong()
                return got == ["update /long short"], "then %r" % got
            finally:
                c.close()
        L.point(t, "a line over the limit (200 KB) -> one error line, "
                "nothing published, connection keeps working", p_long)

        def p_max_data():
            c = L.LineConn(S)
            try:
                c.send("subscribe /max")
                if c.lines_until_pong() != ["ok subscribe /max"]:
                    return False, "no ok subscribe"
                data = "m" * 65536
                c.send("publish /max " + data)
                got = c.lines_until_pong()
                if got != ["update /max " + data]:
                    return False, "65536: %r" % [L.trunc(g) for g in got]
                c.send("publish /max " + data + "m")
                got = c.lines_until_pong()
                return (len(got) == 1 and got[0].startswith("error "),
                        "65537: %r" % [L.trunc(g) for g in got])
            finally:
                c.close()
        L.point(t, "65536 bytes of data accepted, 65537 -> error line",
                p_max_data)

        def p_behind():
            c = L.LineConn(S)
            p = L.LineConn(S)
            try:
                c.send("subscribe /behind")
                c.lines_until_pong()
                # ~3 MB while c does not read: more than the socket
                # buffers, well under the 8 MiB queue limit.
                data = "b" * 10000
                for i in range(300):
                    p.send("publish /behind %04d %s" % (i, data))
                if p.lines_until_pong(5.0):
                    return False, "publisher got lines"
                got = []
                try:
                    while len(got) < 300:
                        line = c.readline(20.0)
                        if line is None:
                            return False, "EOF after %d updates" % len(got)
                        got.append(line)
                except L.Timeout:
                    return False, ("only %d of 300 updates arrive while the "
                                   "subscriber sends nothing (the rest come "
                                   "only after it writes, e.g. a ping)" %
                                   len(got))
                want = ["update /behind %04d %s" % (i, data)
                        for i in range(300)]
                return got == want, "updates differ (order/content)"
            finally:
                c.close()
                p.close()
        L.point(t, "a subscriber 3 MB behind (under 8 MiB) gets every "
                "queued update, in order, without writing anything",
                p_behind)

        def p_conflated():
            c = L.LineConn(S)
            p = L.LineConn(S)
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                c.send("subscribe /flood")
                c.lines_until_pong()
                data = "f" * 60000
                t0 = time.monotonic()
                for i in range(250):        # 15 MB
                    p.send("publish /flood %04d %s" % (i, data))
                if p.lines_until_pong(5.0):
                    return False, "publisher got lines"
                took = time.monotonic() - t0
                if took > 5.0:
                    return False, "publisher stalled %.1f s" % took
                seqs = []
                deadline = time.monotonic() + 20
                while not seqs or seqs[-1] != 249:
                    try:
                        line = c.readline(max(0.0,
                                              deadline - time.monotonic()))
                    except L.Timeout:
                        return False, "the newest state never came: %d " \
                            "updates, last %r" % (len(seqs), seqs[-1:])
                    if line is None:
                        return False, "dropped after %d updates" % len(seqs)
                    seqs.append(int(line.split()[2]))
                if seqs != sorted(seqs) or len(seqs) >= 250:
                    return False, "%d updates, in order: %s" % (
                        len(seqs), seqs == sorted(seqs))
                c.send("ping")
                return c.readline(5.0) == "pong", "no pong after catching up"
            finally:
                c.close()
                p.close()
        L.point(t, "a subscriber more than 4 MiB behind is conflated, not "
                "dropped: it gets the newest state in order when it reads; "
                "the publisher is not stalled", p_conflated)

        def p_second():
            st, out, err = L.wspipe_run(["broker", "--socket=" + S],
                                        timeout=10)
            # Like a port in use for the gateway: cannot listen, exit 3.
            if st != 3 or "already running" not in err:
                return False, "exit %r, stderr %r" % (st, err)
            if not L.broker_answers(S):
                return False, "the first broker no longer answers"
            return True, None
        L.point(t, "a second wspipe broker on a live socket exits 3, "
                "cannot listen (the first keeps working)", p_second)

        def p_stale():
            path = fx.path("stale.sock")
            old = fx.broker(path)
            old.kill()
            old.wait(5)
            if not os.path.exists(path):
                return False, "SIGKILL left no socket file: no stale file"
            if L.broker_answers(path):
                return False, "killed broker still answers?"
            new = fx.broker(path)
            if new.poll() is not None:
                return False, "exit %r" % new.returncode
            return L.broker_answers(path), L.proclog(new)
        L.point(t, "a stale socket file (SIGKILLed broker) is replaced",
                p_stale)

        def p_term():
            path = fx.path("term.sock")
            p = fx.broker(path)
            p.send_signal(signal.SIGTERM)
            try:
                st = p.wait(5)
            except subprocess.TimeoutExpired:
                return False, "still running 5 s after SIGTERM"
            if st != 0:
                return False, "exit %r" % st
            return not os.path.exists(path), "socket file left behind"
        L.point(t, "SIGTERM -> the broker removes its socket, exit 0",
                p_term)

        def p_group():
            if os.geteuid() == 0:
                names = [g.gr_name for g in grp.getgrall()
                         if g.gr_gid != os.getgid()]
                if not names:
                    return True, None
                name = names[0]
            else:
                name = grp.getgrgid(os.getgid()).gr_name
            path = fx.path("group.sock")
            fx.broker(path, "--group=" + name)
            st = os.stat(path)
            gid = grp.getgrnam(name).gr_gid
            return (stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == gid,
                    "mode %o gid %d, wanted 0660 gid %d (%s)" % (
                        stat.S_IMODE(st.st_mode), st.st_gid, gid, name))
        L.point(t, "--group=GROUP: socket mode 0660, group GROUP", p_group)

        def p_retained_max():
            path = fx.path("small.sock")
            fx.broker(path, "--max-retained=65536")
            c = L.LineConn(path)
            try:
                c.send("publish /m1 " + "1" * 40000)
                c.send("publish /m2 " + "2" * 40000)
                c.lines_until_pong()
                d = L.LineConn(path)
                d.send("subscribe /m1")
                g1 = d.lines_until_pong()
                d.send("subscribe /m2")
                g2 = d.lines_until_pong()
                if g1 != ["ok subscribe /m1"] or \
                        g2 != ["ok subscribe /m2", "update /m2 " + "2" * 40000]:
                    return False, "/m1 -> %r, /m2 -> %r" % (
                        [L.trunc(g) for g in g1], [L.trunc(g) for g in g2])
                c.send("publish /m1 again")
                c.lines_until_pong()
                g3 = d.lines_until_pong()
                d.close()
                return g3 == ["update /m1 again"], \
                    "fan-out of a forgotten resource: %r" % g3
            finally:
                c.close()
        L.point(t, "--max-retained=65536: the least recently published "
                "state is forgotten, its resource still fans out",
                p_retained_max)

        def p_stdin():
            c = L.LineConn(S)
            try:
                c.send("subscribe /lines")
                c.lines_until_pong()
                p = subprocess.run(
                    "printf 'a\\nb\\nc\\n' | '%s' publish --socket='%s' "
                    "/lines" % (L.WSPIPE, S), shell=True,
                    capture_output=True, timeout=30 * L.SLOW)
                if p.returncode != 0:
                    return False, "exit %d %r" % (p.returncode, p.stderr)
                got = [c.readline(20.0) for _ in range(3)]
                return got == ["update /lines a", "update /lines b",
                               "update /lines c"], got
            finally:
                c.close()
        L.point(t, "printf 'a\\nb\\nc\\n' | wspipe publish --socket=S R -> "
                "three updates in order, exit 0", p_stdin)

        def p_subscribe_cmd():
            st, _, err = L.wspipe_run(["publish", "--socket=" + S,
                                       "/sc", "first state"])
            if st != 0:
                return False, "publish: " + err
            p = fx.spawn([L.WSPIPE, "subscribe", "--socket=" + S, "/sc"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
            try:
                r = L.LineReader(p.stdout)
                try:
                    l1 = r.readline(20.0)
                except L.Timeout:
                    return False, "no current state printed"
                if l1 != "first state":
                    return False, "first line %r" % l1
                L.wspipe_run(["publish", "--socket=" + S, "/sc", "second"])
                L.wspipe_run(["publish", "--socket=" + S, "/sc", "third"])
                try:
                    l2, l3 = r.readline(20.0), r.readline(20.0)
                except L.Timeout:
                    return False, "new states not printed"
                return [l2, l3] == ["second", "third"], [l2, l3]
            finally:
                p.kill()
                p.wait(5)
        L.point(t, "wspipe subscribe prints the current state, then each "
                "new one", p_subscribe_cmd)

        def p_subscribe_gone():
            path = fx.path("gone.sock")
            bk = fx.broker(path)
            p = fx.spawn([L.WSPIPE, "subscribe", "--socket=" + path, "/g"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
            try:
                L.wspipe_run(["publish", "--socket=" + path, "/g", "x"])
                r = L.LineReader(p.stdout)
                try:
                    if r.readline(20.0) != "x":
                        return False, "did not print the state"
                except L.Timeout:
                    return False, "did not print the state"
                bk.send_signal(signal.SIGTERM)
                bk.wait(5)
                try:
                    st = p.wait(3)
                except subprocess.TimeoutExpired:
                    return False, "still running 3 s after the broker went"
                return st == 1, "exit %r" % st
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
        L.point(t, "wspipe subscribe exits 1 when the broker goes away",
                p_subscribe_gone)

        def p_no_broker():
            st, out, err = L.wspipe_run(["publish", "--socket=" +
                                         fx.path("none.sock"), "/x", "d"])
            if st != 1 or not err.strip():
                return False, "exit %r stderr %r" % (st, err)
            st2, out2, err2 = L.wspipe_run(["publish", "/x", "d"])
            return (st2 == 1 and bool(err2.strip()),
                    "no --socket, no WSPIPE_BROKER: exit %r stderr %r" % (
                        st2, err2))
        L.point(t, "wspipe publish without a broker exits 1 with a message",
                p_no_broker)

        def p_bad_resource():
            st, out, err = L.wspipe_run(["publish", "--socket=" + S,
                                         "a b", "d"])
            return st == 1 and bool(err.strip()), "exit %r %r" % (st, err)
        L.point(t, "wspipe publish with a bad resource exits 1 with a "
                "message", p_bad_resource)

        sub.close()
        pub.close()
        L.point(t, "the main broker is still running",
                lambda: (b.poll() is None, L.proclog(b)))


if __name__ == "__main__":
    L.run(main, 90)
