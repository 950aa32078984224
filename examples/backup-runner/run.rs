//! `backup-runner run`: dumps into the local tier, copies to ring and cold, retention, report.
//!
//! Order: local tier first (stale locks, leftovers of killed runs, entity dumps with their
//! manifests, globals, folders, retention); then each other tier on its own (init if new,
//! stale locks, `restic copy` from local, retention). A failed dump or local tier makes the
//! run *failed*; a secondary tier that fails or is skipped (cold disk not mounted) makes it
//! *degraded*; the other tiers go on either way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use axe_isolation::EntityId;

use crate::config::{Config, Globals, Tier, TierName};
use crate::db;
use crate::manifest::{DumpFacts, MANIFEST_FORMAT, Manifest, table_sums};
use crate::progress;
use crate::report::{ItemReport, Outcome, Report, RunReport, TierRun, TierState};
use crate::restic::{Repo, ResticError};
use crate::stream;

/// Tag on every snapshot the runner makes; retention only ever touches these.
pub(crate) const TAG: &str = "axe";

/// File name of an entity's dump inside its snapshot.
pub(crate) fn dump_file(entity: &EntityId) -> String {
    format!("{}.dump", entity.schema())
}

/// File name of an entity's manifest inside its snapshot.
pub(crate) fn manifest_file(entity: &EntityId) -> String {
    format!("{}.manifest.json", entity.schema())
}

fn tags(kind: &str, run_id: &str, extra: Option<(&str, &str)>) -> Vec<String> {
    let mut tags = vec![
        TAG.to_owned(),
        format!("kind:{kind}"),
        format!("run:{run_id}"),
        "tier:local".to_owned(),
    ];
    if let Some((k, v)) = extra {
        tags.push(format!("{k}:{v}"));
    }
    tags
}

/// A new run id: UTC time and a random suffix (sortable, unique across hosts).
pub(crate) fn new_run_id() -> String {
    let now = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{now}-{}", &random[..8])
}

/// Whether the tier's storage is there: for a tier with a `mount`, that it is a mount point
/// (an unplugged disk leaves an empty folder behind); for a local path, that its parent
/// folder exists.
pub(crate) fn tier_present(tier: &Tier) -> Result<(), String> {
    if let Some(mount) = &tier.mount {
        return if is_mount_point(mount) {
            Ok(())
        } else {
            Err(format!("{} is not mounted", mount.display()))
        };
    }
    let path = Path::new(&tier.repository);
    if path.is_absolute() {
        let parent = path.parent().unwrap_or(path);
        if !parent.is_dir() {
            return Err(format!("{} does not exist", parent.display()));
        }
    }
    Ok(())
}

fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    match path.parent().map(std::fs::metadata) {
        Some(Ok(parent)) => parent.dev() != meta.dev() || parent.ino() == meta.ino(),
        Some(Err(_)) => false,
        None => true, // `/`
    }
}

/// Runs a backup; returns the outcome (the report is written either way).
pub(crate) async fn run(config: &Config) -> anyhow::Result<Outcome> {
    let run_id = new_run_id();
    let started = jiff::Timestamp::now();
    let clock = Instant::now();
    tracing::info!(%run_id, "backup run started");

    let local_tier = config
        .tier(TierName::Local)
        .ok_or_else(|| anyhow::anyhow!("no local tier"))?;
    let local = Repo::new(local_tier, config.lock_wait);
    let mut items = Vec::new();
    let mut tiers = BTreeMap::new();

    let local_run = local_phase(config, &local, &run_id, &mut items).await;
    let local_ok = local_run.state == TierState::Ok;
    tiers.insert(TierName::Local, local_run);

    for tier in config.tiers.iter().filter(|t| t.name != TierName::Local) {
        let result = secondary(config, tier, &local).await;
        tiers.insert(tier.name, result);
    }

    let items_ok = items.iter().all(|i| i.ok);
    let outcome = if !local_ok || !items_ok {
        Outcome::Failed
    } else if tiers.values().any(|t| t.state != TierState::Ok) {
        Outcome::Degraded
    } else {
        Outcome::Ok
    };

    let finished = jiff::Timestamp::now();
    let mut report = Report::load(&config.report_file).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "previous report unreadable; starting a new one");
        Report::default()
    });
    for tier in &config.tiers {
        let Some(run) = tiers.get(&tier.name) else {
            continue;
        };
        let summary = report
            .tiers
            .entry(tier.name.as_str().to_owned())
            .or_default();
        summary.repository = tier.repository.clone();
        summary.last_state = Some(run.state);
        summary.last_attempt = Some(finished.to_string());
        summary.error = run.error.clone();
        if run.state == TierState::Ok {
            summary.last_success = Some(finished.to_string());
            let repo = Repo::new(tier, config.lock_wait);
            match repo.snapshots(&[TAG.to_owned()]).await {
                Ok(list) => summary.snapshots = Some(list.len()),
                Err(e) => tracing::warn!(tier = %tier.name, error = %e, "snapshot count failed"),
            }
            match repo.stats().await {
                Ok(stats) => summary.size_bytes = Some(stats.total_size),
                Err(e) => tracing::warn!(tier = %tier.name, error = %e, "size failed"),
            }
        }
    }
    let run_report = RunReport {
        run_id: run_id.clone(),
        started: started.to_string(),
        finished: finished.to_string(),
        seconds: clock.elapsed().as_secs_f64(),
        outcome,
        items,
        tiers: tiers
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect(),
    };
    report.last_run = Some(run_report.clone());
    report.save(&config.report_file)?;
    crate::webhook::notify(config, &run_report).await;
    tracing::info!(%run_id, ?outcome, "backup run finished");
    Ok(outcome)
}

