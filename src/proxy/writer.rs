//! One task per output stream, so lines from several producers never interleave and writes are
//! batched: the task flushes only when nothing more is queued.

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};

/// Lines waiting for an output. Bounded, so a stalled reader pushes back on its producers.
const QUEUE: usize = 1024;

enum Command {
    Line(Vec<u8>),
    Flush(oneshot::Sender<()>),
    /// Flush and close the output; later lines are discarded.
    Close,
}

/// A handle to a line writer task.
#[derive(Clone)]
pub struct LineSender {
    tx: mpsc::Sender<Command>,
}

impl LineSender {
    /// Queues one line (the newline is added). Returns false once the output is gone.
    pub async fn send(&self, line: Vec<u8>) -> bool {
        self.tx.send(Command::Line(line)).await.is_ok()
    }

    /// Closes the output after everything queued so far, so the peer sees end of input even
    /// while other producers still hold senders.
    pub async fn close(&self) {
        let _ = self.tx.send(Command::Close).await;
    }

    /// Waits until everything queued before this call has been written and flushed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts a writer task for `out`. The task ends when every sender is dropped. After a write
/// error (the peer went away) it keeps draining the queue, so producers never block on it.
pub fn spawn<W>(out: W, name: &'static str) -> (LineSender, tokio::task::JoinHandle<()>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Command>(QUEUE);
    let task = tokio::spawn(async move {
        // `None` once the output is closed or broken. Dropping it is what closes the pipe:
        // a child's stdin sees end of input only when its file descriptor is closed.
        let mut out = Some(BufWriter::with_capacity(64 * 1024, out));
        while let Some(cmd) = rx.recv().await {
            let mut next = Some(cmd);
            // Write everything already queued, then flush once.
            while let Some(cmd) = next.take() {
                match cmd {
                    Command::Line(line) => {
                        if let Some(w) = out.as_mut() {
                            let result = async {
                                w.write_all(&line).await?;
                                w.write_all(b"\n").await
                            }
                            .await;
                            if let Err(e) = result {
                                tracing::debug!(output = name, error = %e, "output closed");
                                out = None;
                            }
                        }
                    }
                    Command::Flush(done) => {
                        if let Some(w) = out.as_mut() {
                            if w.flush().await.is_err() {
                                out = None;
                            }
                        }
                        let _ = done.send(());
                    }
                    Command::Close => {
                        if let Some(mut w) = out.take() {
                            let _ = w.flush().await;
                            let _ = w.shutdown().await;
                        }
                    }
                }
                next = rx.try_recv().ok();
            }
            if let Some(w) = out.as_mut() {
                if let Err(e) = w.flush().await {
                    tracing::debug!(output = name, error = %e, "output closed");
                    out = None;
                }
            }
        }
        if let Some(mut w) = out {
            let _ = w.shutdown().await;
        }
    });
    (LineSender { tx }, task)
}
