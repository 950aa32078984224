//! The YAML configuration: plain serde structs, then one validation pass whose errors name the
//! field (`tiers.ring.retention.keep-daily`) and the reason.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use axe_isolation::EntityId;
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;

/// Largest config file read (a config is a few hundred bytes; this refuses a runaway file).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A config that could not be loaded: the file, the field and the reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The file is larger than any sane config.
    #[error("{file}: {bytes} bytes is too large for a config file (at most {MAX_CONFIG_BYTES})")]
    TooLarge { file: PathBuf, bytes: u64 },
    /// YAML syntax or type error at `field`.
    #[error("{file}: field `{field}`: {reason}")]
    Parse {
        file: PathBuf,
        field: String,
        reason: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{file}: field `{field}`: {reason}")]
    Invalid {
        file: PathBuf,
        field: String,
        reason: String,
    },
}

/// The three tiers, in the order a run visits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TierName {
    Local,
    Ring,
    Cold,
}

impl TierName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TierName::Local => "local",
            TierName::Ring => "ring",
            TierName::Cold => "cold",
        }
    }
}

impl fmt::Display for TierName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TierName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(TierName::Local),
            "ring" => Ok(TierName::Ring),
            "cold" => Ok(TierName::Cold),
            other => Err(format!(
                "unknown tier `{}` (expected local, ring or cold)",
                other.escape_debug()
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    database: RawDatabase,
    #[serde(default)]
    entities: RawEntities,
    #[serde(default)]
    folders: Vec<PathBuf>,
    host: Option<String>,
    tiers: RawTiers,
    #[serde(default)]
    check: RawCheck,
    state_dir: PathBuf,
    report_file: Option<PathBuf>,
    webhook: Option<RawWebhook>,
    #[serde(default)]
    lock_wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDatabase {
    url: String,
    password_file: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
    #[serde(default)]
    globals: Globals,
}

/// What `pg_dumpall --globals-only` saves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Globals {
    /// Roles with their password hashes, tablespaces (needs a superuser).
    #[default]
    Full,
    /// `--no-role-passwords`: works for a role that cannot read `pg_authid`.
    NoRolePasswords,
    /// Not saved.
    Off,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum RawEntities {
    #[default]
    None,
    Word(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTiers {
    local: RawTier,
    ring: Option<RawTier>,
    cold: Option<RawTier>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTier {
    repository: String,
    password_file: PathBuf,
    #[serde(default)]
    retention: RawRetention,
    /// Cold tier: the mount point that must be mounted for the tier to run.
    mount: Option<PathBuf>,
    /// Extended restic options (`-o key=value`), e.g. `sftp.command=ssh -i key host -s sftp`.
    #[serde(default)]
    options: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRetention {
    keep_last: Option<u32>,
    keep_daily: Option<u32>,
    keep_weekly: Option<u32>,
    keep_monthly: Option<u32>,
    keep_yearly: Option<u32>,
    keep_within: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCheck {
    #[serde(default = "default_cycle")]
    cycle: u32,
}

impl Default for RawCheck {
    fn default() -> Self {
        Self {
            cycle: default_cycle(),
        }
    }
}

fn default_cycle() -> u32 {
    7
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawWebhook {
    url: String,
    #[serde(default = "default_webhook_on")]
    on: Vec<WebhookEvent>,
}

fn default_webhook_on() -> Vec<WebhookEvent> {
    vec![WebhookEvent::Failed, WebhookEvent::Degraded]
}

/// Run outcomes that ping the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum WebhookEvent {
    Ok,
    Degraded,
    Failed,
}

// ---------------------------------------------------------------------------------------------
// The validated config.

/// A validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) database: Database,
    pub(crate) entities: Entities,
    pub(crate) folders: Vec<PathBuf>,
    pub(crate) host: String,
    pub(crate) tiers: Vec<Tier>,
    pub(crate) check_cycle: u32,
    pub(crate) state_dir: PathBuf,
    pub(crate) report_file: PathBuf,
    pub(crate) webhook: Option<Webhook>,
    pub(crate) lock_wait: std::time::Duration,
}

/// The database to back up.
#[derive(Clone)]
pub(crate) struct Database {
    /// The URL as given (never holds a password: refused at load).
    pub(crate) url: String,
    pub(crate) options: PgConnectOptions,
    pub(crate) password: Option<String>,
    pub(crate) bin_dir: Option<PathBuf>,
    pub(crate) globals: Globals,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("bin_dir", &self.bin_dir)
            .field("globals", &self.globals)
            .finish()
    }
}

impl Database {
    /// `bin_dir/name`, or `name` to be found on `PATH`.
    pub(crate) fn tool(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// The live database's name.
    pub(crate) fn name(&self) -> &str {
        self.options
            .get_database()
            .unwrap_or(self.options.get_username())
    }
}

/// Which entities a run backs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entities {
    /// Every provisioned entity (`ent_<id>` schemas) found at run time.
    All,
    /// These.
    Listed(Vec<EntityId>),
}

/// One tier's repository and policy.
#[derive(Debug, Clone)]
pub(crate) struct Tier {
    pub(crate) name: TierName,
    pub(crate) repository: String,
    pub(crate) password_file: PathBuf,
    pub(crate) retention: Retention,
    pub(crate) mount: Option<PathBuf>,
    pub(crate) options: Vec<String>,
}

/// `restic forget` policy; empty means "keep everything".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Retention {
    pub(crate) keep_last: Option<u32>,
    pub(crate) keep_daily: Option<u32>,
    pub(crate) keep_weekly: Option<u32>,
    pub(crate) keep_monthly: Option<u32>,
    pub(crate) keep_yearly: Option<u32>,
    pub(crate) keep_within: Option<String>,
}

impl Retention {
    /// The `restic forget` flags of this policy (empty: nothing to forget).
    pub(crate) fn flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        let counts = [
            ("--keep-last", self.keep_last),
            ("--keep-daily", self.keep_daily),
            ("--keep-weekly", self.keep_weekly),
            ("--keep-monthly", self.keep_monthly),
            ("--keep-yearly", self.keep_yearly),
        ];
        for (flag, value) in counts {
            if let Some(n) = value {
                flags.push(flag.to_owned());
                flags.push(n.to_string());
            }
        }
        if let Some(within) = &self.keep_within {
            flags.push("--keep-within".to_owned());
            flags.push(within.clone());
        }
        flags
    }
}

/// Where run outcomes are sent.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub(crate) url: reqwest::Url,
    pub(crate) on: BTreeSet<WebhookEvent>,
}

impl Config {
    /// Reads and validates `file`.
    pub(crate) fn load(file: &Path) -> Result<Config, ConfigError> {
        let meta = std::fs::metadata(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                file: file.to_owned(),
                bytes: meta.len(),
            });
        }
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::parse(file, &text)
    }

    /// Parses and validates `text` (the contents of `file`, which names the errors).
    pub(crate) fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let deserializer = serde_norway::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            ConfigError::Parse {
                file: file.to_owned(),
                field: if field == "." {
                    "(top level)".to_owned()
                } else {
                    field
                },
                reason: e.into_inner().to_string(),
            }
        })?;
        Validator { file }.config(raw)
    }

    /// The tier called `name`, if configured.
    pub(crate) fn tier(&self, name: TierName) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.name == name)
    }
}

