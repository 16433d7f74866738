/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The pieces of the RFC 6455 opening handshake that do not touch a
 * connection: key checks, Sec-WebSocket-Accept, token lists and
 * subprotocol choice.  libc and libcrypto only.
 */
#ifndef HANDSHAKE_H
#define HANDSHAKE_H

#include <stddef.h>

#define HANDSHAKE_ACCEPT_LEN	28

int		 handshake_key_valid(const char *);
void		 handshake_accept(const char *, char *);
int		 handshake_has_token(const char *, const char *);
int		 handshake_subprotocol(const char *, const char *, char *,
		    size_t);
int		 handshake_origin_allowed(const char *, const char *,
		    const char *, int);

#endif
