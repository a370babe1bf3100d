/*-------------------------------------------------------------------------
 *
 * sign.c
 *	  Standard Webhooks secrets and signatures.
 *
 * Every delivery carries a "webhook-signature" header that lets the
 * receiver check that the request came from us and was not altered: "v1,"
 * followed by the base64 encoding of HMAC-SHA256 over
 * "<msg_id>.<timestamp>.<body>", keyed with the endpoint's secret.  A secret
 * is "whsec_" followed by the base64 encoding of the key bytes, the form
 * the Standard Webhooks libraries expect on the receiving side.
 *
 * The base64 and the HMAC are PostgreSQL's own (common/base64.h and
 * common/hmac.h, which use OpenSSL where the server was built with it).
 *
 * The worker signs from inside its delivery loop, so wh_secret_decode() and
 * wh_sign() never ereport and never palloc, except that a process's first
 * signature makes the HMAC context it keeps (under a resource owner of its
 * own, the one server call here).  The fuzz harnesses link this file with
 * PostgreSQL's frontend libraries.  The SQL-facing side (checking a user's
 * secret, generating one, webhook.sign()) is delivery/secret.c.
 *
 * The asymmetric scheme, "v1a", signs the same content with Ed25519
 * (OpenSSL's EVP_PKEY_ED25519): "whsk_" secret keys sign, "whpk_" public
 * keys verify.  Ed25519 signs a whole message at once, so the content is
 * assembled in one buffer (malloc'd, as OpenSSL's own memory is, and freed
 * before returning).  wh_signkey_load() parses a key once for the worker,
 * which keeps it per endpoint (WhSignKey) and signs with wh_sign_key()
 * whatever the scheme; wh_verify_v1a() is the receiving side's.
 *
 * Secrets never appear in any message: the reasons wh_secret_decode() gives
 * are fixed strings, and copies of secrets and keys are zeroed after use.
 *
 * IDENTIFICATION
 *	  src/common/sign.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/base64.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "utils/resowner.h"

#include "common/sign.h"

/* Length of an HMAC-SHA256 value */
#define WH_MAC_BYTES		PG_SHA256_DIGEST_LENGTH

/*
 * The text of a secret is judged this many characters at a time (the
 * encoding of the longest key), so that a text of any length is judged
 * without allocating.
 */
#define WH_B64_PIECE		WH_B64_ENC_LEN(WH_SECRET_MAX_BYTES)
#define WH_B64_PIECE_BYTES	(WH_B64_PIECE / 4 * 3)

/* PostgreSQL 18 types the binary side of its base64 routines as uint8 */
#if PG_VERSION_NUM >= 180000
typedef uint8 wh_b64_byte;
#else
typedef char wh_b64_byte;
#endif

StaticAssertDecl(WH_SIGNATURE_LEN == 3 + WH_B64_ENC_LEN(WH_MAC_BYTES),
				 "WH_SIGNATURE_LEN does not match \"v1,\" plus a base64 MAC");
/* the messages below spell out the prefix and the limits */
StaticAssertDecl(WH_SECRET_MIN_BYTES == 24 && WH_SECRET_MAX_BYTES == 64 &&
				 sizeof(WH_SECRET_PREFIX) == sizeof("whsec_"),
				 "secret messages are out of date");
StaticAssertDecl(WH_SECRET_GEN_BYTES >= WH_SECRET_MIN_BYTES &&
				 WH_SECRET_GEN_BYTES <= WH_SECRET_MAX_BYTES,
				 "generated secrets must be valid secrets");


/*
 * wh_b64_decode_canonical
 *		Is src[0..len) canonical, padded, standard-alphabet base64?
 *
 * On success sets *decoded_len to the number of bytes it encodes, and
 * leaves the first WH_B64_PIECE_BYTES of them in first.  Anything else is
 * refused: whitespace, the URL-safe alphabet, missing or misplaced padding,
 * and nonzero bits left over in the last character (which would let several
 * strings stand for one key).  PostgreSQL's decoder refuses whitespace,
 * other alphabets and missing padding, but not text after the padding or
 * leftover bits; so each piece it decodes is encoded again, and must give
 * back the text it came from.
 * Reads no byte outside src[0..len).
 */
