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
	const char *values[3];
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
	{"jwt_algorithm", KS_CONN_ENUM, 0, 0, {"PS256", "RS256"}, "Valid values are PS256 (the default) and RS256."},
	{"ingest_url", KS_CONN_URL},
	{"app_key_file", KS_CONN_FILE},
	{"token_file", KS_CONN_FILE},
};

/* the arguments each auth method takes, and its secret */
typedef struct KsAuthMethod
{
	const char *name;
	const char *required[5];	/* NULL-terminated */
	const char *allowed[5];
	const char *secret;			/* the argument holding the secret, or NULL */
	const char *secret_file;	/* the option that may name a file with it instead */
} KsAuthMethod;

static const KsAuthMethod auth_methods[] = {
	{"application", {"tenant_id", "app_id", "app_key"}, {"tenant_id", "app_id", "app_key"},
	"app_key", "app_key_file"},
	{"certificate", {"tenant_id", "app_id", "certificate_file", "private_key_file"},
	{"tenant_id", "app_id", "certificate_file", "private_key_file"}},
	{"managed_identity", {NULL}, {"managed_identity_id"}},
	{"workload_identity", {NULL}, {"tenant_id", "app_id", "federated_token_file"}},
	{"token", {"token"}, {"token"}, "token", "token_file"},
};

#define lengthof_array(a) (sizeof(a) / sizeof((a)[0]))

static const char *
arg_value(const KsConnectionArgs *a, const char *name)
{
	if (strcmp(name, "tenant_id") == 0)
		return a->tenant_id;
	if (strcmp(name, "app_id") == 0)
		return a->app_id;
	if (strcmp(name, "app_key") == 0)
		return a->app_key;
	if (strcmp(name, "certificate_file") == 0)
		return a->certificate_file;
	if (strcmp(name, "private_key_file") == 0)
		return a->private_key_file;
	if (strcmp(name, "managed_identity_id") == 0)
		return a->managed_identity_id;
	if (strcmp(name, "federated_token_file") == 0)
		return a->federated_token_file;
	if (strcmp(name, "token") == 0)
		return a->token;
	return NULL;
}

static const char *const all_args[] = {
	"tenant_id", "app_id", "app_key", "certificate_file", "private_key_file",
	"managed_identity_id", "federated_token_file", "token"
};

static bool
in_list(const char *const *list, const char *name)
{
	int			i;

	for (i = 0; i < 5 && list[i] != NULL; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static char *
join_list(const char *const *list)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < 5 && list[i] != NULL; i++)
		appendStringInfo(&s, "%s%s", i > 0 ? ", " : "", list[i]);
	return s.data;
}

static const KsAuthMethod *
find_method(const char *auth)
{
	int			i;

	for (i = 0; auth != NULL && i < lengthof_array(auth_methods); i++)
		if (strcmp(auth_methods[i].name, auth) == 0)
			return &auth_methods[i];
	return NULL;
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
			for (i = 0; i < 3 && o->values[i] != NULL; i++)
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
	const KsAuthMethod *m = find_method(a->auth);

	if (m == NULL || m->secret == NULL)
		return false;
	return arg_value(a, m->secret) != NULL ||
		(a->options != NULL && string_option(a->options, m->secret_file) != NULL);
}

const char *
ks_connection_missing_secret(const KsConnectionArgs *a)
{
	const KsAuthMethod *m = find_method(a->auth);

	if (m == NULL || m->secret == NULL || ks_connection_has_secret(a))
		return NULL;
	return m->secret;
}

void
ks_check_connection(const KsConnectionArgs *a, bool require_secret)
{
	const KsAuthMethod *m;
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

	m = find_method(a->auth);
	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid auth method \"%s\"", a->auth ? a->auth : ""),
				 errhint("Valid methods are application, certificate, managed_identity, workload_identity and token.")));

	/* options first: a secret may come from a file option */
	if (a->options != NULL)
		ks_check_connection_options(a->options);

	for (i = 0; i < 5 && m->required[i] != NULL; i++)
	{
		const char *arg = m->required[i];

		if (arg_value(a, arg) != NULL)
			continue;
		if (m->secret != NULL && strcmp(arg, m->secret) == 0 &&
			(!require_secret || (a->options != NULL && string_option(a->options, m->secret_file) != NULL)))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("auth method \"%s\" needs argument \"%s\"", m->name, arg),
				 m->secret != NULL && strcmp(arg, m->secret) == 0 ?
				 errhint("Pass %s (or name a file holding %s in the option %s).",
						 join_list(m->required), arg, m->secret_file) :
				 errhint("Pass %s.", join_list(m->required))));
	}
	for (i = 0; i < lengthof_array(all_args); i++)
	{
		const char *arg = all_args[i];

		if (arg_value(a, arg) != NULL && !in_list(m->allowed, arg))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" does not apply to auth method \"%s\"", arg, m->name),
					 m->allowed[0] == NULL ?
					 errhint("Auth method %s takes no further arguments.", m->name) :
					 errhint("Auth method %s takes %s.", m->name, join_list(m->allowed))));
	}
	/* a file that replaces a secret belongs to its method only */
	for (i = 0; a->options != NULL && i < lengthof_array(auth_methods); i++)
	{
		const KsAuthMethod *other = &auth_methods[i];

		if (other->secret_file != NULL && other != m &&
			string_option(a->options, other->secret_file) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" does not apply to auth method \"%s\"", other->secret_file, m->name),
					 errhint("It names the file of auth method %s's %s.", other->name, other->secret)));
	}
	if (m->secret != NULL && arg_value(a, m->secret) != NULL && a->options != NULL &&
		string_option(a->options, m->secret_file) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pass either %s or the option %s, not both", m->secret, m->secret_file)));

	for (i = 0; i < lengthof_array(all_args); i++)
	{
		const char *v = arg_value(a, all_args[i]);

		if (v != NULL && v[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("connection arguments must not be empty strings"),
					 errhint("Pass NULL (or leave the argument out) for what does not apply.")));
		if (v != NULL && strcmp(all_args[i], "token") != 0 && strstr(all_args[i], "_file") == NULL)
			check_length(all_args[i], v, KS_MAX_ARG_LEN);
	}
	check_length("token", a->token, KS_MAX_TOKEN_LEN);
	if (a->certificate_file)
		check_file(a->certificate_file);
	if (a->private_key_file)
		check_file(a->private_key_file);
	if (a->federated_token_file)
		check_file(a->federated_token_file);
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
	return i >= 0 && i < lengthof_array(auth_methods) ? auth_methods[i].name : NULL;
}

const char *
ks_auth_method_argument(int i, int j, bool *required)
{
	const char *arg;

	if (i < 0 || i >= lengthof_array(auth_methods) || j < 0 || j >= 5)
		return NULL;
	arg = auth_methods[i].allowed[j];
	*required = arg != NULL && in_list(auth_methods[i].required, arg);
	return arg;
}

const char *
ks_auth_method_secret_file(int i)
{
	return i >= 0 && i < lengthof_array(auth_methods) ? auth_methods[i].secret_file : NULL;
}
