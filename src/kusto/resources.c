/*-------------------------------------------------------------------------
 *
 * resources.c
 *	  Queued ingestion's resources: `.get ingestion resources` (containers,
 *	  queues, the status table) and `.get kusto identity token` from the
 *	  cluster's data management endpoint, cached for an hour and refetched
 *	  sooner when invalidated (a storage failure that smells of a stale SAS)
 *	  or when a list comes back empty.  Storage accounts are ranked by their
 *	  recent success rate (six buckets of 10 s, newer ones weigh more),
 *	  grouped in tiers and shuffled within a tier, as the official SDKs do.
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kusto_int.h"

#define RESOURCES_TTL_S 3600
#define BUCKET_S 10
#define NBUCKETS 6

typedef struct account_rank
{
	char	   *account;
	long		bucket_start[NBUCKETS];
	int			success[NBUCKETS];
	int			total[NBUCKETS];
} account_rank;

struct kusto_resources
{
	kusto_resource *list[KUSTO_RES_NKINDS];
	int			n[KUSTO_RES_NKINDS];
	char	   *auth_context;
	time_t		fetched_at;
	bool		invalid;
	account_rank *ranks;
	int			nranks;
};

/* https://x.kusto.windows.net -> https://ingest-x.kusto.windows.net; loopback and IPs unchanged */
char *
kusto_dm_url(const char *cluster_url)
{
	const char *host = strstr(cluster_url, "://");
	size_t		n;
	char	   *out;

	if (host == NULL || kusto_url_is_loopback(cluster_url) ||
		strncmp(host + 3, "ingest-", 7) == 0 ||
		strspn(host + 3, "0123456789.:[]") >= strcspn(host + 3, "/"))
		return kusto_strdup(cluster_url);
	host += 3;
	n = strlen(cluster_url) + 8;
	out = kusto_malloc(n);
	snprintf(out, n, "%.*singest-%s", (int) (host - cluster_url), cluster_url, host);
	return out;
}

static void
free_lists(kusto_resources *r)
{
	int			k;
	int			i;

	for (k = 0; k < KUSTO_RES_NKINDS; k++)
	{
		for (i = 0; i < r->n[k]; i++)
		{
			kusto_free(r->list[k][i].url);
			kusto_free(r->list[k][i].account);
		}
		kusto_free(r->list[k]);
		r->list[k] = NULL;
		r->n[k] = 0;
	}
	if (r->auth_context)
	{
		memset(r->auth_context, 0, strlen(r->auth_context));
		kusto_free(r->auth_context);
	}
	r->auth_context = NULL;
}

void
kusto_resources_free(kusto_resources *r)
{
	int			i;

	if (r == NULL)
		return;
	free_lists(r);
	for (i = 0; i < r->nranks; i++)
		kusto_free(r->ranks[i].account);
	kusto_free(r->ranks);
	kusto_free(r);
}

/* The rows of the first table of a v1 result, with the index of two columns. */
static json_t *
first_table_rows(json_t *root, const char *col1, int *i1, const char *col2, int *i2)
{
	json_t	   *t = json_array_get(json_object_get(root, "Tables"), 0);
	json_t	   *cols = json_object_get(t, "Columns");
	size_t		i;
	json_t	   *c;

	*i1 = *i2 = -1;
	json_array_foreach(cols, i, c)
	{
		const char *name = json_string_value(json_object_get(c, "ColumnName"));

		if (name && strcmp(name, col1) == 0)
			*i1 = (int) i;
		if (name && col2 && strcmp(name, col2) == 0)
			*i2 = (int) i;
	}
	return json_object_get(t, "Rows");
}