async fn local_phase(
    config: &Config,
    local: &Repo,
    run_id: &str,
    items: &mut Vec<ItemReport>,
) -> TierRun {
    let mut steps = Vec::new();
    let setup: Result<(), ResticError> = async {
        if local.ensure(None).await? {
            steps.push("init".to_owned());
        }
        local.unlock_stale().await?;
        steps.push("unlock-stale".to_owned());
        let removed = forget_incomplete_runs(local, run_id).await?;
        if removed > 0 {
            steps.push(format!("forgot {removed} snapshots of incomplete runs"));
        }
        Ok(())
    }
    .await;
    if let Err(e) = setup {
        tracing::error!(error = %e, "local tier unusable");
        return TierRun {
            state: TierState::Failed,
            steps,
            error: Some(e.to_string()),
        };
    }

    match db::entities(&config.database, &config.entities).await {
        Ok(entities) => {
            for entity in &entities {
                items.push(backup_entity(config, local, run_id, entity).await);
            }
        }
        Err(e) => items.push(ItemReport {
            kind: "entities".into(),
            name: "all".into(),
            ok: false,
            bytes: None,
            snapshot: None,
            error: Some(format!("cannot list entities: {e}")),
        }),
    }
    if config.database.globals != Globals::Off {
        items.push(backup_globals(config, local, run_id).await);
    }
    for folder in &config.folders {
        let bar = progress::step(&format!("folder {}", folder.display()));
        let result = local
            .backup_paths(
                std::slice::from_ref(folder),
                &tags("folder", run_id, None),
                &config.host,
            )
            .await;
        bar.finish_and_clear();
        items.push(ItemReport {
            kind: "folder".into(),
            name: folder.display().to_string(),
            ok: result.is_ok(),
            bytes: None,
            snapshot: result.as_ref().ok().cloned(),
            error: result.err().map(|e| e.to_string()),
        });
    }
    steps.push("backup".to_owned());

    let flags = config
        .tier(TierName::Local)
        .map(|t| t.retention.flags())
        .unwrap_or_default();
    let mut error = None;
    if !flags.is_empty() {
        let bar = progress::step("local: forget --prune");
        match local.forget_prune(TAG, &flags).await {
            Ok(()) => steps.push("forget --prune".to_owned()),
            Err(e) => error = Some(e.to_string()),
        }
        bar.finish_and_clear();
    }
    let state = if error.is_some() {
        TierState::Failed
    } else {
        TierState::Ok
    };
    TierRun {
        state,
        steps,
        error,
    }
}

/// Forgets the dump snapshots of earlier runs that never got their manifest (a run killed
/// between the two): a drill would otherwise pick a dump nobody vouched for.
async fn forget_incomplete_runs(local: &Repo, run_id: &str) -> Result<usize, ResticError> {
    let list = local.snapshots(&[TAG.to_owned()]).await?;
    let with_manifest: BTreeSet<(String, String)> = list
        .iter()
        .filter(|s| s.tag("kind") == Some("manifest"))
        .filter_map(|s| Some((s.tag("run")?.to_owned(), s.tag("entity")?.to_owned())))
        .collect();
    let orphans: Vec<String> = list
        .iter()
        .filter(|s| s.tag("kind") == Some("dump") && s.tag("run") != Some(run_id))
        .filter(|s| match (s.tag("run"), s.tag("entity")) {
            (Some(r), Some(e)) => !with_manifest.contains(&(r.to_owned(), e.to_owned())),
            _ => false,
        })
        .map(|s| s.id.clone())
        .collect();
    if !orphans.is_empty() {
        tracing::warn!(count = orphans.len(), "forgetting dumps of incomplete runs");
        local.forget_ids(&orphans).await?;
    }
    Ok(orphans.len())
}

