/*-------------------------------------------------------------------------
 *
 * inputcheck.h
 *	  Checks on text users give an endpoint: URLs, header names and values,
 *	  proxy URLs, PEM certificates and keys.
 *
 * Pure C over libcurl's URL parser (no PostgreSQL headers), so that the
 * fuzz harnesses build them outside the server.  Each returns NULL when the
 * text is acceptable, or a static, lower-case reason that never quotes the
 * input (which may carry a credential); delivery/endpoint_check.c turns it
 * into an error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_INPUTCHECK_H
#define WEBHOOK_INPUTCHECK_H

#include <stddef.h>

#define WH_MAX_URL_LEN		8192
#define WH_MAX_HEADER_LEN	8192
#define WH_MAX_PEM_LEN		(256 * 1024)

/* An absolute http or https URL with a host and no credentials */
extern const char *wh_url_problem(const char *url);

/* A header name: a non-empty HTTP token of len bytes */
extern const char *wh_header_name_problem(const char *name, size_t len);

/* A header value of len bytes: no CR, LF or NUL, bounded */
extern const char *wh_header_value_problem(const char *value, size_t len);

/* A proxy URL: http, https, socks4, socks4a, socks5 or socks5h, with a host */
extern const char *wh_proxy_problem(const char *url);

/*
 * PEM text holding at least one block whose label contains "label"
 * ("CERTIFICATE", "PRIVATE KEY"): printable ASCII and line breaks only.
 */
extern const char *wh_pem_problem(const char *pem, const char *label);

#endif							/* WEBHOOK_INPUTCHECK_H */
