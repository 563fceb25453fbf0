/*
 * Kusto's entity name rule (src/common/kusto_name.c): 1 to 1,024
 * characters; letters, digits, _, space, . and -; no leading or trailing __.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/common/kusto_name.c"
#include "unit.h"

static char *
repeat(char c, int n)
{
	char	   *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

int
main(void)
{
	char	   *s;
	char		two_byte[2 * 1024 + 3];
	int			i;

	CHECK(kusto_entity_name_error("Orders") == NULL, "a plain name");
	CHECK(kusto_entity_name_error("My Table.v2-final_1") == NULL, "space, dot, dash, underscore, digits");
	CHECK(kusto_entity_name_error("1day") == NULL, "a leading digit");
	CHECK(kusto_entity_name_error("_private_") == NULL, "one underscore at either end");
	CHECK(kusto_entity_name_error("Größe") == NULL, "non-ASCII letters");
	CHECK(kusto_entity_name_error("表格") == NULL, "CJK letters");
	CHECK(kusto_entity_name_error("") != NULL, "empty is refused");
	CHECK(kusto_entity_name_error(NULL) != NULL, "NULL is refused");
	CHECK(kusto_entity_name_error("a;b") != NULL, "a semicolon is refused");
	CHECK(kusto_entity_name_error("a:b") != NULL, "a colon is refused");
	CHECK(kusto_entity_name_error("a'b") != NULL, "a quote is refused");
	CHECK(kusto_entity_name_error("a\"b") != NULL, "a double quote is refused");
	CHECK(kusto_entity_name_error("a]b") != NULL, "a bracket is refused");
	CHECK(kusto_entity_name_error("a$b") != NULL, "$ is refused (only KQL operators make it)");
	CHECK(kusto_entity_name_error("a/b") != NULL, "a slash is refused");
	CHECK(kusto_entity_name_error("a\nb") != NULL, "a newline is refused");
	CHECK(kusto_entity_name_error("a\tb") != NULL, "a tab is refused");
	CHECK(kusto_entity_name_error("a\xc2\xa0" "b") != NULL, "a no-break space is refused");
	CHECK(kusto_entity_name_error("a\xe2\x80\x8b" "b") != NULL, "a zero-width space is refused");
	CHECK(kusto_entity_name_error("a\xff" "b") != NULL, "invalid UTF-8 is refused");
	CHECK(kusto_entity_name_error("a\xc0\xaf") != NULL, "overlong UTF-8 is refused");
	CHECK(kusto_entity_name_error("a\xe4\xb8") != NULL, "cut UTF-8 is refused");
	CHECK(kusto_entity_name_error("__x") != NULL, "a leading __ is reserved");
	CHECK(kusto_entity_name_error("x__") != NULL, "a trailing __ is reserved");
	CHECK(kusto_entity_name_error("x__y") == NULL, "__ inside is fine");
	CHECK(strstr(kusto_entity_name_error("a;b"), "letters, digits") != NULL, "the reason says what is allowed");

	s = repeat('T', 1024);
	CHECK(kusto_entity_name_error(s) == NULL, "1,024 characters");
	free(s);
	s = repeat('T', 1025);
	CHECK(kusto_entity_name_error(s) != NULL, "1,025 characters are refused");
	CHECK(strstr(kusto_entity_name_error(s), "1024") != NULL, "the reason gives the limit");
	free(s);
	/* characters, not bytes: 1,024 two-byte letters are fine */
	for (i = 0; i < 1024; i++)
	{
		two_byte[2 * i] = '\xc3';
		two_byte[2 * i + 1] = '\xa9';	/* é */
	}
	two_byte[2048] = '\0';
	CHECK(kusto_entity_name_error(two_byte) == NULL, "1,024 two-byte characters (2,048 bytes)");
	two_byte[2048] = 'x';
	two_byte[2049] = '\0';
	CHECK(kusto_entity_name_error(two_byte) != NULL, "1,025 characters of which 1,024 are two bytes");
	return unit_summary();
}
