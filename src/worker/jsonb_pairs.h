/*-------------------------------------------------------------------------
 *
 * jsonb_pairs.h
 *	  The members of a jsonb object, for the option validators.
 *
 * ks_jsonb_pairs() returns the top-level members of an object in key
 * order as a List of KsJsonPair (nested containers as jbvBinary values:
 * ks_jsonb_pair_jsonb() makes a Jsonb of one); ks_jsonb_is_object() says
 * whether a jsonb is an object at all.  ks_jsonb_pair_text() renders a
 * scalar as text (a string without quotes), for values and messages.
 * Everything is allocated in CurrentMemoryContext.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_JSONB_PAIRS_H
#define KS_WORKER_JSONB_PAIRS_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef struct KsJsonPair
{
	char	   *key;
	JsonbValue	value;
} KsJsonPair;

extern bool ks_jsonb_is_object(Jsonb *jb);
extern List *ks_jsonb_pairs(Jsonb *jb);
extern Jsonb *ks_jsonb_pair_jsonb(const KsJsonPair *pair);
extern char *ks_jsonb_pair_text(const KsJsonPair *pair);
extern const char *ks_jsonb_type_name(const JsonbValue *v);

#endif							/* KS_WORKER_JSONB_PAIRS_H */
