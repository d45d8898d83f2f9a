//! A long-poll body read in pieces as it arrives: [`BodyParser`] (placeholder that buffers
//! the pieces and parses the whole body at the end; replaced by the incremental scanner).

use super::message::{parse_body, Message, MessageError};

/// Collects a body piece by piece; [`BodyParser::finish`] gives what `parse_body` would.
#[derive(Debug, Default)]
pub struct BodyParser {
    buf: Vec<u8>,
}

impl BodyParser {
    /// An empty body so far.
    pub fn new() -> Self {
        BodyParser::default()
    }

    /// Append a piece of the body.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), MessageError> {
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The body ended: its messages.
    pub fn finish(self) -> Result<Vec<Message>, MessageError> {
        parse_body(&self.buf)
    }
}
