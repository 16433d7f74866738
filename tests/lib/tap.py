# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# TAP output and the frame of every test script: run(body) calls body(t)
# under an alarm, in a subreaper, and always cleans up what it started.
# A script either states its plan (printed first; points not reached are
# reported as failures) or leaves it to the end (printed after the last
# point; an exception is reported as a failing point).

import signal
import sys
import traceback

from . import proc


class ScriptTimeout(BaseException):
    """The script's alarm: not an Exception, so that no test's own
    `except Exception` swallows it."""


class TAP:
    def __init__(self, plan=None):
        self.plan = plan
        self.n = 0
        self.failed = []
        if plan is not None:
            print('1..%d' % plan, flush=True)

    def diag(self, *msgs):
        for msg in msgs:
            if msg is None:
                continue
            for line in str(msg).splitlines() or ['']:
                print('# ' + line, flush=True)

    def ok(self, cond, desc, *diags):
        self.n += 1
        desc = desc.replace('#', '\\#')
        if cond:
            print('ok %d - %s' % (self.n, desc), flush=True)
        else:
            print('not ok %d - %s' % (self.n, desc), flush=True)
            self.failed.append(self.n)
            self.diag(*diags)
        return bool(cond)

    def eq(self, got, want, desc):
        return self.ok(got == want, desc,
                       'got:  ' + short(got), 'want: ' + short(want))

    def skip(self, desc, reason):
        self.n += 1
        print('ok %d - %s # SKIP %s' % (self.n, desc.replace('#', '\\#'),
                                       reason), flush=True)


def short(v, limit=300):
    """repr(v), cut to limit characters."""
    r = repr(v)
    if len(r) > limit:
        r = r[:limit] + '... (%d chars)' % len(r)
    return r


def trunc(s, n=100):
    """s cut to n characters (None stays None)."""
    if s is None:
        return s
    if len(s) > n:
        return s[:n] + ('...(%d)' % len(s))
    return s


def run(body, timeout=60, plan=None):
    """Run body(t) under a global alarm of timeout seconds; always clean up
    what the script started.  Exits 1 if a point failed or the body
    raised."""
    t = TAP(plan)
    aborted = False

    def on_alarm(signo, frame):
        raise ScriptTimeout('test script exceeded its %d s alarm' %
                            (timeout * proc.SLOW))
    signal.signal(signal.SIGALRM, on_alarm)
    # Under valgrind everything the script waits for is slower.
    signal.alarm(int(timeout * proc.SLOW))
    proc.become_subreaper()
    try:
        body(t)
    except BaseException:
        aborted = True
        if plan is None:
            t.ok(False, 'script completes without exception',
                 traceback.format_exc())
        else:
            t.diag('aborted:', traceback.format_exc())
    finally:
        signal.alarm(0)
        try:
            proc.cleanup(t)
        except BaseException:
            t.diag('cleanup failed:', traceback.format_exc())
    if plan is None:
        print('1..%d' % t.n, flush=True)
    else:
        while t.n < plan:
            t.ok(False, 'not reached')
        if t.n > plan:
            t.diag('planned %d points, ran %d' % (plan, t.n))
    sys.exit(1 if aborted or t.failed else 0)


def point(t, name, fn):
    """One test point whose body may raise: an exception fails the point.
    fn returns a truth value or (truth value, diagnostic)."""
    try:
        res = fn()
    except Exception:
        return t.ok(False, name, traceback.format_exc())
    if isinstance(res, tuple):
        return t.ok(res[0], name, res[1])
    return t.ok(bool(res), name)
