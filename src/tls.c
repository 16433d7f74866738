/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * TLS for --ssl, and the only file that includes OpenSSL's libssl.  One
 * server context is made at start-up, where every problem with the
 * certificate or the key is a clear error; each connection then gets a
 * non-blocking SSL object whose reads and writes report what the socket
 * must wait for, so that conn_update() can derive interest as usual.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "wspipe.h"

static SSL_CTX	*tls_ctx;

/* Returns the last OpenSSL error as static text. */
static const char *
tls_error(void)
{
	static char	msg[256];
	unsigned long	e = ERR_peek_last_error();

	if (e == 0)
		return ("unknown error");
	ERR_error_string_n(e, msg, sizeof msg);
	ERR_clear_error();
	return (msg);
}

/*
 * Loads the certificate chain and key, and with ca (--sslca) asks every
 * client for a certificate that ca vouches for; returns -1 with *errstr
 * set, leaving what was loaded before, if anything, in place.
 */
int
tls_init(const char *cert, const char *key, const char *ca,
    const char **errstr)
{
	STACK_OF(X509_NAME)	*names;
	SSL_CTX			*ctx;
	static char		 msg[512];

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*errstr = tls_error();
		return (-1);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(msg, sizeof msg, "%s: bad certificate: %s", cert,
		    tls_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(msg, sizeof msg, "%s: bad private key: %s", key,
		    tls_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(msg, sizeof msg, "%s does not match %s: %s", key, cert,
		    tls_error());
		goto fail;
	}
	if (ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
		    (names = SSL_load_client_CA_file(ca)) == NULL) {
			snprintf(msg, sizeof msg, "%s: bad CA certificates: %s",
			    ca, tls_error());
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* mTLS: no certificate, or one ca does not vouch for, no
		 * handshake. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	/*
	 * Loaded: new connections use it.  A reload (SIGHUP) frees the old
	 * context, which every open connection's SSL still holds a
	 * reference to, so they go on with the certificate they have.
	 */
	SSL_CTX_free(tls_ctx);
	tls_ctx = ctx;
	return (0);
fail:
	SSL_CTX_free(ctx);
	*errstr = msg;
	return (-1);
}

static void
tls_name(X509_NAME *name, char *out, size_t outsz)
{
	BIO	*b;
	int	 n;

	out[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	/* RFC 2253, control and 8-bit bytes escaped. */
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_read(b, out, (int)outsz - 1)) > 0)
		out[n] = '\0';
	BIO_free(b);
}

/*
 * What a program is told of the TLS session, as mod_ssl names it: the
 * protocol and cipher, and the client certificate's subject, issuer and
 * serial when --sslca verified one (empty strings otherwise).
 */
void
tls_info(struct tls *t, struct tls_info *ti)
{
	SSL		*ssl = (SSL *)t;
	X509		*x;
	ASN1_INTEGER	*sn;
	BIGNUM		*bn;
	char		*hex;

	memset(ti, 0, sizeof *ti);
	strlcpy(ti->protocol, SSL_get_version(ssl), sizeof ti->protocol);
	strlcpy(ti->cipher, SSL_get_cipher_name(ssl), sizeof ti->cipher);
	if ((x = SSL_get0_peer_certificate(ssl)) == NULL)
		return;
	tls_name(X509_get_subject_name(x), ti->subject, sizeof ti->subject);
	tls_name(X509_get_issuer_name(x), ti->issuer, sizeof ti->issuer);
	sn = X509_get_serialNumber(x);
	if ((bn = ASN1_INTEGER_to_BN(sn, NULL)) != NULL &&
	    (hex = BN_bn2hex(bn)) != NULL) {
		strlcpy(ti->serial, hex, sizeof ti->serial);
		OPENSSL_free(hex);
	}
	BN_free(bn);
	ti->verified = SSL_get_verify_result(ssl) == X509_V_OK;
}

int
tls_enabled(void)
{
	return (tls_ctx != NULL);
}

/* A server-side SSL object for an accepted socket, or NULL. */
struct tls *
tls_new(int fd)
{
	SSL	*ssl;

	if ((ssl = SSL_new(tls_ctx)) == NULL)
		return (NULL);
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return (NULL);
	}
	SSL_set_accept_state(ssl);
	return ((struct tls *)ssl);
}

void
tls_free(struct tls *t)
{
	SSL_free((SSL *)t);
}

/*
 * Maps an SSL result to read(2)'s conventions: -1 with errno EAGAIN and
 * *want set to what the socket must wait for, 0 for a clean end, or -1
 * with EIO for a failed connection.
 */
static ssize_t
tls_result(SSL *ssl, int r, int *want)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*want = EV_READ;
		errno = EAGAIN;
		return (-1);
	case SSL_ERROR_WANT_WRITE:
		*want = EV_WRITE;
		errno = EAGAIN;
		return (-1);
	case SSL_ERROR_ZERO_RETURN:
		return (0);
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == 0)
			errno = ECONNRESET;
		return (-1);
	default:
		ERR_clear_error();
		errno = EIO;
		return (-1);
	}
}

ssize_t
tls_read(struct tls *t, void *buf, size_t len, int *want)
{
	SSL	*ssl = (SSL *)t;
	int	 r;

	*want = 0;
	errno = 0;
	if ((r = SSL_read(ssl, buf, len > INT_MAX ? INT_MAX : (int)len)) > 0)
		return (r);
	return (tls_result(ssl, r, want));
}

ssize_t
tls_write(struct tls *t, const void *buf, size_t len, int *want)
{
	SSL	*ssl = (SSL *)t;
	int	 r;

	*want = 0;
	errno = 0;
	if ((r = SSL_write(ssl, buf, len > INT_MAX ? INT_MAX : (int)len)) > 0)
		return (r);
	return (tls_result(ssl, r, want));
}

/* Decrypted bytes waiting inside OpenSSL, which poll(2) cannot see. */
int
tls_pending(struct tls *t)
{
	return (SSL_pending((SSL *)t) > 0);
}

/* Sends close_notify once, without waiting for the peer's. */
void
tls_close_notify(struct tls *t)
{
	SSL	*ssl = (SSL *)t;

	if (SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
}
