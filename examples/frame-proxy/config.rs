//! Settings: the YAML file, overridden by flags, validated into [`Config`] before anything runs.
//!
//! Every error names the field and why it was refused; a secret's value is never echoed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};
use serde::Deserialize;

use crate::cli::RunArgs;
use crate::color::Color;

/// Largest config or token file read (a hostile path such as /dev/zero must not eat memory).
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Environment variable that may hold the MCP probe token.
pub(crate) const PROBE_TOKEN_ENV: &str = "FRAME_PROXY_PROBE_TOKEN";

/// A setting that was refused, with the field's name and the reason.
#[derive(Debug, thiserror::Error)]
#[error("config field `{field}`: {reason}")]
pub(crate) struct ConfigError {
    /// The field (as named in the YAML file and, with dashes, as a flag).
    pub(crate) field: &'static str,
    /// Why it was refused.
    pub(crate) reason: String,
}

fn err(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        reason: reason.into(),
    }
}

/// Auto-rollback settings of the YAML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AutoRollbackFile {
    /// Watch the new color after a swap and roll back when it fails.
    pub(crate) enabled: bool,
    /// How long after a swap the new color is watched, in milliseconds.
    pub(crate) window_ms: u64,
    /// Failed responses (5xx or no answer) that trigger the rollback, if they are also at
    /// least half of the responses in the window.
    pub(crate) min_errors: u32,
}

impl Default for AutoRollbackFile {
    fn default() -> Self {
        AutoRollbackFile {
            enabled: false,
            window_ms: 30_000,
            min_errors: 5,
        }
    }
}

/// The YAML file, field by field; every field is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ConfigFile {
    pub(crate) listen: SocketAddr,
    pub(crate) control: SocketAddr,
    pub(crate) blue: String,
    pub(crate) green: String,
    pub(crate) state_file: PathBuf,
    pub(crate) initial_color: Color,
    pub(crate) mcp_path: String,
    pub(crate) readyz_path: String,
    pub(crate) ready_checks: u32,
    pub(crate) ready_interval_ms: u64,
    pub(crate) probe_token_file: Option<PathBuf>,
    pub(crate) drain_ms: u64,
    pub(crate) shutdown_ms: u64,
    pub(crate) connect_timeout_ms: u64,
    pub(crate) response_timeout_ms: u64,
    pub(crate) header_read_timeout_ms: u64,
    pub(crate) pool_idle_ms: u64,
    pub(crate) pool_max_idle: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) max_sessions: usize,
    pub(crate) shared_session_store: bool,
    pub(crate) trust_forwarded: bool,
    pub(crate) auto_rollback: AutoRollbackFile,
}

impl Default for ConfigFile {
    fn default() -> Self {
        ConfigFile {
            listen: SocketAddr::from(([127, 0, 0, 1], 3712)),
            control: SocketAddr::from(([127, 0, 0, 1], 3713)),
            blue: "http://127.0.0.1:3710".into(),
            green: "http://127.0.0.1:3711".into(),
            state_file: PathBuf::from("frame-proxy.state.json"),
            initial_color: Color::Blue,
            mcp_path: "/frame/mcp".into(),
            readyz_path: "/readyz".into(),
            ready_checks: 3,
            ready_interval_ms: 200,
            probe_token_file: None,
            drain_ms: 30_000,
            shutdown_ms: 10_000,
            connect_timeout_ms: 2_000,
            response_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            // Below the keep-alive of common backends (hyper/axum keep connections until the
            // client closes; Node closes idle ones after 5 s, Go after 90 s): set it below
            // the frame server's, so the proxy closes idle connections first.
            pool_idle_ms: 4_000,
            pool_max_idle: 64,
            max_in_flight: 4_096,
            max_sessions: 100_000,
            shared_session_store: false,
            trust_forwarded: false,
            auto_rollback: AutoRollbackFile::default(),
        }
    }
}

/// A frame server address: `http://host:port`, nothing else.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    /// `host:port`.
    pub(crate) authority: Authority,
}

