#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Squatting the broker's socket.  Whoever can write to the directory of a
# broker's socket can replace it with one of their own and read every
# state, so `wspipe broker --socket=PATH` refuses (exit 3, a message on
# stderr, no socket made) a directory writable by group or others (0777,
# 1777, 0770), one that belongs to another user, or one below a directory
# others may write to without the sticky bit; `wspipe --listen
# --broker=PATH` and `--listen --broker-socket=PATH` refuse to start
# (exit 1) in the same cases.  A 0700 or 0755 directory of ours works for
# all three.  Running as root: a socket that belongs to another user is
# not trusted by a gateway (no connection, publishes answered `broker
# unavailable`) until it is ours again.

import os
import stat

import lib as L

NOBODY = 65534


def mkdir(fx, name, mode, owner=None, parent=None):
    """A directory under the fixture (or parent) with exactly mode."""
    d = os.path.join(parent or fx.dir, name)
    os.mkdir(d)
    os.chmod(d, mode)
    if owner is not None:
        os.chown(d, owner, -1)
    return d


def broker_refused(path, reason):
    """(ok, diag): wspipe broker --socket=path exits 3 with a message
    naming the path and reason, and makes no socket."""
    st, out, err = L.wspipe_run(["broker", "--socket=" + path], timeout=10)
    if st != 3:
        return False, "exit %r (wanted 3), stderr %r" % (st, err)
    if path not in err or reason not in err:
        return False, "stderr %r does not say %r about %s" % (err, reason,
                                                             path)
    if os.path.lexists(path):
        return False, "a file %s was made anyway" % path
    return True, None


def gateway_refused(opt, path, reason):
    """(ok, diag): wspipe --listen OPT=path exits 1 with a message."""
    st, out = L.start_fail(["--listen", "%s=%s" % (opt, path)])
    if st != 1:
        return False, "exit %r (wanted 1): %r" % (st, out[-300:])
    if path not in out or reason not in out:
        return False, "output %r does not say %r about %s" % (
            out[-300:], reason, path)
    if os.path.lexists(path):
        return False, "a file %s was made anyway" % path
    return True, None


def main(t):
    root = os.geteuid() == 0
    with L.Fixture("wspipe-squat") as fx:
        open_dir = mkdir(fx, "open", 0o777)
        sticky = mkdir(fx, "sticky", 0o1777)
        group = mkdir(fx, "group", 0o770)
        gw_only = mkdir(fx, "groupw", 0o720)
        below = mkdir(fx, "below", 0o700, parent=open_dir)
        other = mkdir(fx, "other", 0o700, owner=NOBODY) if root else None
        safe = mkdir(fx, "safe", 0o700)
        safe2 = mkdir(fx, "safe2", 0o755)

        cases = [
            ("a 0777 directory", open_dir, "writable by others"),
            ("a 1777 (sticky) directory", sticky, "writable by others"),
            ("a 0770 (group-writable) directory", group,
             "writable by others"),
            ("a 0720 directory", gw_only, "writable by others"),
            ("a 0700 directory inside a 0777 one", below,
             "a directory above it is writable by others"),
            ("a 0700 directory of another user", other,
             "belongs to another user"),
        ]
        for what, d, reason in cases:
            name = "wspipe broker --socket in %s -> exit 3, message, " \
                "no socket" % what
            if d is None:
                t.skip(name, "not root: cannot make another user's "
                       "directory")
                continue
            L.point(t, name, lambda d=d, reason=reason: broker_refused(
                os.path.join(d, "b.sock"), reason))

        for opt in ("--broker", "--broker-socket"):
            for what, d, reason in cases:
                name = "wspipe --listen %s=PATH in %s -> exit 1, " \
                    "message" % (opt, what)
                if d is None:
                    t.skip(name, "not root")
                    continue
                L.point(t, name, lambda opt=opt, d=d, reason=reason:
                        gateway_refused(opt, os.path.join(d, "g.sock"),
                                        reason))

        def p_safe_broker(d):
            def fn():
                path = os.path.join(d, "b.sock")
                b = fx.broker(path)
                m = stat.S_IMODE(os.stat(path).st_mode)
                if m != 0o600:
                    return False, "socket mode %o" % m
                c = L.LineConn(path)
                try:
                    c.send("subscribe /s")
                    c.send("publish /s here")
                    got = c.lines_until_pong()
                finally:
                    c.close()
                return (got == ["ok subscribe /s", "update /s here"] and
                        b.poll() is None, "got %r; log %r" % (
                            got, L.proclog(b)))
            return fn
        L.point(t, "wspipe broker --socket in a 0700 directory of ours "
                "serves", p_safe_broker(safe))
        L.point(t, "wspipe broker --socket in a 0755 directory of ours "
                "serves", p_safe_broker(safe2))

        def p_gw_broker():
            path = os.path.join(safe, "b.sock")
            gw = fx.gateway(["--listen", "--broker=" + path])
            L.sync_gateway(fx, gw.port, path)
            return gw.alive(), gw.logtail()
        L.point(t, "wspipe --listen --broker=PATH in a 0700 directory "
                "relays the broker's states", p_gw_broker)

        def p_gw_socket():
            path = os.path.join(safe2, "own.sock")
            gw = fx.gateway(["--listen", "--broker-socket=" + path])
            L.sync_gateway(fx, gw.port, path)
            m = stat.S_IMODE(os.stat(path).st_mode)
            return m == 0o600 and gw.alive(), "socket mode %o; %s" % (
                m, gw.logtail())
        L.point(t, "wspipe --listen --broker-socket=PATH in a 0755 "
                "directory runs its broker there and relays its states",
                p_gw_socket)

        name = "a gateway does not connect to a broker socket that " \
            "belongs to another user, and does once it is ours again"
        if not root:
            t.skip(name, "not root: cannot chown the socket")
        else:
            def p_foreign_socket():
                d = mkdir(fx, "foreign", 0o700)
                path = os.path.join(d, "b.sock")
                fx.broker(path)
                os.chown(path, NOBODY, -1)
                gw = fx.gateway(["--listen", "--listen-publish",
                                 "--broker=" + path])
                line = L.wait_log(gw, "not trusting the broker", 5.0)
                if line is None:
                    return False, "no `not trusting` in the log: %s" % \
                        gw.logtail()
                w = fx.ws(gw.port)
                w.send("publish /f x")
                ok, why = w.expect("error publish /f broker unavailable",
                                   3.0)
                if not ok:
                    return False, "publish while untrusted: " + why
                os.chown(path, 0, -1)
                L.sync_gateway(fx, gw.port, path, timeout=10.0)
                return True, None
            L.point(t, name, p_foreign_socket)


if __name__ == "__main__":
    L.run(main, 120)
