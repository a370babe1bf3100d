/*-------------------------------------------------------------------------
 *
 * secret.c
 *	  Endpoint secrets and signatures as the SQL functions see them.
 *
 * The signing itself is pure C in common/sign.c; this file is its server
 * side.  endpoint_check.c uses wh_secret_check() and wh_secret_generate()
 * when endpoints are created or changed, so that a bad secret is refused
 * when it is stored, and the SQL-callable webhook.sign() lets users and
 * tests compute the signature of any message.  No message includes a
 * secret, and copies of secrets and keys are zeroed after use.
 *
 * IDENTIFICATION
 *	  src/delivery/secret.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "common/sign.h"
#include "delivery/secret.h"

PG_FUNCTION_INFO_V1(webhook_sign);

/* PostgreSQL 18 marks a function that does not return before its type */
#if PG_VERSION_NUM >= 180000
pg_noreturn static void wh_secret_report(const char *why);
#else
static void wh_secret_report(const char *why) pg_attribute_noreturn();
#endif

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
	if (!wh_b64_encode(raw, sizeof(raw), result + prefixlen))
		elog(ERROR, "could not encode random secret");
	explicit_bzero(raw, sizeof(raw));

	return result;
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
