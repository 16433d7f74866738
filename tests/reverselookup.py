#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --reverselookup (websocketd's): REMOTE_HOST is the DNS name of the
# client's address, looked up by worker threads so the loop never waits
# for DNS, and the address itself when it has no name; without the option
# REMOTE_HOST is the address.  The name is checked against what this
# machine's resolver says for 127.0.0.1 (the same NSS, /etc/hosts);
# --reverselookup=false keeps the address.  Another client is served
# while names are looked up.

import socket

import lib as h


def main(t):
    try:
        want = socket.gethostbyaddr('127.0.0.1')[0]
    except OSError:
        want = '127.0.0.1'
    gw = h.Gateway(h.cmd('env'), ['--reverselookup'])
    try:
        env = h.ws_env(gw.port)
        t.eq(env.get('REMOTE_HOST'), want,
             '--reverselookup: REMOTE_HOST is the name of 127.0.0.1 (%s)' %
             want)
        t.eq(env.get('REMOTE_ADDR'), '127.0.0.1',
             'REMOTE_ADDR stays the address')
        envs = [h.ws_env(gw.port) for _ in range(20)]
        t.ok(all(e.get('REMOTE_HOST') == want for e in envs),
             'twenty connections in a row each get it',
             [e.get('REMOTE_HOST') for e in envs][:3])
    finally:
        t.eq(gw.stop(), 0, 'gateway exits 0 on SIGTERM')
    for args, what in ((['--reverselookup=false'], '--reverselookup=false'),
                       ([], 'without --reverselookup')):
        gw = h.Gateway(h.cmd('env'), args)
        try:
            env = h.ws_env(gw.port)
            t.eq(env.get('REMOTE_HOST'), '127.0.0.1',
                 '%s: REMOTE_HOST is the address' % what)
        finally:
            gw.stop()


h.run(main, 60, plan=6)
