//! The CLI side of `status`, `swap` and `rollback`: one request to the control API.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Sends `method path` to the control API at `control`, prints the answer, and returns
/// success when the proxy did what was asked.
pub(crate) async fn call(control: SocketAddr, method: Method, path: &str) -> ExitCode {
    if !control.ip().is_loopback() {
        eprintln!("frame-proxy: --control must be a loopback address (got {control})");
        return ExitCode::from(2);
    }
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri = format!("http://{control}{path}");
    let request = match Request::builder()
        .method(method)
        .uri(uri)
        .body(Empty::new())
    {
        Ok(request) => request,
        Err(e) => {
            eprintln!("frame-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    // A swap waits for the readiness checks; give it room.
    let answer = tokio::time::timeout(Duration::from_secs(600), async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = Limited::new(response.into_body(), 1024 * 1024)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, body))
    })
    .await;
    match answer {
        Ok(Ok((status, body))) => {
            print!("{}", String::from_utf8_lossy(&body));
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Ok(Err(e)) => {
            eprintln!("frame-proxy: cannot reach the control API at {control}: {e}");
            ExitCode::from(3)
        }
        Err(_) => {
            eprintln!("frame-proxy: the control API at {control} did not answer in time");
            ExitCode::from(3)
        }
    }
}
