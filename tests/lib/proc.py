# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Processes and the file system: paths of the programs under test, polling
# with a deadline, /proc probes (children, zombies, fds, RSS, CPU time,
# listening sockets), the child subreaper and the cleanup of whatever a
# script started (killed by PID, never by name), fixture directories, and
# the knobs for AddressSanitizer and valgrind.

import atexit
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

LIB_DIR = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.path.dirname(LIB_DIR)
WSPIPE = os.path.abspath(os.environ.get('WSPIPE') or
                         os.path.join(TESTS_DIR, '..', 'src', 'wspipe'))
TESTCHILD = os.path.abspath(os.environ.get('TESTCHILD') or
                            os.path.join(TESTS_DIR, 'testchild'))

# Under valgrind (make check-valgrind) the gateway is many times slower:
# deadlines are multiplied by this.
SLOW = 4 if os.environ.get('WSPIPE_VALGRIND') else 1


def testchild():
    """Path of the testchild helper, compiled from tests/testchild.c if
    make has not built it."""
    if os.access(TESTCHILD, os.X_OK):
        return TESTCHILD
    src = os.path.join(TESTS_DIR, 'testchild.c')
    tmp = tempfile.mkdtemp(prefix='wspipe-test')
    out = os.path.join(tmp, 'testchild')
    atexit.register(shutil.rmtree, tmp, True)
    subprocess.run(['cc', '-O2', '-o', out, src], check=True, timeout=60)
    return out


# ---------------------------------------------------------------- polling

def wait_until(pred, timeout=5.0, interval=0.01):
    """Poll pred() until it is true or the deadline passes; return its last
    value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def settle(fn, timeout=5.0, still=0.3, interval=0.02):
    """Poll fn() until its value has not changed for `still` seconds."""
    deadline = time.monotonic() + timeout
    last = fn()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(interval)
        v = fn()
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= still:
            break
    return last


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(state, ppid, pgrp) of pid, or None if it does not exist."""
    try:
        # A command name may hold any byte (a test names a script
        # with 0x9b): read bytes.
        with open('/proc/%d/stat' % pid, 'rb') as f:
            s = f.read().decode('utf-8', 'replace')
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rfind(')') + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def all_pids():
    return [int(d) for d in os.listdir('/proc') if d.isdigit()]


def children_of(ppid):
    """PIDs of the processes whose parent is ppid (zombies included)."""
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st is not None and st[1] == ppid:
            out.append(pid)
    return sorted(out)


def zombies_of(ppid):
    out = []
    for pid in children_of(ppid):
        st = proc_stat(pid)
        if st is not None and st[0] == 'Z':
            out.append(pid)
    return out


def alive(pid):
    """kill -0 succeeds (true for a zombie too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead(pid):
    """Gone, or a zombie that only waits for its (new) parent to reap it:
    used for processes that are not the gateway's own children."""
    st = proc_stat(pid)
    return st is None or st[0] in 'ZX'


def cmdline(pid):
    """argv of pid as a list of str; [] if gone or a zombie."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode('utf-8', 'replace') for a in raw.split(b'\0') if a]


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def proc_status(pid, key):
    """A numeric field of /proc/PID/status (VmRSS in kB, ...)."""
    with open('/proc/%d/status' % pid, 'rb') as f:
        for line in f:
            if line.startswith(key.encode() + b':'):
                return int(line.split()[1])
    return None


def rss_kib(pid):
    return proc_status(pid, 'VmRSS') or 0


def proc_cputime(pid):
    """utime+stime of pid, in seconds."""
    with open('/proc/%d/stat' % pid, 'rb') as f:
        st = f.read().decode('utf-8', 'replace')
    fields = st[st.rindex(')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def free_port(address='127.0.0.1'):
    fam = socket.AF_INET6 if ':' in address else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((address, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def listening_inodes(port):
    inodes = set()
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    p = line.split()
                    lport = int(p[1].rsplit(':', 1)[1], 16)
                    if p[3] == '0A' and lport == port:
                        inodes.add(p[9])
        except FileNotFoundError:
            pass
    return inodes


def listening(pid, port):
    """True once process pid holds a socket listening on port (read from
    /proc, so probing makes no connection)."""
    inodes = listening_inodes(port)
    if not inodes:
        return False
    try:
        for fd in os.listdir('/proc/%d/fd' % pid):
            try:
                t = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if t.startswith('socket:[') and t[8:-1] in inodes:
                return True
    except FileNotFoundError:
        pass
    return False


# ---------------------------------------------------------------- cleanup

def become_subreaper():
    """Orphans of the processes we start are re-parented to us, so cleanup
    can find and reap them wherever PID 1 does not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)              # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