static bool
wh_b64_decode_canonical(const char *src, size_t len, unsigned char *first,
						size_t *decoded_len)
{
	unsigned char piece[WH_B64_PIECE_BYTES];
	char		again[WH_B64_PIECE];
	size_t		done = 0;
	size_t		total = 0;
	bool		ok = true;

	if (len == 0 || len % 4 != 0)
		return false;

	while (ok && done < len)
	{
		int			nchars = (int) Min(len - done, (size_t) WH_B64_PIECE);
		unsigned char *dst = done == 0 ? first : piece;
		int			nbytes;

		nbytes = pg_b64_decode(src + done, nchars, (wh_b64_byte *) dst,
							   WH_B64_PIECE_BYTES);
		/* only the last piece may end in padding */
		if (nbytes < 0 ||
			(done + nchars < len && nbytes != WH_B64_PIECE_BYTES) ||
			pg_b64_encode((const wh_b64_byte *) dst, nbytes, again,
						  sizeof(again)) != nchars ||
			memcmp(again, src + done, nchars) != 0)
			ok = false;
		total += Max(nbytes, 0);
		done += nchars;
	}

	explicit_bzero(piece, sizeof(piece));
	explicit_bzero(again, sizeof(again));
	if (!ok)
	{
		explicit_bzero(first, WH_B64_PIECE_BYTES);
		return false;
	}
	*decoded_len = total;
	return true;
}

/*
 * wh_b64_encode
 *		Write the padded base64 encoding of src, and a NUL, into dst.
 *
 * dst must hold WH_B64_ENC_LEN(len) + 1 bytes.  Returns false only if it
 * does not, which is a bug in the caller.
 */
bool
wh_b64_encode(const unsigned char *src, size_t len, char *dst)
{
	int			n = pg_b64_encode((const wh_b64_byte *) src, (int) len, dst,
								  WH_B64_ENC_LEN(len));

	if (n != WH_B64_ENC_LEN(len))
		return false;
	dst[n] = '\0';
	return true;
}

/*
 * wh_secret_decode
 *		Turn a "whsec_..." secret into its key bytes.
 *
 * Called from the delivery loop as well as from SQL, so it reports problems
 * through *why, a fixed string that completes the sentence "The secret is
 * invalid because ...", instead of raising an error.  The reasons never
 * quote the secret.
 */
int
wh_secret_decode(const char *secret, unsigned char *key, const char **why)
{
	const char *body;
	size_t		len;
	size_t		keylen;
	unsigned char raw[WH_B64_PIECE_BYTES];
	const char *dummy;

	if (why == NULL)
		why = &dummy;

	if (secret == NULL || secret[0] == '\0')
	{
		*why = "it is empty";
		return -1;
	}

	if (strncmp(secret, WH_SECRET_PREFIX, strlen(WH_SECRET_PREFIX)) != 0)
	{
		*why = "it does not start with \"whsec_\"";
		return -1;
	}

	body = secret + strlen(WH_SECRET_PREFIX);
	len = strlen(body);
	if (len == 0)
	{
		*why = "nothing follows \"whsec_\"";
		return -1;
	}

	if (!wh_b64_decode_canonical(body, len, raw, &keylen))
	{
		*why = "the text after \"whsec_\" is not valid base64";
		return -1;
	}
	if (keylen < WH_SECRET_MIN_BYTES)
	{
		explicit_bzero(raw, sizeof(raw));
		*why = "it decodes to fewer than 24 bytes";
		return -1;
	}
	if (keylen > WH_SECRET_MAX_BYTES)
	{
		explicit_bzero(raw, sizeof(raw));
		*why = "it decodes to more than 64 bytes";
		return -1;
	}

	memcpy(key, raw, keylen);
	explicit_bzero(raw, sizeof(raw));
	*why = NULL;
	return (int) keylen;
}

/*
 * wh_sign_context
 *		This process's HMAC-SHA256 context, made on first use.
 *
 * One context serves every signature: pg_hmac_init() starts it afresh with
 * each key.  In a server process PostgreSQL ties the context to the current
 * resource owner, which in the worker is none at all between transactions,
 * and in a transaction goes at its end; so it is made under an owner of its
 * own that lives as long as the process.  Making it can fail only for want
 * of memory.
 */
static pg_hmac_ctx *
wh_sign_context(void)
{
	static pg_hmac_ctx *hmac = NULL;
	static ResourceOwner owner = NULL;

	if (hmac == NULL)
	{
		ResourceOwner save = CurrentResourceOwner;

		if (owner == NULL)
			owner = ResourceOwnerCreate(NULL, "webhook signing");
		CurrentResourceOwner = owner;
		hmac = pg_hmac_create(PG_SHA256);
		CurrentResourceOwner = save;
	}
	return hmac;
}

/*
 * wh_sign
 *		Compute the Standard Webhooks "v1" signature of one message.
 *
 * The MAC is fed the id, the timestamp and the body in turn, so a large body
 * is never copied.  Nothing is allocated after the process's first
 * signature (see wh_sign_context), since this runs once per delivery in a
 * long-lived worker.
 */
