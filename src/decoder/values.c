/*-------------------------------------------------------------------------
 *
 * values.c
 *	  Rendering column values as JSON values and CSV fields for Kusto.
 *
 * The common scalar types (integers, floats, timestamps, intervals, uuids)
 * are formatted here directly into the output buffer: their PostgreSQL
 * output functions would allocate, apply the session's DateStyle or
 * TimeZone, or produce forms Kusto does not parse.  Numerics, enums and
 * every other type go through their output functions (cached FmgrInfo).
 *
 * Rules for values Kusto cannot hold (docs/output-plugin.md, "Type mapping"):
 *	- real: NaN and +/-Infinity are written as the strings "NaN",
 *	  "Infinity", "-Infinity", which Kusto parses into real.
 *	- datetime: +infinity -> 9999-12-31T23:59:59.9999999Z and -infinity ->
 *	  0001-01-01T00:00:00Z (Kusto's extremes); finite values outside the
 *	  years 1..9999 -> null.
 *	- timespan: interval months count as in EXTRACT(EPOCH FROM interval):
 *	  a year is 365.25 days, a month 30 days; values beyond Kusto's range
 *	  -> null.  timetz is converted to UTC.
 *	- decimal: the exact digits; NaN and +/-Infinity as those strings, which
 *	  Kusto's decimal turns into null.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/base64.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "compat.h"
#include "decoder/escape.h"
#include "decoder/values.h"

/* Kusto's TimeSpan range, in microseconds (TimeSpan.MaxValue is 2^63-1 ticks of 100 ns) */
#define KUSTO_TIMESPAN_MAX_US INT64CONST(922337203685477)
#define USECS_PER_JULIAN_YEAR INT64CONST(31557600000000)	/* 365.25 days */

static const char datetime_max[] = "9999-12-31T23:59:59.9999999Z";
static const char datetime_min[] = "0001-01-01T00:00:00Z";

static void append_json_array(StringInfo out, Datum value, KsTypeInfo *type);
static void append_json_composite(StringInfo out, Datum value);

/* ---------- scalar formatting into a caller's buffer ---------- */

static inline char *
put2(char *p, int v)
{
	p[0] = '0' + v / 10;
	p[1] = '0' + v % 10;
	return p + 2;
}

/* ".ffffff" without trailing zeros, nothing when usec is 0 */
static char *
put_fraction(char *p, int64 usec)
{
	int			digits = 6;
	int			i;

	if (usec == 0)
		return p;
	while (usec % 10 == 0)
	{
		usec /= 10;
		digits--;
	}
	*p++ = '.';
	for (i = digits - 1; i >= 0; i--)
	{
		p[i] = '0' + usec % 10;
		usec /= 10;
	}
	return p + digits;
}

static int
format_ymd_hms(char *buf, int year, int mon, int mday, int hour, int min, int sec, int64 usec)
{
	char	   *p = buf;

	if (year < 1 || year > 9999)
		return -1;
	p = put2(p, year / 100);
	p = put2(p, year % 100);
	*p++ = '-';
	p = put2(p, mon);
	*p++ = '-';
	p = put2(p, mday);
	*p++ = 'T';
	p = put2(p, hour);
	*p++ = ':';
	p = put2(p, min);
	*p++ = ':';
	p = put2(p, sec);
	p = put_fraction(p, usec);
	*p++ = 'Z';
	return p - buf;
}

/* ISO 8601 UTC; returns the length, or -1 when Kusto cannot hold the value */
int
ks_format_timestamp(Timestamp ts, char *buf)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_IS_NOEND(ts))
	{
		memcpy(buf, datetime_max, sizeof(datetime_max) - 1);
		return sizeof(datetime_max) - 1;
	}
	if (TIMESTAMP_IS_NOBEGIN(ts))
	{
		memcpy(buf, datetime_min, sizeof(datetime_min) - 1);
		return sizeof(datetime_min) - 1;
	}
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		return -1;
	return format_ymd_hms(buf, tm.tm_year, tm.tm_mon, tm.tm_mday,
						  tm.tm_hour, tm.tm_min, tm.tm_sec, fsec);
}

static int
format_date(DateADT date, char *buf)
{
	int			year,
				mon,
				mday;

	if (DATE_IS_NOEND(date))
	{
		memcpy(buf, datetime_max, sizeof(datetime_max) - 1);
		return sizeof(datetime_max) - 1;
	}
	if (DATE_IS_NOBEGIN(date))
	{
		memcpy(buf, datetime_min, sizeof(datetime_min) - 1);
		return sizeof(datetime_min) - 1;
	}
	j2date(date + POSTGRES_EPOCH_JDATE, &year, &mon, &mday);
	return format_ymd_hms(buf, year, mon, mday, 0, 0, 0, 0);
}

