//! Running `restic` (Debian's 0.14): one repository per [`Repo`], exit codes classified, stale
//! locks removed, JSON answers parsed.
//!
//! restic 0.14 exit codes: 0 success, 1 fatal error, 3 "snapshot created but some source files
//! could not be read", 130 interrupted. Anything else (the 10/11/12 of later versions, a
//! signal) is a failure named by its code: never read as success.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::config::{Tier, TierName};

/// restic's own environment variables: cleared so the caller's shell cannot redirect a tier.
const RESTIC_ENV: &[&str] = &[
    "RESTIC_REPOSITORY",
    "RESTIC_REPOSITORY_FILE",
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
    "RESTIC_FROM_REPOSITORY",
    "RESTIC_FROM_REPOSITORY_FILE",
    "RESTIC_FROM_PASSWORD",
    "RESTIC_FROM_PASSWORD_FILE",
    "RESTIC_FROM_PASSWORD_COMMAND",
    "RESTIC_KEY_HINT",
    "RESTIC_FROM_KEY_HINT",
];

/// Longest stderr kept for an error message.
const STDERR_KEEP: usize = 4000;

/// Why a restic command did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResticError {
    /// `restic` could not be started.
    #[error("cannot start restic ({program}): {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// Exit 1: restic reported a fatal error.
    #[error("restic {command} failed: {stderr}")]
    Fatal { command: String, stderr: String },
    /// Exit 1 because another process holds an exclusive lock, after waiting for it.
    #[error("restic {command}: repository still locked after {waited:?}: {stderr}")]
    Locked {
        command: String,
        waited: Duration,
        stderr: String,
    },
    /// Exit 3: a snapshot was made but some files were unreadable.
    #[error("restic {command}: some source files could not be read: {stderr}")]
    Incomplete { command: String, stderr: String },
    /// Exit 130: interrupted (by us, when a dump failed).
    #[error("restic {command} was interrupted")]
    Interrupted { command: String },
    /// Any other exit code or a signal.
    #[error("restic {command} ended with unknown status {status}: {stderr}")]
    Unknown {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// restic answered with JSON we cannot read.
    #[error("restic {command}: unexpected output: {reason}")]
    Output { command: String, reason: String },
    /// Reading restic's pipes failed.
    #[error("restic {command}: {source}")]
    Io {
        command: String,
        source: std::io::Error,
    },
}

impl ResticError {
    /// Whether this is "the repository does not exist (yet)".
    pub(crate) fn is_missing_repository(&self) -> bool {
        match self {
            ResticError::Fatal { stderr, .. } => {
                stderr.contains("Is there a repository at the following location?")
                    || stderr.contains("repository does not exist")
            }
            _ => false,
        }
    }
}

/// Classifies a finished restic command by its exit status.
pub(crate) fn classify(
    command: &str,
    status: ExitStatus,
    stderr: &[u8],
) -> Result<(), ResticError> {
    let text = tail(stderr);
    match status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(ResticError::Fatal {
            command: command.to_owned(),
            stderr: text,
        }),
        Some(3) => Err(ResticError::Incomplete {
            command: command.to_owned(),
            stderr: text,
        }),
        Some(130) => Err(ResticError::Interrupted {
            command: command.to_owned(),
        }),
        _ => Err(ResticError::Unknown {
            command: command.to_owned(),
            status,
            stderr: text,
        }),
    }
}

fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    // Progress lines carry terminal escapes; keep the readable end.
    let text = text.replace("\u{1b}[2K", "");
    let text = text.trim();
    if text.len() <= STDERR_KEEP {
        return text.to_owned();
    }
    let mut start = text.len() - STDERR_KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

fn is_locked(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    text.contains("repository is already locked") || text.contains("unable to create lock")
}

/// One restic repository with its password file and options.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub(crate) tier: TierName,
    location: String,
    password_file: PathBuf,
    options: Vec<String>,
    lock_wait: Duration,
}

/// A snapshot as `restic snapshots --json` lists it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) time: String,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    pub(crate) id: String,
}

impl Snapshot {
    /// The value of tag `key:value`, if present.
    pub(crate) fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix(key).and_then(|rest| rest.strip_prefix(':')))
    }

    /// The snapshot's time.
    pub(crate) fn timestamp(&self) -> Option<jiff::Timestamp> {
        self.time.parse().ok()
    }
}

/// `restic stats --json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Stats {
    pub(crate) total_size: u64,
}

/// The last line of `restic backup --json`.
#[derive(Debug, Deserialize)]
struct BackupSummary {
    message_type: String,
    snapshot_id: Option<String>,
}