bool
wh_sign(const unsigned char *key, int keylen, const char *msg_id,
		int64 timestamp, const char *body, size_t body_len, char *out)
{
	pg_hmac_ctx *hmac;
	char		ts[32];
	int			tslen;
	uint8		mac_value[WH_MAC_BYTES];
	bool		ok;

	if (key == NULL || keylen <= 0 || msg_id == NULL || out == NULL ||
		(body == NULL && body_len > 0))
		return false;

	tslen = snprintf(ts, sizeof(ts), INT64_FORMAT, timestamp);
	if (tslen <= 0 || tslen >= (int) sizeof(ts))
		return false;

	hmac = wh_sign_context();
	ok = hmac != NULL &&
		pg_hmac_init(hmac, key, (size_t) keylen) == 0 &&
		pg_hmac_update(hmac, (const uint8 *) msg_id, strlen(msg_id)) == 0 &&
		pg_hmac_update(hmac, (const uint8 *) ".", 1) == 0 &&
		pg_hmac_update(hmac, (const uint8 *) ts, (size_t) tslen) == 0 &&
		pg_hmac_update(hmac, (const uint8 *) ".", 1) == 0 &&
		(body_len == 0 ||
		 pg_hmac_update(hmac, (const uint8 *) body, body_len) == 0) &&
		pg_hmac_final(hmac, mac_value, sizeof(mac_value)) == 0;

	if (ok)
	{
		memcpy(out, "v1,", 3);
		ok = wh_b64_encode(mac_value, sizeof(mac_value), out + 3);
	}
	explicit_bzero(mac_value, sizeof(mac_value));
	return ok;
}


/*
 * wh_b64_decode
 *		Decode canonical base64 into dst[0..dstlen).
 *
 * For keys and signatures, which are short: anything that decodes to more
 * than dstlen bytes is refused like malformed text.
 */
int
wh_b64_decode(const char *src, size_t len, unsigned char *dst, size_t dstlen)
{
	unsigned char raw[WH_B64_PIECE_BYTES];
	size_t		n;

	if (src == NULL || len > WH_B64_PIECE ||
		!wh_b64_decode_canonical(src, len, raw, &n))
		return -1;
	if (n > dstlen)
	{
		explicit_bzero(raw, sizeof(raw));
		return -1;
	}
	memcpy(dst, raw, n);
	explicit_bzero(raw, sizeof(raw));
	return (int) n;
}

/*
 * wh_scheme_of
 *		The signature scheme a secret's prefix names.
 */
WhScheme
wh_scheme_of(const char *secret)
{
	if (secret == NULL)
		return WH_SCHEME_NONE;
	if (strncmp(secret, WH_SECRET_PREFIX, strlen(WH_SECRET_PREFIX)) == 0)
		return WH_SCHEME_V1;
	if (strncmp(secret, WH_SECRET_KEY_PREFIX,
				strlen(WH_SECRET_KEY_PREFIX)) == 0)
		return WH_SCHEME_V1A;
	return WH_SCHEME_NONE;
}

/*
 * wh_ed25519_key
 *		OpenSSL's key for a seed, or NULL if OpenSSL fails.
 */
static EVP_PKEY *
wh_ed25519_key(const unsigned char seed[WH_ED25519_KEY_BYTES])
{
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
										WH_ED25519_KEY_BYTES);
}

/*
 * wh_ed25519_public
 *		Derive the public key of an Ed25519 seed.
 */
bool
wh_ed25519_public(const unsigned char seed[WH_ED25519_KEY_BYTES],
				  unsigned char pub[WH_ED25519_KEY_BYTES])
{
	EVP_PKEY   *pkey = wh_ed25519_key(seed);
	size_t		publen = WH_ED25519_KEY_BYTES;
	bool		ok;

	if (pkey == NULL)
		return false;
	ok = EVP_PKEY_get_raw_public_key(pkey, pub, &publen) == 1 &&
		publen == WH_ED25519_KEY_BYTES;
	EVP_PKEY_free(pkey);
	return ok;
}

/*
 * wh_secret_key_decode
 *		Turn a "whsk_..." secret key into its seed and public key.
 *
 * Both Ed25519 secret-key forms in use are accepted: the 32-byte seed, and
 * the 64 bytes of seed and public key, whose second half must then be the
 * seed's public key (a key pasted from two halves of different pairs would
 * otherwise sign under a key the receiver was never given).  *why completes
 * "The secret key is invalid because ..."; NULL when OpenSSL failed.
 */
