//! Newline-delimited framing with a size limit and no fixed line buffer.
//!
//! A line of any size up to the limit is returned whole (there is no 64 KiB readline cliff). A
//! longer line is skipped to its newline without being held in memory, and reported as
//! [`Frame::Oversized`] so the session can answer it and carry on. The first and last
//! [`OVERSIZE_KEEP`] bytes of a skipped line are kept (constant memory, whatever its size):
//! they usually hold the message's JSON-RPC `id`, so its sender is not left waiting.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// How many bytes of each end of an oversized line are kept.
pub const OVERSIZE_KEEP: usize = 4096;

/// What the reader found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One line without its `\n` (a `\r` before it is kept: forwarded bytes stay exact).
    Line(Vec<u8>),
    /// A line longer than the limit, already discarded.
    Oversized(Skipped),
}

/// What is known of a discarded line: its length and its two ends.
///
/// `head` is the line's first `min(len, OVERSIZE_KEEP)` bytes; `tail` is its last bytes after
/// `head`, at most `OVERSIZE_KEEP` of them. They never overlap, so when
/// `head.len() + tail.len() == len` they are the whole line; otherwise the bytes between them
/// are unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Length of the line, excluding its `\n`.
    pub len: u64,
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
}

impl Skipped {
    fn new() -> Self {
        Self {
            len: 0,
            head: Vec::with_capacity(OVERSIZE_KEEP),
            tail: Vec::with_capacity(OVERSIZE_KEEP),
        }
    }

    /// Takes the next bytes of the line, keeping only what `head` and `tail` need. Neither
    /// buffer ever holds more than `OVERSIZE_KEEP` bytes, so neither reallocates.
    fn feed(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.head.len() < OVERSIZE_KEEP {
            let take = (OVERSIZE_KEEP - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        let piece = &bytes[bytes.len().saturating_sub(OVERSIZE_KEEP)..];
        let excess = (self.tail.len() + piece.len()).saturating_sub(OVERSIZE_KEEP);
        self.tail.drain(..excess);
        self.tail.extend_from_slice(piece);
    }
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
        let mut skipped: Option<Skipped> = None;
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                return Ok(match skipped {
                    Some(skipped) => Some(Frame::Oversized(skipped)),
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
                Some(skipped) => skipped.feed(chunk),
                None if line.len() + chunk.len() > self.max => {
                    let mut start = Skipped::new();
                    start.feed(&line);
                    start.feed(chunk);
                    skipped = Some(start);
                    line = Vec::new();
                }
                None => line.extend_from_slice(chunk),
            }
            self.inner.consume(used);
            if done {
                return Ok(Some(match skipped {
                    Some(skipped) => Frame::Oversized(skipped),
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

    /// `len` bytes without a newline in which no two nearby positions look alike, so a piece
    /// taken from the wrong offset cannot compare equal.
    fn patterned(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| match ((i * 31 + i / 251) % 251) as u8 {
                b'\n' => b'#',
                b => b,
            })
            .collect()
    }

    fn oversized(len: usize, head: &[u8], tail: &[u8]) -> Frame {
        Frame::Oversized(Skipped {
            len: len as u64,
            head: head.to_vec(),
            tail: tail.to_vec(),
        })
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
        let line = patterned(5000);
        let mut input = line.clone();
        input.extend_from_slice(b"\nok\n");
        let got = frames(&input, 1000, 64).await;
        let (head, tail) = line.split_at(OVERSIZE_KEEP);
        assert_eq!(
            got,
            vec![oversized(5000, head, tail), Frame::Line(b"ok".to_vec())]
        );
    }

    #[tokio::test]
    async fn a_line_exactly_at_the_limit_is_accepted() {
        let got = frames(b"abcd\nabcde\n", 4, 2).await;
        assert_eq!(
            got,
            vec![Frame::Line(b"abcd".to_vec()), oversized(5, b"abcde", b"")]
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

    /// Whatever the read sizes (a chunk boundary inside either kept end, on its edge, a line
    /// that overflows the limit only after several chunks were gathered) and whether the line
    /// ends with a newline or at end of input, the kept ends are exactly the line's first and
    /// last bytes, and they never overlap.
    #[tokio::test]
    async fn oversized_ends_are_kept_exactly_across_chunk_boundaries() {
        let keep = OVERSIZE_KEEP;
        for len in [
            1500,
            keep,
            keep + 1,
            2 * keep - 1,
            2 * keep,
            2 * keep + 1,
            20_011,
        ] {
            let line = patterned(len);
            let (head, rest) = line.split_at(len.min(keep));
            let tail = &rest[rest.len().saturating_sub(keep)..];
            for buffer in [1, 7, 64, 1023, keep - 1, keep, keep + 1, 3 * keep, 1 << 16] {
                for max in [1024, len - 1] {
                    let mut input = line.clone();
                    input.extend_from_slice(b"\nok\n");
                    let got = frames(&input, max, buffer).await;
                    let want = vec![oversized(len, head, tail), Frame::Line(b"ok".to_vec())];
                    assert_eq!(got, want, "len {len}, buffer {buffer}, max {max}");

                    let got = frames(&line, max, buffer).await;
                    let want = vec![oversized(len, head, tail)];
                    assert_eq!(
                        got, want,
                        "no newline: len {len}, buffer {buffer}, max {max}"
                    );
                }
            }
        }
    }

    /// Memory for a skipped line is two fixed buffers: however much is fed, in whatever
    /// pieces, neither grows past `OVERSIZE_KEEP` nor reallocates.
    #[test]
    fn skipping_a_line_keeps_memory_bounded() {
        let block = patterned(1 << 16);
        let mut skipped = Skipped::new();
        let capacities = (skipped.head.capacity(), skipped.tail.capacity());
        let mut fed: u64 = 0;
        for (i, size) in [1usize, 4095, 4096, 4097, 1 << 16, 17]
            .iter()
            .cycle()
            .enumerate()
        {
            if fed >= 64 << 20 {
                break;
            }
            let start = i % 1000;
            let piece = &block[start..(start + size).min(block.len())];
            skipped.feed(piece);
            fed += piece.len() as u64;
            assert!(skipped.head.len() <= OVERSIZE_KEEP && skipped.tail.len() <= OVERSIZE_KEEP);
            assert_eq!(
                (skipped.head.capacity(), skipped.tail.capacity()),
                capacities
            );
        }
        assert_eq!(skipped.len, fed);
        assert_eq!(
            (skipped.head.len(), skipped.tail.len()),
            (OVERSIZE_KEEP, OVERSIZE_KEEP)
        );
    }
}
