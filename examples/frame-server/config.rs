//! Production configuration: `frame.yaml`, read once at start (and by `--check`).
//!
//! ```yaml
//! listen: 127.0.0.1:3710                # blue; green runs with --listen 127.0.0.1:3711
//! public_url: https://axe.axelabs.ai    # {customer}.{base_domain} of customers.yaml
//! customers: customers.yaml             # relative to this file's folder
//! entra:
//!   client_id: 6f1c2a3b-0000-4000-8000-000000000001
//!   app_id_uri: api://frame.axelabs.ai
//!   scopes: [mcp.access]                # advertised as {app_id_uri}/{scope}
//! database:
//!   url: { env: FRAME_DATABASE_URL }    # the runtime role (NOINHERIT, owns nothing)
//!   owner_url: { file: /etc/frame/owner.url }  # the DDL role: provisions + migrates at start
//! master_key: { file: /etc/frame/master.key }  # 32 raw bytes or 64 hex digits
//! allowed_origins: [https://claude.ai]
//! shutdown_grace_secs: 20
//! ```
//!
//! Secrets (database URLs, the master key) come only from a file or an environment
//! variable, never from the YAML text or a command-line flag. Every error names the file,
//! the field and the reason, and never prints a secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axe_audit::keys::MasterKey;
use axe_auth::TenantId;
use axe_tenant::Customers;
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;
use zeroize::Zeroizing;

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Default listen address (frame-mcp-blue).
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:3710";
/// Default time open requests get to finish after SIGTERM.
const DEFAULT_GRACE: Duration = Duration::from_secs(20);
/// The MCP path.
pub(crate) const MCP_PATH: &str = "/frame/mcp";
/// The app role (and short scope name) that admits a caller to the audit tools.
pub(crate) const ADMIN_ROLE: &str = "Frame.Admin";

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub(crate) struct ConfigError {
    /// The file.
    pub(crate) file: String,
    /// The YAML path of the field (`entra.app_id_uri`).
    pub(crate) field: String,
    /// What is wrong.
    pub(crate) reason: String,
}

