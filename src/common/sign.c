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
 * Secrets never appear in any message: the reasons wh_secret_decode() gives
 * are fixed strings, and copies of secrets and keys are zeroed after use.
 *
 * IDENTIFICATION
 *	  src/common/sign.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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