def kill_group_and_pid(pid):
    """SIGKILL pid and its process group (unless that is ours)."""
    st = proc_stat(pid)
    if st is None:
        return
    if st[2] not in (0, os.getpgrp()):
        try:
            os.killpg(st[2], signal.SIGKILL)
        except OSError:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def reap_orphans(pids, diag=None):
    """Kill and reap those of pids that have been re-parented to us (the
    subreaper), so a PID is only ever killed while it is ours."""
    me = os.getpid()
    for pid in pids:
        st = proc_stat(pid)
        if st is None or st[1] != me:
            continue
        if diag is not None and st[0] != 'Z':
            diag('cleanup: killing leftover process %d' % pid)
        kill_group_and_pid(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


# Functions run(t) calls at the end of a script, in order, with the TAP
# producer; gateway.py and listen.py register theirs.
_cleanups = []


def at_cleanup(fn):
    _cleanups.append(fn)
    return fn


def cleanup(t):
    for fn in list(_cleanups):
        try:
            fn(t)
        except BaseException as e:       # keep cleaning up
            t.diag('cleanup: %s: %r' % (getattr(fn, '__name__', fn), e))
    # Anything still re-parented to us (we are a subreaper) is left over.
    for _ in range(50):
        strays = children_of(os.getpid())
        if not strays:
            break
        reap_orphans(strays, t.diag)
    global _tmpdir
    if _tmpdir is not None and not t.failed:
        rmtree(_tmpdir)
        _tmpdir = None


# ---------------------------------------------------------------- sanitizers

_MEMERR = re.compile(r'ERROR: AddressSanitizer|ERROR: LeakSanitizer|'
                     r'runtime error:|^==\d+== (Invalid (read|write|free)|'
                     r'Conditional jump|Use of uninitialised|Syscall param|'
                     r'Mismatched free|Source and destination overlap)')


def memory_errors(text):
    """Lines of a gateway log that report a memory error: ASan/UBSan, or
    valgrind, which reports and carries on (its exit status comes only
    at the end)."""
    return [l[:200] for l in text.splitlines() if _MEMERR.search(l)]


def sanitized():
    """True if the gateway is built with AddressSanitizer, whose shadow
    memory and quarantine make VmRSS meaningless, or runs under valgrind
    (make check-valgrind), which does the same and keeps fds of its own."""
    if os.environ.get('WSPIPE_VALGRIND'):
        return True
    try:
        with open(WSPIPE, 'rb') as f:
            return b'__asan_init' in f.read()
    except OSError:
        return False


def rss_env(env=None):
    """The environment for a gateway whose RSS a test measures: under
    AddressSanitizer, freed memory sits in a 256 MB quarantine, which is
    not the gateway's own growth, so turn the quarantine off.  Harmless
    without ASan."""
    env = dict(os.environ if env is None else env)
    opts = env.get('ASAN_OPTIONS', '')
    env['ASAN_OPTIONS'] = (opts + ':' if opts else '') + \
        'quarantine_size_mb=0:thread_local_quarantine_size_kb=0'
    return env


def asan_without_quarantine():
    """rss_env() for every gateway this script starts (they inherit
    os.environ)."""
    os.environ['ASAN_OPTIONS'] = rss_env()['ASAN_OPTIONS']


# ---------------------------------------------------------------- fixtures

_tmpdir = None


def tmpdir():
    """The script's scratch directory (gateway logs live here); removed
    at the end unless a point failed."""
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = os.path.realpath(tempfile.mkdtemp(prefix='wspipe-test-'))
    return _tmpdir


def mkdtemp(prefix='wspipe-http'):
    """A fresh temporary directory (its real path); removed by rmtree."""
    return os.path.realpath(tempfile.mkdtemp(prefix=prefix))


def rmtree(d):
    """Remove a fixture tree, restoring permissions a test took away."""
    if d is None:
        return
    for root, dirs, _ in os.walk(d):
        for x in dirs:
            p = os.path.join(root, x)
            if not os.path.islink(p):
                try:
                    os.chmod(p, 0o755)
                except OSError:
                    pass
    shutil.rmtree(d, True)


def write(path, data, mode=0o644):
    """Create path (and its parent directories) holding data."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def script(path, body, mode=0o755):
    """An executable /bin/sh script at path."""
    return write(path, '#!/bin/sh\n' + body, mode)
