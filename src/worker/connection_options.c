/*-------------------------------------------------------------------------
 *
 * connection_options.c
 *	  The arguments and options of a connection, and their validator (see
 *	  connection_options.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "kusto/kusto.h"
#include "worker/config.h"
#include "worker/connection_options.h"
#include "worker/jsonb_pairs.h"

#define KS_MAX_URL_LEN 2048
#define KS_MAX_ARG_LEN 1024
#define KS_MAX_TOKEN_LEN 65536

typedef enum KsConnOptionKind
{
	KS_CONN_URL,				/* https, or http to loopback */
	KS_CONN_URL_IMDS,			/* the same, or http to Azure's IMDS address */
	KS_CONN_FILE,				/* an absolute path on the server */
	KS_CONN_INT,				/* an integer in [min, max] */
	KS_CONN_ENUM				/* one of values */
} KsConnOptionKind;

typedef struct KsConnOption
{
	const char *name;
	KsConnOptionKind kind;
	int			min;
	int			max;
	const char *const *values;	/* KS_CONN_ENUM: config.h's names, NULL-terminated */
	const char *hint;			/* for an invalid enum value */
} KsConnOption;

/* every connection option (the JSON object in kusto_sink.connection.options) */
static const KsConnOption conn_options[] = {
	{"authority_host", KS_CONN_URL},
	{"ca_file", KS_CONN_FILE},
	{"proxy", KS_CONN_URL},
	{"connect_timeout_ms", KS_CONN_INT, 1, 3600000},
	{"request_timeout_ms", KS_CONN_INT, 1, 86400000},
	{"managed_identity_endpoint", KS_CONN_URL_IMDS},
	{"jwt_algorithm", KS_CONN_ENUM, 0, 0, ks_jwt_algorithm_names, "Valid values are PS256 (the default) and RS256."},
	{"ingest_url", KS_CONN_URL},
	{"app_key_file", KS_CONN_FILE},
	{"token_file", KS_CONN_FILE},
};

#define lengthof_array(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The auth methods, the arguments each takes and which of them are secrets
 * or server files are the ingest core's table (kusto.h, kusto_auth_methods).
 * This is where a keeps one of those arguments (kusto_auth_args), or NULL.
 */
static const char **
arg_field(KsConnectionArgs *a, const char *name)
{
	if (strcmp(name, "tenant_id") == 0)
		return &a->tenant_id;
	if (strcmp(name, "app_id") == 0)
		return &a->app_id;
	if (strcmp(name, "app_key") == 0)
		return &a->app_key;
	if (strcmp(name, "certificate_file") == 0)
		return &a->certificate_file;
	if (strcmp(name, "private_key_file") == 0)
		return &a->private_key_file;
	if (strcmp(name, "managed_identity_id") == 0)
		return &a->managed_identity_id;
	if (strcmp(name, "federated_token_file") == 0)
		return &a->federated_token_file;
	if (strcmp(name, "token") == 0)
		return &a->token;
	return NULL;
}

const char *
ks_connection_arg(const KsConnectionArgs *a, const char *name)
{
	const char **field = arg_field((KsConnectionArgs *) a, name);

	return field ? *field : NULL;
}

/*
 * The arguments a method takes, "a, b, c"; with required_only, those a
 * connection must give itself (no environment variable stands in for them).
 */
static char *
method_args(const kusto_auth_method_info *m, bool required_only)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < KUSTO_AUTH_MAX_ARGS && m->args[i].name != NULL; i++)
		if (!required_only || (m->args[i].required && m->args[i].env == NULL))
			appendStringInfo(&s, "%s%s", s.len > 0 ? ", " : "", m->args[i].name);
	return s.data;
}

