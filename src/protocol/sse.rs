//! Incremental Server-Sent-Events framing decoder (ref §3.6). Filled in by issue #2.
