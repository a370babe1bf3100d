/*-------------------------------------------------------------------------
 *
 * route.h
 *	  Routing of captured changes to endpoints by tenant or to every
 *	  endpoint without one (route.c): the backend's routing cache, its
 *	  invalidation counters in shared memory, and event-type filters.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_ROUTE_H
#define WEBHOOK_ROUTE_H

/* One endpoint a routed change may go to */
typedef struct WhRouteEndpoint
{
	int32		id;
	char		ordering;		/* 'n'one, 'e'ndpoint, 'k'ey */
	bool		paused;			/* its events are parked at 'infinity' */
	const char *tenant;			/* NULL: a broadcast target */
	int			ntypes;			/* -1: every type */
	char	  **types;			/* exact names or patterns with '*' */
	struct WhRouteEndpoint *next;	/* the next one of the same tenant */
} WhRouteEndpoint;

/* Shared memory, reserved from registry.c's hooks */
extern Size wh_route_shmem_size(void);
extern void wh_route_shmem_init(void);

/* webhook._endpoint_changed(): this transaction changed endpoints */
extern void wh_route_endpoints_changed(void);

/*
 * For caches of webhook.endpoint kept across transactions (the worker's):
 * true when no endpoint change is being committed right now, with *stamp
 * set to a value that differs once any endpoint change commits.  Read it
 * before the snapshot the cache is loaded with; a cache loaded after a
 * true answer is exact while a later call answers true with the same
 * stamp.  Always false without shared memory.
 */
extern bool wh_route_stamp(uint64 *stamp);

/*
 * The endpoints a change of the given type goes to: those of the tenant
 * (tenant != NULL) or the broadcast targets (tenant == NULL), whose filter
 * takes event_type.  Fills out[] (room for max) and returns how many there
 * are; the result may exceed max, then call again with more room.  The
 * pointers stay valid until the next call.
 */
extern int	wh_route_lookup(Oid owner, const char *tenant,
							const char *event_type,
							WhRouteEndpoint **out, int max);

/* Does an event type match a filter pattern ('*' = any run of characters)? */
extern bool wh_route_type_matches(const char *pattern, const char *type);

#endif							/* WEBHOOK_ROUTE_H */
