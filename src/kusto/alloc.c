/*-------------------------------------------------------------------------
 *
 * alloc.c
 *	  The ingest core's allocator hooks (and jansson's), and small helpers.
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kusto_int.h"

static void *(*k_malloc) (size_t) = malloc;
static void *(*k_realloc) (void *, size_t) = realloc;
static void (*k_free) (void *) = free;

void *
kusto_malloc(size_t size)
{
	void	   *p = k_malloc(size ? size : 1);

	if (p == NULL)
		abort();				/* the hooks of the extension never return NULL */
	return p;
}

void *
kusto_realloc(void *ptr, size_t size)
{
	void	   *p = k_realloc(ptr, size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

void
kusto_free(void *ptr)
{
	if (ptr != NULL)
		k_free(ptr);
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
		abort();
	out = kusto_malloc((size_t) n + 1);
	va_start(ap, fmt);
	vsnprintf(out, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return out;
}

void
kusto_buf_append(kusto_buf *buf, const void *data, size_t len)
{
	if (buf->len + len + 1 > buf->cap)
	{
		size_t		cap = buf->cap ? buf->cap : 1024;

		while (cap < buf->len + len + 1)
			cap *= 2;
		buf->data = kusto_realloc(buf->data, cap);
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

void
kusto_buf_free(kusto_buf *buf)
{
	kusto_free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}