impl Backend {
    /// The absolute URI of `path_and_query` on this backend.
    pub(crate) fn uri(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

/// Passive health settings after validation.
#[derive(Debug, Clone)]
pub(crate) struct AutoRollback {
    /// How long the new color is watched after a swap.
    pub(crate) window: Duration,
    /// Failed responses that trigger a rollback (if also half of all responses).
    pub(crate) min_errors: u32,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) control: SocketAddr,
    pub(crate) backends: [Backend; 2],
    pub(crate) state_file: PathBuf,
    pub(crate) initial_color: Color,
    pub(crate) mcp_path: String,
    pub(crate) readyz_path: String,
    pub(crate) ready_checks: u32,
    pub(crate) ready_interval: Duration,
    /// Bearer token of the MCP probe; never logged, never printed.
    pub(crate) probe_token: Option<HeaderValue>,
    pub(crate) drain: Duration,
    pub(crate) shutdown: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) header_read_timeout: Duration,
    pub(crate) pool_idle: Duration,
    pub(crate) pool_max_idle: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) max_sessions: usize,
    pub(crate) shared_session_store: bool,
    pub(crate) trust_forwarded: bool,
    pub(crate) auto_rollback: Option<AutoRollback>,
}

impl Config {
    /// The backend of `color`.
    pub(crate) fn backend(&self, color: Color) -> &Backend {
        &self.backends[color.index()]
    }
}

/// Reads a small file, refusing anything larger than [`MAX_FILE_BYTES`].
fn read_small(field: &'static str, path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| err(field, format!("cannot open {}: {e}", path.display())))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| err(field, format!("cannot read {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(err(
            field,
            format!("{} is larger than {MAX_FILE_BYTES} bytes", path.display()),
        ));
    }
    Ok(text)
}

/// Loads the file (if any), applies the flags, reads the probe token and validates everything.
pub(crate) fn load(args: &RunArgs) -> Result<Config, ConfigError> {
    let mut file = match &args.config {
        Some(path) => {
            let text = read_small("config", path)?;
            serde_norway::from_str::<ConfigFile>(&text)
                .map_err(|e| err("config", format!("{}: {e}", path.display())))?
        }
        None => ConfigFile::default(),
    };
    if let Some(v) = args.listen {
        file.listen = v;
    }
    if let Some(v) = args.control {
        file.control = v;
    }
    if let Some(v) = &args.blue {
        file.blue = v.clone();
    }
    if let Some(v) = &args.green {
        file.green = v.clone();
    }
    if let Some(v) = &args.state_file {
        file.state_file = v.clone();
    }
    if let Some(v) = args.initial_color {
        file.initial_color = v;
    }
    if let Some(v) = args.drain_ms {
        file.drain_ms = v;
    }
    if let Some(v) = args.ready_checks {
        file.ready_checks = v;
    }
    if let Some(v) = args.ready_interval_ms {
        file.ready_interval_ms = v;
    }
    if let Some(v) = &args.probe_token_file {
        file.probe_token_file = Some(v.clone());
    }
    if let Some(v) = args.shutdown_ms {
        file.shutdown_ms = v;
    }
    file.shared_session_store |= args.shared_session_store;
    file.trust_forwarded |= args.trust_forwarded;
    file.auto_rollback.enabled |= args.auto_rollback;
    let env_token = std::env::var(PROBE_TOKEN_ENV).ok();
    validate(file, env_token)
}

fn ms(field: &'static str, value: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
    if value < min || value > max {
        return Err(err(
            field,
            format!("must be between {min} and {max} milliseconds (got {value})"),
        ));
    }
    Ok(Duration::from_millis(value))
}

fn count<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if value < min || value > max {
        return Err(err(
            field,
            format!("must be between {min} and {max} (got {value})"),
        ));
    }
    Ok(value)
}

