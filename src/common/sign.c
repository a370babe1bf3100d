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
 * The worker signs from inside its delivery loop, so wh_secret_decode() and
 * wh_sign() never ereport and never palloc; wh_sign() frees what OpenSSL
 * allocates on every path.  endpoint.c uses wh_secret_check() and
 * wh_secret_generate() when endpoints are created or changed, and the
 * SQL-callable webhook_sign() lets users and tests compute the signature of
 * any message.
 *
 * Secrets never appear in any message: the reasons wh_secret_decode() gives
 * are fixed strings, and copies of secrets and keys are zeroed after use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "fmgr.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "sign.h"

/* Length of the base64 encoding of n bytes, with padding */
#define WH_B64_ENC_LEN(n)	((((n) + 2) / 3) * 4)

/* Length of an HMAC-SHA256 value */
#define WH_MAC_BYTES		32

StaticAssertDecl(WH_SIGNATURE_LEN == 3 + WH_B64_ENC_LEN(WH_MAC_BYTES),
				 "WH_SIGNATURE_LEN does not match \"v1,\" plus a base64 MAC");
/* the messages below spell out the prefix and the limits */
StaticAssertDecl(WH_SECRET_MIN_BYTES == 24 && WH_SECRET_MAX_BYTES == 64 &&
				 sizeof(WH_SECRET_PREFIX) == sizeof("whsec_"),
				 "secret messages are out of date");
StaticAssertDecl(WH_SECRET_GEN_BYTES >= WH_SECRET_MIN_BYTES &&
				 WH_SECRET_GEN_BYTES <= WH_SECRET_MAX_BYTES,
				 "generated secrets must be valid secrets");

static const char wh_b64_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

PG_FUNCTION_INFO_V1(webhook_sign);

/* PostgreSQL 18 marks a function that does not return before its type */
#if PG_VERSION_NUM >= 180000
pg_noreturn static void wh_secret_report(const char *why);
#else
static void wh_secret_report(const char *why) pg_attribute_noreturn();
#endif


/*
 * wh_b64_encode
 *		Write the padded base64 encoding of src, and a NUL, into dst.
 *
 * dst must hold WH_B64_ENC_LEN(len) + 1 bytes.
 */
static void
wh_b64_encode(const unsigned char *src, size_t len, char *dst)
{
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = ((uint32) src[i] << 16) |
			((uint32) src[i + 1] << 8) |
			(uint32) src[i + 2];

		*dst++ = wh_b64_alphabet[(v >> 18) & 0x3F];
		*dst++ = wh_b64_alphabet[(v >> 12) & 0x3F];
		*dst++ = wh_b64_alphabet[(v >> 6) & 0x3F];
		*dst++ = wh_b64_alphabet[v & 0x3F];
	}

	if (len - i == 1)
	{
		uint32		v = (uint32) src[i] << 16;

		*dst++ = wh_b64_alphabet[(v >> 18) & 0x3F];
		*dst++ = wh_b64_alphabet[(v >> 12) & 0x3F];
		*dst++ = '=';
		*dst++ = '=';
	}
	else if (len - i == 2)
	{
		uint32		v = ((uint32) src[i] << 16) | ((uint32) src[i + 1] << 8);

		*dst++ = wh_b64_alphabet[(v >> 18) & 0x3F];
		*dst++ = wh_b64_alphabet[(v >> 12) & 0x3F];
		*dst++ = wh_b64_alphabet[(v >> 6) & 0x3F];
		*dst++ = '=';
	}

	*dst = '\0';
}

/*
 * wh_b64_value
 *		The 6-bit value of a base64 character, or -1 if it is not one.
 *
 * Spelled out rather than using a ctype function so that the locale cannot
 * change what counts as a letter.
 */
static int
wh_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * wh_b64_check
 *		Is src[0..len) canonical, padded, standard-alphabet base64?
 *
 * On success sets *decoded_len to the number of bytes it encodes.  Anything
 * else is refused: whitespace, the URL-safe alphabet, missing or misplaced
 * padding, and nonzero bits left over in the last character (which would let
 * several strings stand for one key).  Reads no byte outside src[0..len).
 */
