/*-------------------------------------------------------------------------
 *
 * webhook.h
 *	  Declarations shared by the webhook extension's modules.
 *
 * webhook.c owns the settings (GUCs) and the small shared-memory area the
 * backends use to wake the delivery worker at commit; capture.c writes
 * events; worker.c sends them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#ifndef WEBHOOK_VERSION
#define WEBHOOK_VERSION "unknown"
#endif

/* Settings (webhook.c) */
extern int	wh_max_payload_size;
extern char *wh_database;
extern int	wh_max_workers;
extern int	wh_max_in_flight;
extern int	wh_max_in_flight_per_endpoint;
extern int	wh_batch_size;
extern int	wh_retention;
extern int	wh_max_response_size;
extern int	wh_idle_timeout;

/* Egress settings (egress.c) */
extern char *wh_allowed_networks;
extern char *wh_denied_networks;
extern char *wh_proxy;
extern void wh_egress_define_gucs(void);

/* Shared state and wake-ups (webhook.c) */
extern bool wh_worker_attach(void);
extern int	wh_worker_pid(Oid dboid);
extern bool wh_signal_worker(Oid dboid);
extern void wh_wake_worker(Oid dboid);
extern void wh_wake_at_commit(void);

/* One worker per database (launcher.c) */
extern Size wh_launcher_shmem_size(void);
extern void wh_launcher_shmem_init(void);
extern void wh_launcher_init(void);
extern void wh_launcher_request(Oid dboid);
extern void wh_launcher_request_throttled(Oid dboid);
extern bool wh_launcher_stop_requested(void);
extern void wh_launcher_worker_done(const char *why);	/* does not return */

/* The delivery worker (worker.c) */
extern PGDLLEXPORT void wh_worker_main(Datum main_arg);
extern SPIPlanPtr wh_prepare(const char *sql, int nargs, Oid *argtypes);

/* Row to JSON (payload.c) */
typedef struct WhRowShape WhRowShape;

extern WhRowShape *wh_shape_build(Relation rel, MemoryContext cxt,
								  List *exclude);
extern bool wh_shape_matches(WhRowShape *shape, TupleDesc tupdesc);
extern void wh_shape_append_row(StringInfo buf, WhRowShape *shape,
								Datum *values, bool *nulls, bool keys_only);
extern bool wh_shape_is_excluded(WhRowShape *shape, int attno);
extern const char *wh_shape_column_json(WhRowShape *shape, int attno);
extern char *wh_event_body(const char *payload, size_t len,
						   TimestampTz created_at, size_t *body_len);

/* The capture trigger (capture.c) */
extern bool wh_update_changed(TupleDesc tupdesc, Trigger *trigger,
							  WhRowShape *shape, Datum *oldv, bool *oldn,
							  Datum *newv, bool *newn, StringInfo changed);

/* The outbox writer (outbox.c) */
extern void wh_outbox_init(void);
extern void wh_outbox_add(int32 endpoint_id, const pg_uuid_t *msg_id,
						  TimestampTz created_at, TimestampTz next_attempt_at,
						  const char *body, int len);
extern void wh_outbox_add_keyed(int32 endpoint_id, const pg_uuid_t *msg_id,
								TimestampTz created_at,
								TimestampTz next_attempt_at,
								const char *body, int len,
								const char *ordering_key);
extern void wh_outbox_flush(void);

/* Endpoint checks (endpoint.c) */
extern void wh_check_url(const char *url);
extern void wh_check_headers(Jsonb *headers);

#endif							/* WEBHOOK_H */
