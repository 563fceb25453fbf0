/*-------------------------------------------------------------------------
 *
 * catalog_version.h
 *	  Which version of the extension's catalog (its SQL objects) the library
 *	  runs against.
 *
 * The library of release 1.1 works with the catalog of 1.0 (the worker and
 * the launcher use only objects that 1.0 has) but the 1.0 SQL functions
 * lack 1.1's fixes; ks_check_catalog_version() says so (a WARNING, and the
 * sink's last_error) and tells what to run.  A catalog newer than the
 * library is an error.  Runs its own transaction.
 *
 * ks_catalog_at_least() tells whether the installed catalog is at least a
 * version, for the queries whose objects changed (1.1 keeps the secrets in
 * kusto_sink.connection_secret); inside a transaction, SPI connected.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_CATALOG_VERSION_H
#define KS_WORKER_CATALOG_VERSION_H

#include "worker/registry.h"

#define KS_CATALOG_VERSION "1.1"	/* the version this library's SQL is */

extern void ks_check_catalog_version(KsSinkSlot *slot, const char *sink);
extern bool ks_catalog_at_least(int major, int minor);

#endif							/* KS_WORKER_CATALOG_VERSION_H */
