/*-------------------------------------------------------------------------
 *
 * alloc.c
 *	  The ingest core's allocation, its failure handler (kusto.h), and
 *	  growing buffers.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kusto_int.h"

static void default_failure(kusto_failure kind, const char *what) __attribute__((noreturn));

static void
default_failure(kusto_failure kind, const char *what)
{
	(void) kind;
	fprintf(stderr, "kusto: %s\n", what);
	exit(EXIT_FAILURE);
}

static kusto_failure_handler failure_handler = default_failure;

void
kusto_set_failure_handler(kusto_failure_handler handler)
{
	failure_handler = handler ? handler : default_failure;
}

void
kusto_fail(kusto_failure kind, const char *what)
{
	failure_handler(kind, what);
	/* a handler that returns broke its contract: do not go on */
	default_failure(kind, what);
}

void *
kusto_malloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		kusto_fail(KUSTO_FAILURE_MEMORY, "out of memory");
	return p;
}

void *
kusto_realloc(void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		kusto_fail(KUSTO_FAILURE_MEMORY, "out of memory");
	return p;
}

void
kusto_free(void *ptr)
{
	free(ptr);
}

char *
kusto_strdup(const char *s)
{
	size_t		len;
	char	   *copy;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	copy = kusto_malloc(len + 1);
	memcpy(copy, s, len + 1);
	return copy;
}

/* A formatted string of any length (kusto_free it). */
char *
kusto_asprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *out;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		kusto_fail(KUSTO_FAILURE_SYSTEM, "could not format a string");
	out = kusto_malloc((size_t) n + 1);
	va_start(ap, fmt);
	vsnprintf(out, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return out;
}

bool
kusto_buf_try_append(kusto_buf *buf, const void *data, size_t len)
{
	if (len > SIZE_MAX / 2 - buf->len - 1)
		return false;
	if (buf->len + len + 1 > buf->cap)
	{
		size_t		cap = buf->cap ? buf->cap : 1024;
		char	   *grown;

		while (cap < buf->len + len + 1)
			cap *= 2;
		grown = realloc(buf->data, cap);
		if (grown == NULL)
			return false;
		buf->data = grown;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return true;
}

void
kusto_buf_append(kusto_buf *buf, const void *data, size_t len)
{
	if (!kusto_buf_try_append(buf, data, len))
		kusto_fail(KUSTO_FAILURE_MEMORY, "out of memory");
}

void
kusto_buf_free(kusto_buf *buf)
{
	kusto_free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}
