//! One task per output stream, so lines from several producers never interleave and writes are
//! batched: the task flushes only when nothing more is queued.

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};

/// Lines waiting for an output. Bounded, so a stalled reader pushes back on its producers.
const QUEUE: usize = 1024;

enum Command {
    Line(Vec<u8>),
    Flush(oneshot::Sender<()>),
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
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        let mut broken = false;
        while let Some(cmd) = rx.recv().await {
            let mut next = Some(cmd);
            // Write everything already queued, then flush once.
            while let Some(cmd) = next.take() {
                match cmd {
                    Command::Line(line) if !broken => {
                        let result = async {
                            out.write_all(&line).await?;
                            out.write_all(b"\n").await
                        }
                        .await;
                        if let Err(e) = result {
                            tracing::debug!(output = name, error = %e, "output closed");
                            broken = true;
                        }
                    }
                    Command::Line(_) => {}
                    Command::Flush(done) => {
                        if !broken && out.flush().await.is_err() {
                            broken = true;
                        }
                        let _ = done.send(());
                    }
                }
                next = rx.try_recv().ok();
            }
            if !broken {
                if let Err(e) = out.flush().await {
                    tracing::debug!(output = name, error = %e, "output closed");
                    broken = true;
                }
            }
        }
        let _ = out.shutdown().await;
    });
    (LineSender { tx }, task)
}