/* Kusto timespan "[-][d.]hh:mm:ss[.ffffff]"; -1 when out of Kusto's range */
static int
format_timespan(int64 us, char *buf)
{
	char	   *p = buf;
	uint64		u;
	uint64		days;
	int64		rem;

	if (us > KUSTO_TIMESPAN_MAX_US || us < -KUSTO_TIMESPAN_MAX_US)
		return -1;
	if (us < 0)
	{
		*p++ = '-';
		u = (uint64) -us;
	}
	else
		u = (uint64) us;
	days = u / USECS_PER_DAY;
	rem = u % USECS_PER_DAY;
	if (days > 0)
	{
		p += pg_ulltoa_n(days, p);
		*p++ = '.';
	}
	p = put2(p, rem / USECS_PER_HOUR);
	rem %= USECS_PER_HOUR;
	*p++ = ':';
	p = put2(p, rem / USECS_PER_MINUTE);
	rem %= USECS_PER_MINUTE;
	*p++ = ':';
	p = put2(p, rem / USECS_PER_SEC);
	p = put_fraction(p, rem % USECS_PER_SEC);
	return p - buf;
}

/* interval -> microseconds, months as in EXTRACT(EPOCH FROM interval) */
static bool
interval_to_us(Interval *iv, int64 *result)
{
	int64		total = iv->time;
	int64		part;

	if (KS_INTERVAL_NOT_FINITE(iv))
		return false;
	if (pg_mul_s64_overflow(iv->day, USECS_PER_DAY, &part) ||
		pg_add_s64_overflow(total, part, &total))
		return false;
	if (pg_mul_s64_overflow(iv->month / MONTHS_PER_YEAR, USECS_PER_JULIAN_YEAR, &part) ||
		pg_add_s64_overflow(total, part, &total))
		return false;
	part = (int64) (iv->month % MONTHS_PER_YEAR) * DAYS_PER_MONTH * USECS_PER_DAY;
	if (pg_add_s64_overflow(total, part, &total))
		return false;
	*result = total;
	return true;
}

static int
format_uuid(pg_uuid_t *uuid, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = buf;
	int			i;

	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[uuid->data[i] >> 4];
		*p++ = hex[uuid->data[i] & 0xf];
	}
	return p - buf;
}

static int
format_int64(int64 v, char *buf)
{
	if (v < 0)
	{
		buf[0] = '-';
		return 1 + pg_ulltoa_n((uint64) 0 - (uint64) v, buf + 1);
	}
	return pg_ulltoa_n((uint64) v, buf);
}

/* a float: its shortest exact decimal, or NaN / Infinity / -Infinity */
static int
format_float(double d, bool is_float4, char *buf, bool *is_special)
{
	*is_special = false;
	if (isnan(d))
	{
		*is_special = true;
		memcpy(buf, "NaN", 3);
		return 3;
	}
	if (isinf(d))
	{
		*is_special = true;
		if (d > 0)
		{
			memcpy(buf, "Infinity", 8);
			return 8;
		}
		memcpy(buf, "-Infinity", 9);
		return 9;
	}
	if (is_float4)
		return float_to_shortest_decimal_bufn((float) d, buf);
	return double_to_shortest_decimal_bufn(d, buf);
}

/*
 * Formats a value of a "scalar" kind into buf (at least 64 bytes).  Returns
 * the length, -1 for a value Kusto cannot hold (written as null), or -2 when
 * the kind is not one of these.  *quote says whether a JSON writer must
 * quote the result.
 */