/// Parses `http://host:port` (optionally with a trailing `/`), refusing everything else.
pub(crate) fn parse_backend(field: &'static str, text: &str) -> Result<Backend, ConfigError> {
    // `http::Uri` drops a fragment without a word; a backend URL has no use for one.
    if text.contains('#') {
        return Err(err(field, "must not have a fragment (#…)"));
    }
    let uri: Uri = text
        .parse()
        .map_err(|e| err(field, format!("not a URL ({e})")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(err(
                field,
                format!(
                    "scheme `{other}` is not supported: frame servers are reached over plain http on the machine"
                ),
            ));
        }
        None => return Err(err(field, "must start with http://")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| err(field, "has no host"))?
        .clone();
    if authority.as_str().contains('@') {
        return Err(err(field, "must not carry a user name or password"));
    }
    if authority.port_u16().is_none() {
        return Err(err(field, "needs an explicit port (http://host:port)"));
    }
    if authority.host().is_empty() {
        return Err(err(field, "has no host"));
    }
    match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") | Some("/") => {}
        Some(other) => {
            return Err(err(
                field,
                format!("must not have a path or query (got `{other}`)"),
            ));
        }
    }
    Ok(Backend { authority })
}

fn parse_path(field: &'static str, path: &str) -> Result<String, ConfigError> {
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(err(
            field,
            "must be an absolute path starting with a single /",
        ));
    }
    if path.len() > 1024 {
        return Err(err(field, "is longer than 1024 bytes"));
    }
    let parsed: http::uri::PathAndQuery = path
        .parse()
        .map_err(|_| err(field, "is not a valid URL path"))?;
    if parsed.query().is_some() {
        return Err(err(field, "must not have a query"));
    }
    Ok(path.to_owned())
}

