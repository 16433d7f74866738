/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * RFC 6455 framing: an incremental, I/O-free frame decoder and an encoder.
 * The decoder never allocates; it unmasks payload in place and reports
 * each piece as it arrives.  Pure: libc only.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa
};

/* Close codes (RFC 6455 7.4.1). */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_NO_STATUS	1005
#define WS_CLOSE_ABNORMAL	1006
#define WS_CLOSE_INVALID_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_INTERNAL	1011
#define WS_CLOSE_TRY_AGAIN	1013

#define WS_CONTROL_MAX		125
#define WS_RSV1			0x40	/* or'ed into ws_header's opcode */
#define WS_HEADER_MAX		14

enum ws_status {
	WS_MORE,		/* all input consumed, no event */
	WS_DATA,		/* a piece of a data message */
	WS_CONTROL,		/* a whole control frame */
	WS_ERR			/* protocol error: see code and errstr */
};

struct ws_parser {
	/* Set by ws_parser_init. */
	uint64_t	 max_msg;	/* 0: unlimited */
	int		 server;	/* client frames must be masked */
	int		 rsv1;		/* RSV1 may mark a message (RFC 7692) */

	/* The event reported by the last call. */
	int		 opcode;	/* TEXT/BINARY for data, else control */
	const uint8_t	*data;
	size_t		 len;
	int		 fin;		/* WS_DATA: this piece ends the message */
	int		 compressed;	/* WS_DATA: its message had RSV1 */
	int		 code;		/* WS_ERR: close code to send */
	const char	*errstr;	/* WS_ERR: static text */

	/* Private. */
	int		 state;
	uint8_t		 hdr[WS_HEADER_MAX];
	size_t		 hdrlen;
	size_t		 hdrneed;
	int		 frame_op;
	int		 frame_fin;
	uint64_t	 remaining;	/* payload bytes left in this frame */
	uint8_t		 mask[4];
	uint8_t		 masked;
	uint8_t		 maskoff;
	int		 msg_op;	/* 0 when no data message is open */
	int		 msg_rsv1;	/* its first frame had RSV1 */
	uint64_t	 msg_len;
	uint8_t		 ctl[WS_CONTROL_MAX];
	size_t		 ctl_len;
};

void		 ws_parser_init(struct ws_parser *, uint64_t, int);
size_t		 ws_parse(struct ws_parser *, uint8_t *, size_t,
		    enum ws_status *);
size_t		 ws_header(uint8_t *, int, int, uint64_t, const uint8_t *);
void		 ws_mask(uint8_t *, size_t, const uint8_t *, size_t);
int		 ws_close_code_valid(unsigned int);
int		 ws_close_parse(const uint8_t *, size_t, unsigned int *,
		    const uint8_t **, size_t *);
size_t		 ws_close_payload(uint8_t *, unsigned int, const char *);

#endif
