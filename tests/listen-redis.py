#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Listen mode across machines, on a real Redis started by the test (a
# UNIX socket in the test's directory, no persistence).  Each "machine" is
# a broker of its own with --redis; gateways run theirs with --redis.
#  - a publish on one machine reaches subscribers on all three, with the
#    same id; a late subscriber on another gets the retained state;
#  - two publishers at full speed on two machines while subscribers join
#    and leave: every subscriber sees the same states in the same order,
#    ids without a hole, nothing twice;
#  - resume from an id on another machine; `get R FROM` in parts from
#    Redis's history on a machine that does not follow R;
#  - fan-out stays local: one Redis subscription per machine and
#    resource, whatever the subscribers; channels follow the resources
#    followed; subscribe/unsubscribe churn leaves them exact;
#  - Redis killed mid-traffic: subscribers stay, publishes fail fast with
#    an error line (`wspipe publish` exits 1), a subscribe is answered
#    and served later; Redis back empty: the reset is reported and
#    everything works again;
#  - a stalled Redis (CLIENT PAUSE) is given up within the timeout;
#  - the budgets hold in Redis; a hostile message on a channel is
#    dropped; a password comes from the environment; bad URLs are
#    refused;
#  - two gateways with --redis: a browser's publish on one reaches a
#    client of the other, and clients stay connected through a Redis
#    restart.

import os
import re
import threading
import time

import lib as L

ID = re.compile(r"^update (\S+) ([0-9a-f]{1,16})-([0-9]{1,20}) ?(.*)$")
# Short, so that a dead Redis is found fast; longer under valgrind.
TIMEOUT = "--redis-timeout=%g" % (0.5 * L.SLOW)


def upd(line):
    """(resource, epoch, seq, data) of an update line with an id."""
    m = ID.match(line)
    return (m.group(1), m.group(2), int(m.group(3)), m.group(4)) if m \
        else None


def redis_up(sock):
    try:
        c = L.LineConn(sock, 1.0)
        try:
            got = c.ask("stats", timeout=1.0)
        finally:
            c.close()
    except (OSError, L.Timeout, RuntimeError):
        return False
    return any(" redis up " in g for g in got)


def machine(fx, rd, name, *args):
    """A broker of its own on Redis rd, once it is connected."""
    sock = fx.path(name + ".sock")
    p = fx.broker(sock, "--redis=" + rd.url, TIMEOUT, "--loglevel=info",
                  *args)
    if not L.wait_until(lambda: redis_up(sock), 10.0 * L.SLOW):
        raise RuntimeError("%s never connected: %s" % (name, L.proclog(p)))
    p.sock = sock
    return p


def reader(sock, first, n=None):
    """A subscriber: LineConn with the lines before its first pong."""
    c = L.LineConn(sock, 5.0 * L.SLOW)
    c.first = c.ask(*first, timeout=10.0)
    return c


def read_updates(c, n, timeout=10.0):
    """n lines (updates or gaps) from c, or as many as came."""
    out = []
    deadline = time.monotonic() + timeout * L.SLOW
    while len(out) < n:
        try:
            line = c.readline(max(0.0, deadline - time.monotonic()))
        except L.Timeout:
            break
        if line is None:
            break
        out.append(line)
    return out


def contiguous(ups):
    """None if ups (parsed updates) share one epoch and grow by one."""
    for a, b in zip(ups, ups[1:]):
        if a[1] != b[1] or b[2] != a[2] + 1:
            return "%r then %r" % (a, b)
    return None