static int
format_scalar(Datum value, KsTypeInfo *type, char *buf, bool *quote)
{
	bool		special;
	int			len;

	*quote = false;
	switch (type->kind)
	{
		case KV_INT2:
			return format_int64(DatumGetInt16(value), buf);
		case KV_INT4:
			return format_int64(DatumGetInt32(value), buf);
		case KV_INT8:
			return format_int64(DatumGetInt64(value), buf);
		case KV_OID:
			return pg_ulltoa_n(DatumGetObjectId(value), buf);
		case KV_FLOAT4:
			len = format_float(DatumGetFloat4(value), true, buf, &special);
			*quote = special;
			return len;
		case KV_FLOAT8:
			len = format_float(DatumGetFloat8(value), false, buf, &special);
			*quote = special;
			return len;
		case KV_BOOL:
			if (DatumGetBool(value))
			{
				memcpy(buf, "true", 4);
				return 4;
			}
			memcpy(buf, "false", 5);
			return 5;
		case KV_TIMESTAMPTZ:
			*quote = true;
			return ks_format_timestamp(DatumGetTimestampTz(value), buf);
		case KV_TIMESTAMP:
			*quote = true;
			return ks_format_timestamp(DatumGetTimestamp(value), buf);
		case KV_DATE:
			*quote = true;
			return format_date(DatumGetDateADT(value), buf);
		case KV_TIME:
			*quote = true;
			return format_timespan(DatumGetTimeADT(value), buf);
		case KV_TIMETZ:
			{
				TimeTzADT  *t = DatumGetTimeTzADTP(value);
				int64		utc = (t->time + (int64) t->zone * USECS_PER_SEC) % USECS_PER_DAY;

				if (utc < 0)
					utc += USECS_PER_DAY;
				*quote = true;
				return format_timespan(utc, buf);
			}
		case KV_INTERVAL:
			{
				int64		us;

				*quote = true;
				if (!interval_to_us(DatumGetIntervalP(value), &us))
					return -1;
				return format_timespan(us, buf);
			}
		case KV_UUID:
			*quote = true;
			return format_uuid(DatumGetUUIDP(value), buf);
		default:
			return -2;
	}
}

/* ---------- text-like values ---------- */

static void
append_bytea_base64(StringInfo out, Datum value, bool json)
{
	bytea	   *b = DatumGetByteaPP(value);
	int			srclen = VARSIZE_ANY_EXHDR(b);
	int			enclen = pg_b64_enc_len(srclen);
	int			len;

	enlargeStringInfo(out, enclen + 2);
	if (json)
		out->data[out->len++] = '"';
	len = KS_B64_ENCODE(VARDATA_ANY(b), srclen, out->data + out->len, enclen);
	if (len < 0)
		elog(ERROR, "could not encode a bytea value as base64");
	out->len += len;
	if (json)
		out->data[out->len++] = '"';
	out->data[out->len] = '\0';
}

/* json's text is valid JSON, but may hold raw newlines between tokens */
static void
append_json_text(StringInfo out, Datum value)
{
	text	   *t = DatumGetTextPP(value);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			start = out->len;
	int			i;

	appendBinaryStringInfo(out, s, len);
	for (i = start; i < out->len; i++)
	{
		if (out->data[i] == '\n' || out->data[i] == '\r')
			out->data[i] = ' ';
	}
}

static void
append_jsonb(StringInfo out, Datum value)
{
	Jsonb	   *jb = DatumGetJsonbP(value);

	JsonbToCString(out, &jb->root, VARSIZE(jb));
}

/* the value as JSON (dynamic) into out: used by JSON and CSV writers */
static void
append_dynamic(StringInfo out, Datum value, KsTypeInfo *type)
{
	switch (type->kind)
	{
		case KV_JSON:
			append_json_text(out, value);
			break;
		case KV_JSONB:
			append_jsonb(out, value);
			break;
		case KV_ARRAY:
			append_json_array(out, value, type);
			break;
		case KV_COMPOSITE:
			append_json_composite(out, value);
			break;
		case KV_CAST_JSON:
			{
				Datum		j = FunctionCall1(&type->castfunc, value);

				if (type->cast_to_jsonb)
					append_jsonb(out, j);
				else
					append_json_text(out, j);
			}
			break;
		default:
			elog(ERROR, "type %u is not rendered as dynamic", type->typid);
	}
}

/* ---------- JSON ---------- */

void
ks_append_json_value(StringInfo out, Datum value, KsTypeInfo *type, bool nested)
{
	char		buf[64];
	bool		quote;
	int			len;

	len = format_scalar(value, type, buf, &quote);
	if (len >= 0)
	{
		enlargeStringInfo(out, len + 2);
		if (quote)
			out->data[out->len++] = '"';
		memcpy(out->data + out->len, buf, len);
		out->len += len;
		if (quote)
			out->data[out->len++] = '"';
		out->data[out->len] = '\0';
		return;
	}
	if (len == -1)
	{
		appendBinaryStringInfo(out, "null", 4);
		return;
	}

	switch (type->kind)
	{
		case KV_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				ks_append_json_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
			break;
		case KV_NAME:
			{
				const char *s = NameStr(*DatumGetName(value));

				ks_append_json_string(out, s, strlen(s));
			}
			break;
		case KV_CHAR:
			{
				char		c = DatumGetChar(value);

				ks_append_json_string(out, &c, c ? 1 : 0);
			}
			break;
		case KV_NUMERIC:
			{
				char	   *s = OutputFunctionCall(&type->outfunc, value);

				/* exact digits: a string for decimal, a number inside dynamic */
				if (nested && s[0] != 'N' && s[0] != 'I' && s[1] != 'I')
					appendStringInfoString(out, s);
				else
					ks_append_json_string(out, s, strlen(s));
			}
			break;
		case KV_BYTEA:
			append_bytea_base64(out, value, true);
			break;
		case KV_OUTPUT:
			{
				char	   *s = OutputFunctionCall(&type->outfunc, value);

				ks_append_json_string(out, s, strlen(s));
			}
			break;
		default:
			append_dynamic(out, value, type);
			break;
	}
}