/* "application, certificate, ... and token" */
static char *
method_names(void)
{
	StringInfoData s;
	const kusto_auth_method_info *m;

	initStringInfo(&s);
	for (m = kusto_auth_methods; m->name != NULL; m++)
		appendStringInfo(&s, "%s%s", m == kusto_auth_methods ? "" : ((m + 1)->name == NULL ? " and " : ", "),
						 m->name);
	return s.data;
}

static void
check_length(const char *what, const char *value, int max)
{
	if (value != NULL && strlen(value) > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection argument \"%s\" is too long", what),
				 errdetail("It has %zu bytes; at most %d are allowed.", strlen(value), max)));
}

static void
check_file(const char *path)
{
	if (path[0] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("file \"%s\" is not an absolute path", path),
				 errhint("Files are read by the server's sink workers: give their absolute path on the database server.")));
	check_length("file", path, MAXPGPATH - 1);
}

static void
check_url(const char *option, const char *url, bool allow_imds)
{
	char		why[256];

	check_length(option, url, KS_MAX_URL_LEN);
	if (!kusto_url_allowed(url, allow_imds, why, sizeof(why)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection option \"%s\" is not an allowed URL: \"%s\"", option, url),
				 errdetail("The URL is refused: %s.", why),
				 errhint("Use an https URL; plain http is accepted only for a loopback address%s.",
						 allow_imds ? " and Azure's instance metadata service (169.254.169.254)" : "")));
}

static const char *
option_list(void)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < lengthof_array(conn_options); i++)
		appendStringInfo(&s, "%s%s", i > 0 ? ", " : "", conn_options[i].name);
	return s.data;
}

static void
check_option(const KsConnOption *o, const KsJsonPair *p)
{
	char	   *text;
	int			i;

	if (o->kind == KS_CONN_INT)
	{
		char	   *end;
		long		v;

		text = ks_jsonb_pair_text(p);
		errno = 0;
		v = p->value.type == jbvNumeric ? strtol(text, &end, 10) : 0;
		if (p->value.type != jbvNumeric || *end != '\0' || errno != 0 || v < o->min || v > o->max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("connection option \"%s\" must be an integer between %d and %d, not %s",
							o->name, o->min, o->max, text)));
		return;
	}
	if (p->value.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection option \"%s\" must be a string, not %s",
						o->name, ks_jsonb_type_name(&p->value))));
	text = ks_jsonb_pair_text(p);
	if (text[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection option \"%s\" must not be empty", o->name),
				 errhint("Leave the option out for its default.")));
	switch (o->kind)
	{
		case KS_CONN_URL:
		case KS_CONN_URL_IMDS:
			check_url(o->name, text, o->kind == KS_CONN_URL_IMDS);
			break;
		case KS_CONN_FILE:
			check_file(text);
			break;
		case KS_CONN_ENUM:
			for (i = 0; o->values != NULL && o->values[i] != NULL; i++)
				if (strcmp(o->values[i], text) == 0)
					return;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value \"%s\" for connection option \"%s\"", text, o->name),
					 errhint("%s", o->hint)));
			break;
		case KS_CONN_INT:
			break;
	}
}

void
ks_check_connection_options(Jsonb *options)
{
	ListCell   *lc;

	if (!ks_jsonb_is_object(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection options must be a JSON object"),
				 errhint("For example: '{\"ca_file\": \"/etc/ssl/private-ca.pem\"}'.")));
	foreach(lc, ks_jsonb_pairs(options))
	{
		KsJsonPair *p = (KsJsonPair *) lfirst(lc);
		int			i;

		for (i = 0; i < lengthof_array(conn_options); i++)
			if (strcmp(conn_options[i].name, p->key) == 0)
				break;
		if (i == lengthof_array(conn_options))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized connection option \"%s\"", p->key),
					 errhint("Valid options are: %s.", option_list())));
		check_option(&conn_options[i], p);
	}
}