struct Validator<'a> {
    file: &'a Path,
}

impl Validator<'_> {
    fn invalid(&self, field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let database = self.database(raw.database)?;
        let entities = self.entities(raw.entities)?;
        for (i, folder) in raw.folders.iter().enumerate() {
            self.absolute(&format!("folders[{i}]"), folder)?;
        }
        let host = match raw.host {
            Some(host) => {
                if host.is_empty()
                    || host.len() > 253
                    || !host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                    || host.starts_with('-')
                {
                    return Err(self.invalid(
                        "host",
                        "must be 1-253 characters of letters, digits, `-`, `.`, `_`, not starting with `-`",
                    ));
                }
                host
            }
            None => default_host(),
        };
        let mut tiers = vec![self.tier(TierName::Local, raw.tiers.local)?];
        if let Some(ring) = raw.tiers.ring {
            tiers.push(self.tier(TierName::Ring, ring)?);
        }
        if let Some(cold) = raw.tiers.cold {
            tiers.push(self.tier(TierName::Cold, cold)?);
        }
        let mut seen = BTreeSet::new();
        for tier in &tiers {
            if !seen.insert(tier.repository.as_str()) {
                return Err(self.invalid(
                    format!("tiers.{}.repository", tier.name),
                    "the same repository is used by two tiers: a tier is only worth having apart",
                ));
            }
        }
        if raw.check.cycle == 0 || raw.check.cycle > 10_000 {
            return Err(self.invalid("check.cycle", "must be between 1 and 10000"));
        }
        self.absolute("state-dir", &raw.state_dir)?;
        let report_file = match raw.report_file {
            Some(file) => {
                self.absolute("report-file", &file)?;
                file
            }
            None => raw.state_dir.join("report.json"),
        };
        let webhook = match raw.webhook {
            Some(w) => {
                let url = reqwest::Url::parse(&w.url)
                    .map_err(|e| self.invalid("webhook.url", format!("not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(self.invalid("webhook.url", "must be http or https"));
                }
                Some(Webhook {
                    url,
                    on: w.on.into_iter().collect(),
                })
            }
            None => None,
        };
        let lock_wait = raw.lock_wait_seconds.unwrap_or(120);
        if lock_wait > 24 * 3600 {
            return Err(self.invalid("lock-wait-seconds", "at most one day (86400)"));
        }
        Ok(Config {
            database,
            entities,
            folders: raw.folders,
            host,
            tiers,
            check_cycle: raw.check.cycle,
            state_dir: raw.state_dir,
            report_file,
            webhook,
            lock_wait: std::time::Duration::from_secs(lock_wait),
        })
    }

    fn absolute(&self, field: &str, path: &Path) -> Result<(), ConfigError> {
        if !path.is_absolute() {
            return Err(self.invalid(field, "must be an absolute path"));
        }
        Ok(())
    }

    fn database(&self, raw: RawDatabase) -> Result<Database, ConfigError> {
        if !(raw.url.starts_with("postgres://") || raw.url.starts_with("postgresql://")) {
            return Err(self.invalid("database.url", "must be a postgres:// or postgresql:// URL"));
        }
        let options = PgConnectOptions::from_str(&raw.url)
            .map_err(|e| self.invalid("database.url", format!("not a PostgreSQL URL: {e}")))?;
        let parsed = reqwest::Url::parse(&raw.url)
            .map_err(|e| self.invalid("database.url", format!("not a URL: {e}")))?;
        if parsed.password().is_some() || parsed.query_pairs().any(|(k, _)| k == "password") {
            return Err(self.invalid(
                "database.url",
                "must not hold a password (it would show in process lists): use database.password-file",
            ));
        }
        if parsed.username().is_empty() {
            return Err(self.invalid("database.url", "must name the user (postgres://USER@…)"));
        }
        if options.get_database().is_none() {
            return Err(self.invalid("database.url", "must name the database (…/DBNAME)"));
        }
        let password = match &raw.password_file {
            Some(file) => Some(self.secret("database.password-file", file)?),
            None => None,
        };
        if let Some(dir) = &raw.bin_dir {
            self.absolute("database.bin-dir", dir)?;
        }
        Ok(Database {
            url: raw.url,
            options,
            password,
            bin_dir: raw.bin_dir,
            globals: raw.globals,
        })
    }

    fn secret(&self, field: &str, file: &Path) -> Result<String, ConfigError> {
        self.absolute(field, file)?;
        let text = std::fs::read_to_string(file)
            .map_err(|e| self.invalid(field, format!("cannot read {}: {e}", file.display())))?;
        let secret = text.trim_end_matches(['\n', '\r']).to_owned();
        if secret.is_empty() {
            return Err(self.invalid(field, format!("{} is empty", file.display())));
        }
        Ok(secret)
    }

    fn entities(&self, raw: RawEntities) -> Result<Entities, ConfigError> {
        match raw {
            RawEntities::None => Ok(Entities::Listed(Vec::new())),
            RawEntities::Word(word) if word == "all" => Ok(Entities::All),
            RawEntities::Word(_) => {
                Err(self.invalid("entities", "must be `all` or a list of entity ids"))
            }
            RawEntities::List(list) => {
                let mut ids = Vec::with_capacity(list.len());
                let mut seen = BTreeSet::new();
                for (i, id) in list.iter().enumerate() {
                    let entity = EntityId::new(id)
                        .map_err(|e| self.invalid(format!("entities[{i}]"), e.to_string()))?;
                    if !seen.insert(entity.as_str().to_owned()) {
                        return Err(self.invalid(format!("entities[{i}]"), "listed twice"));
                    }
                    ids.push(entity);
                }
                Ok(Entities::Listed(ids))
            }
        }
    }

    fn tier(&self, name: TierName, raw: RawTier) -> Result<Tier, ConfigError> {
        let field = |f: &str| format!("tiers.{name}.{f}");
        let repo = raw.repository.trim();
        if repo.is_empty() {
            return Err(self.invalid(field("repository"), "must not be empty"));
        }
        if repo.starts_with('-') || repo.chars().any(char::is_control) {
            return Err(self.invalid(
                field("repository"),
                "must not start with `-` or hold control characters",
            ));
        }
        let remote = [
            "sftp:", "rest:", "rclone:", "s3:", "b2:", "azure:", "gs:", "swift:",
        ]
        .iter()
        .any(|p| repo.starts_with(p));
        if !remote && !Path::new(repo).is_absolute() {
            return Err(self.invalid(
                field("repository"),
                "must be an absolute path or a restic remote (sftp:, rest:, rclone:, …)",
            ));
        }
        if name == TierName::Ring && !remote && !Path::new(repo).is_absolute() {
            return Err(self.invalid(field("repository"), "ring must be a remote or a path"));
        }
        // The password itself is read by restic; check here that it is there and not empty.
        self.secret(&field("password-file"), &raw.password_file)?;
        let retention = self.retention(name, raw.retention)?;
        if let Some(mount) = &raw.mount {
            if name != TierName::Cold {
                return Err(self.invalid(field("mount"), "only the cold tier has a mount point"));
            }
            self.absolute(&field("mount"), mount)?;
        }
        for (i, option) in raw.options.iter().enumerate() {
            let ok = option
                .split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && !k.starts_with('-'))
                && !option.chars().any(char::is_control);
            if !ok {
                return Err(self.invalid(
                    format!("tiers.{name}.options[{i}]"),
                    "must be `key=value` (a restic -o option)",
                ));
            }
        }
        Ok(Tier {
            name,
            repository: repo.to_owned(),
            password_file: raw.password_file,
            retention,
            mount: raw.mount,
            options: raw.options,
        })
    }

    fn retention(&self, tier: TierName, raw: RawRetention) -> Result<Retention, ConfigError> {
        let field = |f: &str| format!("tiers.{tier}.retention.{f}");
        let counts = [
            ("keep-last", raw.keep_last),
            ("keep-daily", raw.keep_daily),
            ("keep-weekly", raw.keep_weekly),
            ("keep-monthly", raw.keep_monthly),
            ("keep-yearly", raw.keep_yearly),
        ];
        for (name, value) in counts {
            match value {
                Some(0) => {
                    return Err(self.invalid(
                        field(name),
                        "0 would keep nothing by this rule: leave it out instead",
                    ));
                }
                Some(n) if n > 100_000 => {
                    return Err(self.invalid(field(name), "at most 100000"));
                }
                Some(_) if tier == TierName::Ring => {
                    return Err(self.invalid(
                        field(name),
                        "the ring peer is append-only: use keep-within (a time span) only",
                    ));
                }
                _ => {}
            }
        }
        if let Some(within) = &raw.keep_within
            && !is_restic_duration(within)
        {
            return Err(self.invalid(
                field("keep-within"),
                "must be a restic duration such as `30d`, `1y6m`, `2w` is not one (use `14d`)",
            ));
        }
        Ok(Retention {
            keep_last: raw.keep_last,
            keep_daily: raw.keep_daily,
            keep_weekly: raw.keep_weekly,
            keep_monthly: raw.keep_monthly,
            keep_yearly: raw.keep_yearly,
            keep_within: raw.keep_within,
        })
    }
}

