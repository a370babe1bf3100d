/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  The extension's settings (guc.c), as the rest of the tree reads them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_GUC_H
#define WEBHOOK_GUC_H

extern int	wh_max_payload_size;
extern char *wh_database;
extern int	wh_max_workers;
extern int	wh_max_in_flight;
extern int	wh_max_in_flight_per_endpoint;
extern int	wh_batch_size;
extern int	wh_retention;
extern int	wh_payload_retention;
extern int	wh_max_response_size;
extern int	wh_idle_timeout;

/* read by the SQL functions: the catalog check, a session's tenant */
extern bool wh_check_event_types;
extern char *wh_tenant;

/* read by the capture: the trace context of the session's changes */
extern char *wh_traceparent;
extern char *wh_tracestate;

/* where the worker's requests may go */
extern char *wh_allowed_networks;
extern char *wh_denied_networks;
extern char *wh_proxy;

extern void wh_guc_define(void);

#endif							/* WEBHOOK_GUC_H */