/// Turns a token (from a file or the environment) into a header value, never echoing it.
fn parse_token(field: &'static str, raw: &str) -> Result<HeaderValue, ConfigError> {
    let token = raw.trim();
    if token.is_empty() {
        return Err(err(field, "the probe token is empty"));
    }
    if token.len() > 8 * 1024 {
        return Err(err(field, "the probe token is longer than 8 KiB"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err(
            field,
            "the probe token must be printable ASCII without spaces",
        ));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| err(field, "the probe token is not a valid header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Validates a [`ConfigFile`] (with the flags applied) into a [`Config`].
pub(crate) fn validate(file: ConfigFile, env_token: Option<String>) -> Result<Config, ConfigError> {
    if !file.control.ip().is_loopback() {
        return Err(err(
            "control",
            format!(
                "the control API listens on loopback only (127.0.0.1 or [::1]); got {}",
                file.control
            ),
        ));
    }
    if file.control.port() != 0 && file.control == file.listen {
        return Err(err("control", "must differ from `listen`"));
    }
    let blue = parse_backend("blue", &file.blue)?;
    let green = parse_backend("green", &file.green)?;
    if blue.authority == green.authority {
        return Err(err(
            "green",
            format!("is the same server as blue ({})", blue.authority),
        ));
    }
    for (field, backend) in [("blue", &blue), ("green", &green)] {
        let same_as = |addr: SocketAddr| {
            backend.authority.port_u16() == Some(addr.port())
                && backend.authority.host().trim_matches(['[', ']']) == addr.ip().to_string()
        };
        if same_as(file.listen) || same_as(file.control) {
            return Err(err(field, "points at the proxy itself (a loop)"));
        }
    }
    if file.state_file.as_os_str().is_empty() {
        return Err(err("state_file", "is empty"));
    }
    if file.state_file.is_dir() {
        return Err(err("state_file", "is a directory"));
    }
    let probe_token = match (&file.probe_token_file, env_token) {
        (Some(path), _) => Some(parse_token(
            "probe_token_file",
            &read_small("probe_token_file", path)?,
        )?),
        (None, Some(raw)) => Some(parse_token("FRAME_PROXY_PROBE_TOKEN", &raw)?),
        (None, None) => None,
    };
    let auto_rollback = if file.auto_rollback.enabled {
        Some(AutoRollback {
            window: ms(
                "auto_rollback.window_ms",
                file.auto_rollback.window_ms,
                100,
                3_600_000,
            )?,
            min_errors: count(
                "auto_rollback.min_errors",
                file.auto_rollback.min_errors,
                1,
                1_000_000,
            )?,
        })
    } else {
        None
    };
    Ok(Config {
        listen: file.listen,
        control: file.control,
        backends: [blue, green],
        state_file: file.state_file,
        initial_color: file.initial_color,
        mcp_path: parse_path("mcp_path", &file.mcp_path)?,
        readyz_path: parse_path("readyz_path", &file.readyz_path)?,
        ready_checks: count("ready_checks", file.ready_checks, 1, 100)?,
        ready_interval: ms("ready_interval_ms", file.ready_interval_ms, 1, 60_000)?,
        probe_token,
        drain: ms("drain_ms", file.drain_ms, 1, 3_600_000)?,
        shutdown: ms("shutdown_ms", file.shutdown_ms, 1, 3_600_000)?,
        connect_timeout: ms("connect_timeout_ms", file.connect_timeout_ms, 1, 60_000)?,
        response_timeout: ms(
            "response_timeout_ms",
            file.response_timeout_ms,
            1,
            3_600_000,
        )?,
        header_read_timeout: ms(
            "header_read_timeout_ms",
            file.header_read_timeout_ms,
            1,
            600_000,
        )?,
        pool_idle: ms("pool_idle_ms", file.pool_idle_ms, 1, 3_600_000)?,
        pool_max_idle: count("pool_max_idle", file.pool_max_idle, 0, 10_000)?,
        max_in_flight: count("max_in_flight", file.max_in_flight, 1, 1_000_000)?,
        max_sessions: count("max_sessions", file.max_sessions, 1, 10_000_000)?,
        shared_session_store: file.shared_session_store,
        trust_forwarded: file.trust_forwarded,
        auto_rollback,
    })
}

#[cfg(test)]
mod tests {
    use super::{ConfigFile, parse_backend, validate};

    #[test]
    fn backends_accept_only_http_host_port() {
        assert_eq!(
            parse_backend("blue", "http://[::1]:3710")
                .unwrap()
                .authority
                .as_str(),
            "[::1]:3710"
        );
        assert!(parse_backend("blue", "http://127.0.0.1:3710/").is_ok());
        for bad in [
            "",
            "http://",
            "http://:3710",
            "ftp://127.0.0.1:3710",
            "//127.0.0.1:3710",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:3710#frag",
            "http://127.0.0.1:3710/%2e%2e",
            "http://a@127.0.0.1:3710",
        ] {
            let e = parse_backend("blue", bad).expect_err(bad);
            assert_eq!(e.field, "blue", "{bad}");
        }
    }

    #[test]
    fn a_backend_on_the_proxy_address_is_a_loop() {
        let file = ConfigFile {
            listen: "[::1]:3712".parse().unwrap(),
            green: "http://[::1]:3712".into(),
            ..ConfigFile::default()
        };
        let e = validate(file, None).unwrap_err();
        assert_eq!(e.field, "green");
        assert!(e.reason.contains("loop"), "{e}");
    }

    #[test]
    fn env_token_is_checked_and_never_echoed() {
        for bad in ["", "   ", "a b", "tok\u{7f}en", "ünïcode"] {
            let e = validate(ConfigFile::default(), Some(bad.into())).unwrap_err();
            assert_eq!(e.field, "FRAME_PROXY_PROBE_TOKEN");
            assert!(bad.trim().is_empty() || !e.to_string().contains(bad.trim()));
        }
        let ok = validate(ConfigFile::default(), Some("abc.def-ghi\n".into())).unwrap();
        let token = ok.probe_token.unwrap();
        assert!(token.is_sensitive());
        assert_eq!(token.to_str().unwrap(), "Bearer abc.def-ghi");
    }
}
