//! Postgres array literals (`{1,{2,NULL},"a\"b"}`), parsed recursively. Filled in by issue #2.
