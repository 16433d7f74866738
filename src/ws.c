/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * RFC 6455 framing.  ws_parse is a push parser with no I/O and no
 * allocation: it takes whatever bytes arrived, keeps a partial header or
 * control payload in its own struct, unmasks data in place and reports
 * each piece of a data message as soon as it arrives, so a message is
 * never buffered whole.  Every rule that can be checked from a frame's
 * header is checked there, before any payload is reported.
 */

#include <string.h>

#include "ws.h"

enum {
	WS_ST_HEADER,
	WS_ST_PAYLOAD,
	WS_ST_CONTROL,
	WS_ST_DEAD
};

void
ws_parser_init(struct ws_parser *p, uint64_t max_msg, int server)
{
	memset(p, 0, sizeof *p);
	p->max_msg = max_msg;
	p->server = server;
	p->state = WS_ST_HEADER;
	p->hdrneed = 2;
}

static enum ws_status
ws_fail(struct ws_parser *p, int code, const char *errstr)
{
	p->state = WS_ST_DEAD;
	p->code = code;
	p->errstr = errstr;
	return (WS_ERR);
}

static int
ws_is_control(int op)
{
	return ((op & 0x8) != 0);
}

/* Checks the first two header bytes and sets the full header length. */
static enum ws_status
ws_check_start(struct ws_parser *p)
{
	uint8_t	b0 = p->hdr[0], b1 = p->hdr[1];
	int	op = b0 & 0x0f, len7 = b1 & 0x7f;

	/*
	 * RFC 6455 5.2: RSV1-3 are 0 unless an extension says otherwise;
	 * RFC 7692 6: with permessage-deflate RSV1 marks a compressed
	 * message, on its first frame only, never on a control frame.
	 */
	if ((b0 & 0x30) != 0 || ((b0 & 0x40) && (!p->rsv1 ||
	    op == WS_OP_CONT || ws_is_control(op))))
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "reserved bits set"));
	switch (op) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		break;
	default:
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "reserved opcode"));
	}
	/* RFC 6455 5.5: control frames are short and never fragmented. */
	if (ws_is_control(op)) {
		if ((b0 & 0x80) == 0)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "fragmented control frame"));
		if (len7 > WS_CONTROL_MAX)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "control frame too long"));
	} else if (op == WS_OP_CONT && p->msg_op == 0)
		return (ws_fail(p, WS_CLOSE_PROTOCOL,
		    "continuation without a message"));
	else if (op != WS_OP_CONT && p->msg_op != 0)
		return (ws_fail(p, WS_CLOSE_PROTOCOL,
		    "new message inside a fragmented one"));
	/* RFC 6455 5.1: a client masks every frame, a server none. */
	p->masked = (b1 & 0x80) != 0;
	if (p->server && !p->masked)
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "unmasked client frame"));
	if (!p->server && p->masked)
		return (ws_fail(p, WS_CLOSE_PROTOCOL, "masked server frame"));
	p->hdrneed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
	    (p->masked ? 4 : 0);
	return (WS_MORE);
}

/* Decodes a complete header; returns WS_MORE, or WS_ERR. */
static enum ws_status
ws_check_header(struct ws_parser *p)
{
	uint64_t	len;
	size_t		i, pos = 2;
	int		len7 = p->hdr[1] & 0x7f;

	p->frame_op = p->hdr[0] & 0x0f;
	p->frame_fin = (p->hdr[0] & 0x80) != 0;
	if (len7 == 126) {
		len = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
		pos = 4;
		/* RFC 6455 5.2: the minimal number of bytes must be used. */
		if (len < 126)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "non-minimal length"));
	} else if (len7 == 127) {
		len = 0;
		for (i = 0; i < 8; i++)
			len = (len << 8) | p->hdr[2 + i];
		pos = 10;
		if (len >> 63)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "length has its top bit set"));
		if (len < 65536)
			return (ws_fail(p, WS_CLOSE_PROTOCOL,
			    "non-minimal length"));
	} else
		len = len7;
	if (p->masked)
		memcpy(p->mask, p->hdr + pos, 4);
	p->maskoff = 0;
	p->remaining = len;
	if (!ws_is_control(p->frame_op)) {
		/* Refuse an oversize message before buffering any of it. */
		if (p->max_msg > 0 && len > p->max_msg - p->msg_len)
			return (ws_fail(p, WS_CLOSE_TOO_BIG,
			    "message too big"));
		p->msg_len += len;
		if (p->frame_op != WS_OP_CONT) {
			p->msg_op = p->frame_op;
			p->msg_rsv1 = (p->hdr[0] & 0x40) != 0;
		}
	}
	return (WS_MORE);
}

/* Reports the end of a data frame; closes the message on FIN. */
static void
ws_end_frame(struct ws_parser *p)
{
	p->state = WS_ST_HEADER;
	p->hdrlen = 0;
	p->hdrneed = 2;
	if (p->fin) {
		p->msg_op = 0;
		p->msg_len = 0;
	}
}

/* Consumes header bytes; reports an empty frame as an event. */
static size_t
ws_parse_header(struct ws_parser *p, const uint8_t *buf, size_t len,
    enum ws_status *st)
{
	size_t	n = 0;

