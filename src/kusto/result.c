/*-------------------------------------------------------------------------
 *
 * result.c
 *	  Results of queries and management commands as typed tables: a query
 *	  goes to /v2/rest/query and its frames (DataSetHeader, DataTable...,
 *	  DataSetCompletion) are read, a command goes to /v1/rest/mgmt and its
 *	  Tables are read.  Each table has named, typed columns (Kusto's type
 *	  names: bool, int, long, real, decimal, string, datetime, timespan,
 *	  guid, dynamic) and rows of cells read by type.  Errors reported inside
 *	  a v2 answer (DataSetCompletion HasErrors / OneApiErrors) are errors.
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kusto_int.h"

struct kusto_table
{
	const char *name;
	const char *kind;			/* v2 TableKind (PrimaryResult, ...); v1: "" */
	json_t	   *columns;		/* [{ColumnName, ColumnType}] */
	json_t	   *rows;			/* [[cell, ...], ...] */
};

struct kusto_result
{
	json_t	   *root;
	kusto_table *tables;
	int			ntables;
};

static void
add_table(kusto_result *r, json_t *t, const char *kind)
{
	kusto_table *x;

	r->tables = kusto_realloc(r->tables, sizeof(kusto_table) * (r->ntables + 1));
	x = &r->tables[r->ntables++];
	x->name = json_string_value(json_object_get(t, "TableName"));
	x->kind = kind ? kind : "";
	x->columns = json_object_get(t, "Columns");
	x->rows = json_object_get(t, "Rows");
	if (x->name == NULL)
		x->name = "";
}

/* the error a v2 answer carries in a frame, if any */
static bool
v2_error(json_t *frame, kusto_error *err)
{
	json_t	   *errors = json_object_get(frame, "OneApiErrors");
	json_t	   *e = json_object_get(json_array_get(errors, 0), "error");
	const char *msg;
	const char *code;

	if (!json_is_true(json_object_get(frame, "HasErrors")) && e == NULL)
		return false;
	msg = json_string_value(json_object_get(e, "@message"));
	if (msg == NULL)
		msg = json_string_value(json_object_get(e, "message"));
	code = json_string_value(json_object_get(e, "code"));
	kusto_error_set(err, json_is_true(json_object_get(e, "@permanent")) ? KUSTO_ERR_PERMANENT : KUSTO_ERR_TRANSIENT,
					200, code ? code : "QueryError", "%s", msg ? msg : "the query failed");
	return true;
}

static bool
parse_result(kusto_result *r, bool v2, kusto_error *err)
{
	size_t		i;
	json_t	   *x;

	if (v2)
	{
		if (!json_is_array(r->root))
			goto bad;
		json_array_foreach(r->root, i, x)
		{
			const char *ft = json_string_value(json_object_get(x, "FrameType"));

			if (ft && strcmp(ft, "DataTable") == 0)
			{
				add_table(r, x, json_string_value(json_object_get(x, "TableKind")));
				if (v2_error(x, err))
					return false;
			}
			else if (ft && strcmp(ft, "DataSetCompletion") == 0 && v2_error(x, err))
				return false;
		}
		return true;
	}
	if (!json_is_array(json_object_get(r->root, "Tables")))
		goto bad;
	json_array_foreach(json_object_get(r->root, "Tables"), i, x)
		add_table(r, x, NULL);
	return true;
bad:
	kusto_error_set(err, KUSTO_ERR_TRANSIENT, 0, "BadResponse",
					"the answer is not a Kusto %s result", v2 ? "v2" : "v1");
	return false;
}

void
kusto_result_free(kusto_result *r)
{
	if (r == NULL)
		return;
	if (r->root)
		json_decref(r->root);
	kusto_free(r->tables);
	kusto_free(r);
}

kusto_status
kusto_query(kusto_client *c, const char *db, const char *csl, kusto_result **result,
			kusto_error *err)
{
	bool		command = csl[strspn(csl, " \t\r\n")] == '.';
	char	   *url;
	char	   *text;
	size_t		len = 0;
	kusto_result *r;
	json_error_t jerr;
	kusto_status status;

	*result = NULL;
	url = kusto_asprintf("%s/%s", c->cluster_url, command ? "v1/rest/mgmt" : "v2/rest/query");
	status = kusto_post_csl(c, url, db, csl, &text, &len, err);
	kusto_free(url);
	if (status != KUSTO_OK)
		return err->status;
	r = kusto_malloc(sizeof(kusto_result));
	memset(r, 0, sizeof(*r));
	r->root = json_loadb(text, len, 0, &jerr);
	kusto_free(text);
	if (!parse_result(r, !command, err))
	{
		kusto_result_free(r);
		return err->status;
	}
	*result = r;
	return KUSTO_OK;
}

/*
 * An operation running a query whose answer's first cell is a number (a
 * count): kusto_op_count() reads it once the operation is done.
 */
