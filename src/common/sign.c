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
 * Nothing here calls the server: the worker signs from inside its delivery
 * loop, so wh_secret_decode() and wh_sign() never ereport and never palloc,
 * and wh_sign() frees what OpenSSL allocates on every path; the fuzz
 * harnesses link this file alone.  The SQL-facing side (checking a user's
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

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/sign.h"

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


/*
 * wh_b64_encode
 *		Write the padded base64 encoding of src, and a NUL, into dst.
 *
 * dst must hold WH_B64_ENC_LEN(len) + 1 bytes.
 */
void
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