/* the value of a string option, or NULL */
static char *
string_option(Jsonb *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, ks_jsonb_pairs(options))
	{
		KsJsonPair *p = (KsJsonPair *) lfirst(lc);

		if (strcmp(p->key, name) == 0 && p->value.type == jbvString)
			return ks_jsonb_pair_text(p);
	}
	return NULL;
}

char *
ks_normalize_cluster_url(const char *url)
{
	char	   *s = pstrdup(url);
	size_t		len = strlen(s);
	char	   *p;

	while (len > 0 && s[len - 1] == '/')
		s[--len] = '\0';
	/* the scheme in lower case, as the core compares it */
	for (p = s; *p && *p != ':'; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	return s;
}

static void
check_cluster_url(const char *url)
{
	const char *rest = NULL;
	char		why[256];

	if (url != NULL)
		url = ks_normalize_cluster_url(url);
	if (url != NULL && pg_strncasecmp(url, "https://", 8) == 0)
		rest = url + 8;
	else if (url != NULL && pg_strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	/* scheme://host[:port], nothing else (the paths are the client's) */
	if (rest == NULL || rest[0] == '\0' || strcspn(rest, "/?#@ \t\r\n") != strlen(rest) ||
		strlen(url) > KS_MAX_URL_LEN || !kusto_url_allowed(url, false, why, sizeof(why)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cluster_url \"%s\"", url ? url : ""),
				 errhint("Use the cluster's https URL, e.g. https://mycluster.westeurope.kusto.windows.net; plain http is accepted only for a loopback address.")));
}

bool
ks_connection_has_secret(const KsConnectionArgs *a)
{
	const kusto_auth_method_info *m = kusto_auth_method_find(a->auth);

	if (m == NULL || m->secret == NULL)
		return false;
	return ks_connection_arg(a, m->secret) != NULL ||
		(a->options != NULL && string_option(a->options, m->secret_file) != NULL);
}

const char *
ks_connection_missing_secret(const KsConnectionArgs *a)
{
	const kusto_auth_method_info *m = kusto_auth_method_find(a->auth);

	if (m == NULL || m->secret == NULL || ks_connection_has_secret(a))
		return NULL;
	return m->secret;
}

void
ks_check_connection(const KsConnectionArgs *a, bool require_secret)
{
	const kusto_auth_method_info *m;
	const kusto_auth_method_info *other;
	const kusto_auth_arg *arg;
	int			i;

	/* (the worker checks a stored connection without its name: NULL) */
	if (a->name != NULL && (a->name[0] == '\0' || strlen(a->name) > 63 ||
		!((a->name[0] >= 'A' && a->name[0] <= 'Z') || (a->name[0] >= 'a' && a->name[0] <= 'z') ||
		  a->name[0] == '_') ||
		strspn(a->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(a->name)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid connection name \"%s\"", a->name),
				 errhint("A connection name starts with a letter or underscore and has at most 63 letters, digits or underscores.")));
	check_cluster_url(a->cluster_url);

	m = kusto_auth_method_find(a->auth);
	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid auth method \"%s\"", a->auth ? a->auth : ""),
				 errhint("Valid methods are %s.", method_names())));

	/* options first: a secret may come from a file option */
	if (a->options != NULL)
		ks_check_connection_options(a->options);

	for (i = 0; i < KUSTO_AUTH_MAX_ARGS && m->args[i].name != NULL; i++)
	{
		const char *arg = m->args[i].name;

		/* (an environment variable of the server may stand in: the client's check) */
		if (!m->args[i].required || m->args[i].env != NULL || ks_connection_arg(a, arg) != NULL)
			continue;
		if (m->secret != NULL && strcmp(arg, m->secret) == 0 &&
			(!require_secret || (a->options != NULL && string_option(a->options, m->secret_file) != NULL)))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("auth method \"%s\" needs argument \"%s\"", m->name, arg),
				 m->secret != NULL && strcmp(arg, m->secret) == 0 ?
				 errhint("Pass %s (or name a file holding %s in the option %s).",
						 method_args(m, true), arg, m->secret_file) :
				 errhint("Pass %s.", method_args(m, true))));
	}
	for (arg = kusto_auth_args; arg->name != NULL; arg++)
	{
		if (ks_connection_arg(a, arg->name) != NULL && kusto_auth_method_find_arg(m, arg->name) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" does not apply to auth method \"%s\"", arg->name, m->name),
					 m->args[0].name == NULL ?
					 errhint("Auth method %s takes no further arguments.", m->name) :
					 errhint("Auth method %s takes %s.", m->name, method_args(m, false))));
	}
	/* a file that replaces a secret belongs to its method only */
	for (other = kusto_auth_methods; a->options != NULL && other->name != NULL; other++)
	{
		if (other->secret_file != NULL && other != m &&
			string_option(a->options, other->secret_file) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" does not apply to auth method \"%s\"", other->secret_file, m->name),
					 errhint("It names the file of auth method %s's %s.", other->name, other->secret)));
	}
	if (m->secret != NULL && ks_connection_arg(a, m->secret) != NULL && a->options != NULL &&
		string_option(a->options, m->secret_file) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pass either %s or the option %s, not both", m->secret, m->secret_file)));

	for (arg = kusto_auth_args; arg->name != NULL; arg++)
	{
		const char *v = ks_connection_arg(a, arg->name);

		if (v != NULL && v[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("connection arguments must not be empty strings"),
					 errhint("Pass NULL (or leave the argument out) for what does not apply.")));
		if (v != NULL && strcmp(arg->name, "token") != 0 && !(arg->flags & KUSTO_ARG_SERVER_FILE))
			check_length(arg->name, v, KS_MAX_ARG_LEN);
	}
	check_length("token", a->token, KS_MAX_TOKEN_LEN);
	for (arg = kusto_auth_args; arg->name != NULL; arg++)
		if ((arg->flags & KUSTO_ARG_SERVER_FILE) && ks_connection_arg(a, arg->name) != NULL)
			check_file(ks_connection_arg(a, arg->name));
}

