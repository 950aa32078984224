//! Which protocol a new client connection speaks (HTTP/1.x or h2c), told from its first bytes
//! before any of them is read, with a deadline.

use std::time::Duration;

use tokio::net::TcpStream;

/// The two protocols a client connection may speak on the data-plane port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    Http1,
    /// HTTP/2 with prior knowledge (h2c): the connection starts with the HTTP/2 preface.
    H2c,
}

/// The bytes every HTTP/2 prior-knowledge connection starts with (RFC 9113, section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Tells the protocol from the first bytes a client sent (`seen`): `None` while they are a
/// proper prefix of the HTTP/2 preface (more are needed), or when nothing was sent.
pub(crate) fn protocol_of(seen: &[u8]) -> Option<Protocol> {
    let n = seen.len().min(H2_PREFACE.len());
    if n == 0 {
        None
    } else if seen[..n] != H2_PREFACE[..n] {
        Some(Protocol::Http1)
    } else if n == H2_PREFACE.len() {
        Some(Protocol::H2c)
    } else {
        None
    }
}

/// Waits, at most `limit`, until the client's first bytes tell its protocol (they are peeked,
/// not read). `None` when the client closed or sent too little in time: the connection is then
/// dropped.
///
/// Hand-written because hyper-util's `auto` builder, which does the same, waits for those bytes
/// without a deadline: a client that connects and stays silent would hold its connection (and
/// a file descriptor) for as long as it likes, since hyper's request-header timeout only starts
/// once the HTTP/1.1 side has the connection.
pub(crate) async fn sniff(stream: &TcpStream, limit: Duration) -> Option<Protocol> {
    let mut first = [0u8; H2_PREFACE.len()];
    let sniffing = async {
        loop {
            let n = stream.peek(&mut first).await.ok()?;
            if n == 0 {
                return None;
            }
            if let Some(protocol) = protocol_of(&first[..n]) {
                return Some(protocol);
            }
            // Part of the preface: a peek would find the same bytes at once, so wait a little
            // for the rest (rare: clients send the preface in one segment).
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(limit, sniffing).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http1_is_told_from_the_first_byte_that_leaves_the_preface() {
        assert_eq!(protocol_of(b"G"), Some(Protocol::Http1));
        assert_eq!(protocol_of(b"GET / HTTP/1.1\r\n"), Some(Protocol::Http1));
        assert_eq!(protocol_of(b"PRI * HTTP/1.1\r\n"), Some(Protocol::Http1));
        // Hostile: binary noise, a lone NUL, a preface in the wrong case.
        assert_eq!(protocol_of(&[0xff, 0x00, 0x13]), Some(Protocol::Http1));
        assert_eq!(protocol_of(b"\0"), Some(Protocol::Http1));
        assert_eq!(protocol_of(b"pri * http/2.0"), Some(Protocol::Http1));
    }

    #[test]
    fn h2c_needs_the_whole_preface_and_a_prefix_waits() {
        assert_eq!(protocol_of(H2_PREFACE), Some(Protocol::H2c));
        let mut more = H2_PREFACE.to_vec();
        more.extend_from_slice(&[0, 0, 0, 4, 0]);
        assert_eq!(protocol_of(&more), Some(Protocol::H2c));
        assert_eq!(protocol_of(b""), None);
        for n in 1..H2_PREFACE.len() {
            assert_eq!(
                protocol_of(&H2_PREFACE[..n]),
                None,
                "{n} bytes of the preface"
            );
        }
    }

    #[tokio::test]
    async fn a_silent_or_stalled_client_gets_no_protocol_in_time() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let limit = Duration::from_millis(100);
        for first in [&b""[..], &H2_PREFACE[..3], b"GET /", &H2_PREFACE[..]] {
            let mut client = TcpStream::connect(address).await.unwrap();
            client.write_all(first).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let started = std::time::Instant::now();
            let told = sniff(&server, limit).await;
            let expected = protocol_of(first);
            assert_eq!(told, expected, "{first:?}");
            if expected.is_none() {
                assert!(started.elapsed() >= limit, "{first:?}");
            }
        }
        // A client that closes before sending anything.
        drop(TcpStream::connect(address).await.unwrap());
        let (server, _) = listener.accept().await.unwrap();
        assert_eq!(sniff(&server, Duration::from_secs(5)).await, None);
    }
}