bool
wh_secret_key_decode(const char *secret,
					 unsigned char seed[WH_ED25519_KEY_BYTES],
					 unsigned char pub[WH_ED25519_KEY_BYTES],
					 const char **why)
{
	unsigned char raw[2 * WH_ED25519_KEY_BYTES];
	const char *body;
	const char *dummy;
	int			n;
	bool		ok;

	if (why == NULL)
		why = &dummy;
	if (secret == NULL || secret[0] == '\0')
	{
		*why = "it is empty";
		return false;
	}
	if (strncmp(secret, WH_SECRET_KEY_PREFIX,
				strlen(WH_SECRET_KEY_PREFIX)) != 0)
	{
		*why = "it does not start with \"whsk_\"";
		return false;
	}
	body = secret + strlen(WH_SECRET_KEY_PREFIX);
	if (body[0] == '\0')
	{
		*why = "nothing follows \"whsk_\"";
		return false;
	}
	n = wh_b64_decode(body, strlen(body), raw, sizeof(raw));
	if (n < 0)
	{
		*why = "the text after \"whsk_\" is not valid base64 of at most 64 bytes";
		return false;
	}
	if (n != WH_ED25519_KEY_BYTES && n != 2 * WH_ED25519_KEY_BYTES)
	{
		explicit_bzero(raw, sizeof(raw));
		*why = "it decodes to neither 32 nor 64 bytes";
		return false;
	}
	memcpy(seed, raw, WH_ED25519_KEY_BYTES);
	ok = wh_ed25519_public(seed, pub);
	if (!ok)
		*why = NULL;
	else if (n == 2 * WH_ED25519_KEY_BYTES &&
			 CRYPTO_memcmp(pub, raw + WH_ED25519_KEY_BYTES,
						   WH_ED25519_KEY_BYTES) != 0)
	{
		*why = "its public half is not the public key of its secret half";
		ok = false;
	}
	else
		*why = NULL;
	explicit_bzero(raw, sizeof(raw));
	if (!ok)
		explicit_bzero(seed, WH_ED25519_KEY_BYTES);
	return ok;
}

/*
 * wh_public_key_decode
 *		Turn a "whpk_..." public key into its 32 bytes.
 */
bool
wh_public_key_decode(const char *key, unsigned char pub[WH_ED25519_KEY_BYTES],
					 const char **why)
{
	const char *body;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (key == NULL || strncmp(key, WH_PUBLIC_KEY_PREFIX,
							   strlen(WH_PUBLIC_KEY_PREFIX)) != 0)
	{
		*why = "it does not start with \"whpk_\"";
		return false;
	}
	body = key + strlen(WH_PUBLIC_KEY_PREFIX);
	if (wh_b64_decode(body, strlen(body), pub, WH_ED25519_KEY_BYTES) !=
		WH_ED25519_KEY_BYTES)
	{
		*why = "the text after \"whpk_\" is not the base64 encoding of 32 bytes";
		return false;
	}
	*why = NULL;
	return true;
}

/*
 * wh_secret_key_encode, wh_public_key_encode
 *		The text forms of a key pair.
 */
bool
wh_secret_key_encode(const unsigned char seed[WH_ED25519_KEY_BYTES], char *out)
{
	unsigned char raw[2 * WH_ED25519_KEY_BYTES];
	bool		ok;

	memcpy(raw, seed, WH_ED25519_KEY_BYTES);
	ok = wh_ed25519_public(seed, raw + WH_ED25519_KEY_BYTES);
	if (ok)
	{
		memcpy(out, WH_SECRET_KEY_PREFIX, strlen(WH_SECRET_KEY_PREFIX));
		ok = wh_b64_encode(raw, sizeof(raw),
						   out + strlen(WH_SECRET_KEY_PREFIX));
	}
	explicit_bzero(raw, sizeof(raw));
	return ok;
}

bool
wh_public_key_encode(const unsigned char pub[WH_ED25519_KEY_BYTES], char *out)
{
	memcpy(out, WH_PUBLIC_KEY_PREFIX, strlen(WH_PUBLIC_KEY_PREFIX));
	return wh_b64_encode(pub, WH_ED25519_KEY_BYTES,
						 out + strlen(WH_PUBLIC_KEY_PREFIX));
}

/*
 * wh_signkey_clear
 *		Free the parsed key k holds, and zero every key byte.
 */
void
wh_signkey_clear(WhSignKey *k)
{
	if (k->pkey != NULL)
		EVP_PKEY_free((EVP_PKEY *) k->pkey);
	explicit_bzero(k, sizeof(*k));
}

