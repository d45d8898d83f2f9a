//! The ShapeStream state machine, sans-IO. Filled in by issue #2 (stream).
