/*-------------------------------------------------------------------------
 *
 * sign.h
 *	  Standard Webhooks secrets and signatures.
 *
 * A secret is "whsec_" followed by the base64 encoding of 24 to 64 random
 * bytes.  A signature is "v1," followed by the base64 encoding of
 * HMAC-SHA256(key, "<msg_id>.<timestamp>.<body>").
 *
 * The decoding and signing routines never ereport and never allocate (but
 * for the HMAC context a process's first signature makes), so that the
 * delivery loop and the fuzz harnesses can call them freely; the SQL-facing
 * checks that do ereport are delivery/secret.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_SIGN_H
#define WEBHOOK_SIGN_H

#define WH_SECRET_PREFIX		"whsec_"
#define WH_SECRET_MIN_BYTES		24
#define WH_SECRET_MAX_BYTES		64
#define WH_SECRET_GEN_BYTES		32
/* "v1," + base64 of 32 bytes (44 chars) */
#define WH_SIGNATURE_LEN		47

/*
 * Decode a "whsec_..." secret into key bytes.  Returns the key length, or -1
 * with *why set to a static, secret-free reason when the secret is
 * malformed.  key must have room for WH_SECRET_MAX_BYTES.
 */
extern int	wh_secret_decode(const char *secret, unsigned char *key,
							 const char **why);

/* Length of the base64 encoding of n bytes, with padding */
#define WH_B64_ENC_LEN(n)	((((n) + 2) / 3) * 4)

/* Write the padded base64 encoding of src, and a NUL, into dst */
extern bool wh_b64_encode(const unsigned char *src, size_t len, char *dst);

/*
 * Write "v1,<base64 HMAC-SHA256>" for msg_id.timestamp.body into out, which
 * must hold WH_SIGNATURE_LEN + 1 bytes.  Returns false only if the HMAC fails.
 */
extern bool wh_sign(const unsigned char *key, int keylen, const char *msg_id,
					int64 timestamp, const char *body, size_t body_len,
					char *out);

#endif							/* WEBHOOK_SIGN_H */
