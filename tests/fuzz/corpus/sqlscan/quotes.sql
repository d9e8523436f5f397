CREATE TABLE t AS SELECT 'a;b' AS x, "q;""" AS y; -- c;
/* nested /* c */ ; */ INSERT INTO t VALUES (E'\';'), ($$;$$), ($tag$ ; $tag$);;