impl Repo {
    pub(crate) fn new(tier: &Tier, lock_wait: Duration) -> Self {
        Self {
            tier: tier.name,
            location: tier.repository.clone(),
            password_file: tier.password_file.clone(),
            options: tier.options.clone(),
            lock_wait,
        }
    }

    /// `restic -r LOC -p FILE [-o …] ARGS`, with restic's variables cleared.
    pub(crate) fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new("restic");
        for var in RESTIC_ENV {
            command.env_remove(var);
        }
        command
            .arg("--repo")
            .arg(&self.location)
            .arg("--password-file")
            .arg(&self.password_file);
        for option in &self.options {
            command.arg("--option").arg(option);
        }
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `args` to completion; returns stdout. Lock conflicts are retried (after removing
    /// stale locks) until the tier's lock wait is spent.
    pub(crate) async fn run(&self, name: &str, args: &[String]) -> Result<Vec<u8>, ResticError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(500);
        loop {
            let (status, stdout, stderr) = self.output(name, self.command(args)).await?;
            if status.code() == Some(1) && is_locked(&stderr) {
                let waited = started.elapsed();
                if waited >= self.lock_wait {
                    return Err(ResticError::Locked {
                        command: name.to_owned(),
                        waited,
                        stderr: tail(&stderr),
                    });
                }
                tracing::info!(tier = %self.tier, command = name, "repository locked; removing stale locks and waiting");
                self.unlock_stale().await?;
                tokio::time::sleep(pause.min(self.lock_wait.saturating_sub(waited))).await;
                pause = (pause * 2).min(Duration::from_secs(15));
                continue;
            }
            classify(name, status, &stderr)?;
            return Ok(stdout);
        }
    }

    async fn output(
        &self,
        name: &str,
        mut command: Command,
    ) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), ResticError> {
        let mut child = command.spawn().map_err(|source| ResticError::Spawn {
            program: "restic".into(),
            source,
        })?;
        let io = |source| ResticError::Io {
            command: name.to_owned(),
            source,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let (a, b) = tokio::join!(
            async {
                match stdout.as_mut() {
                    Some(s) => s.read_to_end(&mut out).await.map(|_| ()),
                    None => Ok(()),
                }
            },
            async {
                match stderr.as_mut() {
                    Some(s) => s.read_to_end(&mut err).await.map(|_| ()),
                    None => Ok(()),
                }
            }
        );
        a.map_err(io)?;
        b.map_err(io)?;
        let status = child.wait().await.map_err(io)?;
        Ok((status, out, err))
    }

    /// `restic unlock`: removes only stale locks, i.e. locks of processes that no longer run on
    /// this host, or locks not refreshed for 30 minutes (restic refreshes live locks every 5).
    /// Never `--remove-all`: a live backup of another run keeps its lock.
    pub(crate) async fn unlock_stale(&self) -> Result<(), ResticError> {
        let (status, _, stderr) = self.output("unlock", self.command(["unlock"])).await?;
        classify("unlock", status, &stderr)
    }

    /// Whether the repository exists (`restic cat config`).
    pub(crate) async fn exists(&self) -> Result<bool, ResticError> {
        match self
            .run("cat config", &["cat".into(), "config".into()])
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_missing_repository() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the repository; `chunker_from` copies its chunker parameters so that
    /// `restic copy` from there deduplicates.
    pub(crate) async fn init(&self, chunker_from: Option<&Repo>) -> Result<(), ResticError> {
        let mut args = vec!["init".to_owned()];
        let mut command_args = Vec::new();
        if let Some(from) = chunker_from {
            command_args.extend([
                "--copy-chunker-params".to_owned(),
                "--from-repo".to_owned(),
                from.location.clone(),
                "--from-password-file".to_owned(),
                from.password_file.display().to_string(),
            ]);
        }
        args.extend(command_args);
        self.run("init", &args).await.map(|_| ())
    }

    /// Creates the repository unless it exists.
    pub(crate) async fn ensure(&self, chunker_from: Option<&Repo>) -> Result<bool, ResticError> {
        if self.exists().await? {
            return Ok(false);
        }
        self.init(chunker_from).await?;
        Ok(true)
    }

    /// Snapshots carrying every tag of `tags` (all snapshots when empty).
    pub(crate) async fn snapshots(&self, tags: &[String]) -> Result<Vec<Snapshot>, ResticError> {
        let mut args = vec!["snapshots".to_owned(), "--json".to_owned()];
        if !tags.is_empty() {
            args.push("--tag".to_owned());
            args.push(tags.join(","));
        }
        let out = self.run("snapshots", &args).await?;
        let mut list: Vec<Snapshot> =
            serde_json::from_slice(&out).map_err(|e| ResticError::Output {
                command: "snapshots".into(),
                reason: e.to_string(),
            })?;
        list.sort_by_key(Snapshot::timestamp);
        Ok(list)
    }

    /// Backs up `paths` as one snapshot; returns its id.
    pub(crate) async fn backup_paths(
        &self,
        paths: &[PathBuf],
        tags: &[String],
        host: &str,
    ) -> Result<String, ResticError> {
        let mut args = vec![
            "backup".to_owned(),
            "--json".to_owned(),
            "--host".to_owned(),
            host.to_owned(),
        ];
        for tag in tags {
            args.push("--tag".to_owned());
            args.push(tag.clone());
        }
        args.push("--".to_owned());
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let out = self.run("backup", &args).await?;
        snapshot_id("backup", &out)
    }

    /// `restic copy` of every snapshot of `from` tagged `tag` not yet here.
    pub(crate) async fn copy_from(&self, from: &Repo, tag: &str) -> Result<(), ResticError> {
        let args = [
            "copy".to_owned(),
            "--tag".to_owned(),
            tag.to_owned(),
            "--from-repo".to_owned(),
            from.location.clone(),
            "--from-password-file".to_owned(),
            from.password_file.display().to_string(),
        ];
        self.run("copy", &args).await.map(|_| ())
    }

    /// `restic forget --prune` with `flags`, limited to snapshots tagged `tag`.
    pub(crate) async fn forget_prune(
        &self,
        tag: &str,
        flags: &[String],
    ) -> Result<(), ResticError> {
        let mut args = vec![
            "forget".to_owned(),
            "--prune".to_owned(),
            "--tag".to_owned(),
            tag.to_owned(),
        ];
        args.extend(flags.iter().cloned());
        self.run("forget", &args).await.map(|_| ())
    }

    /// `restic forget ID…` (no prune: the next `forget --prune` frees the data).
    pub(crate) async fn forget_ids(&self, ids: &[String]) -> Result<(), ResticError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut args = vec!["forget".to_owned(), "--".to_owned()];
        args.extend(ids.iter().cloned());
        self.run("forget", &args).await.map(|_| ())
    }

    /// `restic stats --mode raw-data --json`: bytes the repository stores.
    pub(crate) async fn stats(&self) -> Result<Stats, ResticError> {
        let args = [
            "stats".to_owned(),
            "--mode".into(),
            "raw-data".into(),
            "--json".into(),
        ];
        let out = self.run("stats", &args).await?;
        serde_json::from_slice(&out).map_err(|e| ResticError::Output {
            command: "stats".into(),
            reason: e.to_string(),
        })
    }

    /// `restic check --read-data-subset n/N`.
    pub(crate) async fn check_subset(&self, n: u32, of: u32) -> Result<(), ResticError> {
        let args = [
            "check".to_owned(),
            "--read-data-subset".to_owned(),
            format!("{n}/{of}"),
        ];
        self.run("check", &args).await.map(|_| ())
    }
}

