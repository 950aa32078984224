//! Request ids: every request gets an `x-request-id` (kept from a trusted-looking caller, else
//! a fresh UUID), echoed in the response and carried into the access log and the audit rows.

use axum::extract::Request;
use axum::http::HeaderValue;

/// The header.
pub(crate) const HEADER: &str = "x-request-id";

/// A caller's `x-request-id` is kept when it is a short token (so a proxy's id carries
/// through to the audit log); anything else is dropped and replaced by a fresh UUID, so a
/// hostile header never reaches a log line or an audit row.
pub(crate) fn keep_only_sane(mut req: Request) -> Request {
    let sane = |v: &HeaderValue| {
        let b = v.as_bytes();
        (1..=64).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
    };
    if req.headers().get(HEADER).is_some_and(|v| !sane(v))
        || req.headers().get_all(HEADER).iter().count() > 1
    {
        req.headers_mut().remove(HEADER);
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Request;

    fn with_id(v: &[u8]) -> Request {
        let mut req = Request::new(axum::body::Body::empty());
        req.headers_mut()
            .insert(HEADER, HeaderValue::from_bytes(v).expect("header"));
        req
    }

    #[test]
    fn request_ids_from_callers_are_kept_only_when_sane() {
        let kept = keep_only_sane(with_id(b"proxy-1234.ab:cd"));
        assert_eq!(kept.headers()[HEADER], "proxy-1234.ab:cd");
        for bad in [
            &b"has space"[..],
            b"semi;colon",
            b"\"quoted\"",
            &[b'a'; 65][..],
            b"eyJ0eXAiOiJKV1Qi.Bearer/token=",
        ] {
            let req = keep_only_sane(with_id(bad));
            assert!(req.headers().get(HEADER).is_none(), "{bad:?}");
        }
    }
}
