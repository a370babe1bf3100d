/*-------------------------------------------------------------------------
 *
 * outbox.h
 *	  The outbox writer (outbox.c): captured events, queued in memory and
 *	  written into webhook.event many rows at a time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_OUTBOX_H
#define WEBHOOK_OUTBOX_H

#include "utils/timestamp.h"
#include "utils/uuid.h"

extern void wh_outbox_init(void);
extern void wh_outbox_add(int32 endpoint_id, const pg_uuid_t *msg_id,
						  TimestampTz created_at, TimestampTz next_attempt_at,
						  const char *body, int len);
extern void wh_outbox_add_keyed(int32 endpoint_id, const pg_uuid_t *msg_id,
								TimestampTz created_at,
								TimestampTz next_attempt_at,
								const char *body, int len,
								const char *ordering_key);
extern void wh_outbox_add_shared(int n, const int32 *endpoint_ids,
								 const pg_uuid_t *msg_id,
								 TimestampTz created_at,
								 const TimestampTz *next_attempt_at,
								 const char *body, int len,
								 char *const *ordering_keys);
extern void wh_outbox_flush(void);

#endif							/* WEBHOOK_OUTBOX_H */
