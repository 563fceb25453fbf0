/*-------------------------------------------------------------------------
 *
 * escape.c
 *	  JSON string escaping (RFC 8259) and CSV field quoting (RFC 4180).
 *
 * These run once per text value of every decoded row, so they copy runs of
 * bytes that need no escaping in one memcpy instead of going through
 * PostgreSQL's generic escape_json(), which appends byte by byte.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "decoder/escape.h"

/* 1 for bytes that must be escaped inside a JSON string */
static const unsigned char json_needs_escape[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,	/* '\\' */
};

static const char hexdigits[] = "0123456789abcdef";

void
ks_append_json_string(StringInfo out, const char *s, int len)
{
	const char *end = s + len;
	const char *run = s;

	/* room for the common case: nothing to escape */
	enlargeStringInfo(out, len + 2);
	out->data[out->len++] = '"';

	for (; s < end; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (likely(!json_needs_escape[c]))
			continue;

		if (s > run)
			appendBinaryStringInfo(out, run, s - run);
		run = s + 1;

		switch (c)
		{
			case '"':
				appendBinaryStringInfo(out, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			case '\b':
				appendBinaryStringInfo(out, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(out, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			default:
				{
					char		u[6] = {'\\', 'u', '0', '0',
					hexdigits[c >> 4], hexdigits[c & 0xf]};

					appendBinaryStringInfo(out, u, 6);
				}
				break;
		}
	}
	if (s > run)
		appendBinaryStringInfo(out, run, s - run);
	appendStringInfoCharMacro(out, '"');
}

void
ks_append_csv_field(StringInfo out, const char *s, int len)
{
	const char *end = s + len;
	const char *p;
	const char *run;

	for (p = s; p < end; p++)
	{
		if (*p == '"' || *p == ',' || *p == '\n' || *p == '\r')
			break;
	}
	if (p == end)
	{
		appendBinaryStringInfo(out, s, len);
		return;
	}

	/* quote the field; double embedded quotes */
	enlargeStringInfo(out, len + 2);
	out->data[out->len++] = '"';
	for (run = s, p = s; p < end; p++)
	{
		if (*p == '"')
		{
			appendBinaryStringInfo(out, run, p - run + 1);
			run = p;			/* the quote is written again: doubled */
		}
	}
	appendBinaryStringInfo(out, run, end - run);
	appendStringInfoCharMacro(out, '"');
}

/* the inside of a KQL string literal quoted with ' */
static void
append_kql_escaped(StringInfo out, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '\'' || c == '\\')
		{
			appendStringInfoChar(out, '\\');
			appendStringInfoChar(out, c);
		}
		else if (c == '\n')
			appendStringInfoString(out, "\\n");
		else if (c == '\t')
			appendStringInfoString(out, "\\t");
		else if (c < 0x20)
			appendStringInfo(out, "\\u%04x", c);
		else
			appendStringInfoChar(out, c);
	}
}

void
ks_append_kql_name(StringInfo out, const char *s)
{
	appendStringInfoString(out, "['");
	append_kql_escaped(out, s);
	appendStringInfoString(out, "']");
}

void
ks_append_kql_string(StringInfo out, const char *s)
{
	appendStringInfoChar(out, '\'');
	append_kql_escaped(out, s);
	appendStringInfoChar(out, '\'');
}
