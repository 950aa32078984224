//! A bare HTTP/1.1 backend that closes every keep-alive connection after it has been idle
//! for a fixed time, as real servers do, and answers at once, late or never. Hand-written
//! (rather than axum/hyper) because the tests need exact control of when the server answers
//! and when it closes an idle connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// When the server answers a request it has read.
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    /// At once.
    Now,
    /// After this long.
    After(Duration),
    /// Never (the connection stays open until the other side closes it).
    Never,
}

/// The running server: its port, how many connections it accepted and requests it read.
pub(crate) struct IdleClosingServer {
    pub(crate) port: u16,
    pub(crate) connections: Arc<AtomicUsize>,
    pub(crate) requests: Arc<AtomicUsize>,
}

impl IdleClosingServer {
    /// Starts serving on 127.0.0.1 in the current runtime. The request number `drop_nth`
    /// (counting from 1) is read completely and then the connection is closed unanswered.
    pub(crate) async fn start(idle: Duration, drop_nth: Option<usize>) -> IdleClosingServer {
        Self::start_answering(idle, drop_nth, Answer::Now).await
    }

    /// Same, answering each request as `answer` says.
    pub(crate) async fn start_answering(
        idle: Duration,
        drop_nth: Option<usize>,
        answer: Answer,
    ) -> IdleClosingServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, idle, n, seen.clone(), drop_nth, answer));
            }
        });
        IdleClosingServer {
            port,
            connections,
            requests,
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    idle: Duration,
    connection: usize,
    requests: Arc<AtomicUsize>,
    drop_nth: Option<usize>,
    answer: Answer,
) {
    let mut buffer = Vec::new();
    loop {
        // Read one request head (closing the connection after `idle` without a byte).
        let head_end = loop {
            if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let mut chunk = [0u8; 4096];
            let read = if buffer.is_empty() {
                match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
                    Ok(read) => read,
                    Err(_) => return, // idle: close, as a keep-alive timeout does
                }
            } else {
                stream.read(&mut chunk).await
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let number = requests.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(number) == drop_nth {
            return; // the request was received: the proxy must not send it again
        }
        match answer {
            Answer::Now => {}
            Answer::After(delay) => tokio::time::sleep(delay).await,
            Answer::Never => {
                // Holds the connection until the proxy closes it.
                let mut rest = [0u8; 4096];
                while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
                return;
            }
        }
        let body = format!("{{\"connection\":{connection},\"bytes\":{length}}}");
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        buffer.drain(..head_end + length);
    }
}