/// The snapshot id from `restic backup --json` output (the `summary` line).
pub(crate) fn snapshot_id(command: &str, stdout: &[u8]) -> Result<String, ResticError> {
    let text = String::from_utf8_lossy(stdout);
    for line in text.lines().rev() {
        if let Ok(summary) = serde_json::from_str::<BackupSummary>(line)
            && summary.message_type == "summary"
            && let Some(id) = summary.snapshot_id
        {
            return Ok(id);
        }
    }
    Err(ResticError::Output {
        command: command.to_owned(),
        reason: "no summary with a snapshot id".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_codes_are_classified_and_unknown_ones_fail() {
        let status = |code: i32| ExitStatus::from_raw(code << 8);
        assert!(classify("x", status(0), b"").is_ok());
        assert!(matches!(
            classify("x", status(1), b"boom"),
            Err(ResticError::Fatal { .. })
        ));
        assert!(matches!(
            classify("x", status(3), b""),
            Err(ResticError::Incomplete { .. })
        ));
        assert!(matches!(
            classify("x", status(130), b""),
            Err(ResticError::Interrupted { .. })
        ));
        for code in [2, 10, 11, 12, 255] {
            assert!(matches!(
                classify("x", status(code), b""),
                Err(ResticError::Unknown { .. })
            ));
        }
        // Killed by a signal: no exit code at all.
        assert!(matches!(
            classify("x", ExitStatus::from_raw(9), b""),
            Err(ResticError::Unknown { .. })
        ));
    }

    #[test]
    fn summary_line_gives_the_snapshot_id() {
        let out = b"{\"message_type\":\"status\"}\n{\"message_type\":\"summary\",\"snapshot_id\":\"abc\"}\n";
        assert_eq!(snapshot_id("b", out).unwrap(), "abc");
        assert!(snapshot_id("b", b"not json").is_err());
    }
}
