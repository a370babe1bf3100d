/*-------------------------------------------------------------------------
 *
 * sign.h
 *	  Standard Webhooks secrets and signatures.
 *
 * A secret is "whsec_" followed by the base64 encoding of 24 to 64 random
 * bytes.  A signature is "v1," followed by the base64 encoding of
 * HMAC-SHA256(key, "<msg_id>.<timestamp>.<body>"); the asymmetric scheme,
 * v1a, is described below.
 *
 * The decoding and signing routines never ereport, and never palloc but
 * for the HMAC context a process's first v1 signature makes, so that the
 * delivery loop and the fuzz harnesses can call them freely.  A v1a key is
 * parsed by OpenSSL once per WhSignKey, in OpenSSL's memory, and a v1a
 * message is malloc'd and freed within each signature.  The SQL-facing
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
 * Asymmetric ("v1a") keys: "whsk_" followed by the base64 encoding of an
 * Ed25519 secret key, either its 32-byte seed or the 64 bytes of the seed
 * and the public key (the form libsodium and Go use, and the one generated);
 * "whpk_" followed by the base64 encoding of the 32-byte public key.  A
 * "v1a" signature is "v1a," and the base64 encoding of the 64-byte Ed25519
 * signature of the same content a "v1" signature covers.
 */
#define WH_SECRET_KEY_PREFIX	"whsk_"
#define WH_PUBLIC_KEY_PREFIX	"whpk_"
#define WH_ED25519_KEY_BYTES	32
#define WH_ED25519_SIG_BYTES	64
/* "whsk_" + base64 of 64 bytes (88 chars), "whpk_" + base64 of 32 (44) */
#define WH_SECRET_KEY_LEN		93
#define WH_PUBLIC_KEY_LEN		49
/* "v1a," + base64 of 64 bytes (88 chars) */
#define WH_SIGNATURE_V1A_LEN	92
/* the longest signature either scheme writes */
#define WH_SIGNATURE_MAX_LEN	WH_SIGNATURE_V1A_LEN

/* The signature scheme a secret's prefix names */
typedef enum WhScheme
{
	WH_SCHEME_NONE = 0,			/* not a signing secret */
	WH_SCHEME_V1,				/* "whsec_": HMAC-SHA256 */
	WH_SCHEME_V1A				/* "whsk_": Ed25519 */
} WhScheme;

/*
 * A decoded signing secret of either scheme, as the worker keeps it per
 * endpoint.  For v1a, pkey is OpenSSL's parsed key (an EVP_PKEY, allocated
 * by OpenSSL): wh_signkey_clear() frees it, and must be called before the
 * struct is reused or forgotten.
 */
typedef struct WhSignKey
{
	WhScheme	scheme;
	int			keylen;			/* v1: HMAC key bytes; v1a: 32 */
	unsigned char key[WH_SECRET_MAX_BYTES]; /* v1: HMAC key; v1a: seed */
	unsigned char pub[WH_ED25519_KEY_BYTES];	/* v1a: public key */
	void	   *pkey;			/* v1a: EVP_PKEY *, or NULL */
} WhSignKey;

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

/* The scheme a secret's prefix names; WH_SCHEME_NONE for any other text */
extern WhScheme wh_scheme_of(const char *secret);

/*
 * Decode a "whsk_..." secret key into its seed and public key (derived from
 * the seed; a 64-byte key's own half must match it).  Returns false with
 * *why set as wh_secret_decode() does.
 */
extern bool wh_secret_key_decode(const char *secret,
								 unsigned char seed[WH_ED25519_KEY_BYTES],
								 unsigned char pub[WH_ED25519_KEY_BYTES],
								 const char **why);

/* Decode a "whpk_..." public key; false with *why set when malformed */
extern bool wh_public_key_decode(const char *key,
								 unsigned char pub[WH_ED25519_KEY_BYTES],
								 const char **why);

/* The Ed25519 public key of a seed; false only if OpenSSL fails */
extern bool wh_ed25519_public(const unsigned char seed[WH_ED25519_KEY_BYTES],
							  unsigned char pub[WH_ED25519_KEY_BYTES]);

/*
 * Write "whsk_..." for seed (in its 64-byte form) into out, which must hold
 * WH_SECRET_KEY_LEN + 1 bytes, or "whpk_..." for pub into out of
 * WH_PUBLIC_KEY_LEN + 1 bytes.
 */
extern bool wh_secret_key_encode(const unsigned char seed[WH_ED25519_KEY_BYTES],
								 char *out);
extern bool wh_public_key_encode(const unsigned char pub[WH_ED25519_KEY_BYTES],
								 char *out);

/*
 * Load a "whsec_" or "whsk_" secret into k (parsing a v1a key for OpenSSL
 * once, so that each signature need not).  False with *why set, and k
 * cleared, when the secret is malformed; *why is NULL when OpenSSL failed.
 */
extern bool wh_signkey_load(WhSignKey *k, const char *secret,
							const char **why);

/* Free what k holds and zero it; k may be all zeros (never loaded) */
extern void wh_signkey_clear(WhSignKey *k);

/*
 * Write the signature of msg_id.timestamp.body under k, "v1,..." or
 * "v1a,...", into out, which must hold WH_SIGNATURE_MAX_LEN + 1 bytes.
 * Returns false if signing fails (or k holds no key).
 */
extern bool wh_sign_key(const WhSignKey *k, const char *msg_id,
						int64 timestamp, const char *body, size_t body_len,
						char *out);

/*
 * Does sig (the 64 bytes of a v1a signature) verify msg_id.timestamp.body
 * under the public key pub?
 */
extern bool wh_verify_v1a(const unsigned char pub[WH_ED25519_KEY_BYTES],
						  const char *msg_id, int64 timestamp,
						  const char *body, size_t body_len,
						  const unsigned char *sig, size_t siglen);

/*
 * Decode base64 text src[0..len) (canonical, padded) into dst of dstlen
 * bytes; returns the number of bytes, or -1 when malformed or too long.
 */
extern int	wh_b64_decode(const char *src, size_t len, unsigned char *dst,
						  size_t dstlen);

#endif							/* WEBHOOK_SIGN_H */
