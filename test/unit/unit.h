/*
 * unit.h: a minimal test harness for the ingest core's C tests.
 * CHECK(cond, msg) records one assertion; each test program ends with
 * unit_summary(), which prints "N passed, N failed" and returns the exit code.
 */
#ifndef KUSTO_UNIT_H
#define KUSTO_UNIT_H

#include <stdio.h>
#include <string.h>

static int	unit_passed = 0;
static int	unit_failed = 0;

#define CHECK(cond, msg) \
	do { \
		if (cond) { unit_passed++; printf("ok %d - %s\n", unit_passed + unit_failed, msg); } \
		else { unit_failed++; printf("not ok %d - %s # %s:%d\n", unit_passed + unit_failed, msg, __FILE__, __LINE__); } \
	} while (0)

#define CHECK_STR(actual, expected, msg) \
	do { \
		const char *a_ = (actual); const char *e_ = (expected); \
		CHECK(a_ != NULL && strcmp(a_, e_) == 0, msg); \
		if (!(a_ != NULL && strcmp(a_, e_) == 0)) printf("#   got '%s', expected '%s'\n", a_ ? a_ : "(null)", e_); \
	} while (0)

static inline int
unit_summary(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed == 0 ? 0 : 1;
}

#endif
