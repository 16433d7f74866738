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
#define PUBSUB_ID_MAX		40	/* an id as text, with its NUL */
#define PUBSUB_LINE_MAX		(16 + PUBSUB_RESOURCE_MAX + PUBSUB_ID_MAX + \
				    PUBSUB_DATA_MAX)

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
	PUBSUB_STATS,
	PUBSUB_GAP
};

/*
 * A state's id: EPOCH-SEQ, the broker's id space (hex) and the state's
 * number in it.  Within one epoch a resource's ids only grow, by one per
 * state; another epoch means the id space was reset.
 */
struct pubsub_id {
	unsigned long long epoch;	/* 0: none */
	unsigned long long seq;
};


/* Where a subscribe or get starts, after its resource. */
enum pubsub_from {
	PUBSUB_FROM_NONE,	/* no argument: no ids */
	PUBSUB_FROM_ID,		/* after this id */
	PUBSUB_FROM_START,	/* "0": every state the history holds */
	PUBSUB_FROM_CURRENT	/* "current": the current state, with ids */
};

struct pubsub_msg {
	enum pubsub_verb verb;
	const char	*resource;	/* not NUL-terminated */
	size_t		 resourcelen;
	const char	*data;		/* not NUL-terminated */
	size_t		 datalen;
	enum pubsub_from from;		/* subscribe and get */
	struct pubsub_id id;		/* from == PUBSUB_FROM_ID */
};

int		 pubsub_parse(const char *, size_t, struct pubsub_msg *,
		    const char **);
int		 pubsub_resource_valid(const char *, size_t);
int		 pubsub_pattern(const char *, size_t);
int		 pubsub_match(const char *, const char *, size_t);
const char	*pubsub_verb_name(enum pubsub_verb);
int		 pubsub_id_parse(const char *, size_t, struct pubsub_id *);
size_t		 pubsub_id_format(const struct pubsub_id *, char *, size_t);
int		 pubsub_id_split(const char **, size_t *, struct pubsub_id *);
size_t		 pubsub_line(char *, const char *, const char *, size_t,
		    const struct pubsub_id *, const char *, size_t);

#endif
