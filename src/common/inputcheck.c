/*-------------------------------------------------------------------------
 *
 * inputcheck.c
 *	  Checks on the untrusted text that configures an endpoint.
 *
 * The worker builds requests from what these functions accept, so they are
 * where header injection, credentials in URLs and non-HTTP schemes are
 * stopped.  URLs are parsed with libcurl's own parser, so what is accepted
 * here is what the worker will request.  Nothing here allocates on the
 * PostgreSQL side or ereports; the fuzz harnesses call these directly.
 *
 * IDENTIFICATION
 *	  src/common/inputcheck.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/inputcheck.h"

/*
 * Parse url with libcurl and check its scheme against the NULL-ended list;
 * the common part of the URL and proxy checks.
 */
static const char *
wh_url_check_common(const char *url, const char *const *schemes,
					bool allow_credentials)
{
	CURLU	   *h;
	CURLUcode	rc;
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *user = NULL;
	char	   *password = NULL;
	const char *p;
	const char *problem = NULL;
	int			i;

	if (strlen(url) > WH_MAX_URL_LEN)
		return "the URL is too long";
	for (p = url; *p; p++)
	{
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
			return "a URL must not contain spaces or control characters; percent-encode them";
	}

	h = curl_url();
	if (h == NULL)
		return "out of memory";

	rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);

	/*
	 * The URL must open with "scheme://": libcurl also takes "http:/host",
	 * and then a later "://" must not pass for the separator (found by
	 * fuzzing).
	 */
	p = url;
	while (isascii((unsigned char) *p) &&
		   (isalnum((unsigned char) *p) || *p == '+' || *p == '-' || *p == '.'))
		p++;
	if (p == url || strncmp(p, "://", 3) != 0 ||
		!isalpha((unsigned char) url[0]))
		p = NULL;
	if (rc == CURLUE_BAD_SCHEME || p == NULL)
		problem = "only absolute URLs are allowed";
	else if (rc == CURLUE_NO_HOST)
		problem = "the URL has no host";
	else if (rc == CURLUE_BAD_PORT_NUMBER)
		problem = "the port is not a number from 0 to 65535";
	else if (rc == CURLUE_BAD_IPV6)
		problem = "the IPv6 address is not valid";
	else if (rc != CURLUE_OK)
		problem = curl_url_strerror(rc);	/* libcurl's words, rarer cases */
	else if (p[3] == '/' || p[3] == '?' || p[3] == '#')
		problem = "the URL has no host";
	else if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		problem = "the URL has no scheme";
	else if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
			 host[0] == '\0')
		problem = "the URL has no host";
	else if (!allow_credentials &&
			 (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK ||
			  curl_url_get(h, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK))
		problem = "credentials in URLs are not allowed";
	else
	{
		problem = "scheme not allowed";
		for (i = 0; schemes[i]; i++)
			if (strcasecmp(scheme, schemes[i]) == 0)
				problem = NULL;
	}

	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(h);
	return problem;
}

const char *
wh_url_problem(const char *url)
{
	static const char *const schemes[] = {"http", "https", NULL};
	const char *problem = wh_url_check_common(url, schemes, false);

	if (problem && strcmp(problem, "scheme not allowed") == 0)
		return "only http and https URLs are allowed";
	if (problem && strcmp(problem, "only absolute URLs are allowed") == 0)
		return "only absolute http and https URLs are allowed";
	return problem;
}

const char *
wh_proxy_problem(const char *url)
{
	static const char *const schemes[] = {
		"http", "https", "socks4", "socks4a", "socks5", "socks5h", NULL
	};
	const char *problem = wh_url_check_common(url, schemes, true);

	if (problem && (strcmp(problem, "scheme not allowed") == 0 ||
					strcmp(problem, "only absolute URLs are allowed") == 0))
		return "a proxy URL starts with http, https, socks4, socks4a, socks5 or socks5h and \"://\"";
	return problem;
}

const char *
wh_header_name_problem(const char *name, size_t len)
{
	size_t		i;

	if (len == 0)
		return "header name must not be empty";
	if (len > 256)
		return "header name is too long";
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (!(isascii(c) && isalnum(c)) && strchr("!#$%&'*+-.^_`|~", c) == NULL)
			return "header names are HTTP tokens: letters, digits and !#$%&'*+-.^_`|~";
		/* strchr finds the terminating NUL too */
		if (c == '\0')
			return "header names are HTTP tokens: letters, digits and !#$%&'*+-.^_`|~";
	}
	return NULL;
}

const char *
wh_header_value_problem(const char *value, size_t len)
{
	size_t		i;

	if (len > WH_MAX_HEADER_LEN)
		return "header value is too long";
	for (i = 0; i < len; i++)
	{
		char		c = value[i];

		if (c == '\r' || c == '\n' || c == '\0')
			return "header values must not contain CR, LF or NUL characters";
	}
	return NULL;
}

const char *
wh_pem_problem(const char *pem, const char *label)
{
	const char *p;
	const char *begin;

	if (strlen(pem) > WH_MAX_PEM_LEN)
		return "PEM text is too long";
	for (p = pem; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (!(c == '\n' || c == '\r' || c == '\t' || (c >= ' ' && c < 0x7f)))
			return "PEM text must be printable ASCII";
	}
	for (begin = strstr(pem, "-----BEGIN "); begin != NULL;
		 begin = strstr(begin + 1, "-----BEGIN "))
	{
		const char *eol = strstr(begin + 11, "-----");
		size_t		lablen = strlen(label);

		if (eol == NULL)
			break;
		/* the label sits between "-----BEGIN " and the next "-----" */
		for (p = begin + 11; p + lablen <= eol; p++)
		{
			if (strncmp(p, label, lablen) == 0 && strstr(eol, "-----END ") != NULL)
				return NULL;
		}
	}
	return "no PEM block of the expected kind found";
}