static void
append_json_array_level(StringInfo out, int dim, int ndim, int *dims,
						Datum *values, bool *nulls, int *pos, KsTypeInfo *elem)
{
	int			i;

	appendStringInfoCharMacro(out, '[');
	for (i = 0; i < dims[dim]; i++)
	{
		if (i > 0)
			appendStringInfoCharMacro(out, ',');
		if (dim + 1 < ndim)
			append_json_array_level(out, dim + 1, ndim, dims, values, nulls, pos, elem);
		else
		{
			if (nulls[*pos])
				appendBinaryStringInfo(out, "null", 4);
			else
				ks_append_json_value(out, values[*pos], elem, true);
			(*pos)++;
		}
	}
	appendStringInfoCharMacro(out, ']');
}

static void
append_json_array(StringInfo out, Datum value, KsTypeInfo *type)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	KsTypeInfo *elem = type->elem;
	Datum	   *values;
	bool	   *nulls;
	int			n;
	int			pos = 0;

	check_stack_depth();
	if (ARR_NDIM(arr) == 0)
	{
		appendBinaryStringInfo(out, "[]", 2);
		return;
	}
	deconstruct_array(arr, ARR_ELEMTYPE(arr), elem->typlen, elem->typbyval,
					  elem->typalign, &values, &nulls, &n);
	append_json_array_level(out, 0, ARR_NDIM(arr), ARR_DIMS(arr), values, nulls, &pos, elem);
}

static void
append_json_composite(StringInfo out, Datum value)
{
	HeapTupleHeader td = DatumGetHeapTupleHeader(value);
	TupleDesc	tupdesc;
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *nulls;
	bool		first = true;
	int			i;

	check_stack_depth();
	tupdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(td),
									 HeapTupleHeaderGetTypMod(td));
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	values = palloc(tupdesc->natts * sizeof(Datum));
	nulls = palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(&tuple, tupdesc, values, nulls);

	appendStringInfoCharMacro(out, '{');
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped)
			continue;
		if (!first)
			appendStringInfoCharMacro(out, ',');
		first = false;
		ks_append_json_string(out, NameStr(att->attname), strlen(NameStr(att->attname)));
		appendStringInfoCharMacro(out, ':');
		if (nulls[i])
			appendBinaryStringInfo(out, "null", 4);
		else
			ks_append_json_value(out, values[i], ks_lookup_type(att->atttypid), true);
	}
	appendStringInfoCharMacro(out, '}');
	ReleaseTupleDesc(tupdesc);
}

/* ---------- CSV ---------- */

void
ks_append_csv_value(StringInfo out, Datum value, KsTypeInfo *type)
{
	char		buf[64];
	bool		quote;
	int			len;

	len = format_scalar(value, type, buf, &quote);
	if (len >= 0)
	{
		appendBinaryStringInfo(out, buf, len);
		return;
	}
	if (len == -1)
		return;					/* empty field: null */

	switch (type->kind)
	{
		case KV_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				ks_append_csv_field(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
			break;
		case KV_NAME:
			{
				const char *s = NameStr(*DatumGetName(value));

				ks_append_csv_field(out, s, strlen(s));
			}
			break;
		case KV_CHAR:
			{
				char		c = DatumGetChar(value);

				ks_append_csv_field(out, &c, c ? 1 : 0);
			}
			break;
		case KV_NUMERIC:
		case KV_OUTPUT:
			{
				char	   *s = OutputFunctionCall(&type->outfunc, value);

				ks_append_csv_field(out, s, strlen(s));
			}
			break;
		case KV_BYTEA:
			append_bytea_base64(out, value, false);
			break;
		default:
			{
				StringInfoData json;

				initStringInfo(&json);
				append_dynamic(&json, value, type);
				ks_append_csv_field(out, json.data, json.len);
				pfree(json.data);
			}
			break;
	}
}
