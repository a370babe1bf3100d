/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  The receiving side: checking a Standard Webhooks request that an
 *	  application received, before it acts on it.
 *
 * webhook.verify(secret_or_public_key, headers, body, tolerance) takes the
 * request's headers as a jsonb object, as an application copies them from
 * its web framework (names in any case), and its body as received.  It
 * returns true, or raises an error that says what is wrong:
 *
 *	- a missing, repeated or malformed "webhook-id", "webhook-timestamp" or
 *	  "webhook-signature" header (22023, or 22P02 for a timestamp that is
 *	  not a number);
 *	- a timestamp further from the clock than the tolerance, in either
 *	  direction, which refuses replays of old requests (28000);
 *	- no signature in the header that verifies under the key (28000).
 *
 * A "whsec_" secret checks v1 (HMAC-SHA256) signatures, compared in
 * constant time; a "whpk_" public key, or the "whsk_" secret key it is
 * derived from, checks v1a (Ed25519) ones.  As the specification asks, the
 * header may carry several signatures separated by spaces (a sender
 * rotating its secret signs with both): one that verifies is enough, and
 * signatures of other versions, or of the other scheme, are passed over.
 *
 * webhook.receive() (SQL, in the install script) calls this and then
 * records the id in webhook.inbox, so that a retried delivery is acted on
 * once.  Nothing here keeps state; the key is never printed.
 *
 * IDENTIFICATION
 *	  src/receive/verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include <openssl/crypto.h>

#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "common/sign.h"
#include "receive/verify.h"

/* The three headers, in the order of WhRequest's fields */
#define WH_HDR_ID			0
#define WH_HDR_TIMESTAMP	1
#define WH_HDR_SIGNATURE	2
#define WH_NHEADERS			3

static const char *const wh_header_names[WH_NHEADERS] = {
	"webhook-id", "webhook-timestamp", "webhook-signature"
};

/* The key a request is checked with */
typedef struct WhVerifyKey
{
	WhScheme	scheme;			/* V1: key is an HMAC key; V1A: pub */
	int			keylen;
	unsigned char key[WH_SECRET_MAX_BYTES];
	unsigned char pub[WH_ED25519_KEY_BYTES];
} WhVerifyKey;

/*
 * wh_verify_key_load
 *		Decode the caller's secret or public key, or raise an error.
 */
static void
wh_verify_key_load(const char *text, WhVerifyKey *k)
{
	const char *why = NULL;
	bool		ok;

	memset(k, 0, sizeof(*k));
	if (strncmp(text, WH_PUBLIC_KEY_PREFIX, strlen(WH_PUBLIC_KEY_PREFIX)) == 0)
	{
		ok = wh_public_key_decode(text, k->pub, &why);
		k->scheme = WH_SCHEME_V1A;
	}
	else if (wh_scheme_of(text) == WH_SCHEME_V1A)
	{
		unsigned char seed[WH_ED25519_KEY_BYTES];

		ok = wh_secret_key_decode(text, seed, k->pub, &why);
		explicit_bzero(seed, sizeof(seed));
		k->scheme = WH_SCHEME_V1A;
	}
	else if (wh_scheme_of(text) == WH_SCHEME_V1)
	{
		k->keylen = wh_secret_decode(text, k->key, &why);
		ok = k->keylen > 0;
		k->scheme = WH_SCHEME_V1;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook verification key"),
				 errdetail("The key starts with none of \"whsec_\", \"whpk_\" and \"whsk_\"."),
				 errhint("Pass the endpoint's \"whsec_\" secret for v1 signatures, or its \"whpk_\" public key for v1a signatures.")));

	if (!ok)
	{
		explicit_bzero(k, sizeof(*k));
		if (why == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not load Ed25519 key")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook verification key"),
				 errdetail("The key is invalid because %s.", why)));
	}
}

/*
 * wh_request_headers
 *		Find the three headers in a jsonb object, whatever their case.
 *
 * Each must appear once, as a non-empty string; other headers are ignored.
 */
static void
wh_request_headers(Jsonb *headers, char **values)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			which = -1;
	int			i;

	for (i = 0; i < WH_NHEADERS; i++)
		values[i] = NULL;

	if (!JB_ROOT_IS_OBJECT(headers))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webhook request headers must be a JSON object"),
				 errhint("Pass the headers as an object of names and string values, such as {\"webhook-id\": \"msg_1\", ...}.")));

	it = JsonbIteratorInit(&headers->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			which = -1;
			for (i = 0; i < WH_NHEADERS; i++)
				if (v.val.string.len == strlen(wh_header_names[i]) &&
					pg_strncasecmp(v.val.string.val, wh_header_names[i],
								   v.val.string.len) == 0)
					which = i;
		}
		else if (tok == WJB_VALUE && which >= 0)
		{
			if (values[which] != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("webhook request header \"%s\" appears more than once",
								wh_header_names[which])));
			if (v.type != jbvString || v.val.string.len == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("webhook request header \"%s\" must be a non-empty string",
								wh_header_names[which])));
			values[which] = pnstrdup(v.val.string.val, v.val.string.len);
		}
	}

	for (i = 0; i < WH_NHEADERS; i++)
		if (values[i] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("webhook request has no \"%s\" header",
							wh_header_names[i])));
}

/*
 * wh_parse_timestamp
 *		The "webhook-timestamp" header: whole seconds since the epoch.
 */
static int64
wh_parse_timestamp(const char *text)
{
	int64		ts = 0;
	const char *p;

	for (p = text; *p; p++)
	{
		if (*p < '0' || *p > '9' || p - text >= 18)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid \"webhook-timestamp\" header"),
					 errdetail("The timestamp must be a whole number of seconds since 1970-01-01 00:00:00 UTC.")));
		ts = ts * 10 + (*p - '0');
	}
	return ts;
}

