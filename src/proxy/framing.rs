//! Newline-delimited framing with a size limit and no fixed line buffer.
//!
//! A line of any size up to the limit is returned whole (there is no 64 KiB readline cliff). A
//! longer line is skipped to its newline without being held in memory, and reported as
//! [`Frame::Oversized`] so the session can answer it and carry on.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What the reader found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One line without its `\n` (a `\r` before it is kept: forwarded bytes stay exact).
    Line(Vec<u8>),
    /// A line longer than the limit, already discarded; `len` excludes the `\n`.
    Oversized { len: u64 },
}

/// Reads frames from a buffered reader.
pub struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        Self { inner, max }
    }

    /// The next frame, or `None` at end of input. A last line without a newline is returned as
    /// a line. Blank lines are skipped: they carry no message.
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            match self.next_raw().await? {
                Some(Frame::Line(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
                other => return Ok(other),
            }
        }
    }

    async fn next_raw(&mut self) -> std::io::Result<Option<Frame>> {
        let mut line = Vec::new();
        let mut skipped: Option<u64> = None;
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                return Ok(match skipped {
                    Some(len) => Some(Frame::Oversized { len }),
                    None if line.is_empty() => None,
                    None => Some(Frame::Line(line)),
                });
            }
            let (chunk, done) = match memchr::memchr(b'\n', buf) {
                Some(at) => (&buf[..at], true),
                None => (buf, false),
            };
            let used = chunk.len() + usize::from(done);
            match &mut skipped {
                Some(len) => *len += chunk.len() as u64,
                None if line.len() + chunk.len() > self.max => {
                    skipped = Some((line.len() + chunk.len()) as u64);
                    line = Vec::new();
                }
                None => line.extend_from_slice(chunk),
            }
            self.inner.consume(used);
            if done {
                return Ok(Some(match skipped {
                    Some(len) => Frame::Oversized { len },
                    None => Frame::Line(line),
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn frames(input: &[u8], max: usize, buffer: usize) -> Vec<Frame> {
        let mut reader = LineReader::new(BufReader::with_capacity(buffer, input), max);
        let mut out = Vec::new();
        while let Some(frame) = reader.next().await.expect("in-memory reads cannot fail") {
            out.push(frame);
        }
        out
    }

    #[tokio::test]
    async fn lines_longer_than_the_buffer_come_back_whole() {
        let big = vec![b'x'; 200_000];
        let mut input = big.clone();
        input.extend_from_slice(b"\nnext\n");
        let got = frames(&input, 1 << 20, 8192).await;
        assert_eq!(got, vec![Frame::Line(big), Frame::Line(b"next".to_vec())]);
    }

    #[tokio::test]
    async fn oversized_lines_are_skipped_and_reading_resumes() {
        let mut input = vec![b'y'; 5000];
        input.extend_from_slice(b"\nok\n");
        let got = frames(&input, 1000, 64).await;
        assert_eq!(
            got,
            vec![Frame::Oversized { len: 5000 }, Frame::Line(b"ok".to_vec())]
        );
    }

    #[tokio::test]
    async fn a_line_exactly_at_the_limit_is_accepted() {
        let got = frames(b"abcd\nabcde\n", 4, 2).await;
        assert_eq!(
            got,
            vec![Frame::Line(b"abcd".to_vec()), Frame::Oversized { len: 5 }]
        );
    }

    #[tokio::test]
    async fn blank_lines_are_skipped_and_a_last_line_without_newline_is_kept() {
        let got = frames(b"\n\r\n  \na\r\nb", 100, 3).await;
        assert_eq!(
            got,
            vec![Frame::Line(b"a\r".to_vec()), Frame::Line(b"b".to_vec())]
        );
    }
}