	while (n < len && p->hdrlen < p->hdrneed) {
		p->hdr[p->hdrlen++] = buf[n++];
		if (p->hdrlen == 2 && (*st = ws_check_start(p)) == WS_ERR)
			return (n);
	}
	if (p->hdrlen < p->hdrneed)
		return (n);
	if ((*st = ws_check_header(p)) == WS_ERR)
		return (n);
	if (ws_is_control(p->frame_op)) {
		p->ctl_len = 0;
		p->state = WS_ST_CONTROL;
		if (p->remaining == 0) {
			p->opcode = p->frame_op;
			p->data = p->ctl;
			p->len = 0;
			p->state = WS_ST_HEADER;
			p->hdrlen = 0;
			p->hdrneed = 2;
			*st = WS_CONTROL;
		}
		return (n);
	}
	p->state = WS_ST_PAYLOAD;
	if (p->remaining == 0) {
		/* Empty frames carry nothing unless they end a message. */
		p->opcode = p->msg_op;
		p->compressed = p->msg_rsv1;
		p->data = buf + n;
		p->len = 0;
		p->fin = p->frame_fin;
		ws_end_frame(p);
		if (p->fin)
			*st = WS_DATA;
	}
	return (n);
}

/*
 * Consumes up to len bytes and stops right after one event, which is
 * described in p.  Returns the bytes consumed; *st is WS_MORE when all
 * of them were used without an event.
 */
size_t
ws_parse(struct ws_parser *p, uint8_t *buf, size_t len, enum ws_status *st)
{
	size_t	n = 0, take;

	*st = WS_MORE;
	while (n < len && *st == WS_MORE) {
		switch (p->state) {
		case WS_ST_HEADER:
			n += ws_parse_header(p, buf + n, len - n, st);
			break;
		case WS_ST_PAYLOAD:
			take = len - n;
			if (take > p->remaining)
				take = p->remaining;
			if (p->masked)
				ws_mask(buf + n, take, p->mask, p->maskoff);
			p->maskoff = (p->maskoff + take) & 3;
			p->remaining -= take;
			p->opcode = p->msg_op;
			p->compressed = p->msg_rsv1;
			p->data = buf + n;
			p->len = take;
			p->fin = p->remaining == 0 && p->frame_fin;
			n += take;
			if (p->remaining == 0)
				ws_end_frame(p);
			*st = WS_DATA;
			break;
		case WS_ST_CONTROL:
			take = len - n;
			if (take > p->remaining)
				take = p->remaining;
			memcpy(p->ctl + p->ctl_len, buf + n, take);
			if (p->masked)
				ws_mask(p->ctl + p->ctl_len, take, p->mask,
				    p->ctl_len);
			p->ctl_len += take;
			p->remaining -= take;
			n += take;
			if (p->remaining == 0) {
				p->opcode = p->frame_op;
				p->data = p->ctl;
				p->len = p->ctl_len;
				p->state = WS_ST_HEADER;
				p->hdrlen = 0;
				p->hdrneed = 2;
				*st = WS_CONTROL;
			}
			break;
		default:
			*st = WS_ERR;
			return (n);
		}
	}
	return (n);
}

/* Writes a frame header for len payload bytes; returns its length. */
size_t
ws_header(uint8_t *out, int opcode, int fin, uint64_t len,
    const uint8_t *mask)
{
	size_t	n = 2, i;

	out[0] = (fin ? 0x80 : 0) | (opcode & (0x0f | WS_RSV1));
	if (len < 126)
		out[1] = len;
	else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = len >> 8;
		out[3] = len & 0xff;
		n = 4;
	} else {
		out[1] = 127;
		for (i = 0; i < 8; i++)
			out[2 + i] = (len >> (56 - 8 * i)) & 0xff;
		n = 10;
	}
	if (mask != NULL) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return (n);
}

/* XORs data with the key as if it started at byte off of the payload. */
void
ws_mask(uint8_t *data, size_t len, const uint8_t *key, size_t off)
{
	uint8_t		k[8];
	uint64_t	w, kw;
	size_t		i = 0;

	for (i = 0; i < 8; i++)
		k[i] = key[(off + i) & 3];
	memcpy(&kw, k, sizeof kw);
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, data + i, sizeof w);
		w ^= kw;
		memcpy(data + i, &w, sizeof w);
	}
	for (; i < len; i++)
		data[i] ^= k[i & 7];
}

/* RFC 6455 7.4: codes a peer may put in a close frame. */
int
ws_close_code_valid(unsigned int code)
{
	if (code >= 1000 && code <= 1003)
		return (1);
	if (code >= 1007 && code <= 1014)
		return (1);
	return (code >= 3000 && code <= 4999);
}

/* Splits a close payload; returns -1 if it is malformed. */
int
ws_close_parse(const uint8_t *data, size_t len, unsigned int *code,
    const uint8_t **reason, size_t *reasonlen)
{
	*reason = data;
	*reasonlen = 0;
	if (len == 0) {
		*code = WS_CLOSE_NO_STATUS;
		return (0);
	}
	/* RFC 6455 5.5.1: a body starts with a two-byte code. */
	if (len == 1)
		return (-1);
	*code = ((unsigned int)data[0] << 8) | data[1];
	if (!ws_close_code_valid(*code))
		return (-1);
	*reason = data + 2;
	*reasonlen = len - 2;
	return (0);
}

/* Writes a close payload (code, then reason cut to fit); returns length. */
size_t
ws_close_payload(uint8_t *out, unsigned int code, const char *reason)
{
	size_t	n = 0;

	out[0] = code >> 8;
	out[1] = code & 0xff;
	if (reason != NULL) {
		n = strlen(reason);
		if (n > WS_CONTROL_MAX - 2) {
			n = WS_CONTROL_MAX - 2;
			/* RFC 6455 5.5.1: the reason must stay valid UTF-8. */
			while (n > 0 && (reason[n] & 0xc0) == 0x80)
				n--;
		}
		memcpy(out + 2, reason, n);
	}
	return (2 + n);
}
