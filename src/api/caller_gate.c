/*-------------------------------------------------------------------------
 *
 * caller_gate.c
 *	  The entry point of the SQL functions that act on the catalog for a
 *	  caller: connections and sinks are changed, read and dropped only by
 *	  their owners (and superusers), as tables are.
 *
 * A public function kusto_sink.F(args) is declared LANGUAGE C, SECURITY
 * INVOKER, with the symbol kusto_sink_gate.  It takes the calling role
 * (GetUserId(): the role that would own a table created there, SET ROLE
 * included), then, as the bootstrap superuser with search_path pinned to
 * pg_catalog, pg_temp, calls kusto_sink.impl_F(caller regrole, args) --
 * F without its leading underscores -- and returns what that returns.  The
 * impl_ functions are executable by no one but superusers, so the caller
 * they are given cannot be forged; they check ownership and privileges
 * against it (kusto_sink._check_owner) and then do the work.  A SECURITY
 * DEFINER function could not tell its caller from a trojan's: there
 * current_user is the definer and session_user whoever logged in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(kusto_sink_gate);

/* what a public function's calls need, kept in fn_extra */
typedef struct GateCall
{
	char	   *sql;			/* SELECT ... kusto_sink.impl_F($1, ...) */
	int			nargs;			/* the public function's */
	Oid		   *argtypes;		/* regrole, then the public function's */
	bool		returns_void;
	bool		composite;
	int16		typlen;
	bool		typbyval;
} GateCall;

static GateCall *
prepare_call(FunctionCallInfo fcinfo)
{
	Oid			fn = fcinfo->flinfo->fn_oid;
	HeapTuple	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	MemoryContext oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	GateCall   *call = palloc0(sizeof(GateCall));
	const char *name;
	StringInfoData sql;
	int			i;

	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(proctup);
	name = NameStr(proc->proname);
	while (*name == '_')
		name++;
	call->nargs = proc->pronargs;
	call->argtypes = palloc((call->nargs + 1) * sizeof(Oid));
	call->argtypes[0] = REGROLEOID;
	for (i = 0; i < call->nargs; i++)
		call->argtypes[i + 1] = proc->proargtypes.values[i];
	call->returns_void = (proc->prorettype == VOIDOID);
	call->composite = (proc->prorettype == RECORDOID || type_is_rowtype(proc->prorettype));
	get_typlenbyval(proc->prorettype, &call->typlen, &call->typbyval);

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %skusto_sink.%s(",
					 call->composite ? "* FROM " : "",
					 quote_identifier(psprintf("impl_%s", name)));
	for (i = 0; i <= call->nargs; i++)
		appendStringInfo(&sql, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoChar(&sql, ')');
	call->sql = sql.data;
	ReleaseSysCache(proctup);
	MemoryContextSwitchTo(oldcxt);
	return call;
}

Datum
kusto_sink_gate(PG_FUNCTION_ARGS)
{
	GateCall   *call = (GateCall *) fcinfo->flinfo->fn_extra;
	Oid			caller = GetUserId();
	Oid			save_userid;
	int			save_sec;
	int			nest;
	Datum	   *values;
	char	   *nulls;
	Datum		result = (Datum) 0;
	bool		isnull = true;
	TupleDesc	rdesc = NULL;
	int			i;

	if (call == NULL)
		fcinfo->flinfo->fn_extra = call = prepare_call(fcinfo);
	if (call->composite &&
		get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	values = palloc((call->nargs + 1) * sizeof(Datum));
	nulls = palloc(call->nargs + 2);
	values[0] = ObjectIdGetDatum(caller);
	nulls[0] = ' ';
	for (i = 0; i < call->nargs; i++)
	{
		values[i + 1] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	nulls[call->nargs + 1] = '\0';

	/* an error on the way restores the user and the GUCs with the (sub)transaction */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(call->sql, call->nargs + 1, call->argtypes, values, nulls,
							  false, 0) < 0)
		elog(ERROR, "kusto_sink: could not run \"%s\"", call->sql);
	if (SPI_processed == 1 && !call->returns_void)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		if (call->composite)
		{
			Datum	   *cols = palloc(rdesc->natts * sizeof(Datum));
			bool	   *colnulls = palloc(rdesc->natts * sizeof(bool));

			for (i = 0; i < rdesc->natts; i++)
				cols[i] = SPI_getbinval(row, desc, i + 1, &colnulls[i]);
			/* copied out of SPI's memory, which SPI_finish frees */
			result = SPI_datumTransfer(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(rdesc), cols, colnulls)),
									   false, -1);
			isnull = false;
		}
		else
		{
			result = SPI_getbinval(row, desc, 1, &isnull);
			if (!isnull)
				result = SPI_datumTransfer(result, call->typbyval, call->typlen);
		}
	}
	SPI_finish();

	AtEOXact_GUC(true, nest);
	SetUserIdAndSecContext(save_userid, save_sec);

	if (call->returns_void)
		PG_RETURN_VOID();
	if (isnull)
		PG_RETURN_NULL();
	return result;
}