/*
 * wh_signkey_load
 *		Decode a secret of either scheme into k, ready to sign.
 */
bool
wh_signkey_load(WhSignKey *k, const char *secret, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	wh_signkey_clear(k);
	if (wh_scheme_of(secret) == WH_SCHEME_V1A)
	{
		if (!wh_secret_key_decode(secret, k->key, k->pub, why))
			return false;
		k->pkey = wh_ed25519_key(k->key);
		if (k->pkey == NULL)
		{
			wh_signkey_clear(k);
			*why = NULL;
			return false;
		}
		k->keylen = WH_ED25519_KEY_BYTES;
		k->scheme = WH_SCHEME_V1A;
		return true;
	}
	k->keylen = wh_secret_decode(secret, k->key, why);
	if (k->keylen < 0)
	{
		wh_signkey_clear(k);
		return false;
	}
	k->scheme = WH_SCHEME_V1;
	return true;
}

/*
 * wh_signed_content
 *		"<msg_id>.<timestamp>.<body>" in one malloc'd buffer, or NULL.
 */
static unsigned char *
wh_signed_content(const char *msg_id, int64 timestamp, const char *body,
				  size_t body_len, size_t *len)
{
	char		ts[32];
	int			tslen;
	size_t		idlen = strlen(msg_id);
	unsigned char *buf;

	tslen = snprintf(ts, sizeof(ts), INT64_FORMAT, timestamp);
	if (tslen <= 0 || tslen >= (int) sizeof(ts) ||
		body_len > SIZE_MAX - idlen - tslen - 2)
		return NULL;
	*len = idlen + tslen + 2 + body_len;
	buf = malloc(Max(*len, 1));
	if (buf == NULL)
		return NULL;
	memcpy(buf, msg_id, idlen);
	buf[idlen] = '.';
	memcpy(buf + idlen + 1, ts, tslen);
	buf[idlen + 1 + tslen] = '.';
	if (body_len > 0)
		memcpy(buf + idlen + tslen + 2, body, body_len);
	return buf;
}

/*
 * wh_sign_key
 *		Sign one message under an endpoint's key, whatever its scheme.
 *
 * Ed25519 is deterministic: a key and a message always give the same
 * signature, which lets tests compare ours with another implementation's.
 */
bool
wh_sign_key(const WhSignKey *k, const char *msg_id, int64 timestamp,
			const char *body, size_t body_len, char *out)
{
	unsigned char *content;
	size_t		len;
	unsigned char sig[WH_ED25519_SIG_BYTES];
	size_t		siglen = sizeof(sig);
	EVP_MD_CTX *ctx;
	bool		ok;

	if (k == NULL || msg_id == NULL || out == NULL ||
		(body == NULL && body_len > 0))
		return false;
	if (k->scheme == WH_SCHEME_V1)
		return wh_sign(k->key, k->keylen, msg_id, timestamp, body, body_len,
					   out);
	if (k->scheme != WH_SCHEME_V1A || k->pkey == NULL)
		return false;

	content = wh_signed_content(msg_id, timestamp, body, body_len, &len);
	if (content == NULL)
		return false;
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL &&
		EVP_DigestSignInit(ctx, NULL, NULL, NULL, (EVP_PKEY *) k->pkey) == 1 &&
		EVP_DigestSign(ctx, sig, &siglen, content, len) == 1 &&
		siglen == WH_ED25519_SIG_BYTES;
	EVP_MD_CTX_free(ctx);
	free(content);
	if (ok)
	{
		memcpy(out, "v1a,", 4);
		ok = wh_b64_encode(sig, sizeof(sig), out + 4);
	}
	return ok;
}

/*
 * wh_verify_v1a
 *		Check a v1a signature's 64 bytes against a public key.
 */
bool
wh_verify_v1a(const unsigned char pub[WH_ED25519_KEY_BYTES],
			  const char *msg_id, int64 timestamp, const char *body,
			  size_t body_len, const unsigned char *sig, size_t siglen)
{
	EVP_PKEY   *pkey;
	EVP_MD_CTX *ctx;
	unsigned char *content;
	size_t		len;
	bool		ok;

	if (siglen != WH_ED25519_SIG_BYTES || msg_id == NULL ||
		(body == NULL && body_len > 0))
		return false;
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
									   WH_ED25519_KEY_BYTES);
	if (pkey == NULL)
		return false;
	content = wh_signed_content(msg_id, timestamp, body, body_len, &len);
	ctx = EVP_MD_CTX_new();
	ok = content != NULL && ctx != NULL &&
		EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		EVP_DigestVerify(ctx, sig, siglen, content, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	free(content);
	return ok;
}