/// All problems found, one per line.
#[derive(Debug)]
pub(crate) struct ConfigErrors(pub(crate) Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Where a secret comes from.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSecret {
    /// `{ file: PATH }` or `{ env: NAME }`.
    Source(SecretSource),
    /// Anything else: refused with a clear message (a secret written in the YAML).
    Inline(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSource {
    file: Option<PathBuf>,
    env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    customers: Option<PathBuf>,
    entra: Option<RawEntra>,
    database: Option<RawDatabase>,
    master_key: Option<RawSecret>,
    master_key_version: Option<u32>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    shutdown_grace_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntra {
    client_id: Option<String>,
    app_id_uri: Option<String>,
    scopes: Option<Vec<String>>,
    authority: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<RawSecret>,
    owner_url: Option<RawSecret>,
    max_connections: Option<u32>,
}

/// A validated production configuration.
pub(crate) struct Config {
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// `https://axe.axelabs.ai`.
    pub(crate) public_url: String,
    /// The host of `public_url` (the MCP endpoint's allowed host).
    pub(crate) public_host: String,
    /// The served customer's primary tenant (named in the metadata).
    pub(crate) tenant: TenantId,
    /// The served customer's id.
    pub(crate) customer: String,
    /// customers.yaml.
    pub(crate) customers_path: PathBuf,
    /// The API's client id (v2 token audience).
    pub(crate) client_id: String,
    /// The Application ID URI (v1 token audience, scope prefix).
    pub(crate) app_id_uri: String,
    /// Fully qualified scopes to advertise.
    pub(crate) scopes: Vec<String>,
    /// The Entra authority.
    pub(crate) authority: String,
    /// The runtime role's connection.
    pub(crate) database: PgConnectOptions,
    /// The owner (DDL) role's connection: the server provisions and migrates at start.
    pub(crate) owner_database: PgConnectOptions,
    /// Runtime pool size.
    pub(crate) max_connections: u32,
    /// The PII master key.
    pub(crate) master_key: MasterKey,
    /// Browser origins allowed to call.
    pub(crate) allowed_origins: Vec<String>,
    /// Grace period on SIGTERM.
    pub(crate) shutdown_grace: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("customer", &self.customer)
            .field("client_id", &self.client_id)
            .field("app_id_uri", &self.app_id_uri)
            .field("scopes", &self.scopes)
            .field("database", &"[redacted]")
            .field("master_key", &self.master_key)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The admin scope (`{app_id_uri}/Frame.Admin`).
    pub(crate) fn admin_scope(&self) -> String {
        format!("{}/{ADMIN_ROLE}", self.app_id_uri)
    }

    /// Reads and validates `path`; every problem is reported, not just the first.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let file = path.display().to_string();
        let text = read_limited(path).map_err(|reason| {
            ConfigErrors(vec![ConfigError {
                file: file.clone(),
                field: "(file)".into(),
                reason,
            }])
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_yaml(&text, &file, base, &|name| std::env::var(name).ok())
    }

    /// Validates `text` (named `file`); relative paths are taken from `base`; environment
    /// variables are read through `env`.
    pub(crate) fn from_yaml(
        text: &str,
        file: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let mut check = Checker {
            file,
            base,
            env,
            errors: Vec::new(),
        };
        let raw: RawConfig = match serde_norway::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let field = match e.location() {
                    Some(l) => format!("line {} column {}", l.line(), l.column()),
                    None => "(document)".into(),
                };
                // serde's message names the unknown or mistyped key; it quotes keys, not
                // values of secret fields (those are refused after parsing).
                check.fail(&field, e.to_string());
                return Err(ConfigErrors(check.errors));
            }
        };
        check.build(raw)
    }
}

fn read_limited(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(format!("is larger than {MAX_CONFIG_BYTES} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".into())
}

struct Checker<'a> {
    file: &'a str,
    base: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: &str, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        });
    }

    fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.fail(field, "is required");
        }
        value
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    /// Reads a secret's text from its file or environment variable.
    fn secret(&mut self, field: &str, raw: RawSecret) -> Option<Zeroizing<String>> {
        let source = match raw {
            RawSecret::Source(s) => s,
            RawSecret::Inline(_) => {
                self.fail(
                    field,
                    "secrets are read from a file or an environment variable: write \
                     `{ file: PATH }` or `{ env: NAME }`, never the value itself",
                );
                return None;
            }
        };
        match (source.file, source.env) {
            (Some(file), None) => {
                let path = self.path(&file);
                match read_limited(&path) {
                    Ok(text) => Some(Zeroizing::new(text.trim().to_owned())),
                    Err(reason) => {
                        self.fail(
                            &format!("{field}.file"),
                            format!("{}: {reason}", path.display()),
                        );
                        None
                    }
                }
            }
            (None, Some(name)) => {
                let valid = !name.is_empty()
                    && name.len() <= 128
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    self.fail(
                        &format!("{field}.env"),
                        "must be an environment variable name (letters, digits, _)",
                    );
                    return None;
                }
                match (self.env)(&name) {
                    Some(v) if !v.trim().is_empty() => Some(Zeroizing::new(v.trim().to_owned())),
                    _ => {
                        self.fail(
                            &format!("{field}.env"),
                            format!("the environment variable {name} is not set"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.fail(field, "give exactly one of `file` and `env`");
                None
            }
        }
    }

    fn database_url(&mut self, field: &str, raw: Option<RawSecret>) -> Option<PgConnectOptions> {
        let text = self.secret(field, raw?)?;
        let looks_right = text.starts_with("postgres://") || text.starts_with("postgresql://");
        match text.parse::<PgConnectOptions>() {
            Ok(o) if looks_right => Some(o),
            // Never print the text: it holds a password.
            _ => {
                self.fail(
                    field,
                    "is not a PostgreSQL URL (postgres://user:password@host:port/database)",
                );
                None
            }
        }
    }

    fn build(mut self, raw: RawConfig) -> Result<Config, ConfigErrors> {
        let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = match listen.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.fail(
                    "listen",
                    "must be an IP address and port, e.g. 127.0.0.1:3710",
                );
                None
            }
        };

        let customers_path = self
            .required("customers", raw.customers)
            .map(|p| self.path(&p));
        let customers = customers_path.as_ref().and_then(|p| {
            Customers::from_path(p)
                .map_err(|e| self.fail("customers", e.to_string()))
                .ok()
        });

        let public = self
            .required("public_url", raw.public_url)
            .and_then(|u| self.public_url(&u, customers.as_ref()));

        let entra = self.required("entra", raw.entra);
        let (client_id, app_id_uri, scopes, authority) = match entra {
            Some(e) => self.entra(e),
            None => (None, None, None, None),
        };

        let (database, owner_database, max_connections) = match self
            .required("database", raw.database)
        {
            Some(db) => {
                let url = self.required("database.url", db.url);
                let url = url.and_then(|u| self.database_url("database.url", Some(u)));
                let owner = self.required("database.owner_url", db.owner_url);
                let owner = owner.and_then(|u| self.database_url("database.owner_url", Some(u)));
                let max = db.max_connections.unwrap_or(16);
                if !(1..=500).contains(&max) {
                    self.fail("database.max_connections", "must be between 1 and 500");
                }
                (url, owner, max)
            }
            None => (None, None, 16),
        };

        let version = raw.master_key_version.unwrap_or(1);
        if version == 0 {
            self.fail("master_key_version", "must be 1 or more");
        }
        let master_key = self
            .required("master_key", raw.master_key)
            .and_then(|k| self.master_key(k, version));

        for (i, o) in raw.allowed_origins.iter().enumerate() {
            if !valid_origin(o) {
                self.fail(
                    &format!("allowed_origins[{i}]"),
                    "must be scheme://host[:port] (http or https, no path), e.g. https://claude.ai",
                );
            }
        }
        let grace = raw
            .shutdown_grace_secs
            .map_or(DEFAULT_GRACE, Duration::from_secs);
        if grace.is_zero() || grace > Duration::from_secs(300) {
            self.fail("shutdown_grace_secs", "must be between 1 and 300");
        }

        if !self.errors.is_empty() {
            return Err(ConfigErrors(self.errors));
        }
        match (
            listen,
            public,
            customers_path,
            client_id,
            app_id_uri,
            scopes,
            authority,
            database,
            owner_database,
            master_key,
        ) {
            (
                Some(listen),
                Some((public_url, public_host, customer, tenant)),
                Some(customers_path),
                Some(client_id),
                Some(app_id_uri),
                Some(scopes),
                Some(authority),
                Some(database),
                Some(owner_database),
                Some(master_key),
            ) => Ok(Config {
                listen,
                public_url,
                public_host,
                tenant,
                customer,
                customers_path,
                client_id,
                app_id_uri,
                scopes,
                authority,
                database,
                owner_database,
                max_connections,
                master_key,
                allowed_origins: raw.allowed_origins,
                shutdown_grace: grace,
            }),
            _ => {
                // Unreachable in practice: every `None` above recorded an error.
                self.fail("(document)", "incomplete configuration");
                Err(ConfigErrors(self.errors))
            }
        }
    }

    /// `https://{customer}.{base_domain}` of a customer in customers.yaml.
    fn public_url(
        &mut self,
        text: &str,
        customers: Option<&Customers>,
    ) -> Option<(String, String, String, TenantId)> {
        let Ok(url) = url::Url::parse(text) else {
            self.fail("public_url", "is not a URL (e.g. https://axe.axelabs.ai)");
            return None;
        };
        if url.scheme() != "https" {
            self.fail("public_url", "must use https");
            return None;
        }
        if !(url.path() == "/" || url.path().is_empty())
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            self.fail(
                "public_url",
                "must be only scheme and host (https://{customer}.{base_domain}), no path, query or credentials",
            );
            return None;
        }
        let host = url.host_str()?.to_owned();
        let customers = customers?;
        let Some(customer) = customers.customer_for_host(&host) else {
            self.fail(
                "public_url",
                format!(
                    "the host {host} is not {{customer}}.{} of any customer in customers.yaml",
                    customers.base_domain().as_str()
                ),
            );
            return None;
        };
        if !customer.offers("frame") {
            self.fail(
                "public_url",
                format!(
                    "customer {} does not list the service `frame`",
                    customer.id().as_str()
                ),
            );
            return None;
        }
        let origin = url.origin().ascii_serialization();
        Some((
            origin,
            host,
            customer.id().as_str().to_owned(),
            customer.tenant(),
        ))
    }

    #[allow(clippy::type_complexity)]
    fn entra(
        &mut self,
        e: RawEntra,
    ) -> (
        Option<String>,
        Option<String>,
        Option<Vec<String>>,
        Option<String>,
    ) {
        let client_id =
            self.required("entra.client_id", e.client_id).and_then(
                |c| match uuid::Uuid::parse_str(&c) {
                    Ok(u) if c.len() == 36 => Some(u.to_string()),
                    _ => {
                        self.fail(
                            "entra.client_id",
                            "must be the app registration's client id (a GUID)",
                        );
                        None
                    }
                },
            );
        let app_id_uri = self
            .required("entra.app_id_uri", e.app_id_uri)
            .and_then(|a| {
                let rest = a.strip_prefix("api://");
                let ok = rest.is_some_and(|r| {
                    !r.is_empty()
                        && r.len() <= 200
                        && !r.ends_with('/')
                        && r.bytes()
                            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'"'))
                });
                if ok {
                    Some(a)
                } else {
                    self.fail(
                        "entra.app_id_uri",
                        "must be the Application ID URI, api://… without a trailing slash",
                    );
                    None
                }
            });
        let short = e.scopes.unwrap_or_else(|| vec!["mcp.access".to_owned()]);
        let mut scopes_ok = !short.is_empty();
        if short.is_empty() {
            self.fail(
                "entra.scopes",
                "must name at least one scope (e.g. mcp.access)",
            );
        }
        for (i, s) in short.iter().enumerate() {
            let ok = (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !ok {
                scopes_ok = false;
                self.fail(
                    &format!("entra.scopes[{i}]"),
                    "must be a short scope name (letters, digits, . _ -), e.g. mcp.access; it is advertised as {app_id_uri}/{scope}",
                );
            }
        }
        let scopes = match (&app_id_uri, scopes_ok) {
            (Some(uri), true) => Some(short.iter().map(|s| format!("{uri}/{s}")).collect()),
            _ => None,
        };
        let authority = e
            .authority
            .unwrap_or_else(|| axe_auth::DEFAULT_AUTHORITY.to_owned());
        let authority_ok = url::Url::parse(&authority)
            .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some() && u.query().is_none());
        let authority = if authority_ok {
            Some(authority.trim_end_matches('/').to_owned())
        } else {
            self.fail(
                "entra.authority",
                "must be an https URL (default https://login.microsoftonline.com)",
            );
            None
        };
        (client_id, app_id_uri, scopes, authority)
    }

    fn master_key(&mut self, raw: RawSecret, version: u32) -> Option<MasterKey> {
        match raw {
            RawSecret::Source(SecretSource {
                file: Some(file),
                env: None,
            }) => {
                let path = self.path(&file);
                MasterKey::from_file(version, &path)
                    .map_err(|e| self.fail("master_key.file", e.to_string()))
                    .ok()
            }
            other => {
                let text = self.secret("master_key", other)?;
                MasterKey::from_hex(version, &text, "master_key.env")
                    .map_err(|e| self.fail("master_key.env", e.to_string()))
                    .ok()
            }
        }
    }
}

