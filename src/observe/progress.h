/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  Progress of long operations (progress.c): slots in shared memory that
 *	  the operation fills and webhook.progress reads.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_PROGRESS_H
#define WEBHOOK_PROGRESS_H

/* How many operations can report at once, in the whole cluster */
#define WH_PROGRESS_SLOTS		64

/* Shared memory (registry.c reserves and sets it up) */
extern Size wh_progress_shmem_size(void);
extern void wh_progress_shmem_init(void);

/*
 * One operation per process.  An operation begun for a transaction ends
 * with it (commit, abort, or the abort of the subtransaction it began in);
 * one that spans transactions (the worker's drain) ends when it says so or
 * when the process exits.  total is -1 while unknown; a NULL phase leaves
 * it as it was.
 */
extern void wh_progress_begin(const char *operation, const char *phase,
							  int64 total, bool for_transaction);
extern bool wh_progress_update(int64 done, int64 total, const char *phase);
extern void wh_progress_end(void);
extern bool wh_progress_active(void);

#endif							/* WEBHOOK_PROGRESS_H */
