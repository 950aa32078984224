//! The JSON report for monitoring (written after every run, verify and drill), and `status`,
//! which reads it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How a command ended; also its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    /// Everything done.
    Ok,
    /// The local tier is complete, another tier failed or was skipped.
    Degraded,
    /// A dump, the local tier, a check or a drill failed.
    Failed,
}

impl Outcome {
    /// Exit code: 0 ok, 1 failed, 3 degraded (2 is a usage or config error).
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Failed => 1,
            Outcome::Degraded => 3,
        }
    }
}

/// State of one tier after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TierState {
    Ok,
    Skipped,
    Failed,
}

/// The report file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Report {
    /// The last `run`.
    pub(crate) last_run: Option<RunReport>,
    /// Per tier: what is known across runs.
    #[serde(default)]
    pub(crate) tiers: BTreeMap<String, TierSummary>,
    /// Per tier: the last `verify`.
    #[serde(default)]
    pub(crate) verify: BTreeMap<String, VerifyReport>,
    /// Per tier: the last `restore-drill`.
    #[serde(default)]
    pub(crate) drills: BTreeMap<String, DrillReport>,
}

/// Per tier, carried from run to run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TierSummary {
    pub(crate) repository: String,
    pub(crate) last_state: Option<TierState>,
    pub(crate) last_attempt: Option<String>,
    pub(crate) last_success: Option<String>,
    pub(crate) snapshots: Option<usize>,
    pub(crate) size_bytes: Option<u64>,
    pub(crate) error: Option<String>,
}

/// One `run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunReport {
    pub(crate) run_id: String,
    pub(crate) started: String,
    pub(crate) finished: String,
    pub(crate) seconds: f64,
    pub(crate) outcome: Outcome,
    pub(crate) items: Vec<ItemReport>,
    pub(crate) tiers: BTreeMap<String, TierRun>,
}

/// One thing backed up (an entity dump, the globals, a folder).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ItemReport {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) ok: bool,
    pub(crate) bytes: Option<u64>,
    pub(crate) snapshot: Option<String>,
    pub(crate) error: Option<String>,
}

/// One tier in one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TierRun {
    pub(crate) state: TierState,
    pub(crate) steps: Vec<String>,
    pub(crate) error: Option<String>,
}

/// One `verify` of a tier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VerifyReport {
    pub(crate) at: String,
    pub(crate) subset: String,
    pub(crate) ok: bool,
    pub(crate) error: Option<String>,
}

/// One `restore-drill` of a tier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DrillReport {
    pub(crate) at: String,
    pub(crate) ok: bool,
    pub(crate) seconds: f64,
    pub(crate) entities: Vec<DrillEntity>,
}

/// One entity of a drill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DrillEntity {
    pub(crate) entity: String,
    pub(crate) run_id: Option<String>,
    pub(crate) ok: bool,
    pub(crate) seconds: f64,
    pub(crate) tables: usize,
    pub(crate) rows: i64,
    pub(crate) problems: Vec<String>,
}

impl Report {
    /// Reads `file`; a missing file is an empty report, an unreadable one an error.
    pub(crate) fn load(file: &Path) -> anyhow::Result<Report> {
        match std::fs::read(file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: not a report: {e}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Report::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", file.display())),
        }
    }

    /// Writes `file` atomically (temporary file in the same folder, then rename), so a
    /// monitor never reads half a report.
    pub(crate) fn save(&self, file: &Path) -> anyhow::Result<()> {
        let dir = file
            .parent()
            .ok_or_else(|| anyhow::anyhow!("{}: no parent folder", file.display()))?;
        std::fs::create_dir_all(dir)?;
        let mut tmp = file.as_os_str().to_owned();
        tmp.push(".tmp");
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, file)?;
        Ok(())
    }

    /// The `status` text: last run per tier, age, snapshot counts, sizes.
    pub(crate) fn render(&self, now: jiff::Timestamp) -> String {
        let mut out = String::new();
        match &self.last_run {
            Some(run) => out.push_str(&format!(
                "last run {} ({}): {:?}, {} ago, {:.1} s\n",
                run.run_id,
                run.finished,
                run.outcome,
                age(&run.finished, now),
                run.seconds
            )),
            None => out.push_str("no run recorded yet\n"),
        }
        out.push_str(&format!(
            "{:<6} {:<8} {:<22} {:>10} {:>12}  {}\n",
            "tier", "state", "last success", "snapshots", "size", "error"
        ));
        for (name, tier) in &self.tiers {
            let success = tier
                .last_success
                .as_deref()
                .map_or_else(|| "never".to_owned(), |t| format!("{} ago", age(t, now)));
            out.push_str(&format!(
                "{:<6} {:<8} {:<22} {:>10} {:>12}  {}\n",
                name,
                tier.last_state
                    .map_or("-".to_owned(), |s| format!("{s:?}").to_lowercase()),
                success,
                tier.snapshots.map_or("-".to_owned(), |n| n.to_string()),
                tier.size_bytes.map_or("-".to_owned(), human_bytes),
                tier.error.as_deref().unwrap_or("")
            ));
        }
        for (name, v) in &self.verify {
            out.push_str(&format!(
                "verify {name}: subset {} {} ({} ago)\n",
                v.subset,
                if v.ok { "ok" } else { "FAILED" },
                age(&v.at, now)
            ));
        }
        for (name, d) in &self.drills {
            out.push_str(&format!(
                "restore drill {name}: {} in {:.1} s ({} ago)\n",
                if d.ok { "ok" } else { "FAILED" },
                d.seconds,
                age(&d.at, now)
            ));
        }
        out
    }
}

fn age(at: &str, now: jiff::Timestamp) -> String {
    let Ok(then) = at.parse::<jiff::Timestamp>() else {
        return "?".to_owned();
    };
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let codes = [Outcome::Ok, Outcome::Degraded, Outcome::Failed].map(Outcome::exit_code);
        assert_eq!(codes, [0, 3, 1]);
    }

    #[test]
    fn ages_and_sizes_read_well() {
        let now: jiff::Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        assert_eq!(age("2026-01-01T23:59:30Z", now), "30s");
        assert_eq!(age("2026-01-01T00:00:00Z", now), "24h");
        assert_eq!(age("2025-12-01T00:00:00Z", now), "32d");
        assert_eq!(age("garbage", now), "?");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
