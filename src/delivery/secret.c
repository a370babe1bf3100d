/*-------------------------------------------------------------------------
 *
 * secret.c
 *	  Endpoint secrets and signatures as the SQL functions see them.
 *
 * The signing itself is pure C in common/sign.c; this file is its server
 * side.  endpoint_check.c uses wh_secret_check() and wh_secret_generate()
 * when endpoints are created or changed, so that a bad secret is refused
 * when it is stored, and the SQL-callable webhook.sign() lets users and
 * tests compute the signature of any message, of either scheme ("whsec_"
 * secrets sign v1, "whsk_" secret keys v1a).  No message includes a
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
pg_noreturn static void wh_secret_key_report(const char *why);
#else
static void wh_secret_report(const char *why) pg_attribute_noreturn();
static void wh_secret_key_report(const char *why) pg_attribute_noreturn();
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
			 why ? errdetail("The secret is invalid because %s.", why) : 0,
			 errhint("A secret is \"whsec_\" followed by the base64 encoding of 24 to 64 random bytes; omit it to have one generated.")));
}

/*
 * wh_secret_key_report
 *		Raise the error for a malformed "whsk_" secret key.
 */
static void
wh_secret_key_report(const char *why)
{
	if (why == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not load Ed25519 key")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid webhook secret key"),
			 errdetail("The secret key is invalid because %s.", why),
			 errhint("A secret key is \"whsk_\" followed by the base64 encoding of an Ed25519 secret key; webhook.generate_secret('v1a') makes one.")));
}

/*
 * wh_secret_check
 *		Raise an error unless secret is a well-formed secret of either
 *		scheme: "whsec_" (v1) or "whsk_" (v1a).
 *
 * For the SQL functions that accept a user's secret, so that a bad one is
 * refused when it is stored rather than when the first delivery is signed.
 * A public key given where the secret key belongs gets a hint of its own:
 * it cannot sign.
 */
void
wh_secret_check(const char *secret)
{
	WhSignKey	k;
	const char *why;

	if (secret != NULL && strncmp(secret, WH_PUBLIC_KEY_PREFIX,
								  strlen(WH_PUBLIC_KEY_PREFIX)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid webhook secret"),
				 errdetail("The secret is a \"whpk_\" public key, which can verify signatures but not make them."),
				 errhint("Pass the \"whsk_\" secret key of the pair; its receivers verify with the public key.")));

	memset(&k, 0, sizeof(k));
	if (wh_signkey_load(&k, secret, &why))
	{
		wh_signkey_clear(&k);
		return;
	}
	if (wh_scheme_of(secret) == WH_SCHEME_V1A)
		wh_secret_key_report(why);
	wh_secret_report(why);
}

/*
 * wh_secret_generate
 *		Make a new secret of the given scheme ("v1" or "v1a") from strongly
 *		random bytes.
 *
 * A v1 secret is "whsec_" and WH_SECRET_GEN_BYTES random bytes; a v1a one
 * is "whsk_" and an Ed25519 key pair made from a random seed.  The result
 * is palloc'd in the current memory context.
 */
char *
wh_secret_generate(const char *scheme)
{
	unsigned char raw[WH_SECRET_GEN_BYTES];
	size_t		prefixlen = strlen(WH_SECRET_PREFIX);
	char	   *result;
	bool		v1a;

	if (strcmp(scheme, "v1") == 0)
		v1a = false;
	else if (strcmp(scheme, "v1a") == 0)
		v1a = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid signature scheme \"%s\"", scheme),
				 errhint("Valid schemes are v1 (HMAC-SHA256, a whsec_ secret) and v1a (Ed25519, a whsk_ key).")));

	StaticAssertStmt(WH_SECRET_GEN_BYTES >= WH_ED25519_KEY_BYTES,
					 "a generated secret must hold an Ed25519 seed");
	if (!pg_strong_random(raw, sizeof(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random secret")));

	if (v1a)
	{
		result = palloc(WH_SECRET_KEY_LEN + 1);
		if (!wh_secret_key_encode(raw, result))
			elog(ERROR, "could not encode random secret key");
		explicit_bzero(raw, sizeof(raw));
		return result;
	}

	result = palloc(prefixlen + WH_B64_ENC_LEN(sizeof(raw)) + 1);
	memcpy(result, WH_SECRET_PREFIX, prefixlen);
	if (!wh_b64_encode(raw, sizeof(raw), result + prefixlen))
		elog(ERROR, "could not encode random secret");
	explicit_bzero(raw, sizeof(raw));

	return result;
}

/*
 * wh_public_key_of
 *		The "whpk_" public key of a "whsk_" secret key, palloc'd.
 *
 * A "whsec_" secret has none: the error says so, with a hint to move the
 * endpoint to v1a.
 */
char *
wh_public_key_of(const char *secret)
{
	unsigned char seed[WH_ED25519_KEY_BYTES];
	unsigned char pub[WH_ED25519_KEY_BYTES];
	const char *why;
	char	   *result;

	if (wh_scheme_of(secret) == WH_SCHEME_V1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a \"whsec_\" secret has no public key"),
				 errdetail("Signatures of scheme v1 are HMACs, which the receiver checks with the secret itself."),
				 errhint("Rotate the endpoint to a v1a secret key with webhook.rotate_secret(name, signature => 'v1a').")));
	if (!wh_secret_key_decode(secret, seed, pub, &why))
		wh_secret_key_report(why);
	explicit_bzero(seed, sizeof(seed));
	result = palloc(WH_PUBLIC_KEY_LEN + 1);
	if (!wh_public_key_encode(pub, result))
		elog(ERROR, "could not encode public key");
	return result;
}

PG_FUNCTION_INFO_V1(webhook_public_key_of);

/*
 * webhook_public_key_of
 *		SQL: webhook.public_key_of(secret) returns the "whpk_" key of a
 *		"whsk_" secret key, what its receivers verify with.
 */
Datum
webhook_public_key_of(PG_FUNCTION_ARGS)
{
	char	   *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *result = wh_public_key_of(secret);

	explicit_bzero(secret, strlen(secret));
	PG_RETURN_TEXT_P(cstring_to_text(result));
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
	WhSignKey	k;
	char		signature[WH_SIGNATURE_MAX_LEN + 1];
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		PG_ARGISNULL(3))
		PG_RETURN_NULL();

	secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	wh_secret_check(secret);

	msg_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (msg_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid message id"),
				 errdetail("The message id is empty.")));
	if (strchr(msg_id, '.') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid message id"),
				 errdetail("The message id contains \".\", which separates the parts of the signed content.")));

	timestamp = PG_GETARG_INT64(2);
	body = PG_GETARG_TEXT_PP(3);

	/* no error can come between loading the key and clearing it */
	memset(&k, 0, sizeof(k));
	ok = wh_signkey_load(&k, secret, NULL) &&
		wh_sign_key(&k, msg_id, timestamp,
					VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), signature);
	wh_signkey_clear(&k);
	explicit_bzero(secret, strlen(secret));
	pfree(secret);
	pfree(msg_id);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute webhook signature")));

	PG_RETURN_TEXT_P(cstring_to_text(signature));
}
