//! Splitting a byte stream into lines without copying them, in bounded memory. Public because
//! every line-oriented AWS log flowatlas reads (flow logs, load-balancer logs) needs the same
//! guarantees: a fixed buffer, overlong lines skipped whole, a broken gzip stream reported as
//! a line rather than an I/O error.

use std::io::{self, ErrorKind, Read};
use std::ops::Range;

use crate::reject::KEPT_CHARS;

/// The largest line limit accepted: record offsets are `u32`.
pub(crate) const MAX_LINE_LIMIT: usize = 1 << 30;

/// The buffer's first size: a small object's text fits in a few refills of it.
const INITIAL_BUFFER: usize = 32 * 1024;

/// What the next step through the stream found.
pub enum LineEvent {
    /// A line (without its `\n`) at this range of the buffer.
    Line(Range<usize>),
    /// A line longer than the limit; its beginning, and it was skipped to its end.
    TooLong(Vec<u8>),
    /// The compressed stream broke off; the unfinished line's beginning and the decoder's words.
    Truncated {
        /// The beginning of the unfinished line.
        partial: Vec<u8>,
        /// What the decoder said.
        why: String,
    },
    /// The end of the stream.
    End,
}

/// A line splitter over any `Read`, with a fixed-size buffer.
pub struct Lines {
    input: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// The most `buf` grows to: twice the longest line, so a line always fits after a refill.
    capacity: usize,
    pos: usize,
    filled: usize,
    at_eof: bool,
    /// Errors from a decompressor mean a truncated or corrupt object, not a failing disk.
    compressed: bool,
    max_line_bytes: usize,
    /// Bytes handed out as lines, with their newlines.
    pub n_bytes: u64,
}

impl Lines {
    /// Lines of `input`; `compressed` says its read errors are a corrupt stream (a reject),
    /// not a failing disk; lines above `max_line_bytes` are skipped whole.
    pub fn new(input: Box<dyn Read + Send>, compressed: bool, max_line_bytes: usize) -> Lines {
        // Offsets into a line are u32, and a limit of 0 would reject everything.
        let max_line_bytes = max_line_bytes.clamp(1, MAX_LINE_LIMIT);
        let capacity = (max_line_bytes * 2).max(256 * 1024);
        Lines {
            input,
            // Grown as lines need, up to `capacity`: most objects are small, and zeroing the
            // whole buffer for each of them showed in profiles.
            buf: vec![0; INITIAL_BUFFER.min(capacity)],
            capacity,
            pos: 0,
            filled: 0,
            at_eof: false,
            compressed,
            max_line_bytes,
            n_bytes: 0,
        }
    }

    /// The bytes of a line [`LineEvent::Line`] named.
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// The next line, overlong line, break in the stream, or the end.
    pub fn next_line(&mut self) -> io::Result<LineEvent> {
        loop {
            let pending = &self.buf[self.pos..self.filled];
            if let Some(newline) = memchr::memchr(b'\n', pending) {
                let line = self.pos..self.pos + newline;
                self.pos += newline + 1;
                self.n_bytes += newline as u64 + 1;
                return Ok(self.checked(line));
            }
            if self.at_eof {
                if self.pos == self.filled {
                    return Ok(LineEvent::End);
                }
                let line = self.pos..self.filled;
                self.n_bytes += line.len() as u64;
                self.pos = self.filled;
                return Ok(self.checked(line));
            }
            if pending.len() >= self.max_line_bytes {
                return self.skip_long_line();
            }
            if let Some(broken) = self.fill()? {
                return Ok(broken);
            }
        }
    }

    /// A whole line in the buffer is held to the same limit as one that overflows it, so the
    /// outcome never depends on where reads happened to split the input.
    fn checked(&self, line: Range<usize>) -> LineEvent {
        if line.len() > self.max_line_bytes {
            let head_end = line.start + KEPT_CHARS.min(line.len());
            return LineEvent::TooLong(self.buf[line.start..head_end].to_vec());
        }
        LineEvent::Line(line)
    }

    /// Reads more input after the pending bytes. Returns an event when the stream broke off.
    fn fill(&mut self) -> io::Result<Option<LineEvent>> {
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.pos = 0;
        if self.filled == self.buf.len() {
            // A pending line fills the buffer; it is shorter than the limit, which is at most
            // half the capacity, so doubling leaves room.
            let grown = (self.buf.len() * 2).min(self.capacity);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.at_eof = true;
                    return Ok(None);
                }
                Ok(n_read) => {
                    self.filled += n_read;
                    return Ok(None);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) if self.compressed && is_corruption(&error) => {
                    let partial = self.buf[..self.filled.min(KEPT_CHARS)].to_vec();
                    self.n_bytes += self.filled as u64;
                    self.pos = 0;
                    self.filled = 0;
                    self.at_eof = true;
                    return Ok(Some(LineEvent::Truncated {
                        partial,
                        why: error.to_string(),
                    }));
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn skip_long_line(&mut self) -> io::Result<LineEvent> {
        let head = self.buf[self.pos..self.pos + KEPT_CHARS.min(self.filled - self.pos)].to_vec();
        loop {
            let pending = &self.buf[self.pos..self.filled];
            if let Some(newline) = memchr::memchr(b'\n', pending) {
                self.pos += newline + 1;
                self.n_bytes += newline as u64 + 1;
                return Ok(LineEvent::TooLong(head));
            }
            self.n_bytes += pending.len() as u64;
            self.pos = self.filled;
            if self.at_eof {
                return Ok(LineEvent::TooLong(head));
            }
            if let Some(broken) = self.fill()? {
                return Ok(broken);
            }
        }
    }
}

fn is_corruption(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::InvalidData | ErrorKind::InvalidInput | ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &'static [u8], max_line_bytes: usize) -> Vec<String> {
        let mut lines = Lines::new(Box::new(input), false, max_line_bytes);
        let mut out = Vec::new();
        loop {
            match lines.next_line().unwrap() {
                LineEvent::Line(range) => {
                    out.push(String::from_utf8_lossy(lines.bytes(range)).into_owned())
                }
                LineEvent::TooLong(head) => {
                    out.push(format!("long:{}", String::from_utf8_lossy(&head[..3])))
                }
                LineEvent::Truncated { .. } => out.push("truncated".into()),
                LineEvent::End => break,
            }
        }
        assert_eq!(lines.n_bytes, input.len() as u64);
        out
    }

    #[test]
    fn splits_with_and_without_final_newline() {
        assert_eq!(collect(b"a\nb\n\nc", 64), ["a", "b", "", "c"]);
        assert_eq!(collect(b"a\n", 64), ["a"]);
        assert!(collect(b"", 64).is_empty());
    }

    #[test]
    fn long_lines_are_skipped_whole() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 1_000_000));
        input.extend(b"\nafter\n");
        let input: &'static [u8] = input.leak();
        assert_eq!(collect(input, 1024), ["ok", "long:xxx", "after"]);
        // A long line already whole in the buffer is rejected the same way.
        assert_eq!(
            collect(b"short\nxxxxxxxxxx\nend", 4),
            ["long:sho", "long:xxx", "end"]
        );
    }
}
