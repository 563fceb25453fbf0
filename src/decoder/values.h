/*-------------------------------------------------------------------------
 *
 * values.h
 *	  Rendering one non-null column value as Kusto ingests it.
 *
 * ks_append_json_value() appends a JSON value.  At the top level of a
 * record (nested = false) a numeric is written as a JSON string, so that
 * Kusto's decimal receives the exact digits; inside dynamic values (array
 * elements, composite fields; nested = true) it is a JSON number.
 * ks_append_csv_value() appends one CSV field.  Values that Kusto cannot
 * represent (finite timestamps outside years 1..9999, timespans beyond
 * Kusto's range) are written as null (JSON) or an empty field (CSV); the
 * rules are documented in docs/output-plugin.md, "Type mapping".
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_VALUES_H
#define KS_VALUES_H

#include "lib/stringinfo.h"

#include "decoder/typemap.h"

extern void ks_append_json_value(StringInfo out, Datum value, KsTypeInfo *type, bool nested);
extern void ks_append_csv_value(StringInfo out, Datum value, KsTypeInfo *type);

/* datetime rendering, also used for the commit-time metadata column */
extern int	ks_format_timestamp(Timestamp ts, char *buf);

#define KS_DATETIME_BUFLEN 32

#endif							/* KS_VALUES_H */
