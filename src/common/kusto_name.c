/*-------------------------------------------------------------------------
 *
 * kusto_name.c
 *	  Checks a Kusto entity name against Kusto's rule (see kusto_name.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "kusto_name.h"

/*
 * Decodes one UTF-8 character at s: its length (1 to 4), or 0 when it is
 * not well-formed (overlong, a surrogate, beyond U+10FFFF, cut short).
 */
static int
utf8_char(const unsigned char *s, unsigned int *cp)
{
	int			len;
	int			i;
	unsigned int c;

	if (s[0] < 0x80)
	{
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
	{
		len = 2;
		c = s[0] & 0x1f;
	}
	else if ((s[0] & 0xf0) == 0xe0)
	{
		len = 3;
		c = s[0] & 0x0f;
	}
	else if ((s[0] & 0xf8) == 0xf0)
	{
		len = 4;
		c = s[0] & 0x07;
	}
	else
		return 0;
	for (i = 1; i < len; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
			return 0;			/* also stops at the NUL */
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
		(c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

/* a non-ASCII code point that is surely no letter nor digit */
static bool
non_letter(unsigned int c)
{
	return (c >= 0x80 && c <= 0xbf) ||	/* C1 controls, Latin-1 punctuation */
		c == 0xd7 || c == 0xf7 ||	/* multiplication and division signs */
		(c >= 0x2000 && c <= 0x206f) || /* General Punctuation (spaces too) */
		(c >= 0x3000 && c <= 0x303f) || /* CJK symbols and punctuation */
		(c >= 0xfe00 && c <= 0xfe0f) || /* variation selectors */
		c == 0xfeff ||			/* zero width no-break space */
		(c >= 0xff00 && c <= 0xff0f) || /* fullwidth punctuation */
		(c >= 0xfff0 && c <= 0xffff);	/* specials */
}

const char *
kusto_entity_name_error(const char *name)
{
	const unsigned char *s = (const unsigned char *) name;
	size_t		bytes;
	int			chars = 0;

	if (name == NULL || name[0] == '\0')
		return "a Kusto name must have 1 to 1024 characters";
	while (*s)
	{
		unsigned int c;
		int			len = utf8_char(s, &c);

		if (len == 0)
			return "a Kusto name must be valid UTF-8";
		if (++chars > KUSTO_NAME_MAX_CHARS)
			return "a Kusto name must have 1 to 1024 characters";
		if (len == 1)
		{
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				  c == '_' || c == ' ' || c == '.' || c == '-'))
				return "a Kusto name may contain only letters, digits, underscores, spaces, dots and dashes";
		}
		else if (non_letter(c))
			return "a Kusto name may contain only letters, digits, underscores, spaces, dots and dashes";
		s += len;
	}
	bytes = strlen(name);
	if (strncmp(name, "__", 2) == 0 || (bytes >= 2 && strcmp(name + bytes - 2, "__") == 0))
		return "a Kusto name must not start or end with two underscores (Kusto reserves those)";
	return NULL;
}
