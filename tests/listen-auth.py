#!/usr/bin/python3
# Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
#
# Who may listen and publish.  Tokens (--jwt-key): none is 401; HS256,
# RS256 and ES256 tokens from the Authorization header, the
# wspipeAuthorization cookie or the access_token query parameter give
# the grants of their claims (wspipe's or Mercure's); a bad signature,
# alg none, an HMAC token signed with the RSA key's PEM (algorithm
# confusion), an expired or not yet valid token are 401; a token that
# expires ends its connection with 1008.  An authorizer program
# (--authorizer): exit 0 admits with its output lines as grants, 1 is
# 403, 2 is 401, anything else or junk output 500, one that never answers
# 503 and is killed; a client that leaves stops it; it guards program
# endpoints too.  Tokens and the signing are made here, with
# python3-cryptography.

import base64
import hashlib
import hmac
import json
import os
import stat
import time

import lib as L

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature

SECRET = b"0123456789abcdef0123456789abcdef-secret"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(claims, alg="HS256", key=SECRET, header=None):
    h = b64(json.dumps(header or {"alg": alg, "typ": "JWT"}).encode())
    p = b64(json.dumps(claims).encode())
    msg = (h + "." + p).encode()
    if alg == "HS256":
        sig = hmac.new(key, msg, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = b""
    return h + "." + p + "." + b64(sig)


def grants(sub=(), pub=(), exp=None, claim="wspipe"):
    c = {claim: {"subscribe": list(sub), "publish": list(pub)}}
    if exp is not None:
        c["exp"] = exp
    return c


def status_of(fx, port, path="/", headers=None, timeout=5.0):
    """The HTTP status of an upgrade: 101, or the refusal's."""
    try:
        w = fx.ws(port, path, headers=headers, timeout=timeout)
    except Exception as e:
        return L.handshake_status(e) or repr(e)[:80]
    w.close()
    return 101


def main(t):
    with L.Fixture() as fx:
        hs = fx.path("hs.key")
        with open(hs, "wb") as f:
            f.write(SECRET + b"\n")
        rkey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ekey = ec.generate_private_key(ec.SECP256R1())
        rpem = rkey.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        epem = ekey.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        rs, es = fx.path("rsa.pem"), fx.path("ec.pem")
        with open(rs, "wb") as f:
            f.write(rpem)
        with open(es, "wb") as f:
            f.write(epem)
        sock = fx.path("b.sock")
        gw = fx.gateway(["--listen", "--broker-socket=" + sock,
                         "--jwt-key=" + hs, "--jwt-key=" + rs,
                         "--jwt-key=" + es])
        later = int(time.time()) + 3600
        good = token(grants(["/a/*"], ["/a/*"], later))

        L.point(t, "--jwt-key: an upgrade without a token is answered 401",
                lambda: (status_of(fx, gw.port) == 401,
                         status_of(fx, gw.port)))

        def p_header():
            w = fx.ws(gw.port, headers={"Authorization": "Bearer " + good})
            w.send("subscribe /a/x")
            w.send("subscribe /b")
            w.send("publish /a/x hi")
            w.send("publish /b no")
            return L.expect_seq(w, ["ok subscribe /a/x",
                                    "error subscribe /b not allowed",
                                    "ok publish /a/x", "update /a/x hi",
                                    "error publish /b not allowed"])
        L.point(t, "HS256 token in Authorization: Bearer: its grants, and "
                "nothing beyond them", p_header)

        def p_where(headers=None, path="/"):
            def p():
                w = fx.ws(gw.port, path, headers=headers)
                w.send("subscribe /a/where")
                w.send("subscribe /c")
                return L.expect_seq(w, ["ok subscribe /a/where",
                                        "error subscribe /c not allowed"])
            return p
        L.point(t, "the token in the wspipeAuthorization cookie",
                p_where({"Cookie": "x=1; wspipeAuthorization=" + good}))
        L.point(t, "the token in the access_token query parameter",
                p_where(path="/?q=1&access_token=" + good))
        L.point(t, "an RS256 token (2048-bit key) is accepted",
                p_where({"Authorization": "Bearer " + token(
                    grants(["/a/*"]), "RS256", rkey)}))
        L.point(t, "an ES256 token (P-256) is accepted",
                p_where({"Authorization": "Bearer " + token(
                    grants(["/a/*"]), "ES256", ekey)}))
        L.point(t, "Mercure's claim (mercure.subscribe) is read too",
                p_where({"Authorization": "Bearer " + token(
                    grants(["/a/*"], claim="mercure"))}))

        def refused(tok):
            return lambda: (status_of(fx, gw.port, headers={
                "Authorization": "Bearer " + tok}) == 401, "not 401")
        bad_sig = good[:-4] + ("AAAA" if not good.endswith("AAAA")
                               else "BBBB")
        L.point(t, "a bad signature is 401", refused(bad_sig))
        L.point(t, "alg none is 401", refused(token(
            grants(["*"]), "none", header={"alg": "none"})))
        L.point(t, "alg none with a signature part is 401", refused(
            token(grants(["*"]), "none", header={"alg": "none"})[:-1] +
            "." + b64(b"x" * 32)))
        L.point(t, "HS256 signed with the RSA key's PEM as secret "
                "(algorithm confusion) is 401", refused(token(
                    grants(["*"]), "HS256", rpem)))
        L.point(t, "a token signed with another secret is 401", refused(
            token(grants(["*"]), "HS256", b"x" * 40)))
        L.point(t, "an expired token is 401", refused(token(
            grants(["*"], exp=int(time.time()) - 5))))
        L.point(t, "a token not yet valid (nbf) is 401", refused(token(
            dict(grants(["*"]), nbf=int(time.time()) + 600))))
        L.point(t, "a garbled token is 401", refused("not.a.token"))

        def p_expires():
            exp = int(time.time()) + 2
            w = fx.ws(gw.port, headers={"Authorization": "Bearer " +
                                        token(grants(["/a/*"], exp=exp))})
            w.send("subscribe /a/e")
            ok, why = w.expect("ok subscribe /a/e")
            if not ok:
                return False, why
            try:
                m = w.recv(10.0)
                return False, "got %r, not a close" % m
            except L.Timeout:
                return False, "still open 10 s later"
            except L.Closed as e:
                late = time.time() - exp
                return (e.args[0] == 1008 and -1.0 <= late < 5.0,
                        "close %s, %.1f s after exp" % (e.args[0], late))
        L.point(t, "a token that expires ends its connection with 1008",
                p_expires)

        # The authorizer program.
        log = fx.path("authz.log")
        authz = fx.path("authz.sh")
        with open(authz, "w") as f:
            f.write("""#!/bin/sh
echo "$QUERY_STRING|$HTTP_COOKIE|$REMOTE_ADDR|$$" >> '%s'
case "$QUERY_STRING" in
*who=alice*) echo "subscribe /alice/*"; echo "publish /alice/*" ;;
*who=bob*) exit 2 ;;
*who=crash*) exit 9 ;;
*who=junk*) echo "frobnicate everything" ;;
*who=flood*) head -c 200000 /dev/zero | tr '\\0' 'x' ;;
*who=slow*) exec sleep 60 ;;
*) exit 1 ;;
esac
exit 0
""" % log)
        os.chmod(authz, stat.S_IRWXU)
        sock2 = fx.path("b2.sock")
        ga = fx.gateway(["--listen", "--broker-socket=" + sock2,
                         "--authorizer=" + authz])

        def p_alice():
            w = fx.ws(ga.port, "/?who=alice", headers={"Cookie": "c=42"})
            w.send("subscribe /alice/x")
            w.send("subscribe /bob/x")
            w.send("publish /alice/x hello")
            ok, why = L.expect_seq(w, ["ok subscribe /alice/x",
                                       "error subscribe /bob/x not allowed",
                                       "ok publish /alice/x",
                                       "update /alice/x hello"])
            if not ok:
                return False, why
            with open(log) as f:
                line = f.read().splitlines()[-1]
            return (line.startswith("who=alice|c=42|127.0.0.1|"),
                    "authorizer saw %r" % line)
        L.point(t, "--authorizer: exit 0 admits, its lines are the grants; "
                "it sees QUERY_STRING, HTTP_COOKIE and REMOTE_ADDR", p_alice)
        for who, want in (("bob", 401), ("eve", 403), ("crash", 500),
                          ("junk", 500), ("flood", 500)):
            L.point(t, "--authorizer: %s -> %d" % (who, want),
                    lambda who=who, want=want: (
                        status_of(fx, ga.port, "/?who=" + who) == want,
                        status_of(fx, ga.port, "/?who=" + who)))

        def p_slow():
            t0 = time.monotonic()
            st = status_of(fx, ga.port, "/?who=slow", timeout=20)
            took = time.monotonic() - t0
            if st != 503:
                return False, "status %r" % st
            ok = L.wait_until(lambda: ga.children() == [] or
                              all(L.cmdline(k)[:1] != ["sleep"]
                                  for k in ga.children()), 10)
            return ok and took < 20, "took %.1f s, children %r" % (
                took, ga.children())
        L.point(t, "an authorizer that never answers: 503 after 10 s, and "
                "it is killed", p_slow)

        def p_leaves():
            c = L.Client(ga)
            req, key = L.upgrade_request(c.hostheader(), "/?who=slow")
            c.send(req)
            found = L.wait_until(lambda: any(
                L.cmdline(k)[:1] == ["sleep"] for k in ga.children()), 5)
            c.close(rst=True)
            gone = L.wait_until(lambda: not any(
                L.cmdline(k)[:1] == ["sleep"] for k in ga.children()), 10)
            return found and gone and ga.alive(), \
                "started %s, gone %s" % (found, gone)
        L.point(t, "a client that leaves while its authorizer runs: the "
                "authorizer is ended and reaped", p_leaves)

        gp = fx.gateway(["--authorizer=" + authz], [L.TESTCHILD, "echo"])

        def p_program():
            if status_of(fx, gp.port, "/?who=eve") != 403:
                return False, "eve not refused"
            w = fx.ws(gp.port, "/?who=alice")
            w.send("hello")
            return w.expect("hello")
        L.point(t, "--authorizer guards program endpoints too: refused "
                "403, admitted echoes", p_program)

        gb = fx.gateway(["--listen", "--broker-socket=" + fx.path("b3.sock"),
                         "--authorizer=" + authz, "--jwt-key=" + hs])

        def p_both():
            tok = token(grants(["/t/*"]))
            w = fx.ws(gb.port, "/?who=alice&access_token=" + tok)
            w.send("subscribe /t/1")
            w.send("subscribe /alice/1")
            w.send("subscribe /x")
            ok, why = L.expect_seq(w, ["ok subscribe /t/1",
                                       "ok subscribe /alice/1",
                                       "error subscribe /x not allowed"])
            if not ok:
                return False, why
            st = status_of(fx, gb.port, "/?who=alice&access_token=" +
                           bad_sig)
            return st == 401, "a bad token beside the authorizer: %r" % st
        L.point(t, "token and authorizer together: their grants add up; "
                "a bad token is still 401", p_both)

        L.point(t, "the gateways are still running", lambda: (
            gw.alive() and ga.alive() and gp.alive() and gb.alive(),
            "one died"))


if __name__ == "__main__":
    L.run(main, 120)