static bool
parse_resources(kusto_resources *r, const char *text, kusto_error *err)
{
	json_error_t jerr;
	json_t	   *root = json_loads(text, 0, &jerr);
	json_t	   *rows;
	json_t	   *row;
	size_t		i;
	int			ti,
				ri;

	rows = root ? first_table_rows(root, "ResourceTypeName", &ti, "StorageRoot", &ri) : NULL;
	if (!json_is_array(rows) || ti < 0 || ri < 0)
	{
		kusto_error_set(err, KUSTO_ERR_TRANSIENT, 0, "BadResponse",
						"the answer to .get ingestion resources has no ResourceTypeName and StorageRoot columns");
		if (root)
			json_decref(root);
		return false;
	}
	json_array_foreach(rows, i, row)
	{
		const char *type = json_string_value(json_array_get(row, ti));
		const char *url = json_string_value(json_array_get(row, ri));
		int			k = -1;

		if (type == NULL || url == NULL)
			continue;
		if (strcmp(type, "TempStorage") == 0)
			k = KUSTO_RES_CONTAINER;
		else if (strcmp(type, "SecuredReadyForAggregationQueue") == 0)
			k = KUSTO_RES_QUEUE;
		else if (strcmp(type, "IngestionsStatusTable") == 0)
			k = KUSTO_RES_STATUS_TABLE;
		/* the SAS in a storage URL is a secret too: the same rule as tokens */
		if (k < 0 || !kusto_url_allowed(url, false, NULL, 0))
			continue;
		r->list[k] = kusto_realloc(r->list[k], sizeof(kusto_resource) * (r->n[k] + 1));
		r->list[k][r->n[k]].url = kusto_strdup(url);
		r->list[k][r->n[k]].account = kusto_storage_account(url);
		r->n[k]++;
	}
	json_decref(root);
	if (r->n[KUSTO_RES_CONTAINER] == 0 || r->n[KUSTO_RES_QUEUE] == 0)
	{
		kusto_error_set(err, KUSTO_ERR_TRANSIENT, 0, "NoIngestionResources",
						".get ingestion resources returned no TempStorage container or no SecuredReadyForAggregationQueue");
		return false;
	}
	return true;
}

static bool
parse_identity(kusto_resources *r, const char *text, kusto_error *err)
{
	json_error_t jerr;
	json_t	   *root = json_loads(text, 0, &jerr);
	int			ci,
				unused;
	json_t	   *rows = root ? first_table_rows(root, "AuthorizationContext", &ci, NULL, &unused) : NULL;
	const char *ctx = (rows && ci >= 0) ? json_string_value(json_array_get(json_array_get(rows, 0), ci)) : NULL;

	if (ctx)
		r->auth_context = kusto_strdup(ctx);
	else
		kusto_error_set(err, KUSTO_ERR_TRANSIENT, 0, "BadResponse",
						"the answer to .get kusto identity token has no AuthorizationContext");
	if (root)
		json_decref(root);
	return ctx != NULL;
}

/* Makes sure the cached resources are fresh (fetching them if not). */
bool
kusto_resources_refresh(kusto_client *c, kusto_error *err)
{
	kusto_resources *r = c->res;
	char	   *dm;
	char	   *text = NULL;
	bool		ok;

	if (r == NULL)
	{
		r = c->res = kusto_malloc(sizeof(kusto_resources));
		memset(r, 0, sizeof(*r));
	}
	if (r->auth_context && !r->invalid && time(NULL) - r->fetched_at < RESOURCES_TTL_S)
		return true;

	dm = c->ingest_url ? kusto_strdup(c->ingest_url) : kusto_dm_url(c->cluster_url);
	free_lists(r);
	ok = kusto_execute_at(c, dm, "NetDefaultDB", ".get ingestion resources", &text, err) == KUSTO_OK &&
		parse_resources(r, text, err);
	kusto_free(text);
	text = NULL;
	ok = ok && kusto_execute_at(c, dm, "NetDefaultDB", ".get kusto identity token", &text, err) == KUSTO_OK &&
		parse_identity(r, text, err);
	kusto_free(text);
	kusto_free(dm);
	if (!ok)
	{
		free_lists(r);
		return false;
	}
	r->fetched_at = time(NULL);
	r->invalid = false;
	return true;
}

void
kusto_resources_invalidate(kusto_client *c)
{
	if (c->res)
		c->res->invalid = true;
}

