/*-------------------------------------------------------------------------
 *
 * auth_methods.c
 *	  The auth methods and the connection arguments they take: the one
 *	  table (see kusto.h), for the ingest core and the extension alike.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "kusto.h"

/* every connection argument, in the order checks report them */
const kusto_auth_arg kusto_auth_args[] = {
	{"tenant_id", 0},
	{"app_id", 0},
	{"app_key", KUSTO_ARG_SECRET},
	{"certificate_file", KUSTO_ARG_SERVER_FILE},
	{"private_key_file", KUSTO_ARG_SERVER_FILE},
	{"managed_identity_id", 0},
	{"federated_token_file", KUSTO_ARG_SERVER_FILE},
	{"token", KUSTO_ARG_SECRET},
	{NULL, 0}
};

const kusto_auth_method_info kusto_auth_methods[] = {
	{"application", KUSTO_AUTH_APPLICATION,
		{{"tenant_id", true, NULL}, {"app_id", true, NULL}, {"app_key", true, NULL}},
	"app_key", "app_key_file", false},
	{"certificate", KUSTO_AUTH_CERTIFICATE,
		{{"tenant_id", true, NULL}, {"app_id", true, NULL}, {"certificate_file", true, NULL}, {"private_key_file", true, NULL}},
	NULL, NULL, false},
	{"managed_identity", KUSTO_AUTH_MANAGED_IDENTITY,
		{{"managed_identity_id", false, NULL}},
	NULL, NULL, true},
	/* (AKS sets the AZURE_* variables) */
	{"workload_identity", KUSTO_AUTH_WORKLOAD_IDENTITY,
		{{"tenant_id", true, "AZURE_TENANT_ID"}, {"app_id", true, "AZURE_CLIENT_ID"},
		{"federated_token_file", true, "AZURE_FEDERATED_TOKEN_FILE"}},
	NULL, NULL, true},
	{"token", KUSTO_AUTH_TOKEN,
		{{"token", true, NULL}},
	"token", "token_file", false},
	{.name = NULL}
};

const kusto_auth_method_info *
kusto_auth_method_find(const char *name)
{
	const kusto_auth_method_info *m;

	for (m = kusto_auth_methods; name != NULL && m->name != NULL; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

const kusto_auth_arg *
kusto_auth_arg_find(const char *name)
{
	const kusto_auth_arg *a;

	for (a = kusto_auth_args; name != NULL && a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

const kusto_auth_method_arg *
kusto_auth_method_find_arg(const kusto_auth_method_info *method, const char *name)
{
	int			i;

	for (i = 0; method != NULL && i < KUSTO_AUTH_MAX_ARGS && method->args[i].name != NULL; i++)
		if (strcmp(method->args[i].name, name) == 0)
			return &method->args[i];
	return NULL;
}
