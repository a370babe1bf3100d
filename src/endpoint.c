/*-------------------------------------------------------------------------
 *
 * endpoint.c
 *	  Checks on what users register as an endpoint: its URL, its signing
 *	  secret and its extra request headers.
 *
 * The endpoint functions themselves are SQL (see the install script); they
 * call webhook._check_endpoint() before writing anything, so a bad URL, a
 * malformed secret or a header that could inject another header is refused
 * with a clear error and nothing is half-made.  URLs are parsed with
 * libcurl's own parser, so what is accepted here is what the worker will
 * request.  No message ever includes a secret.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "sign.h"
#include "webhook.h"

#define WH_MAX_URL_LEN		8192
#define WH_MAX_HEADERS		64
#define WH_MAX_HEADER_LEN	8192

/*
 * Refuse anything but an absolute http or https URL with a host and no
 * credentials.
 */
void
wh_check_url(const char *url)
{
	CURLU	   *h;
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *user = NULL;
	char	   *password = NULL;
	const char *p;
	const char *problem = NULL;

	if (strlen(url) > WH_MAX_URL_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("endpoint URL is too long"),
				 errdetail("A URL has at most %d bytes.", WH_MAX_URL_LEN)));
	for (p = url; *p; p++)
	{
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid endpoint URL \"%s\"", url),
					 errdetail("A URL must not contain spaces or control characters; percent-encode them.")));
	}

	h = curl_url();
	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	p = strstr(url, "://");
	if (rc == CURLUE_BAD_SCHEME || p == NULL)
		problem = "only absolute http and https URLs are allowed";
	else if (rc != CURLUE_OK)
		problem = curl_url_strerror(rc);
	else if (p[3] == '/' || p[3] == '?' || p[3] == '#')
		problem = "the URL has no host";
	else if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 (pg_strcasecmp(scheme, "http") != 0 &&
			  pg_strcasecmp(scheme, "https") != 0))
		problem = "only http and https URLs are allowed";
	else if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
			 host[0] == '\0')
		problem = "the URL has no host";
	else if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK ||
			 curl_url_get(h, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
		problem = "credentials in URLs are not allowed";

	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(h);

	if (problem)
	{
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
			const char *p;
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
			for (p = name; *p; p++)
			{
				if (!(isalnum((unsigned char) *p) || strchr("!#$%&'*+-.^_`|~", *p)))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid header name \"%s\"", name),
							 errdetail("Header names are HTTP tokens: letters, digits and !#$%%&'*+-.^_`|~.")));
			}
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
			int			i;

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
			for (i = 0; i < v.val.string.len; i++)
			{
				char		c = v.val.string.val[i];

				if (c == '\r' || c == '\n' || c == '\0')
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("value of header \"%s\" contains a line break", name),
							 errdetail("Header values must not contain CR, LF or NUL characters.")));
			}
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
 * SQL: webhook.generate_secret()
 */
Datum
webhook_generate_secret(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(wh_secret_generate()));
}
