//! `backup-runner restore-drill`: proves that a tier's latest backup restores.
//!
//! Per entity: the newest manifest in the tier names its run; that run's dump is streamed
//! (`restic dump`) into `pg_restore` into a scratch database `axe_drill_<random>` on the same
//! server (never the live database: the name is generated and checked against it), the
//! scratch copy's row counts and checksums are compared with the manifest, and the scratch
//! database is dropped whatever happened.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Instant;

use axe_isolation::{EntityId, Ident};
use sha2::{Digest, Sha256};
use sqlx::Executor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{Config, TierName};
use crate::db;
use crate::manifest::{Manifest, compare, table_sums};
use crate::report::{DrillEntity, DrillReport, Outcome, Report};
use crate::restic::{Repo, Snapshot, classify};
use crate::run::{TAG, dump_file, manifest_file, tier_present};

/// Runs the drill on `tier` for `only` (or every entity with a manifest in the tier).
pub(crate) async fn drill(
    config: &Config,
    tier_name: TierName,
    only: &[EntityId],
) -> anyhow::Result<Outcome> {
    let tier = config
        .tier(tier_name)
        .ok_or_else(|| anyhow::anyhow!("tier {tier_name} is not configured"))?;
    tier_present(tier).map_err(|reason| anyhow::anyhow!("tier {tier_name}: {reason}"))?;
    let repo = Repo::new(tier, config.lock_wait);
    let clock = Instant::now();
    repo.unlock_stale().await?;
    let snapshots = repo.snapshots(&[TAG.to_owned()]).await?;

    // Newest manifest per entity.
    let mut latest: BTreeMap<String, &Snapshot> = BTreeMap::new();
    for s in snapshots
        .iter()
        .filter(|s| s.tag("kind") == Some("manifest"))
    {
        if let Some(entity) = s.tag("entity") {
            latest.insert(entity.to_owned(), s); // sorted oldest first: the last one wins
        }
    }
    let wanted: Vec<String> = if only.is_empty() {
        latest.keys().cloned().collect()
    } else {
        only.iter().map(ToString::to_string).collect()
    };
    if wanted.is_empty() {
        anyhow::bail!("tier {tier_name} holds no entity backup to drill");
    }

    let mut entities = Vec::new();
    for name in &wanted {
        let started = Instant::now();
        let mut result = DrillEntity {
            entity: name.clone(),
            run_id: None,
            ok: false,
            seconds: 0.0,
            tables: 0,
            rows: 0,
            problems: Vec::new(),
        };
        match (EntityId::new(name), latest.get(name)) {
            (Ok(entity), Some(manifest_snap)) => {
                if let Err(e) = drill_entity(
                    config,
                    &repo,
                    &snapshots,
                    &entity,
                    manifest_snap,
                    &mut result,
                )
                .await
                {
                    result.problems.push(format!("{e:#}"));
                }
            }
            (Err(e), _) => result.problems.push(format!("not an entity id: {e}")),
            (_, None) => result
                .problems
                .push(format!("no backup of entity {name} in tier {tier_name}")),
        }
        result.ok = result.problems.is_empty();
        result.seconds = started.elapsed().as_secs_f64();
        println!(
            "{tier_name}: entity {}: {} ({} tables, {} rows) in {:.2} s",
            result.entity,
            if result.ok {
                "restore matches the manifest"
            } else {
                "FAILED"
            },
            result.tables,
            result.rows,
            result.seconds
        );
        for problem in &result.problems {
            println!("  - {problem}");
        }
        entities.push(result);
    }

    let ok = entities.iter().all(|e| e.ok);
    let seconds = clock.elapsed().as_secs_f64();
    println!(
        "restore drill of tier {tier_name}: {} in {seconds:.2} s",
        if ok { "ok" } else { "FAILED" }
    );
    let mut report = Report::load(&config.report_file).unwrap_or_default();
    report.drills.insert(
        tier_name.as_str().to_owned(),
        DrillReport {
            at: jiff::Timestamp::now().to_string(),
            ok,
            seconds,
            entities,
        },
    );
    report.save(&config.report_file)?;
    Ok(if ok { Outcome::Ok } else { Outcome::Failed })
}