static bool
wh_b64_check(const char *src, size_t len, size_t *decoded_len)
{
	size_t		pad = 0;
	size_t		ndata;
	size_t		i;

	if (len == 0 || len % 4 != 0)
		return false;

	if (src[len - 1] == '=')
	{
		pad++;
		if (src[len - 2] == '=')
			pad++;
	}
	ndata = len - pad;

	for (i = 0; i < ndata; i++)
	{
		if (wh_b64_value((unsigned char) src[i]) < 0)
			return false;
	}

	/* the bits the padding stands for must be zero */
	if (pad == 1 && (wh_b64_value((unsigned char) src[ndata - 1]) & 0x03) != 0)
		return false;
	if (pad == 2 && (wh_b64_value((unsigned char) src[ndata - 1]) & 0x0F) != 0)
		return false;

	*decoded_len = (len / 4) * 3 - pad;
	return true;
}

/*
 * wh_b64_decode
 *		Decode base64 that wh_b64_check() has accepted into dst.
 *
 * dst must hold the length wh_b64_check() reported.
 */
static void
wh_b64_decode(const char *src, size_t len, unsigned char *dst)
{
	uint32		acc = 0;
	int			nbits = 0;
	size_t		i;

	for (i = 0; i < len && src[i] != '='; i++)
	{
		acc = (acc << 6) | (uint32) wh_b64_value((unsigned char) src[i]);
		nbits += 6;
		if (nbits >= 8)
		{
			nbits -= 8;
			*dst++ = (unsigned char) ((acc >> nbits) & 0xFF);
		}
	}
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

	if (!wh_b64_check(body, len, &keylen))
	{
		*why = "the text after \"whsec_\" is not valid base64";
		return -1;
	}
	if (keylen < WH_SECRET_MIN_BYTES)
	{
		*why = "it decodes to fewer than 24 bytes";
		return -1;
	}
	if (keylen > WH_SECRET_MAX_BYTES)
	{
		*why = "it decodes to more than 64 bytes";
		return -1;
	}

	wh_b64_decode(body, len, key);
	*why = NULL;
	return (int) keylen;
}

/*
 * wh_secret_report
 *		Raise the error for a malformed secret, given why it is malformed.
 */
static void
wh_secret_report(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid webhook secret"),
			 errdetail("The secret is invalid because %s.", why),
			 errhint("A secret is \"whsec_\" followed by the base64 encoding of 24 to 64 random bytes; omit it to have one generated.")));
}

/*
 * wh_secret_check
 *		Raise an error unless secret is a well-formed secret.
 *
 * For the SQL functions that accept a user's secret, so that a bad one is
 * refused when it is stored rather than when the first delivery is signed.
 */
void
wh_secret_check(const char *secret)
{
	unsigned char key[WH_SECRET_MAX_BYTES];
	const char *why;
	int			keylen;

	keylen = wh_secret_decode(secret, key, &why);
	explicit_bzero(key, sizeof(key));
	if (keylen < 0)
		wh_secret_report(why);
}

/*
 * wh_secret_generate
 *		Make a new secret from WH_SECRET_GEN_BYTES strongly random bytes.
 *
 * The result is palloc'd in the current memory context.
 */
