/*-------------------------------------------------------------------------
 *
 * spi.h
 *	  The delivery worker's transactions and statements (spi.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_SPI_H
#define WEBHOOK_SPI_H

#include "executor/spi.h"

/* A short transaction with SPI and a snapshot, reported as activity */
extern void wh_xact_begin(const char *activity);
extern void wh_xact_end(void);

/* A statement prepared once and kept for the worker's life */
extern SPIPlanPtr wh_prepare(const char *sql, int nargs, Oid *argtypes);

/* Execute a kept statement; a result other than expected is an error */
extern void wh_run(SPIPlanPtr plan, Datum *args, bool read_only, long count,
				   int expected, const char *what);

/* An int8[] or int4[] array of n elements */
extern Datum wh_int8_array(Datum *elems, int n);
extern Datum wh_int4_array(Datum *elems, int n);

/* Order of two int64 ids, for qsort and bsearch */
extern int	wh_cmp_int64(const void *a, const void *b);

/* Run fn(w), reporting and surviving any error; false if it failed */
struct WhWorker;
extern bool wh_guarded(void (*fn) (struct WhWorker *w), struct WhWorker *w);

#endif							/* WEBHOOK_SPI_H */
