/*
 * wsclient - see wsclient.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wsclient.h"

int wsc_connect(const struct sockaddr *sa, socklen_t salen)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int wsc_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int wsc_request(char *out, size_t cap, const char *host, int port,
		const char *path)
{
	int n = snprintf(out, cap,
		"GET %s HTTP/1.1\r\n"
		"Host: %s:%d\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Key: " WSC_KEY "\r\n"
		"Sec-WebSocket-Version: 13\r\n"
		"\r\n",
		path, host, port);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

long wsc_response(const char *buf, size_t len, const char **err)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (end == NULL)
		return 0;
	size_t hlen = (size_t)(end - buf) + 4;
	if (hlen < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) {
		*err = "handshake status not 101";
		return -1;
	}
	if (memmem(buf, hlen, WSC_ACCEPT, sizeof WSC_ACCEPT - 1) == NULL) {
		*err = "bad Sec-WebSocket-Accept";
		return -1;
	}
	return (long)hlen;
}

size_t wsc_frame(uint8_t *out, int opcode, const void *payload, size_t len,
		 const uint8_t mask[4])
{
	size_t n = ws_header(out, opcode, 1, len, mask);
	memcpy(out + n, payload, len);
	ws_mask(out + n, len, mask, 0);
	return n + len;
}

void wsc_rx_init(struct wsc_rx *rx, uint64_t max_msg, int keep)
{
	memset(rx, 0, sizeof *rx);
	ws_parser_init(&rx->p, max_msg, 0);
	rx->keep = keep;
}

void wsc_rx_free(struct wsc_rx *rx)
{
	free(rx->buf);
	rx->buf = NULL;
	rx->buflen = rx->bufcap = 0;
}

static int keep_piece(struct wsc_rx *rx, const uint8_t *p, size_t n)
{
	if (rx->buflen + n > rx->bufcap) {
		size_t cap = rx->bufcap ? rx->bufcap : 256;
		while (cap < rx->buflen + n)
			cap *= 2;
		uint8_t *b = realloc(rx->buf, cap);
		if (b == NULL)
			return -1;
		rx->buf = b;
		rx->bufcap = cap;
	}
	memcpy(rx->buf + rx->buflen, p, n);
	rx->buflen += n;
	return 0;
}

enum wsc_event wsc_next(struct wsc_rx *rx, uint8_t *buf, size_t len,
			size_t *off, struct wsc_ev *ev)
{
	enum ws_status st;

	while (*off < len) {
		*off += ws_parse(&rx->p, buf + *off, len - *off, &st);
		switch (st) {
		case WS_MORE:
			break;
		case WS_ERR:
			ev->errstr = rx->p.errstr;
			return WSC_ERROR;
		case WS_CONTROL:
			ev->opcode = rx->p.opcode;
			ev->data = rx->p.data;
			ev->len = rx->p.len;
			return WSC_CONTROL;
		case WS_DATA:
			if (rx->keep && !(rx->p.fin && rx->msglen == 0) &&
			    keep_piece(rx, rx->p.data, rx->p.len) < 0) {
				ev->errstr = "out of memory";
				return WSC_ERROR;
			}
			rx->msglen += rx->p.len;
			if (!rx->p.fin)
				break;
			ev->opcode = rx->p.opcode;
			ev->msglen = rx->msglen;
			if (!rx->keep) {
				ev->data = NULL;
				ev->len = 0;
			} else if (rx->msglen == rx->p.len) {
				/* in one piece: straight from the caller's buffer */
				ev->data = rx->p.data;
				ev->len = rx->p.len;
			} else {
				ev->data = rx->buf;
				ev->len = rx->buflen;
			}
			rx->msglen = 0;
			rx->buflen = 0;
			return WSC_MESSAGE;
		}
	}
	return WSC_NEED;
}
