/*-------------------------------------------------------------------------
 *
 * kusto_name.h
 *	  Kusto's rule for entity names (databases, tables, columns, mappings),
 *	  as its documentation states it ("Entity names", identifier naming
 *	  rules): 1 to 1,024 characters; letters, digits, underscore, and the
 *	  special characters space, dot and dash; a name must not start or end
 *	  with two underscores (Kusto reserves those).  Plain C, free of
 *	  PostgreSQL and of the ingest core, so that both can use it.
 *
 * Contract:
 *	- kusto_entity_name_error(name) returns NULL when name follows the
 *	  rule, else a reason (a static English phrase that can follow "invalid
 *	  Kusto name: ") and never reads past the terminating NUL.
 *	- Characters are counted as UTF-8 code points.  An ASCII character is a
 *	  letter or digit by the C locale; a non-ASCII one must be well-formed
 *	  UTF-8 and is taken as a letter unless it is a control, a space or a
 *	  punctuation character of the ranges the check knows (Latin-1
 *	  punctuation and symbols, General Punctuation, CJK symbols, specials):
 *	  without Unicode tables the check is lenient there, and Kusto refuses
 *	  what it is not.  Every ASCII character but the allowed ones (quotes,
 *	  brackets, ';', ':', '$', controls, ...) is refused.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KUSTO_NAME_H
#define KUSTO_NAME_H

#define KUSTO_NAME_MAX_CHARS 1024

extern const char *kusto_entity_name_error(const char *name);

#endif							/* KUSTO_NAME_H */
