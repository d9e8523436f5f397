/*
 * tests/unit/test_reply.c - reading a model's reply (vector/reply.c): the query in it,
 * and its citations checked against the passages shown.
 */
#include "test.h"
#include "vector/reply.h"


static void test_the_query_in_a_reply(void)
{
    char *s;
    CHECK_STR(s = reply_sql("Sure:\n```sql\nSELECT 1;\n```\nIt counts."), "SELECT 1");
    free(s);
    CHECK_STR(s = reply_sql("  SELECT a\nFROM t ;;\n"), "SELECT a\nFROM t");
    free(s);
    CHECK_STR(s = reply_sql("```\nSELECT 2\n"), "SELECT 2"); /* a block the model did not close */
    free(s);
    CHECK(reply_sql("```sql\n```") == NULL);
    CHECK(reply_sql(" ;\n") == NULL);
}

static void test_citations_name_passages_shown(void)
{
    int cited[4] = {0};
    char *s;
    CHECK_STR(s = reply_citations("Ana [1]. Eve [3, 9]. Nobody [99]. [0] [x] [1-9]", 3, cited),
              "Ana [1]. Eve [3]. Nobody .  [x] [1]");
    free(s);
    CHECK(cited[0] && !cited[1] && cited[2] && !cited[3]);
    int two[2] = {0};
    CHECK_STR(s = reply_citations("a [1, 9,] b \xE3\x80\x90" "2\xE3\x80\x91 c [2,2; 1]", 2, two), "a [1] b [2] c [2, 1]");
    free(s);
    CHECK(two[0] && two[1]);
    /* taking a number out must not make a new citation of what is around it */
    int one[1] = {0};
    CHECK_STR(s = reply_citations("[1[2]] and [[5]]", 1, one), "[1] and []");
    free(s);
    CHECK(one[0]);
    int none[1] = {0};
    CHECK_STR(s = reply_citations("[1[2]]", 0, none), ""); /* "[1]" after a pass: no such passage */
    free(s);
}

TEST_MAIN(T(test_the_query_in_a_reply), T(test_citations_name_passages_shown))