/// `scheme://host[:port]`, http(s), nothing else.
fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ', '@'])
        && url::Url::parse(origin).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOMERS: &str = r#"
base_domain: axelabs.ai
customers:
  - id: axe
    tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1
    domains: [axellc.com]
    services: [frame]
    entities:
      - { id: axe, default: true }
"#;

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("customers.yaml"), CUSTOMERS).expect("write");
            std::fs::write(dir.path().join("master.key"), "ab".repeat(32)).expect("write");
            std::fs::write(
                dir.path().join("db.url"),
                "postgres://frame_rt:s3cret-pw@db.internal:3700/frame\n",
            )
            .expect("write");
            Self { dir }
        }

        fn check(&self, yaml: &str) -> Result<Config, Vec<ConfigError>> {
            Config::from_yaml(yaml, "frame.yaml", self.dir.path(), &|name| {
                (name == "FRAME_DB").then(|| "postgres://u:envpw@h/frame".to_owned())
            })
            .map_err(|e| e.0)
        }
    }

    const GOOD: &str = r#"
listen: 127.0.0.1:3711
public_url: https://axe.axelabs.ai
customers: customers.yaml
entra:
  client_id: 6f1c2a3b-0000-4000-8000-000000000001
  app_id_uri: api://frame.axelabs.ai