kusto_op *
kusto_count(kusto_client *c, const char *db, const char *csl, void *user)
{
	kusto_op   *op = kusto_malloc(sizeof(kusto_op));
	char	   *url;

	memset(op, 0, sizeof(*op));
	kusto_error_clear(&op->err);
	op->kind = KUSTO_OP_COUNT;
	op->user = user;
	op->count = -1;
	url = kusto_asprintf("%s/v2/rest/query", c->cluster_url);
	op->req = kusto_csl_request(c, url, db, csl, true, &op->err);
	kusto_free(url);
	return kusto_op_start(c, op);
}

/* kusto_client_run(): reads the answer of a finished count operation */
void
kusto_count_finish(kusto_op *op)
{
	kusto_result r;
	json_error_t jerr;
	const kusto_table *t;

	if (!kusto_request_outcome(op->req, &op->err))
		return;
	memset(&r, 0, sizeof(r));
	r.root = json_loadb(op->req->response.data, op->req->response.len, 0, &jerr);
	if (parse_result(&r, true, &op->err))
	{
		t = kusto_result_primary(&r);
		if (t == NULL || kusto_table_nrows(t) < 1 || !kusto_table_long(t, 0, 0, &op->count))
			kusto_error_set(&op->err, KUSTO_ERR_TRANSIENT, 200, "BadResponse",
							"the answer to a count query holds no number");
	}
	json_decref(r.root);
	kusto_free(r.tables);
}

long long
kusto_op_count(const kusto_op *op)
{
	return op->count;
}

int
kusto_result_ntables(const kusto_result *r)
{
	return r->ntables;
}

const kusto_table *
kusto_result_table(const kusto_result *r, int i)
{
	return i >= 0 && i < r->ntables ? &r->tables[i] : NULL;
}

/* the first PrimaryResult of a v2 answer, or the first table of a v1 one */
const kusto_table *
kusto_result_primary(const kusto_result *r)
{
	int			i;

	for (i = 0; i < r->ntables; i++)
		if (r->tables[i].kind[0] == '\0' || strcmp(r->tables[i].kind, "PrimaryResult") == 0)
			return &r->tables[i];
	return NULL;
}

const char *
kusto_table_name(const kusto_table *t)
{
	return t->name;
}

int
kusto_table_ncolumns(const kusto_table *t)
{
	return (int) json_array_size(t->columns);
}

const char *
kusto_table_column_name(const kusto_table *t, int col)
{
	return json_string_value(json_object_get(json_array_get(t->columns, col), "ColumnName"));
}

/* Kusto's type name; v1 answers without ColumnType give .NET's DataType mapped */
const char *
kusto_table_column_type(const kusto_table *t, int col)
{
	json_t	   *c = json_array_get(t->columns, col);
	const char *type = json_string_value(json_object_get(c, "ColumnType"));
	const char *dt = json_string_value(json_object_get(c, "DataType"));
	static const char *const map[][2] = {
		{"Boolean", "bool"}, {"SByte", "bool"}, {"Int32", "int"}, {"Int64", "long"},
		{"Double", "real"}, {"Decimal", "decimal"}, {"SqlDecimal", "decimal"}, {"String", "string"},
		{"DateTime", "datetime"}, {"TimeSpan", "timespan"}, {"Guid", "guid"}, {"Object", "dynamic"},
	};
	size_t		i;

	if (type)
		return type;
	for (i = 0; dt && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(dt, map[i][0]) == 0)
			return map[i][1];
	return "string";
}

long
kusto_table_nrows(const kusto_table *t)
{
	return (long) json_array_size(t->rows);
}

static json_t *
cell(const kusto_table *t, long row, int col)
{
	return json_array_get(json_array_get(t->rows, row), col);
}

bool
kusto_table_is_null(const kusto_table *t, long row, int col)
{
	json_t	   *v = cell(t, row, col);

	return v == NULL || json_is_null(v);
}

bool
kusto_table_long(const kusto_table *t, long row, int col, long long *out)
{
	json_t	   *v = cell(t, row, col);
	char	   *end;

	if (json_is_integer(v))
		*out = (long long) json_integer_value(v);
	else if (json_is_real(v))
		*out = (long long) json_real_value(v);
	else if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (json_is_string(v))
	{
		*out = strtoll(json_string_value(v), &end, 10);
		return end != json_string_value(v) && *end == '\0';
	}
	else
		return false;
	return true;
}

bool
kusto_table_double(const kusto_table *t, long row, int col, double *out)
{
	json_t	   *v = cell(t, row, col);

	if (json_is_number(v))
		*out = json_number_value(v);
	else if (json_is_string(v))
	{
		/* real NaN/Infinity and decimals come as strings */
		const char *s = json_string_value(v);
		char	   *end;

		*out = strtod(s, &end);
		return end != s && *end == '\0';
	}
	else
		return false;
	return true;
}

/*
 * A cell as text (kusto_free it): strings as they are, numbers and bools
 * as JSON writes them, dynamic values as JSON text; NULL for a null.
 */
char *
kusto_table_text(const kusto_table *t, long row, int col)
{
	json_t	   *v = cell(t, row, col);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return kusto_strdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}
