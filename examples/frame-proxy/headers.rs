//! The headers the proxy adds, removes and reads on every request: hop-by-hop headers,
//! `X-Forwarded-For/Proto/Host`, the color and the MCP session header.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

// Header names the hot path uses are parsed once, here: looking a header up by `&str` parses
// and hashes the name on every call.

/// Response header naming the color that served the request.
pub(crate) static COLOR: HeaderName = HeaderName::from_static("x-frame-color");
/// The MCP session header.
pub(crate) static SESSION: HeaderName = HeaderName::from_static("mcp-session-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1), and `Upgrade`
/// (the proxy does not tunnel protocol upgrades; MCP does not use them).
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers ([`HOP_BY_HOP`]), including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one pass over the names they have is cheaper than a
    // removal (a hash and a probe) per listed name.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The `X-Forwarded-For` entry of a client connection's peer, made once per connection.
pub(crate) fn peer_ip(peer: SocketAddr) -> HeaderValue {
    // An IP address in text form is always a valid header value; the fallback is unreachable.
    HeaderValue::try_from(peer.ip().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Sets `X-Forwarded-For/Proto/Host`; `peer_ip` is the client connection's [`peer_ip`] and
/// `host` the host the client asked for.
///
/// With `trust` (`trust_forwarded`, for a proxy behind another one) the peer is appended to
/// the client's `X-Forwarded-For` (all its lines, in order) and the client's `Proto` and
/// `Host` are kept; without it, all three are replaced.
pub(crate) fn forwarded_headers(
    headers: &mut HeaderMap,
    peer_ip: HeaderValue,
    host: Option<HeaderValue>,
    trust: bool,
) {
    let mut chain = String::new();
    if trust {
        // Lines that are not text are dropped rather than forwarded.
        for line in headers.get_all(&X_FORWARDED_FOR).iter() {
            match line.to_str().map(str::trim) {
                Ok(line) if !line.is_empty() => {
                    chain.push_str(line);
                    chain.push_str(", ");
                }
                _ => {}
            }
        }
    }
    let value = if chain.is_empty() {
        peer_ip
    } else {
        chain.push_str(peer_ip.to_str().unwrap_or("unknown"));
        HeaderValue::try_from(chain).unwrap_or(peer_ip)
    };
    headers.insert(X_FORWARDED_FOR.clone(), value);
    if !trust || !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    }
    if !trust || !headers.contains_key(&X_FORWARDED_HOST) {
        match host {
            Some(host) => {
                headers.insert(X_FORWARDED_HOST.clone(), host);
            }
            None => {
                headers.remove(&X_FORWARDED_HOST);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        headers
    }

    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
        headers
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    }

    #[test]
    fn ordinary_headers_pass_untouched() {
        let mut headers = map(&[
            ("host", b"a.example"),
            ("accept", b"text/event-stream"),
            ("mcp-session-id", b"abc"),
            ("accept", b"application/json"),
        ]);
        let before = headers.clone();
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers, before);
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut headers = map(&[
            ("host", b"a.example"),
            ("connection", b"keep-alive, X-Private ,x-other"),
            ("connection", b"close"),
            ("keep-alive", b"timeout=5"),
            ("proxy-connection", b"keep-alive"),
            ("te", b"trailers"),
            ("trailer", b"x-checksum"),
            ("transfer-encoding", b"chunked"),
            ("upgrade", b"websocket"),
            ("proxy-authorization", b"Basic eA=="),
            ("x-private", b"1"),
            ("x-other", b"2"),
            ("x-kept", b"3"),
        ]);
        strip_hop_by_hop(&mut headers);
        assert_eq!(names(&headers), ["host", "x-kept"]);
    }

    #[test]
    fn hostile_connection_values_remove_only_what_they_validly_name() {
        let mut headers = map(&[
            // Not UTF-8: ignored as a list, the header itself still goes.
            ("connection", b"\xff\xfe, x-a"),
            // Empty items, spaces, a name with a character no header name may hold.
            ("connection", b" ,, x b ,x-c,,"),
            // Names a header the proxy must not lose? It may: the sender said it is per hop.
            ("connection", b"host"),
            ("host", b"a.example"),
            ("x-a", b"kept: its line was not text"),
            ("x-c", b"removed"),
            ("x-d", b"kept"),
        ]);
        strip_hop_by_hop(&mut headers);
        assert_eq!(names(&headers), ["x-a", "x-d"]);
    }

    #[test]
    fn untrusted_forwarded_headers_are_replaced() {
        let mut headers = map(&[
            ("x-forwarded-for", b"203.0.113.9"),
            ("x-forwarded-for", b"198.51.100.1"),
            ("x-forwarded-proto", b"https"),
            ("x-forwarded-host", b"spoofed.example"),
        ]);
        let peer = peer_ip("127.0.0.1:5000".parse().unwrap());
        forwarded_headers(
            &mut headers,
            peer,
            Some(HeaderValue::from_static("a.example")),
            false,
        );
        assert_eq!(values(&headers, "x-forwarded-for"), [b"127.0.0.1"]);
        assert_eq!(values(&headers, "x-forwarded-proto"), [b"http"]);
        assert_eq!(values(&headers, "x-forwarded-host"), [b"a.example"]);

        // No host known: a client's X-Forwarded-Host does not survive either.
        let mut headers = map(&[("x-forwarded-host", b"spoofed.example")]);
        let peer = peer_ip("[2001:db8::1]:443".parse().unwrap());
        forwarded_headers(&mut headers, peer, None, false);
        assert_eq!(values(&headers, "x-forwarded-for"), [b"2001:db8::1"]);
        assert!(headers.get("x-forwarded-host").is_none());
    }

    #[test]
    fn trusted_forwarded_headers_are_extended_and_kept() {
        let mut headers = map(&[
            ("x-forwarded-for", b" 203.0.113.9 "),
            ("x-forwarded-for", b""),
            ("x-forwarded-for", b"\xff"),
            ("x-forwarded-for", b"198.51.100.1, 10.0.0.2"),
            ("x-forwarded-proto", b"https"),
            ("x-forwarded-host", b"public.example"),
        ]);
        let peer = peer_ip("10.0.0.3:1234".parse().unwrap());
        forwarded_headers(
            &mut headers,
            peer,
            Some(HeaderValue::from_static("internal:3712")),
            true,
        );
        assert_eq!(
            values(&headers, "x-forwarded-for"),
            [&b"203.0.113.9, 198.51.100.1, 10.0.0.2, 10.0.0.3"[..]]
        );
        assert_eq!(values(&headers, "x-forwarded-proto"), [b"https"]);
        assert_eq!(values(&headers, "x-forwarded-host"), [b"public.example"]);

        // Trusted, but nothing to extend: the peer alone, and the proxy's own Proto/Host.
        let mut headers = map(&[("x-forwarded-for", b"  ")]);
        let peer = peer_ip("10.0.0.3:1234".parse().unwrap());
        let host = Some(HeaderValue::from_static("internal:3712"));
        forwarded_headers(&mut headers, peer, host, true);
        assert_eq!(values(&headers, "x-forwarded-for"), [b"10.0.0.3"]);
        assert_eq!(values(&headers, "x-forwarded-proto"), [b"http"]);
        assert_eq!(values(&headers, "x-forwarded-host"), [b"internal:3712"]);
    }
}