/*
 * wh_check_timestamp
 *		Refuse a timestamp further than tolerance from the clock.
 */
static void
wh_check_timestamp(int64 ts, Interval *tolerance)
{
	int64		tol_s;
	int64		now_s;

	/*
	 * In whole seconds, which cannot overflow even for an infinite interval;
	 * a month counts 30 days, as interval comparison does.
	 */
	tol_s = tolerance->time / USECS_PER_SEC +
		((int64) tolerance->day + (int64) tolerance->month * DAYS_PER_MONTH) *
		SECS_PER_DAY;
	if (tol_s < 0 || tolerance->time < 0 || tolerance->day < 0 ||
		tolerance->month < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tolerance must not be negative")));

	/* ts has at most 18 digits, so neither difference overflows */
	now_s = (int64) time(NULL);
	if (now_s - ts > tol_s)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("webhook timestamp is too old"),
				 errdetail("The request was signed " INT64_FORMAT " seconds ago, longer ago than the tolerance allows.",
						   now_s - ts),
				 errhint("A request replayed after the tolerance is refused; a sender whose clock is wrong needs fixing.")));
	if (ts - now_s > tol_s)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("webhook timestamp is too far in the future"),
				 errdetail("The request claims to be signed " INT64_FORMAT " seconds from now, further ahead than the tolerance allows.",
						   ts - now_s)));
}

/*
 * wh_signature_matches
 *		Does one "version,signature" item of the header verify?
 *
 * Items of another version, or of the scheme the key does not check, do
 * not match; neither does anything malformed.
 */
static bool
wh_signature_matches(const WhVerifyKey *k, const char *item, size_t len,
					 const char *msg_id, int64 ts, const char *body,
					 size_t body_len, bool *same_scheme)
{
	if (k->scheme == WH_SCHEME_V1 && len > 3 && strncmp(item, "v1,", 3) == 0)
	{
		char		expected[WH_SIGNATURE_MAX_LEN + 1];
		bool		ok;

		*same_scheme = true;
		if (!wh_sign(k->key, k->keylen, msg_id, ts, body, body_len, expected))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not compute webhook signature")));
		ok = len == strlen(expected) &&
			CRYPTO_memcmp(expected, item, len) == 0;
		explicit_bzero(expected, sizeof(expected));
		return ok;
	}
	if (k->scheme == WH_SCHEME_V1A && len > 4 && strncmp(item, "v1a,", 4) == 0)
	{
		unsigned char sig[WH_ED25519_SIG_BYTES];
		int			n;

		*same_scheme = true;
		n = wh_b64_decode(item + 4, len - 4, sig, sizeof(sig));
		return n == WH_ED25519_SIG_BYTES &&
			wh_verify_v1a(k->pub, msg_id, ts, body, body_len, sig, n);
	}
	return false;
}

PG_FUNCTION_INFO_V1(webhook_verify);

/*
 * webhook_verify
 *		SQL: webhook.verify(secret_or_public_key, headers, body, tolerance)
 *		returns true, or raises the error that says why the request cannot
 *		be trusted.
 *
 * The timestamp is checked before the signatures, as the Standard
 * Webhooks libraries do, so that a replayed request is called stale.
 */
Datum
webhook_verify(PG_FUNCTION_ARGS)
{
	char	   *keytext;
	Jsonb	   *headers;
	text	   *body;
	Interval   *tolerance;
	WhVerifyKey k;
	char	   *values[WH_NHEADERS];
	int64		ts;
	const char *p;
	int			nsigs = 0;
	bool		same_scheme = false;
	bool		matched = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("webhook verification arguments must not be null")));

	keytext = text_to_cstring(PG_GETARG_TEXT_PP(0));
	headers = PG_GETARG_JSONB_P(1);
	body = PG_GETARG_TEXT_PP(2);
	tolerance = PG_GETARG_INTERVAL_P(3);

	wh_verify_key_load(keytext, &k);
	explicit_bzero(keytext, strlen(keytext));

	wh_request_headers(headers, values);
	if (strchr(values[WH_HDR_ID], '.') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid \"webhook-id\" header"),
				 errdetail("The id contains \".\", which separates the parts of the signed content.")));
	ts = wh_parse_timestamp(values[WH_HDR_TIMESTAMP]);
	wh_check_timestamp(ts, tolerance);

	/* space-separated "version,signature" items; any one may match */
	p = values[WH_HDR_SIGNATURE];
	while (*p && !matched)
	{
		size_t		len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0)
			break;
		nsigs++;
		matched = wh_signature_matches(&k, p, len, values[WH_HDR_ID], ts,
									   VARDATA_ANY(body),
									   VARSIZE_ANY_EXHDR(body), &same_scheme);
		p += len;
	}
	explicit_bzero(&k, sizeof(k));

	if (!matched && !same_scheme)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("webhook signature does not match"),
				 errdetail("The \"webhook-signature\" header carries no signature of the scheme the key checks."),
				 errhint("A \"whsec_\" secret checks v1 signatures; a \"whpk_\" public key checks v1a signatures.")));
	if (!matched)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("webhook signature does not match"),
				 errdetail_plural("The \"webhook-signature\" header carries %d signature, which does not verify under the key: the body, the id or the timestamp was changed, or another key signed it.",
								  "The \"webhook-signature\" header carries %d signatures, none of which verifies under the key: the body, the id or the timestamp was changed, or other keys signed them.",
								  nsigs, nsigs)));

	PG_RETURN_BOOL(true);
}
