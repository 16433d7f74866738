#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# --sslca=FILE (websocketd's mTLS): a client must present a certificate
# the CA file vouches for, or the TLS handshake fails and nothing is
# spawned; an admitted client's program sees the certificate as mod_ssl
# names it (SSL_CLIENT_S_DN, SSL_CLIENT_I_DN, SSL_CLIENT_M_SERIAL,
# SSL_CLIENT_VERIFY=SUCCESS), and every TLS program sees SSL_PROTOCOL and
# SSL_CIPHER.  --sslca without --ssl is a configuration error.  The CA
# and the certificates are made here with openssl(1).

import os
import ssl
import subprocess

import lib as h


def openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True, timeout=60,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(d):
    """A CA, a client certificate it signs (CN=alice), and a rogue
    self-signed one (CN=mallory): paths."""
    p = {k: os.path.join(d, k + '.pem') for k in
         ('ca', 'ca-key', 'alice', 'alice-key', 'alice-csr', 'mallory',
          'mallory-key')}
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
          '-nodes']
    openssl('req', '-x509', *ec, '-keyout', p['ca-key'], '-out', p['ca'],
            '-days', '2', '-subj', '/O=wspipe tests/CN=test CA')
    openssl('req', *ec, '-keyout', p['alice-key'], '-out', p['alice-csr'],
            '-subj', '/O=wspipe tests/CN=alice')
    openssl('x509', '-req', '-in', p['alice-csr'], '-CA', p['ca'],
            '-CAkey', p['ca-key'], '-set_serial', '0x1234abcd', '-days', '2',
            '-out', p['alice'])
    openssl('req', '-x509', *ec, '-keyout', p['mallory-key'], '-out',
            p['mallory'], '-days', '2', '-subj', '/CN=mallory')
    return p


def ctx_with(cert=None, key=None):
    ctx = h.client_ctx()
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def refused(gw, ctx):
    """The upgrade cannot happen: the handshake fails, or the connection
    ends before an answer."""
    try:
        env = h.ws_env(gw.port, ctx=ctx, timeout=5)
    except (ssl.SSLError, OSError, RuntimeError, h.Timeout) as e:
        return True, repr(e)[:100]
    return False, 'admitted: %r' % env.get('SSL_CLIENT_S_DN')


def main(t):
    d = h.mkdtemp()
    gws = []
    try:
        cert, key = h.make_cert(d)
        p = make_ca(d)
        tls = ['--ssl', '--sslcert=' + cert, '--sslkey=' + key]
        gw = h.Gateway(h.cmd('env'), tls + ['--sslca=' + p['ca']])
        gws.append(gw)

        env = h.ws_env(gw.port, ctx=ctx_with(p['alice'], p['alice-key']))
        t.eq(env.get('SSL_CLIENT_S_DN'), 'CN=alice,O=wspipe tests',
             'a certificate the CA signed is admitted; SSL_CLIENT_S_DN is '
             'its subject (RFC 2253)')
        t.eq(env.get('SSL_CLIENT_I_DN'), 'CN=test CA,O=wspipe tests',
             'SSL_CLIENT_I_DN is its issuer')
        t.eq(env.get('SSL_CLIENT_M_SERIAL'), '1234ABCD',
             'SSL_CLIENT_M_SERIAL is its serial, in hex')
        t.eq(env.get('SSL_CLIENT_VERIFY'), 'SUCCESS', 'SSL_CLIENT_VERIFY')
        t.ok(env.get('SSL_PROTOCOL', '').startswith('TLSv1.') and
             env.get('SSL_CIPHER', '') != '',
             'SSL_PROTOCOL and SSL_CIPHER name the session',
             (env.get('SSL_PROTOCOL'), env.get('SSL_CIPHER')))

        ok, why = refused(gw, ctx_with())
        t.ok(ok, 'no client certificate: refused', why)
        ok, why = refused(gw, ctx_with(p['mallory'], p['mallory-key']))
        t.ok(ok, 'a certificate the CA did not sign: refused', why)
        t.eq(gw.children(), [], 'nothing was spawned for the refused')
        t.ok(gw.running(), 'the gateway keeps serving', gw.logtail())

        gp = h.Gateway(h.cmd('env'), tls)
        gws.append(gp)
        env = h.ws_env(gp.port, ctx=ctx_with())
        t.ok(env.get('SSL_PROTOCOL', '').startswith('TLSv1.') and
             'SSL_CLIENT_S_DN' not in env,
             'without --sslca: SSL_PROTOCOL, and no client certificate '
             'variables', sorted(k for k in env if k.startswith('SSL_')))

        r = subprocess.run([h.WSPIPE, '--sslca=' + p['ca'], 'cat'],
                           capture_output=True, timeout=30 * h.SLOW)
        t.eq(r.returncode, 1, '--sslca without --ssl: exit 1')
        r = subprocess.run([h.WSPIPE] + tls + ['--sslca=' + cert + '.nope',
                                               '--port=1', 'cat'],
                           capture_output=True, timeout=30 * h.SLOW)
        t.eq(r.returncode, 1, 'an unreadable --sslca file: exit 1')
    finally:
        for g in gws:
            g.stop()
        h.rmtree(d)


h.run(main, 90, plan=12)
