/*-------------------------------------------------------------------------
 *
 * bodyenc.h
 *	  Event bodies in UTF-8, whatever the database encoding.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_BODYENC_H
#define WEBHOOK_BODYENC_H

/*
 * Convert *body (*len bytes, in the database encoding) to UTF-8 in place,
 * in CurrentMemoryContext.  Must run inside a transaction.  When it cannot,
 * leaves the body alone and sets *error to a palloc'd reason.
 */
extern void wh_body_to_utf8(char **body, size_t *len, char **error);

#endif							/* WEBHOOK_BODYENC_H */