database:
  url: { file: db.url }
  owner_url: { env: FRAME_DB }
master_key: { file: master.key }
allowed_origins: [https://claude.ai]
"#;

    fn fields(errors: &[ConfigError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_good_config_loads() {
        let f = Fixture::new();
        let c = f.check(GOOD).expect("valid");
        assert_eq!(c.listen.port(), 3711);
        assert_eq!(c.customer, "axe");
        assert_eq!(c.public_url, "https://axe.axelabs.ai");
        assert_eq!(c.scopes, ["api://frame.axelabs.ai/mcp.access"]);
        assert_eq!(c.admin_scope(), "api://frame.axelabs.ai/Frame.Admin");
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("envpw"),
            "{debug}"
        );
    }

    #[test]
    fn inline_secrets_are_refused_and_not_echoed() {
        let f = Fixture::new();
        let yaml = GOOD.replace(
            "url: { file: db.url }",
            "url: postgres://frame_rt:hunter2@db/frame",
        );
        let errors = f.check(&yaml).expect_err("refused");
        assert_eq!(fields(&errors), ["database.url"]);
        assert!(errors[0].reason.contains("file or an environment variable"));
        assert!(!errors[0].to_string().contains("hunter2"));
        let yaml = GOOD.replace(
            "master_key: { file: master.key }",
            &format!("master_key: {}", "cd".repeat(32)),
        );
        let errors = f.check(&yaml).expect_err("refused");
        assert_eq!(fields(&errors), ["master_key"]);
        assert!(!errors[0].to_string().contains(&"cd".repeat(32)));
    }

    #[test]
    fn a_bad_database_url_is_named_without_its_text() {
        let f = Fixture::new();
        std::fs::write(f.dir.path().join("db.url"), "mysql://root:topsecret@x/y").expect("write");
        let errors = f.check(GOOD).expect_err("refused");
        assert_eq!(fields(&errors), ["database.url"]);
        assert!(!errors[0].to_string().contains("topsecret"));
    }

    #[test]
    fn hostile_and_wrong_values_name_their_fields() {
        let f = Fixture::new();
        let cases: &[(&str, &str, &str)] = &[
            ("listen: 127.0.0.1:3711", "listen: 0.0.0.0", "listen"),
            (
                "listen: 127.0.0.1:3711",
                "listen: \"127.0.0.1:99999\"",
                "listen",
            ),
            (
                "public_url: https://axe.axelabs.ai",
                "public_url: http://axe.axelabs.ai",
                "public_url",
            ),
            (
                "public_url: https://axe.axelabs.ai",
                "public_url: https://evil.example.com",
                "public_url",
            ),
            (
                "public_url: https://axe.axelabs.ai",
                "public_url: https://axe.axelabs.ai/frame",
                "public_url",
            ),
            (
                "public_url: https://axe.axelabs.ai",
                "public_url: https://u:p@axe.axelabs.ai",
                "public_url",
            ),
            (
                "public_url: https://axe.axelabs.ai",
                "public_url: https://nobody.axelabs.ai",
                "public_url",
            ),
            (
                "client_id: 6f1c2a3b-0000-4000-8000-000000000001",
                "client_id: frame",
                "entra.client_id",
            ),
            (
                "app_id_uri: api://frame.axelabs.ai",
                "app_id_uri: https://frame",
                "entra.app_id_uri",
            ),
            (
                "app_id_uri: api://frame.axelabs.ai",
                "app_id_uri: \"api://\"",
                "entra.app_id_uri",
            ),
            (
                "app_id_uri: api://frame.axelabs.ai",
                "app_id_uri: api://frame/",
                "entra.app_id_uri",
            ),
            (
                "url: { file: db.url }",
                "url: { file: missing.url }",
                "database.url.file",
            ),
            (
                "url: { file: db.url }",
                "url: { env: NOT_SET_ANYWHERE }",
                "database.url.env",
            ),
            (
                "url: { file: db.url }",
                "url: { env: \"$(rm -rf /)\" }",
                "database.url.env",
            ),
            (
                "url: { file: db.url }",
                "url: { file: db.url, env: FRAME_DB }",
                "database.url",
            ),
            (
                "master_key: { file: master.key }",
                "master_key: { file: customers.yaml }",
                "master_key.file",
            ),
            (
                "allowed_origins: [https://claude.ai]",
                "allowed_origins: [\"https://claude.ai/path\"]",
                "allowed_origins[0]",
            ),
            (
                "allowed_origins: [https://claude.ai]",
                "allowed_origins: [\"javascript:alert(1)\"]",
                "allowed_origins[0]",
            ),
            (
                "listen: 127.0.0.1:3711",
                "listen: 127.0.0.1:3711\nshutdown_grace_secs: 0",
                "shutdown_grace_secs",
            ),
            (
                "listen: 127.0.0.1:3711",
                "listen: 127.0.0.1:3711\nmaster_key_version: 0",
                "master_key_version",
            ),
            (
                "customers: customers.yaml",
                "customers: /nonexistent/customers.yaml",
                "customers",
            ),
        ];
        for (from, to, field) in cases {
            let yaml = GOOD.replace(from, to);
            assert_ne!(yaml, GOOD, "fixture did not change for {to}");
            let errors = f
                .check(&yaml)
                .err()
                .unwrap_or_else(|| panic!("{to} accepted"));
            assert!(fields(&errors).contains(field), "{to}: {errors:?}");
            assert!(errors.iter().all(|e| e.file == "frame.yaml"));
        }
    }

    #[test]
    fn hostile_scopes_are_refused() {
        let f = Fixture::new();
        for scopes in ["[]", "[\"a b\"]", "[\"api://x/mcp.access\"]", "[\"\"]"] {
            let yaml = GOOD.replace(
                "app_id_uri: api://frame.axelabs.ai",
                &format!("app_id_uri: api://frame.axelabs.ai\n  scopes: {scopes}"),
            );
            let errors = f
                .check(&yaml)
                .err()
                .unwrap_or_else(|| panic!("{scopes} accepted"));
            assert!(
                fields(&errors)
                    .iter()
                    .any(|f| f.starts_with("entra.scopes")),
                "{scopes}: {errors:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_typos_and_garbage_are_refused() {
        let f = Fixture::new();
        for yaml in [
            GOOD.replace("allowed_origins", "allowed_orgins"),
            GOOD.replace("client_id", "clientid"),
            "- just\n- a list\n".to_owned(),
            "listen: [".to_owned(),
            "\u{0}\u{1}binary".to_owned(),
            String::new(),
        ] {
            assert!(f.check(&yaml).is_err(), "{yaml:?} accepted");
        }
        let errors = f
            .check(&GOOD.replace("allowed_origins", "allowed_orgins"))
            .expect_err("refused");
        assert!(errors[0].reason.contains("allowed_orgins"), "{errors:?}");
    }

    #[test]
    fn missing_fields_are_all_reported() {
        let f = Fixture::new();
        let errors = f.check("listen: 127.0.0.1:1\n").expect_err("refused");
        let got = fields(&errors);
        for field in ["customers", "public_url", "entra", "database", "master_key"] {
            assert!(got.contains(&field), "{field} missing from {got:?}");
        }
    }
}