def main(t):
    with L.Fixture("wspipe-redis") as fx:
        rd = fx.redis()
        m1 = machine(fx, rd, "m1", "--history=500")
        m2 = machine(fx, rd, "m2", "--history=500")
        m3 = machine(fx, rd, "m3", "--history=500")
        ms = (m1, m2, m3)

        def p_cross():
            subs = [reader(m.sock, ["subscribe /a current"]) for m in ms]
            try:
                if any(s.first != ["ok subscribe /a"] for s in subs):
                    return False, "subscribes: %r" % [s.first for s in subs]
                pub = L.LineConn(m2.sock)
                got = pub.ask("publish /a hello")
                pub.close()
                if got:
                    return False, "publish answered %r" % got
                lines = [read_updates(s, 1) for s in subs]
                ups = [upd(x[0]) if x else None for x in lines]
                if any(u is None or u[3] != "hello" for u in ups):
                    return False, "got %r" % lines
                if len(set(u[1:3] for u in ups)) != 1:
                    return False, "ids differ: %r" % lines
                late = reader(m3.sock, ["subscribe /a"])
                late2 = reader(m1.sock, ["subscribe /a current"])
                ok = (late.first == ["ok subscribe /a", "update /a hello"] and
                      late2.first == ["ok subscribe /a", lines[0][0]])
                late.close()
                late2.close()
                return ok, "late subscribers: %r %r" % (late.first,
                                                         late2.first)
            finally:
                for s in subs:
                    s.close()

        L.point(t, "a publish on one machine reaches subscribers on all "
                "three with one id; a late subscriber on another machine "
                "gets the retained state", p_cross)

        def p_race():
            N = 1500
            # m3 follows /race only while a joiner is there: each joins
            # Redis's channel and reads while states keep coming.
            stay = [reader(m.sock, ["subscribe /race current"])
                    for m in (m1, m2)]
            results = {}
            churn_out = []
            stop = threading.Event()

            def publisher(m, tag):
                c = L.LineConn(m.sock, 20.0 * L.SLOW)
                try:
                    for i in range(N):
                        c.send("publish /race %s%d" % (tag, i))
                    results[tag] = c.lines_until_pong(60.0 * L.SLOW)
                finally:
                    c.close()

            def churner():
                i = 0
                while not stop.is_set():
                    m = m3 if i % 3 else ms[i % 2]
                    i += 1
                    c = L.LineConn(m.sock, 5.0 * L.SLOW)
                    try:
                        c.send("subscribe /race current")
                        got = read_updates(c, 30, timeout=0.3)
                        c.send("unsubscribe /race")
                        churn_out.append(got)
                    finally:
                        c.close()

            ths = [threading.Thread(target=publisher, args=(m1, "x")),
                   threading.Thread(target=publisher, args=(m2, "y")),
                   threading.Thread(target=churner)]
            for th in ths:
                th.start()
            for th in ths[:2]:
                th.join(120 * L.SLOW)
            stop.set()
            ths[2].join(30 * L.SLOW)
            try:
                if results.get("x") != [] or results.get("y") != []:
                    return False, "publishers got %r" % results
                seqs = []
                for s in stay:
                    lines = read_updates(s, 2 * N)
                    ups = [upd(x) for x in lines]
                    if len(ups) != 2 * N or None in ups:
                        return False, "a subscriber got %d lines of %d: %r" % (
                            len(ups), 2 * N, lines[-3:])
                    bad = contiguous(ups)
                    if bad:
                        return False, "hole or repeat: " + bad
                    seqs.append([(u[2], u[3]) for u in ups])
                if seqs[0] != seqs[1]:
                    return False, "machines saw different orders"
                order = dict(seqs[0])
                for x in ("x", "y"):
                    mine = [d for _, d in seqs[0] if d.startswith(x)]
                    if mine != ["%s%d" % (x, i) for i in range(N)]:
                        return False, "%s's states out of order" % x
                n = 0
                for got in churn_out:
                    ups = [upd(x) for x in got if x.startswith("update")]
                    if None in ups or contiguous(ups):
                        return False, "a joiner: %r" % got[:5]
                    if any(order.get(u[2]) != u[3] for u in ups):
                        return False, "a joiner saw another state: %r" % ups
                    n += len(ups) > 1
                # Joiners must have seen states come, not just one.
                return n >= 3, "%d joiners, %d saw states come" % (
                    len(churn_out), n)
            finally:
                for s in stay:
                    s.close()

        L.point(t, "two publishers at full speed on two machines, "
                "subscribers joining and leaving on three: one order "
                "everywhere, no hole, nothing twice", p_race)

        def p_resume():
            c = L.LineConn(m1.sock)
            got = c.ask("subscribe /res current", "publish /res r0")
            first = read_updates(c, 1) if len(got) == 1 else got[1:]
            c.close()
            u = upd(first[0]) if first else None
            if u is None:
                return False, "got %r %r" % (got, first)
            p = L.LineConn(m2.sock)
            p.ask(*["publish /res r%d" % i for i in range(1, 6)])
            p.close()
            c = L.LineConn(m3.sock)
            got = c.ask("subscribe /res %s-%d" % (u[1], u[2]))
            c.close()
            datas = [upd(g)[3] for g in got[1:] if upd(g)]
            return (got[0] == "ok subscribe /res" and
                    datas == ["r%d" % i for i in range(1, 6)]), got

        L.point(t, "resume from an id on another machine gets exactly the "
                "states after it", p_resume)

        def p_get_parts():
            p = L.LineConn(m2.sock)
            big = "z" * 10000
            p.ask(*["publish /parts %d%s" % (i, big) for i in range(10)])
            p.close()
            c = L.LineConn(m3.sock)
            try:
                got = c.ask("get /parts 0")
                states = [g for g in got if g.startswith("state /parts ")]
                if not (1 <= len(states) <= 4) or \
                        not got[-1].startswith("ok get /parts "):
                    return False, "first part: %d states, %r" % (
                        len(states), got[-1][:60])
                seen = len(states)
                last = states[-1].split()[2]
                while seen < 10:
                    got = c.ask("get /parts " + last)
                    states = [g for g in got if g.startswith("state /parts")]
                    if not states:
                        return False, "stuck after %d: %r" % (seen, got)
                    seen += len(states)
                    last = states[-1].split()[2]
                newest = got[-1].split()[-1]
                return seen == 10 and newest == last, (seen, newest, last)
            finally:
                c.close()

        L.point(t, "`get R FROM` on a machine that does not follow R reads "
                "Redis's history, 32 KiB a part", p_get_parts)

        def p_get_fresh():
            c = L.LineConn(m3.sock)
            try:
                got = c.ask("get /fresh 0")
                if len(got) != 1 or not got[0].startswith("ok get /fresh "):
                    return False, got
                newest = got[0].split()[-1]
                p = L.LineConn(m1.sock)
                p.ask("publish /fresh first")
                p.close()
                again = c.ask("get /fresh " + newest)
                ok = (len(again) == 2 and
                      again[0].startswith("state /fresh ") and
                      again[0].endswith(" first") and
                      again[1] == "ok get /fresh " + again[0].split()[2])
                return ok, "%r then %r" % (got, again)
            finally:
                c.close()

        L.point(t, "`get R` of a resource Redis does not have answers the id "
                "to resume from; after its first publish, that id gets it "
                "with no gap", p_get_fresh)

        def p_local_fanout():
            conns = [L.LineConn(m1.sock) for _ in range(100)]
            try:
                for c in conns:
                    if c.ask("subscribe /fan") != ["ok subscribe /fan"]:
                        return False, "subscribe failed"
                n = rd.numsub("wspipe:0:/fan")
                chans = rd.channels()
                want = sorted("wspipe:0:" + r for r in ("/fan",))
                return n == 1 and chans == want, \
                    "NUMSUB %r, channels %r" % (n, chans)
            finally:
                for c in conns:
                    c.close()

        L.point(t, "100 subscribers on one machine are one Redis "
                "subscription; Redis's channels are only the resources "
                "followed", p_local_fanout)

        def p_channels_follow():
            ok = L.wait_until(lambda: rd.channels() == [], 5.0 * L.SLOW)
            return ok, rd.channels()

        L.point(t, "when the last subscriber leaves, the machine leaves the "
                "channel", p_channels_follow)

        def p_churn():
            c = L.LineConn(m1.sock)
            keep = L.LineConn(m2.sock)
            try:
                keep.ask("subscribe /churn current")
                for i in range(300):
                    c.send("subscribe /churn")
                    c.send("unsubscribe /churn")
                got = c.ask("subscribe /churn current", timeout=20.0)
                if got[-1] != "ok subscribe /churn":
                    return False, "final subscribe: %r" % got[-3:]
                p = L.LineConn(m3.sock)
                p.ask(*["publish /churn c%d" % i for i in range(20)])
                p.close()
                a = read_updates(c, 20)
                b = read_updates(keep, 20)
                da = [upd(x)[3] for x in a if upd(x)]
                db = [upd(x)[3] for x in b if upd(x)]
                want = ["c%d" % i for i in range(20)]
                n = rd.numsub("wspipe:0:/churn")
                return da == want and db == want and n == 2, \
                    "%r / %r / NUMSUB %r" % (da[-2:], db[-2:], n)
            finally:
                c.close()
                keep.close()

        L.point(t, "300 subscribe/unsubscribe pairs back to back: the last "
                "subscribe still gets every state", p_churn)

        def p_hostile_message():
            c = L.LineConn(m1.sock)
            try:
                c.ask("subscribe /h current")
                rd.cmd("PUBLISH", "wspipe:0:/h", "no id here")
                rd.cmd("PUBLISH", "wspipe:0:/h", b"abc-1 \xff\xfe")
                rd.cmd("PUBLISH", "wspipe:0:/h", "1-1 " + "x" * 70000)
                rd.cmd("PUBLISH", "wspipe:0:/h",
                       "abc-9 x\nok subscribe /forged\nupdate /h forged")
                p = L.LineConn(m2.sock)
                p.ask("publish /h fine")
                p.close()
                got = read_updates(c, 1)
                more = read_updates(c, 1, timeout=0.5)
                ok = len(got) == 1 and upd(got[0]) and \
                    upd(got[0])[3] == "fine" and more == [] and \
                    L.broker_answers(m1.sock)
                return ok, "%r %r" % (got, [x[:40] for x in more])
            finally:
                c.close()

        L.point(t, "hostile messages on a channel (no id, not UTF-8, too "
                "long, a newline forging lines) are dropped; the subscriber "
                "gets only real states",
                p_hostile_message)

        def p_budgets():
            b = machine(fx, rd, "small", "--max-resources=3")
            c = L.LineConn(b.sock)
            try:
                got = c.ask(*["publish /bud/%d s%d" % (i, i)
                              for i in range(5)])
                kept = sorted(k.decode() for k in rd.cmd(
                    "KEYS", "wspipe:r:/bud/*"))
                first = c.ask("get /bud/0")
                last = c.ask("get /bud/4")
                ok = (got == [] and kept == ["wspipe:r:/bud/%d" % i
                                             for i in (2, 3, 4)] and
                      first == ["ok get /bud/0"] and
                      last == ["state /bud/4 s4", "ok get /bud/4"])
                return ok, "%r %r %r %r" % (got, kept, first, last)
            finally:
                c.close()

        L.point(t, "--max-resources holds in Redis: the least recently "
                "published resources are forgotten there", p_budgets)

        def p_tiny_states():
            big = machine(fx, rd, "big", "--history=20000")
            c = L.LineConn(big.sock, 30.0 * L.SLOW)
            try:
                for i in range(0, 20000, 1000):
                    c.ask(*["publish /tiny %d" % j
                            for j in range(i, i + 1000)], timeout=30.0)
            finally:
                c.close()
            before = L.LineConn(big.sock).ask("stats")
            s = L.LineConn(big.sock, 10.0 * L.SLOW)
            try:
                got = s.ask("subscribe /tiny 0", timeout=30.0)
            finally:
                s.close()
            after = L.LineConn(big.sock).ask("stats")
            ups = [upd(g) for g in got if g.startswith("update")]
            same = [b.split(" reconnects ")[1] for b in before] == \
                [a.split(" reconnects ")[1] for a in after]
            ok = (got[0] == "ok subscribe /tiny" and len(ups) == 4096 and
                  ups[-1][3] == "19999" and contiguous(ups) is None and
                  same and redis_up(big.sock))
            return ok, "%d updates, %r, %r -> %r" % (len(ups), got[:2],
                                                     before, after)

        L.point(t, "20,000 tiny states in Redis's history: the first "
                "subscribe from 0 reads the newest 4096, in one answer, and "
                "Redis's link stays up", p_tiny_states)

        def p_kill():
            sub = reader(m1.sock, ["subscribe /k current"])
            pub = L.LineConn(m2.sock)
            try:
                pub.ask("publish /k before")
                read_updates(sub, 1)
                rd.kill()
                t0 = time.monotonic()
                bad = []
                while time.monotonic() - t0 < 10.0 * L.SLOW:
                    got = pub.ask("publish /k during")
                    if got == ["error publish /k redis unavailable"]:
                        break
                    bad.append(got)
                took = time.monotonic() - t0
                rc, out, err = L.wspipe_run(["publish", "/k", "x"],
                                            env={"WSPIPE_BROKER": m3.sock})
                late = reader(m3.sock, ["subscribe /k 0"])
                alive = sub.ask() == []
                ok = (took < 2.0 * L.SLOW and rc == 1 and
                      "redis unavailable" in err and alive and
                      late.first == ["ok subscribe /k"])
                late.close()
                return ok, "took %.2f s (%r), publish rc %d %r, " \
                    "subscriber alive %r, subscribe while down %r" % (
                        took, bad[:2], rc, err.strip(), alive, late.first)
            finally:
                pub.close()
                sub.close()

        L.point(t, "Redis killed: subscribers stay, a publish fails at once "
                "with `error publish R redis unavailable`, `wspipe publish` "
                "exits 1, a subscribe is answered", p_kill)

        def p_back_empty():
            sub = reader(m1.sock, ["subscribe /e current"])
            waiting = reader(m3.sock, ["subscribe /e current"])
            try:
                rd.start()
                if not L.wait_until(lambda: all(redis_up(m.sock)
                                                for m in ms),
                                    15.0 * L.SLOW):
                    return False, "not every machine reconnected"
                pub = L.LineConn(m2.sock)
                got = pub.ask("publish /e after")
                pub.close()
                a = read_updates(sub, 1)
                b = read_updates(waiting, 1)
                ok = got == [] and len(a) == 1 and upd(a[0]) and \
                    upd(a[0])[3] == "after" and len(b) == 1 and \
                    upd(b[0]) and upd(b[0])[3] == "after"
                return ok, "%r %r %r" % (got, a, b)
            finally:
                sub.close()
                waiting.close()

        L.point(t, "Redis back: every machine connects again; subscribers "
                "from before and one that subscribed while it was down get "
                "the next state", p_back_empty)

        def p_reset():
            sub = reader(m1.sock, ["subscribe /rs current"])
            try:
                pub = L.LineConn(m2.sock)
                pub.ask("publish /rs one")
                first = read_updates(sub, 1)
                rd.restart()
                gap = read_updates(sub, 1, timeout=15.0)
                if not L.wait_until(lambda: all(redis_up(m.sock)
                                                for m in ms),
                                    15.0 * L.SLOW):
                    return False, "not every machine reconnected"
                pub.ask("publish /rs two")
                pub.close()
                after = read_updates(sub, 1)
                u1 = upd(first[0]) if first else None
                u2 = upd(after[0]) if after else None
                ok = (gap == ["gap /rs reset"] and u1 and u2 and
                      u2[3] == "two" and u2[1] != u1[1])
                return ok, "%r %r %r" % (first, gap, after)
            finally:
                sub.close()

        L.point(t, "Redis restarted empty: a subscriber with ids hears "
                "`gap R reset`, then states of the new id space", p_reset)

        def p_stall():
            sub = reader(m1.sock, ["subscribe /st current"])
            pub = L.LineConn(m2.sock)
            try:
                pub.ask("publish /st one")
                read_updates(sub, 1)
                rd.cmd("CLIENT", "PAUSE", "%d" % int(4000 * L.SLOW), "ALL")
                t0 = time.monotonic()
                got = pub.ask("publish /st stalled", timeout=10.0)
                took = time.monotonic() - t0
                fast = pub.ask("publish /st fast")
                back = L.wait_until(lambda: redis_up(m2.sock) and
                                    redis_up(m1.sock), 20.0 * L.SLOW)
                ok2 = back and pub.ask("publish /st later") == []
                later = read_updates(sub, 1, timeout=10.0)
                ok = (got == ["error publish /st redis unavailable"] and
                      took < 2.5 * L.SLOW and
                      fast == ["error publish /st redis unavailable"] and
                      ok2 and later and upd(later[-1]) and
                      upd(later[-1])[3] == "later")
                return ok, "%r after %.2f s, then %r, back %r, %r" % (
                    got, took, fast, back, later)
            finally:
                pub.close()
                sub.close()

        L.point(t, "a stalled Redis (CLIENT PAUSE) is given up within "
                "--redis-timeout: the publish in flight fails, the next at "
                "once; all recovers after", p_stall)

        def p_password():
            rp = fx.redis(password="s3cret pass")
            sock = fx.path("pw.sock")
            os.environ["WSPIPE_REDIS_PASSWORD"] = "wrong"
            try:
                bad = fx.broker(sock, "--redis=" + rp.url, TIMEOUT)
            finally:
                del os.environ["WSPIPE_REDIS_PASSWORD"]
            refused = L.wait_until(lambda: "WRONGPASS" in L.proclog(bad)
                                   or "invalid" in L.proclog(bad),
                                   5.0 * L.SLOW)
            c = L.LineConn(sock)
            down = c.ask("publish /p x")
            c.close()
            bad.terminate()
            bad.wait(5)
            os.environ["WSPIPE_REDIS_PASSWORD"] = "s3cret pass"
            try:
                good = machine(fx, rp, "pw2")
            finally:
                del os.environ["WSPIPE_REDIS_PASSWORD"]
            c = L.LineConn(good.sock)
            up = c.ask("publish /p y", "get /p")
            c.close()
            hidden = all("s3cret" not in a for a in L.cmdline(good.pid))
            return (refused and down == ["error publish /p redis "
                                         "unavailable"] and
                    up == ["state /p y", "ok get /p"] and hidden), \
                "%r %r %r %r" % (refused, down, up, L.proclog(bad)[-200:])

        L.point(t, "a password from WSPIPE_REDIS_PASSWORD: a wrong one is "
                "logged and publishes fail, the right one works, and it is "
                "not on the command line", p_password)

        def p_acl():
            rd.cmd("ACL", "SETUSER", "limited", "on", ">lpass", "~*",
                   "resetchannels", "&wspipe:0:/ok*", "+@all")
            os.environ["WSPIPE_REDIS_USER"] = "limited"
            os.environ["WSPIPE_REDIS_PASSWORD"] = "lpass"
            try:
                lim = machine(fx, rd, "limited")
            finally:
                del os.environ["WSPIPE_REDIS_USER"]
                del os.environ["WSPIPE_REDIS_PASSWORD"]
            c = L.LineConn(lim.sock)
            try:
                no = c.ask("subscribe /no current", timeout=10.0)
                yes = c.ask("subscribe /ok current", "publish /ok fine",
                            timeout=10.0)
                yes += read_updates(c, 1) if len(yes) < 2 else []
            finally:
                c.close()
            ok = (len(no) == 1 and no[0].startswith("error subscribe /no ")
                  and "NOPERM" in no[0] and yes[0] == "ok subscribe /ok" and
                  upd(yes[-1]) and upd(yes[-1])[3] == "fine" and
                  redis_up(lim.sock))
            return ok, "%r %r" % (no, yes)

        L.point(t, "Redis refuses a channel (an ACL): the subscriber hears "
                "`error subscribe R NOPERM...`, the broker's other "
                "resources work on", p_acl)

        def p_urls():
            out = []
            for url in ("http://x", "redis://:pw@127.0.0.1", "redis://h:0",
                        "redis://h:1/x", "unix://relative", "redis://"):
                rc, _, err = L.wspipe_run(["broker", "--socket=" +
                                           fx.path("u.sock"), "--redis=" +
                                           url], timeout=10.0)
                out.append((url, rc, err.strip()[-60:]))
            rc, _, err = L.wspipe_run(["--redis=unix:///x", "cat"])
            out.append(("gateway without --listen", rc, err.strip()[-60:]))
            return all(o[1] == 1 for o in out), out

        L.point(t, "bad --redis URLs (and --redis without --listen) are "
                "refused with exit 1", p_urls)

        # Gateways, each with a broker of its own on Redis.
        g1 = fx.gateway(["--listen", "--listen-publish", "--redis=" + rd.url,
                         TIMEOUT])
        g2 = fx.gateway(["--listen", "--redis=" + rd.url, TIMEOUT])
        socks = []
        for g in (g1, g2):
            L.wait_until(lambda: L.broker_children(g.pid), 5.0 * L.SLOW)
            fx.track_brokers(g)
            s = L.broker_socket_of(L.broker_children(g.pid)[0])
            L.wait_until(lambda: redis_up(s), 10.0 * L.SLOW)
            socks.append(s)

        def p_gateways():
            a = fx.ws(g1.port)
            b = fx.ws(g2.port)
            b.send("subscribe /chat")
            ok, why = b.expect("ok subscribe /chat")
            if not ok:
                return False, why
            a.send("publish /chat hi from g1")
            ok, why = a.expect("ok publish /chat")
            if not ok:
                return False, why
            return b.expect("update /chat hi from g1", 5.0 * L.SLOW)

        L.point(t, "two gateways with --redis: a browser's publish on one "
                "reaches a client of the other", p_gateways)

        def p_gateway_restart():
            a = fx.ws(g1.port)
            b = fx.ws(g2.port)
            b.send("subscribe /live")
            ok, why = b.expect("ok subscribe /live")
            if not ok:
                return False, why
            rd.kill()
            if not L.wait_until(lambda: not redis_up(socks[0]),
                                10.0 * L.SLOW):
                return False, "g1's broker still says redis up"
            a.send("publish /live during")
            ok, why = a.expect("error publish /live redis unavailable",
                               5.0 * L.SLOW)
            if not ok:
                return False, "browser publish while down: " + why
            rd.start()
            if not L.wait_until(lambda: all(redis_up(s) for s in socks),
                                15.0 * L.SLOW):
                return False, "gateways' brokers did not reconnect"
            a.send("publish /live after")
            ok, why = a.expect("ok publish /live", 5.0 * L.SLOW)
            if not ok:
                return False, "browser publish after: " + why
            m = b.recv(5.0 * L.SLOW)
            return m == "update /live after", m

        L.point(t, "through a gateway, Redis killed: a browser's publish "
                "gets `error publish R redis unavailable`; its clients stay "
                "connected and get the next state when Redis is back",
                p_gateway_restart)


L.run(main, timeout=300, plan=20)