async fn drill_entity(
    config: &Config,
    repo: &Repo,
    snapshots: &[Snapshot],
    entity: &EntityId,
    manifest_snap: &Snapshot,
    result: &mut DrillEntity,
) -> anyhow::Result<()> {
    let manifest_bytes = restic_dump(repo, &manifest_snap.id, &manifest_file(entity)).await?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| anyhow::anyhow!("manifest of {entity} unreadable: {e}"))?;
    if manifest.entity != entity.as_str() {
        anyhow::bail!(
            "manifest names entity {:?}, expected {entity}",
            manifest.entity
        );
    }
    let run_id = manifest_snap
        .tag("run")
        .ok_or_else(|| anyhow::anyhow!("manifest snapshot has no run tag"))?;
    result.run_id = Some(run_id.to_owned());
    let dump = snapshots
        .iter()
        .rev()
        .find(|s| {
            s.tag("kind") == Some("dump")
                && s.tag("entity") == Some(entity.as_str())
                && s.tag("run") == Some(run_id)
        })
        .ok_or_else(|| anyhow::anyhow!("no dump of {entity} for run {run_id}"))?;

    let scratch = Ident::new(&format!(
        "axe_drill_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))?;
    if scratch.as_str() == config.database.name() {
        anyhow::bail!("refusing to restore into the live database");
    }
    let mut admin = db::connect(&config.database).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            scratch.quoted()
        )))
        .await?;
    let restored =
        restore_and_compare(config, repo, dump, entity, &manifest, &scratch, result).await;
    let dropped = admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            scratch.quoted()
        )))
        .await;
    restored?;
    dropped?;
    Ok(())
}

async fn restore_and_compare(
    config: &Config,
    repo: &Repo,
    dump: &Snapshot,
    entity: &EntityId,
    manifest: &Manifest,
    scratch: &Ident,
    result: &mut DrillEntity,
) -> anyhow::Result<()> {
    let url = db::url_of(&config.database, scratch.as_str()).map_err(anyhow::Error::msg)?;
    let mut restore = db::tool(&config.database, "pg_restore");
    restore
        .arg(format!("--dbname={url}"))
        .arg("--no-owner")
        .arg("--no-acl")
        .arg("--exit-on-error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut pg_restore = restore.spawn()?;
    let mut restic = repo.command(["dump", dump.id.as_str(), &format!("/{}", dump_file(entity))]);
    let mut restic = restic.spawn()?;

    let (Some(mut from), Some(mut into)) = (restic.stdout.take(), pg_restore.stdin.take()) else {
        anyhow::bail!("pipes missing");
    };
    let mut restic_err = restic.stderr.take();
    let mut restore_err = pg_restore.stderr.take();
    let copy = async {
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            into.write_all(&buf[..n]).await?;
            bytes += n as u64;
        }
        drop(into);
        Ok::<_, std::io::Error>((bytes, hex::encode(hasher.finalize())))
    };
    let read_err = |pipe: Option<tokio::process::ChildStderr>| async move {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf).await;
        }
        buf
    };
    let (copied, restic_stderr, restore_stderr) = tokio::join!(
        copy,
        read_err(restic_err.take()),
        read_err(restore_err.take())
    );
    let restic_status = restic.wait().await?;
    let restore_status = pg_restore.wait().await?;
    classify("dump", restic_status, &restic_stderr)?;
    let (bytes, sha256) = copied?;
    if !restore_status.success() {
        anyhow::bail!(
            "pg_restore failed ({restore_status}): {}",
            String::from_utf8_lossy(&restore_stderr).trim()
        );
    }
    if bytes != manifest.dump.bytes || sha256 != manifest.dump.sha256 {
        result.problems.push(format!(
            "dump differs from the manifest: {bytes} bytes sha256 {sha256}, manifest says {} bytes sha256 {}",
            manifest.dump.bytes, manifest.dump.sha256
        ));
    }

    let mut conn = db::connect_to(&config.database, scratch.as_str()).await?;
    let found = table_sums(&mut conn, entity).await?;
    drop(conn);
    result.tables = found.len();
    result.rows = found.values().map(|t| t.rows).sum();
    for m in compare(&manifest.tables, &found) {
        let show = |t: &Option<crate::manifest::TableSums>| match t {
            Some(t) => format!("{} rows, checksum {}", t.rows, t.checksum),
            None => "absent".to_owned(),
        };
        result.problems.push(format!(
            "table {}: manifest {}, restored {}",
            m.table,
            show(&m.expected),
            show(&m.found)
        ));
    }
    Ok(())
}

/// `restic dump SNAPSHOT /FILE` into memory (for small files: manifests).
async fn restic_dump(repo: &Repo, snapshot: &str, file: &str) -> anyhow::Result<Vec<u8>> {
    let path = format!("/{file}");
    let out = repo
        .run("dump", &["dump".to_owned(), snapshot.to_owned(), path])
        .await?;
    Ok(out)
}
