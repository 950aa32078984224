//! A producer (`pg_dump`, `pg_dumpall`) piped into `restic backup --stdin`, such that a failed
//! producer never becomes a snapshot.
//!
//! restic 0.14 has no `--stdin-from-command`: fed through a plain pipe, it snapshots whatever
//! arrived before end-of-file, even when the producer died half-way (exit 0, a truncated dump
//! in the repository). So the runner sits in the middle: it copies the producer's output into
//! restic's stdin, and when the producer's output ends it *keeps restic's stdin open* until it
//! knows the producer's exit status. Success: stdin is closed and restic writes the snapshot.
//! Failure: restic gets SIGINT while still waiting for input, exits 130 and writes nothing;
//! only then is stdin closed.

use std::process::Stdio;
use std::time::Duration;

use indicatif::ProgressBar;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::restic::{Repo, ResticError, classify, snapshot_id};

/// How long restic may take to stop after SIGINT before it is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(30);

/// What a successful stream produced.
#[derive(Debug, Clone)]
pub(crate) struct Streamed {
    pub(crate) snapshot: String,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// Why a stream did not become a snapshot.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    /// The producer could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The producer failed; restic was interrupted and wrote no snapshot.
    #[error("{program} failed ({status}) after {bytes} bytes; no snapshot was written: {stderr}")]
    Producer {
        program: String,
        status: String,
        bytes: u64,
        stderr: String,
    },
    /// restic failed.
    #[error(transparent)]
    Restic(#[from] ResticError),
    /// Copying between the two failed.
    #[error("copying {program} into restic failed: {source}")]
    Pipe {
        program: String,
        source: std::io::Error,
    },
}

/// Runs `producer` and streams its stdout into `restic backup --stdin` on `repo` as file
/// `filename` with `tags`. Returns the snapshot id only if both succeeded.
pub(crate) async fn into_restic(
    mut producer: Command,
    program: &str,
    repo: &Repo,
    filename: &str,
    tags: &[String],
    host: &str,
    progress: &ProgressBar,
) -> Result<Streamed, StreamError> {
    let mut args = vec![
        "backup".to_owned(),
        "--json".to_owned(),
        "--stdin".to_owned(),
        "--stdin-filename".to_owned(),
        filename.to_owned(),
        "--host".to_owned(),
        host.to_owned(),
    ];
    for tag in tags {
        args.push("--tag".to_owned());
        args.push(tag.clone());
    }
    // restic first: if it cannot start, the producer never runs.
    let mut restic = repo.command(&args);
    restic.stdin(Stdio::piped());
    let mut restic = restic.spawn().map_err(|source| ResticError::Spawn {
        program: "restic".into(),
        source,
    })?;
    producer
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match producer.spawn() {
        Ok(child) => child,
        Err(source) => {
            interrupt(&mut restic).await;
            return Err(StreamError::Spawn {
                program: program.to_owned(),
                source,
            });
        }
    };

    let (Some(mut stdin), Some(mut restic_out), Some(mut restic_err)) = (
        restic.stdin.take(),
        restic.stdout.take(),
        restic.stderr.take(),
    ) else {
        return Err(StreamError::Pipe {
            program: program.to_owned(),
            source: std::io::Error::other("restic pipes missing"),
        });
    };
    let (Some(mut dump_out), Some(mut dump_err)) = (child.stdout.take(), child.stderr.take())
    else {
        return Err(StreamError::Pipe {
            program: program.to_owned(),
            source: std::io::Error::other("producer pipes missing"),
        });
    };

    // Read restic's output and the producer's stderr while copying, or a full pipe stalls all.
    let restic_out_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        restic_out.read_to_end(&mut buf).await.map(|_| buf)
    });
    let restic_err_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        restic_err.read_to_end(&mut buf).await.map(|_| buf)
    });
    let dump_err_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        dump_err.read_to_end(&mut buf).await.map(|_| buf)
    });

    // Hand-written copy loop (not `tokio::io::copy`) to hash and count what passes through.
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let copied: std::io::Result<()> = async {
        loop {
            let n = dump_out.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            hasher.update(&buf[..n]);
            stdin.write_all(&buf[..n]).await?;
            bytes += n as u64;
            progress.inc(n as u64);
        }
    }
    .await;

    // End of the producer's output (or a broken pipe): its exit status decides.
    if copied.is_err() {
        // restic went away (its status tells why); stop the producer too.
        let _ = child.start_kill();
    }
    let dump_status = child.wait().await;
    let dump_stderr = dump_err_task
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let dump_ok = matches!(&dump_status, Ok(s) if s.success());

    if !dump_ok || copied.is_err() {
        // stdin is still open here: restic has not seen end-of-file and cannot snapshot.
        let restic_pid = restic.id();
        if let Some(pid) = restic_pid {
            send_sigint(pid);
        }
        let finished = tokio::time::timeout(INTERRUPT_GRACE, restic.wait()).await;
        if finished.is_err() {
            let _ = restic.start_kill();
            let _ = restic.wait().await;
        }
        drop(stdin);
        let restic_stderr = restic_err_task
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if dump_ok && let Err(source) = copied {
            // The producer was fine; restic failed on its own (locked, unreachable, …).
            if let Ok(Ok(status)) = finished {
                classify("backup --stdin", status, &restic_stderr)?;
            }
            return Err(StreamError::Pipe {
                program: program.to_owned(),
                source,
            });
        }
        return Err(StreamError::Producer {
            program: program.to_owned(),
            status: match dump_status {
                Ok(s) => s.to_string(),
                Err(e) => format!("wait failed: {e}"),
            },
            bytes,
            stderr: String::from_utf8_lossy(&dump_stderr).trim().to_owned(),
        });
    }

    // Producer succeeded: end of file for restic, which now writes the snapshot.
    drop(stdin);
    let status = restic.wait().await.map_err(|source| ResticError::Io {
        command: "backup --stdin".into(),
        source,
    })?;
    let restic_stdout = restic_out_task
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let restic_stderr = restic_err_task
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    classify("backup --stdin", status, &restic_stderr)?;
    let snapshot = snapshot_id("backup --stdin", &restic_stdout)?;
    Ok(Streamed {
        snapshot,
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Writes `data` as one stdin snapshot (for small files the runner makes itself: manifests).
pub(crate) async fn bytes_into_restic(
    data: &[u8],
    repo: &Repo,
    filename: &str,
    tags: &[String],
    host: &str,
) -> Result<String, ResticError> {
    let mut args = vec![
        "backup".to_owned(),
        "--json".to_owned(),
        "--stdin".to_owned(),
        "--stdin-filename".to_owned(),
        filename.to_owned(),
        "--host".to_owned(),
        host.to_owned(),
    ];
    for tag in tags {
        args.push("--tag".to_owned());
        args.push(tag.clone());
    }
    let mut command = repo.command(&args);
    command.stdin(Stdio::piped());
    let mut child = command.spawn().map_err(|source| ResticError::Spawn {
        program: "restic".into(),
        source,
    })?;
    let io = |source| ResticError::Io {
        command: "backup --stdin".into(),
        source,
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(data).await.map_err(io)?;
    }
    let out = child.wait_with_output().await.map_err(io)?;
    classify("backup --stdin", out.status, &out.stderr)?;
    snapshot_id("backup --stdin", &out.stdout)
}

/// Interrupts a restic that has not been fed yet, and waits for it.
async fn interrupt(restic: &mut tokio::process::Child) {
    if let Some(pid) = restic.id() {
        send_sigint(pid);
    }
    if tokio::time::timeout(INTERRUPT_GRACE, restic.wait())
        .await
        .is_err()
    {
        let _ = restic.start_kill();
        let _ = restic.wait().await;
    }
}

fn send_sigint(pid: u32) {
    if let Ok(raw) = i32::try_from(pid)
        && let Err(error) = kill(Pid::from_raw(raw), Signal::SIGINT)
    {
        tracing::warn!(%error, pid, "could not interrupt restic");
    }
}