/* a server file a connection names anew: it has it, and old (if any) has another */
static bool
names_anew(const char *value, const char *was)
{
	return value != NULL && (was == NULL || strcmp(value, was) != 0);
}

void
ks_check_server_files(const KsConnectionArgs *c, const KsConnectionArgs *old)
{
	const kusto_auth_method_info *m = kusto_auth_method_find(c->auth);
	const kusto_auth_arg *arg;
	const char *what = NULL;
	int			i;

	if (m != NULL && m->server_identity)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use auth method \"%s\"", c->auth),
				 errdetail("It uses the database server's own Azure identity, which only superusers and members of pg_read_server_files may hand to a connection."),
				 errhint("Ask a superuser to create the connection and to let you use it (it stays theirs).")));
	/* the arguments that name server files, then the options that do */
	for (arg = kusto_auth_args; what == NULL && arg->name != NULL; arg++)
		if ((arg->flags & KUSTO_ARG_SERVER_FILE) &&
			names_anew(ks_connection_arg(c, arg->name), old ? ks_connection_arg(old, arg->name) : NULL))
			what = arg->name;
	for (i = 0; what == NULL && i < lengthof_array(conn_options); i++)
		if (conn_options[i].kind == KS_CONN_FILE &&
			names_anew(c->options ? string_option(c->options, conn_options[i].name) : NULL,
					   old && old->options ? string_option(old->options, conn_options[i].name) : NULL))
			what = conn_options[i].name;
	if (what != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set connection argument \"%s\"", what),
				 errdetail("Only superusers and members of pg_read_server_files may name files on the database server, as for COPY FROM a file.")));
}