const char *
kusto_resources_auth_context(kusto_client *c)
{
	return c->res ? c->res->auth_context : NULL;
}

static account_rank *
rank_of(kusto_resources *r, const char *account)
{
	int			i;

	for (i = 0; i < r->nranks; i++)
		if (strcmp(r->ranks[i].account, account) == 0)
			return &r->ranks[i];
	r->ranks = kusto_realloc(r->ranks, sizeof(account_rank) * (r->nranks + 1));
	memset(&r->ranks[r->nranks], 0, sizeof(account_rank));
	r->ranks[r->nranks].account = kusto_strdup(account);
	return &r->ranks[r->nranks++];
}

void
kusto_resources_report(kusto_client *c, const char *account, bool success)
{
	account_rank *a;
	long		now_bucket = (long) time(NULL) / BUCKET_S;
	int			b = (int) (now_bucket % NBUCKETS);

	if (c->res == NULL)
		return;
	a = rank_of(c->res, account);
	if (a->bucket_start[b] != now_bucket)
	{
		a->bucket_start[b] = now_bucket;
		a->success[b] = a->total[b] = 0;
	}
	a->total[b]++;
	if (success)
		a->success[b]++;
}

/* Weighted success rate of the last minute: newer buckets weigh more; 1 without data. */
static double
rate_of(kusto_resources *r, const char *account)
{
	account_rank *a = rank_of(r, account);
	long		now_bucket = (long) time(NULL) / BUCKET_S;
	double		num = 0,
				den = 0;
	int			i;

	for (i = 0; i < NBUCKETS; i++)
	{
		long		age = now_bucket - a->bucket_start[i];

		if (a->total[i] == 0 || age < 0 || age >= NBUCKETS)
			continue;
		num += (double) (NBUCKETS - age) * a->success[i] / a->total[i];
		den += (double) (NBUCKETS - age);
	}
	return den > 0 ? num / den : 1.0;
}

static int
tier_of(double rate)
{
	return rate > 0.9 ? 0 : rate > 0.7 ? 1 : rate > 0.3 ? 2 : 3;
}

/*
 * Up to `max` resources of a kind to try in order: accounts by tier of
 * recent success (shuffled within a tier), one random resource of each,
 * then further resources of the same accounts if there are fewer accounts.
 */
int
kusto_resources_pick(kusto_client *c, kusto_resource_kind kind, const kusto_resource **out, int max)
{
	kusto_resources *r = c->res;
	int			n = r ? r->n[kind] : 0;
	int		   *order;
	int		   *tier;
	int			i,
				j,
				count = 0;

	if (n == 0)
		return 0;
	order = kusto_malloc(sizeof(int) * n);
	tier = kusto_malloc(sizeof(int) * n);
	/* a random permutation, then a stable sort by tier keeps the shuffle within tiers */
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--)
	{
		int			k = rand_r(&c->seed) % (i + 1);
		int			t = order[i];

		order[i] = order[k];
		order[k] = t;
	}
	for (i = 0; i < n; i++)
		tier[order[i]] = tier_of(rate_of(r, r->list[kind][order[i]].account));
	for (i = 1; i < n; i++)
	{
		int			v = order[i];

		for (j = i - 1; j >= 0 && tier[order[j]] > tier[v]; j--)
			order[j + 1] = order[j];
		order[j + 1] = v;
	}
	/* first one resource per account, then the rest */
	for (i = 0; i < n && count < max; i++)
	{
		bool		seen = false;

		for (j = 0; j < count; j++)
			seen |= strcmp(out[j]->account, r->list[kind][order[i]].account) == 0;
		if (!seen)
			out[count++] = &r->list[kind][order[i]];
	}
	for (i = 0; i < n && count < max; i++)
	{
		bool		taken = false;

		for (j = 0; j < count; j++)
			taken |= out[j] == &r->list[kind][order[i]];
		if (!taken)
			out[count++] = &r->list[kind][order[i]];
	}
	kusto_free(order);
	kusto_free(tier);
	return count;
}
