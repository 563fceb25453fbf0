/*
 * Typed results against the emulator (KUSTO_EMULATOR_URL): a query through
 * v2 frames and a command through v1, read as tables with named, typed
 * columns and cells by type; a query error is an error with Kusto's code.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/kusto/kusto.h"
#include "unit.h"
#include "emulator.h"

#define mgmt(c, csl) emu_mgmt((c), "rdb", (csl))

int
main(void)
{
	kusto_error err;
	kusto_client *c;
	kusto_result *r = NULL;
	const kusto_table *t;
	long long l;
	double		d;
	char	   *s;
	kusto_op   *op;
	void	   *user;

	url = getenv("KUSTO_EMULATOR_URL");
	if (url == NULL)
	{
		printf("not ok - KUSTO_EMULATOR_URL is not set\n");
		return 1;
	}
	c = emu_client("dev-secret", 0);

	mgmt(c, ".create table R (id:long, name:string, score:real, at:datetime, doc:dynamic, ok:bool)");
	mgmt(c, ".alter table R policy streamingingestion enable");
	{
		static const char csv[] = "1,one,1.5,2026-01-02T03:04:05Z,\"{\"\"a\"\":1}\",true\n2,,NaN,,,false\n";

		/* plain (not gzip) is fine for the emulator's streaming endpoint */
		kusto_stream_ingest(c, "rdb", "R", "csv", NULL, csv, strlen(csv), NULL);
		while ((op = kusto_client_done(c, &user, &err)) == NULL)
			kusto_client_run(c, 100);
		kusto_op_free(op);
	}

	CHECK(kusto_query(c, "rdb", "R | order by id asc", &r, &err) == KUSTO_OK, "a query through v2");
	t = r ? kusto_result_primary(r) : NULL;
	CHECK(t != NULL && kusto_table_nrows(t) == 2 && kusto_table_ncolumns(t) == 6, "the primary result: 2 rows, 6 columns");
	if (t)
	{
		CHECK_STR(kusto_table_column_name(t, 2), "score", "column names");
		CHECK_STR(kusto_table_column_type(t, 0), "long", "column types: long");
		CHECK_STR(kusto_table_column_type(t, 3), "datetime", "column types: datetime");
		CHECK(kusto_table_long(t, 1, 0, &l) && l == 2, "a long cell");
		CHECK(kusto_table_double(t, 0, 2, &d) && d == 1.5, "a real cell");
		CHECK(kusto_table_double(t, 1, 2, &d) && d != d, "a real NaN (sent as a string)");
		s = kusto_table_text(t, 0, 3);
		CHECK_STR(s, "2026-01-02T03:04:05Z", "a datetime as text");
		kusto_free(s);
		s = kusto_table_text(t, 0, 4);
		CHECK_STR(s, "{\"a\":1}", "a dynamic cell as JSON text");
		kusto_free(s);
		CHECK(kusto_table_is_null(t, 1, 3) && !kusto_table_is_null(t, 0, 3), "a null datetime");
		CHECK(kusto_table_long(t, 0, 5, &l) && l == 1, "a bool cell");
	}
	CHECK(r && kusto_result_ntables(r) >= 3, "the v2 answer's other tables are there too");
	kusto_result_free(r);
	r = NULL;

	CHECK(kusto_query(c, "rdb", ".show tables", &r, &err) == KUSTO_OK, "a command through v1");
	t = r ? kusto_result_primary(r) : NULL;
	CHECK(t != NULL && kusto_table_nrows(t) == 1, "one table");
	if (t)
	{
		s = kusto_table_text(t, 0, 0);
		CHECK_STR(s, "R", "the table's name");
		kusto_free(s);
	}
	kusto_result_free(r);
	r = NULL;

	CHECK(kusto_query(c, "rdb", "Nope | count", &r, &err) == KUSTO_ERR_PERMANENT && r == NULL,
		  "a failing query is a permanent error");
	CHECK(strstr(err.message, "Nope") != NULL, "which names the missing table");

	/* kusto_count(): a query answering one number, without waiting */
	kusto_count(c, "rdb", "R | where id == 2 | take 1 | count", &l);
	while ((op = kusto_client_done(c, &user, &err)) == NULL)
		kusto_client_run(c, 100);
	CHECK(err.status == KUSTO_OK && user == &l && kusto_op_count(op) == 1, "a count operation: 1");
	kusto_op_free(op);
	kusto_count(c, "rdb", "Nope | count", NULL);
	while ((op = kusto_client_done(c, &user, &err)) == NULL)
		kusto_client_run(c, 100);
	CHECK(err.status == KUSTO_ERR_PERMANENT && strstr(err.message, "Nope") != NULL,
		  "a failing count operation names what failed");
	kusto_op_free(op);

	/*
	 * An answer lost after Kusto stored a stream, on a reused connection:
	 * curl must not send the stream again by itself (it would be stored
	 * twice); the caller gets a transient error and decides.
	 */
	{
		static const char csv[] = "3,three,3,,,true\n";
		long long	before = -1,
					after = -1;

		kusto_count(c, "rdb", "R | count", &before);
		while ((op = kusto_client_done(c, &user, &err)) == NULL)
			kusto_client_run(c, 100);
		before = kusto_op_count(op);
		kusto_op_free(op);
		admin("/admin/faults", "{\"kind\": \"streaming\", \"count\": 1, \"action\": {\"lost\": true}}");
		kusto_stream_ingest(c, "rdb", "R", "csv", NULL, csv, strlen(csv), NULL);
		while ((op = kusto_client_done(c, &user, &err)) == NULL)
			kusto_client_run(c, 100);
		CHECK(err.status == KUSTO_ERR_TRANSIENT, "a stream whose answer was lost is a transient error");
		kusto_op_free(op);
		kusto_count(c, "rdb", "R | count", NULL);
		while ((op = kusto_client_done(c, &user, &err)) == NULL)
			kusto_client_run(c, 100);
		after = kusto_op_count(op);
		kusto_op_free(op);
		CHECK(after == before + 1, "and it was stored once, not sent again by curl");
	}

	kusto_client_destroy(c);
	return unit_summary();
}