async fn backup_entity(
    config: &Config,
    local: &Repo,
    run_id: &str,
    entity: &EntityId,
) -> ItemReport {
    let bar = progress::bytes(&format!("entity {entity}"));
    let result = dump_entity(config, local, run_id, entity, &bar).await;
    bar.finish_and_clear();
    match result {
        Ok(manifest) => ItemReport {
            kind: "entity".into(),
            name: entity.to_string(),
            ok: true,
            bytes: Some(manifest.dump.bytes),
            snapshot: Some(manifest.dump.snapshot),
            error: None,
        },
        Err(e) => {
            tracing::error!(%entity, error = %e, "entity backup failed");
            ItemReport {
                kind: "entity".into(),
                name: entity.to_string(),
                ok: false,
                bytes: None,
                snapshot: None,
                error: Some(format!("{e:#}")),
            }
        }
    }
}

/// One entity: a repeatable-read transaction exports its snapshot to `pg_dump` and reads the
/// table sums, so dump and manifest describe the same data.
async fn dump_entity(
    config: &Config,
    local: &Repo,
    run_id: &str,
    entity: &EntityId,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Manifest> {
    let db = &config.database;
    let mut conn = db::connect(db).await?;
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut conn)
        .await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut conn)
        .await?;
    let tables = table_sums(&mut conn, entity).await?;

    let mut pg_dump = db::tool(db, "pg_dump");
    pg_dump
        .arg(format!("--dbname={}", db.url))
        .arg(format!("--schema={}", entity.schema().quoted()))
        .arg("--strict-names")
        .arg("--format=custom")
        .arg("--compress=0")
        .arg(format!("--snapshot={snapshot}"));
    let file = dump_file(entity);
    let streamed = stream::into_restic(
        pg_dump,
        "pg_dump",
        local,
        &file,
        &tags("dump", run_id, Some(("entity", entity.as_str()))),
        &config.host,
        bar,
    )
    .await;
    // The exported snapshot is needed only until pg_dump has started; end it either way.
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
    let streamed = streamed?;

    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        entity: entity.to_string(),
        run_id: run_id.to_owned(),
        created: jiff::Timestamp::now().to_string(),
        schema: entity.schema().to_string(),
        tables,
        dump: DumpFacts {
            file,
            bytes: streamed.bytes,
            sha256: streamed.sha256,
            snapshot: streamed.snapshot,
        },
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    stream::bytes_into_restic(
        &json,
        local,
        &manifest_file(entity),
        &tags("manifest", run_id, Some(("entity", entity.as_str()))),
        &config.host,
    )
    .await?;
    tracing::info!(%entity, bytes = manifest.dump.bytes, "entity backed up");
    Ok(manifest)
}

async fn backup_globals(config: &Config, local: &Repo, run_id: &str) -> ItemReport {
    let db = &config.database;
    let mut command = db::tool(db, "pg_dumpall");
    command
        .arg(format!("--dbname={}", db.url))
        .arg(format!("--database={}", db.name()))
        .arg("--globals-only");
    if db.globals == Globals::NoRolePasswords {
        command.arg("--no-role-passwords");
    }
    let bar = progress::bytes("globals");
    let result = stream::into_restic(
        command,
        "pg_dumpall",
        local,
        "globals.sql",
        &tags("globals", run_id, None),
        &config.host,
        &bar,
    )
    .await;
    bar.finish_and_clear();
    match result {
        Ok(s) => ItemReport {
            kind: "globals".into(),
            name: "globals".into(),
            ok: true,
            bytes: Some(s.bytes),
            snapshot: Some(s.snapshot),
            error: None,
        },
        Err(e) => ItemReport {
            kind: "globals".into(),
            name: "globals".into(),
            ok: false,
            bytes: None,
            snapshot: None,
            error: Some(e.to_string()),
        },
    }
}

/// A ring or cold tier: present? → init if new → stale locks → copy from local → retention.
async fn secondary(config: &Config, tier: &Tier, local: &Repo) -> TierRun {
    if let Err(reason) = tier_present(tier) {
        tracing::warn!(tier = %tier.name, %reason, "tier skipped");
        return TierRun {
            state: TierState::Skipped,
            steps: Vec::new(),
            error: Some(reason),
        };
    }
    let repo = Repo::new(tier, config.lock_wait);
    let mut steps = Vec::new();
    let bar = progress::step(&format!("{}: copy", tier.name));
    let result: Result<(), ResticError> = async {
        if repo.ensure(Some(local)).await? {
            steps.push("init".to_owned());
        }
        repo.unlock_stale().await?;
        steps.push("unlock-stale".to_owned());
        repo.copy_from(local, TAG).await?;
        steps.push("copy".to_owned());
        let flags = tier.retention.flags();
        if !flags.is_empty() {
            repo.forget_prune(TAG, &flags).await?;
            steps.push("forget --prune".to_owned());
        }
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    match result {
        Ok(()) => TierRun {
            state: TierState::Ok,
            steps,
            error: None,
        },
        Err(e) => {
            tracing::warn!(tier = %tier.name, error = %e, "tier failed");
            TierRun {
                state: TierState::Failed,
                steps,
                error: Some(e.to_string()),
            }
        }
    }
}
