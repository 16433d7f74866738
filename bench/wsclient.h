/*
 * wsclient - the WebSocket client side shared by bench/'s load generators
 * (wsbench, fanbench).  Framing is src/ws.c's: frames are written with
 * ws_header() and ws_mask(), and read with ws_parse() in client mode, so
 * the load generators check the gateway's frames by the same rules the
 * gateway checks theirs.  No I/O loop: the caller owns the sockets, epoll
 * and buffers; this file only connects, builds and checks the handshake,
 * builds frames and turns received bytes into events.
 *
 * Plain C11 + POSIX; libc and src/ws.c only.
 */
#ifndef WSCLIENT_H
#define WSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ws.h"

/* The RFC 6455 1.3 example key, and the accept value it must produce. */
#define WSC_KEY		"dGhlIHNhbXBsZSBub25jZQ=="
#define WSC_ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/*
 * A socket, non-blocking, close-on-exec, TCP_NODELAY, with a connect() to
 * sa started.  Returns the fd, or -1 with errno set.
 */
int	wsc_connect(const struct sockaddr *sa, socklen_t salen);

/* A TCP port on 127.0.0.1 that is free right now, or -1. */
int	wsc_free_port(void);

/* Writes the upgrade request into out; returns its length (or -1). */
int	wsc_request(char *out, size_t cap, const char *host, int port,
	    const char *path);

/*
 * Checks the handshake response at the start of buf.  Returns the length
 * of the response header (the frames start there) once it is complete
 * and is a 101 with the right Sec-WebSocket-Accept, 0 while it is
 * incomplete, -1 (with *err) if it is a refusal.
 */
long	wsc_response(const char *buf, size_t len, const char **err);

/*
 * Writes one complete frame (FIN set), masked with mask, into out, which
 * must hold len + WS_HEADER_MAX bytes.  Returns its length.
 */
size_t	wsc_frame(uint8_t *out, int opcode, const void *payload, size_t len,
	    const uint8_t mask[4]);

/* Receiving: one per connection. */
struct wsc_rx {
	struct ws_parser p;
	uint64_t	 msglen;	/* bytes of the message so far */
	int		 keep;		/* assemble messages for the caller */
	uint8_t		*buf;		/* keep: pieces received so far */
	size_t		 buflen, bufcap;
};

enum wsc_event {
	WSC_NEED,	/* every byte used, no event */
	WSC_MESSAGE,	/* a whole data message */
	WSC_CONTROL,	/* a whole control frame (close, ping, pong) */
	WSC_ERROR	/* the gateway broke the protocol; see errstr */
};

struct wsc_ev {
	int		 opcode;	/* WS_OP_TEXT/BINARY, or the control op */
	const uint8_t	*data;		/* control payload; keep: the message */
	size_t		 len;		/* length of data */
	uint64_t	 msglen;	/* WSC_MESSAGE: the message's length */
	const char	*errstr;	/* WSC_ERROR */
};

/*
 * max_msg: longest message accepted (0: any).  keep: 0 to count the
 * bytes of a message only (data is NULL), 1 to get every message whole
 * in data (pointing into the caller's buffer when it arrived in one
 * piece, else into rx's own, valid until the next call).
 */
void	wsc_rx_init(struct wsc_rx *rx, uint64_t max_msg, int keep);
void	wsc_rx_free(struct wsc_rx *rx);

/*
 * Consumes bytes of buf[*off .. len) up to the next event and advances
 * *off past them; buf is modified in place.  Call again until WSC_NEED.
 * After WSC_ERROR the connection is unusable.
 */
enum wsc_event wsc_next(struct wsc_rx *rx, uint8_t *buf, size_t len,
	    size_t *off, struct wsc_ev *ev);

#endif