static bool
differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* the endpoints (cluster_url, the URL options) that differ, "a, b", or NULL */
static char *
moved_endpoints(const KsConnectionArgs *c, const KsConnectionArgs *old)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	if (differ(c->cluster_url, old->cluster_url))
		appendStringInfoString(&s, "cluster_url");
	for (i = 0; i < lengthof_array(conn_options); i++)
	{
		const KsConnOption *o = &conn_options[i];

		if ((o->kind == KS_CONN_URL || o->kind == KS_CONN_URL_IMDS) &&
			differ(c->options ? string_option(c->options, o->name) : NULL,
				   old->options ? string_option(old->options, o->name) : NULL))
			appendStringInfo(&s, "%s%s", s.len > 0 ? ", " : "", o->name);
	}
	return s.len > 0 ? s.data : NULL;
}

KsConnectionArgs
ks_alter_connection_args(const KsConnectionArgs *old, const KsConnectionArgs *given)
{
	KsConnectionArgs c = *old;
	const kusto_auth_arg *arg;
	const kusto_auth_method_info *m;
	char	   *moved;

	/* a new auth method starts from its own arguments */
	if (given->auth != NULL && differ(given->auth, old->auth))
	{
		c.auth = given->auth;
		for (arg = kusto_auth_args; arg->name != NULL; arg++)
			*arg_field(&c, arg->name) = NULL;
	}
	if (given->cluster_url != NULL)
	{
		char	   *url = pstrdup(given->cluster_url);
		size_t		len = strlen(url);

		while (len > 0 && url[len - 1] == '/')
			url[--len] = '\0';
		c.cluster_url = url;
	}
	for (arg = kusto_auth_args; arg->name != NULL; arg++)
		if (ks_connection_arg(given, arg->name) != NULL)
			*arg_field(&c, arg->name) = ks_connection_arg(given, arg->name);
	if (given->options != NULL)
		c.options = given->options;

	/*
	 * A changed endpoint drops the credentials (secrets, server files, the
	 * files of secrets) unless this call passes them again: a role allowed
	 * to change a connection must not send its secret to a host of its
	 * choice.
	 */
	moved = moved_endpoints(&c, old);
	if (moved == NULL)
		return c;
	for (arg = kusto_auth_args; arg->name != NULL; arg++)
		if (arg->flags & (KUSTO_ARG_SECRET | KUSTO_ARG_SERVER_FILE))
			*arg_field(&c, arg->name) = ks_connection_arg(given, arg->name);
	for (m = kusto_auth_methods; given->options == NULL && c.options != NULL && m->name != NULL; m++)
		if (m->secret_file != NULL)
			c.options = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(c.options),
														   CStringGetTextDatum(m->secret_file)));
	if (ks_connection_missing_secret(old) == NULL && ks_connection_missing_secret(&c) != NULL)
		ereport(WARNING,
				(errmsg("the secret of connection \"%s\" was dropped because its %s changed",
						old->name ? old->name : "", moved),
				 errhint("Pass the secret again in the same call as the new endpoint, or with kusto_sink.alter_connection().")));
	return c;
}

/* The tables by index, for kusto_sink._option_names() (connection_options.h) */
const char *
ks_connection_option_name(int i)
{
	return i >= 0 && i < lengthof_array(conn_options) ? conn_options[i].name : NULL;
}

const char *
ks_auth_method_name(int i)
{
	int			n;

	for (n = 0; kusto_auth_methods[n].name != NULL; n++)
		;
	return i >= 0 && i < n ? kusto_auth_methods[i].name : NULL;
}

const char *
ks_auth_method_argument(int i, int j, bool *required)
{
	const kusto_auth_method_arg *arg;

	if (ks_auth_method_name(i) == NULL || j < 0 || j >= KUSTO_AUTH_MAX_ARGS)
		return NULL;
	arg = &kusto_auth_methods[i].args[j];
	*required = arg->name != NULL && arg->required;
	return arg->name;
}

const char *
ks_auth_method_secret_file(int i)
{
	return ks_auth_method_name(i) != NULL ? kusto_auth_methods[i].secret_file : NULL;
}
