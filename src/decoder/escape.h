/*-------------------------------------------------------------------------
 *
 * escape.h
 *	  Appending text to a StringInfo as a JSON string, a CSV field, or a KQL
 *	  name or string literal.
 *
 * ks_append_json_string() writes a JSON string literal per RFC 8259: the
 * quotes, backslash and every control character below U+0020 are escaped;
 * everything else, including multi-byte UTF-8, is copied unchanged.
 * ks_append_csv_field() writes an RFC 4180 field: quoted (with embedded
 * quotes doubled) only when it contains a quote, comma, CR or LF.  Both take
 * a length, so the input need not be NUL-terminated.
 * ks_append_kql_name() writes a bracketed KQL name ['name'] and
 * ks_append_kql_string() a KQL string literal 'text', both with quotes and
 * backslashes escaped by a backslash and control characters as \n, \t or
 * \uXXXX.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_ESCAPE_H
#define KS_ESCAPE_H

#include "lib/stringinfo.h"

extern void ks_append_json_string(StringInfo out, const char *s, int len);
extern void ks_append_csv_field(StringInfo out, const char *s, int len);
extern void ks_append_kql_name(StringInfo out, const char *s);
extern void ks_append_kql_string(StringInfo out, const char *s);

#endif							/* KS_ESCAPE_H */
