/*
 * Copyright (c) 2026 The wspipe authors.  ISC licence, see COPYING.
 *
 * The listen-mode line grammar, spoken by browsers to the gateway and by
 * the gateway, publishers and subscribers to the broker: VERB, a space,
 * RESOURCE, a space, DATA.  Pure: libc only.
 */
#ifndef PUBSUB_H
#define PUBSUB_H

#include <stddef.h>

#define PUBSUB_RESOURCE_MAX	256
#define PUBSUB_DATA_MAX		65536
#define PUBSUB_LINE_MAX		(16 + PUBSUB_RESOURCE_MAX + PUBSUB_DATA_MAX)

enum pubsub_verb {
	PUBSUB_SUBSCRIBE,
	PUBSUB_UNSUBSCRIBE,
	PUBSUB_PUBLISH,
	PUBSUB_UPDATE,
	PUBSUB_PING,
	PUBSUB_PONG,
	PUBSUB_OK,
	PUBSUB_ERROR,
	PUBSUB_GET,		/* the broker's socket only */
	PUBSUB_STATE,
	PUBSUB_HELLO,
	PUBSUB_LIST,
	PUBSUB_STATS
};

struct pubsub_msg {
	enum pubsub_verb verb;
	const char	*resource;	/* not NUL-terminated */
	size_t		 resourcelen;
	const char	*data;		/* not NUL-terminated */
	size_t		 datalen;
};

int		 pubsub_parse(const char *, size_t, struct pubsub_msg *,
		    const char **);
int		 pubsub_resource_valid(const char *, size_t);
int		 pubsub_match(const char *, const char *, size_t);
const char	*pubsub_verb_name(enum pubsub_verb);

#endif