char *
wh_secret_generate(void)
{
	unsigned char raw[WH_SECRET_GEN_BYTES];
	size_t		prefixlen = strlen(WH_SECRET_PREFIX);
	char	   *result;

	if (!pg_strong_random(raw, sizeof(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random secret")));

	result = palloc(prefixlen + WH_B64_ENC_LEN(sizeof(raw)) + 1);
	memcpy(result, WH_SECRET_PREFIX, prefixlen);
	wh_b64_encode(raw, sizeof(raw), result + prefixlen);
	explicit_bzero(raw, sizeof(raw));

	return result;
}

/*
 * wh_sign
 *		Compute the Standard Webhooks "v1" signature of one message.
 *
 * The MAC is fed the id, the timestamp and the body in turn, so a large body
 * is never copied.  Everything OpenSSL allocates is freed, and its error
 * queue cleared, on every path, since this runs once per delivery in a
 * long-lived worker that also does TLS through libcurl.
 */
bool
wh_sign(const unsigned char *key, int keylen, const char *msg_id,
		int64 timestamp, const char *body, size_t body_len, char *out)
{
	static char digest_name[] = "SHA256";
	EVP_MAC    *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM	params[2];
	char		ts[32];
	int			tslen;
	unsigned char mac_value[EVP_MAX_MD_SIZE];
	size_t		mac_len = 0;
	bool		ok = false;

	if (key == NULL || keylen <= 0 || msg_id == NULL || out == NULL ||
		(body == NULL && body_len > 0))
		return false;

	tslen = snprintf(ts, sizeof(ts), INT64_FORMAT, timestamp);
	if (tslen <= 0 || tslen >= (int) sizeof(ts))
		return false;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
												 digest_name, 0);
	params[1] = OSSL_PARAM_construct_end();

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		goto done;
	ctx = EVP_MAC_CTX_new(mac);
	if (ctx == NULL)
		goto done;

	if (EVP_MAC_init(ctx, key, (size_t) keylen, params) != 1 ||
		EVP_MAC_update(ctx, (const unsigned char *) msg_id,
					   strlen(msg_id)) != 1 ||
		EVP_MAC_update(ctx, (const unsigned char *) ".", 1) != 1 ||
		EVP_MAC_update(ctx, (const unsigned char *) ts, (size_t) tslen) != 1 ||
		EVP_MAC_update(ctx, (const unsigned char *) ".", 1) != 1 ||
		(body_len > 0 &&
		 EVP_MAC_update(ctx, (const unsigned char *) body, body_len) != 1) ||
		EVP_MAC_final(ctx, mac_value, &mac_len, sizeof(mac_value)) != 1 ||
		mac_len != WH_MAC_BYTES)
		goto done;

	memcpy(out, "v1,", 3);
	wh_b64_encode(mac_value, mac_len, out + 3);
	ok = true;

done:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	if (!ok)
		ERR_clear_error();
	return ok;
}

/*
 * webhook_sign
 *		SQL: webhook.sign(secret, msg_id, timestamp, body) returns text.
 *
 * Computes the same "webhook-signature" value the worker sends, so that
 * users can check what their receivers compute and tests can verify
 * deliveries.  The secret is checked first, so that a malformed one gets the
 * same clear error as everywhere else.
 */
Datum
webhook_sign(PG_FUNCTION_ARGS)
{
	char	   *secret;
	char	   *msg_id;
	int64		timestamp;
	text	   *body;
	unsigned char key[WH_SECRET_MAX_BYTES];
	int			keylen;
	const char *why;
	char		signature[WH_SIGNATURE_LEN + 1];
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		PG_ARGISNULL(3))
		PG_RETURN_NULL();

	secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	keylen = wh_secret_decode(secret, key, &why);
	explicit_bzero(secret, strlen(secret));
	pfree(secret);
	if (keylen < 0)
	{
		explicit_bzero(key, sizeof(key));
		wh_secret_report(why);
	}

	msg_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (msg_id[0] == '\0')
	{
		explicit_bzero(key, sizeof(key));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid message id"),
				 errdetail("The message id is empty.")));
	}
	if (strchr(msg_id, '.') != NULL)
	{
		explicit_bzero(key, sizeof(key));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid message id"),
				 errdetail("The message id contains \".\", which separates the parts of the signed content.")));
	}

	timestamp = PG_GETARG_INT64(2);
	body = PG_GETARG_TEXT_PP(3);

	ok = wh_sign(key, keylen, msg_id, timestamp,
				 VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), signature);
	explicit_bzero(key, sizeof(key));
	pfree(msg_id);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute webhook signature")));

	PG_RETURN_TEXT_P(cstring_to_text(signature));
}
