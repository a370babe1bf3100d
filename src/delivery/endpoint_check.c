/*-------------------------------------------------------------------------
 *
 * endpoint_check.c
 *	  Checks on what users register as an endpoint: its URL, its signing
 *	  secret and its extra request headers.
 *
 * The endpoint functions themselves are SQL (see the install script); they
 * call webhook._check_endpoint() before writing anything, so a bad URL, a
 * malformed secret or a header that could inject another header is refused
 * with a clear error and nothing is half-made.  URLs are parsed with
 * libcurl's own parser, so what is accepted here is what the worker will
 * request.  No message ever includes a secret.  The worker makes the same
 * URL check each time it loads an endpoint (endpoints.c), since a row can be
 * changed by hand.
 *
 * IDENTIFICATION
 *	  src/delivery/endpoint_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "common/inputcheck.h"
#include "common/sign.h"
#include "delivery/endpoint_check.h"
#include "delivery/secret.h"

#define WH_MAX_HEADERS		64

/*
 * Refuse anything but an absolute http or https URL with a host and no
 * credentials.
 */
void
wh_check_url(const char *url)
{
	const char *problem;

	if (strlen(url) > WH_MAX_URL_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("endpoint URL is too long"),
				 errdetail("A URL has at most %d bytes.", WH_MAX_URL_LEN)));
	problem = wh_url_problem(url);
	if (problem == NULL)
		return;
	/* Never echo a URL that carries credentials */
	if (strchr(url, '@'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid endpoint URL"),
				 errdetail("%c%s.", pg_toupper(problem[0]), problem + 1),
				 errhint("Send credentials as a header instead, for example \"Authorization\".")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid endpoint URL \"%s\"", url),
			 errdetail("%c%s.", pg_toupper(problem[0]), problem + 1)));
}

/*
 * Headers are a JSON object of string values.  Names must be HTTP tokens,
 * values must not contain CR, LF or NUL (no header injection), and the
 * Standard Webhooks headers and the ones the worker sets are reserved.
 */
void
wh_check_headers(Jsonb *headers)
{
	static const char *const reserved[] = {
		"webhook-id", "webhook-timestamp", "webhook-signature",
		"content-type", "content-length", "host", "user-agent",
		"transfer-encoding", "connection", "expect", NULL
	};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;
	char	   *name = NULL;

	if (!JB_ROOT_IS_OBJECT(headers) || JB_ROOT_IS_SCALAR(headers))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("endpoint headers must be a JSON object")));

	it = JsonbIteratorInit(&headers->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			const char *problem;
			int			i;

			name = pnstrdup(v.val.string.val, v.val.string.len);
			if (++n > WH_MAX_HEADERS)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("too many endpoint headers"),
						 errdetail("An endpoint has at most %d headers.",
								   WH_MAX_HEADERS)));
			if (name[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("header name must not be empty")));
			if ((problem = wh_header_name_problem(name, strlen(name))) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid header name \"%s\"", name),
						 errdetail("%c%s.", pg_toupper(problem[0]), problem + 1)));
			if (v.val.string.len != (int) strlen(name))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid header name")));
			for (i = 0; reserved[i]; i++)
				if (pg_strcasecmp(name, reserved[i]) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("header \"%s\" is set by webhook and cannot be overridden",
									name)));
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of header \"%s\" must be a string", name)));
			if (v.val.string.len > WH_MAX_HEADER_LEN)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of header \"%s\" is too long", name),
						 errdetail("A header value has at most %d bytes.",
								   WH_MAX_HEADER_LEN)));
			if (wh_header_value_problem(v.val.string.val,
										v.val.string.len) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of header \"%s\" contains a line break", name),
						 errdetail("Header values must not contain CR, LF or NUL characters.")));
		}
		else if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
		{
			/* only the root object is expected; nested ones are values */
			if (name != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of header \"%s\" must be a string", name)));
		}
	}
}

PG_FUNCTION_INFO_V1(webhook_check_endpoint);

/*
 * SQL: webhook._check_endpoint(url, secret, headers); NULL skips a check.
 */
Datum
webhook_check_endpoint(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		wh_check_url(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	else if (PG_ARGISNULL(1) && PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("endpoint URL must not be null")));
	if (!PG_ARGISNULL(1))
		wh_secret_check(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (!PG_ARGISNULL(2))
		wh_check_headers(PG_GETARG_JSONB_P(2));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(webhook_generate_secret);

/*
 * SQL: webhook.generate_secret(scheme): a new "whsec_" secret for "v1",
 * a new "whsk_" secret key for "v1a".  The schema of an older version,
 * not yet updated, declares it without an argument: that is "v1".
 */
Datum
webhook_generate_secret(PG_FUNCTION_ARGS)
{
	char	   *scheme = PG_NARGS() > 0 ?
		text_to_cstring(PG_GETARG_TEXT_PP(0)) : "v1";

	PG_RETURN_TEXT_P(cstring_to_text(wh_secret_generate(scheme)));
}

PG_FUNCTION_INFO_V1(webhook_check_transport);

/*
 * SQL: webhook._check_transport(ca_bundle, client_cert, client_key, proxy);
 * NULL skips a check.  Certificates and keys are PEM text; a key is a
 * secret, so no message quotes any of them, nor the proxy URL (which may
 * carry credentials).
 */
Datum
webhook_check_transport(PG_FUNCTION_ARGS)
{
	static const struct
	{
		const char *what;
		const char *label;
	}			pems[3] = {
		{"CA bundle", "CERTIFICATE"},
		{"client certificate", "CERTIFICATE"},
		{"client key", "PRIVATE KEY"}
	};
	const char *problem;
	int			i;

	for (i = 0; i < 3; i++)
	{
		if (PG_ARGISNULL(i))
			continue;
		problem = wh_pem_problem(text_to_cstring(PG_GETARG_TEXT_PP(i)),
								 pems[i].label);
		if (problem != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s", pems[i].what),
					 errdetail("%c%s.", pg_toupper(problem[0]), problem + 1),
					 errhint("Pass the PEM text itself (\"-----BEGIN %s-----\" ...), not a file name.",
							 pems[i].label)));
	}
	if (!PG_ARGISNULL(3))
	{
		problem = wh_proxy_problem(text_to_cstring(PG_GETARG_TEXT_PP(3)));
		if (problem != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid proxy URL"),
					 errdetail("%c%s.", pg_toupper(problem[0]), problem + 1)));
	}
	PG_RETURN_VOID();
}
