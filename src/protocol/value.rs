//! Typed values: Postgres text output → typed value through the schema (ref §5). Filled in by
//! issue #2 (values).
