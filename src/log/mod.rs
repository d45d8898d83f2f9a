//! Materialize a shape log into one row per key, and compact message sequences. Filled in by
//! issue #2 (log).