/// restic's duration grammar (`1y2m3d4h`): one or more number+unit pairs, units y, m, d, h.
/// Hand-written because it is six lines and no crate speaks restic's dialect.
fn is_restic_duration(s: &str) -> bool {
    if s.is_empty() || s.len() > 32 {
        return false;
    }
    let mut digits = 0;
    for c in s.chars() {
        match c {
            '0'..='9' => digits += 1,
            'y' | 'm' | 'd' | 'h' if digits > 0 => digits = 0,
            _ => return false,
        }
    }
    digits == 0
}

fn default_host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restic_durations() {
        for ok in ["30d", "1y6m", "12h", "1y2m3d4h"] {
            assert!(is_restic_duration(ok), "{ok}");
        }
        for bad in ["", "d", "30", "2w", "-1d", "1d ", "1dd", "１d"] {
            assert!(!is_restic_duration(bad), "{bad}");
        }
    }

    #[test]
    fn retention_flags_follow_the_policy() {
        let r = Retention {
            keep_daily: Some(7),
            keep_within: Some("30d".into()),
            ..Retention::default()
        };
        assert_eq!(
            r.flags(),
            ["--keep-daily", "7", "--keep-within", "30d"].map(String::from)
        );
        assert!(Retention::default().flags().is_empty());
    }
}
