//! `backup-runner verify`: `restic check --read-data-subset n/N`, with `n` rotating through
//! `1..=N` (N = `check.cycle`) and persisted per tier, so that every pack is read once within
//! N verifications. A failed check keeps its `n`: the next verify reads the same part again
//! until it passes, so a damaged pack is reported every time, not once per cycle.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, TierName};
use crate::progress;
use crate::report::{Outcome, Report, VerifyReport};
use crate::restic::Repo;
use crate::run::tier_present;

/// Persisted rotation of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rotation {
    /// The subset to read next, `1..=cycle`.
    pub(crate) next: u32,
    /// The cycle this rotation was made for.
    pub(crate) cycle: u32,
}

impl Rotation {
    /// The rotation after a successful check of `self.next`.
    pub(crate) fn advanced(self) -> Rotation {
        Rotation {
            next: self.next % self.cycle + 1,
            cycle: self.cycle,
        }
    }

    /// `stored` adjusted to `cycle` (a changed cycle starts over at 1).
    pub(crate) fn for_cycle(stored: Option<Rotation>, cycle: u32) -> Rotation {
        match stored {
            Some(r) if r.cycle == cycle && (1..=cycle).contains(&r.next) => r,
            _ => Rotation { next: 1, cycle },
        }
    }
}

fn state_file(state_dir: &Path, tier: TierName) -> PathBuf {
    state_dir.join(format!("verify-{tier}.json"))
}

fn load(file: &Path) -> Option<Rotation> {
    let bytes = std::fs::read(file).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn save(file: &Path, rotation: Rotation) -> anyhow::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, serde_json::to_vec(&rotation)?)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

/// Verifies `only` (or every configured tier).
pub(crate) async fn verify(config: &Config, only: Option<TierName>) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Ok;
    let mut report = Report::load(&config.report_file).unwrap_or_default();
    for tier in config
        .tiers
        .iter()
        .filter(|t| only.is_none_or(|o| o == t.name))
    {
        let file = state_file(&config.state_dir, tier.name);
        let rotation = Rotation::for_cycle(load(&file), config.check_cycle);
        let subset = format!("{}/{}", rotation.next, rotation.cycle);
        let at = jiff::Timestamp::now().to_string();
        if let Err(reason) = tier_present(tier) {
            tracing::warn!(tier = %tier.name, %reason, "verify skipped");
            outcome = outcome.max(Outcome::Degraded);
            report.verify.insert(
                tier.name.as_str().to_owned(),
                VerifyReport {
                    at,
                    subset,
                    ok: false,
                    error: Some(format!("skipped: {reason}")),
                },
            );
            continue;
        }
        let repo = Repo::new(tier, config.lock_wait);
        let bar = progress::step(&format!("{}: check --read-data-subset {subset}", tier.name));
        let result = async {
            repo.unlock_stale().await?;
            repo.check_subset(rotation.next, rotation.cycle).await
        }
        .await;
        bar.finish_and_clear();
        match &result {
            Ok(()) => {
                save(&file, rotation.advanced())?;
                tracing::info!(tier = %tier.name, %subset, "check passed");
            }
            Err(e) => {
                save(&file, rotation)?;
                tracing::error!(tier = %tier.name, %subset, error = %e, "check failed");
                outcome = Outcome::Failed;
            }
        }
        println!(
            "{}: check --read-data-subset {subset}: {}",
            tier.name,
            if result.is_ok() { "ok" } else { "FAILED" }
        );
        report.verify.insert(
            tier.name.as_str().to_owned(),
            VerifyReport {
                at,
                subset,
                ok: result.is_ok(),
                error: result.err().map(|e| e.to_string()),
            },
        );
    }
    report.save(&config.report_file)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_visits_every_subset_once_per_cycle() {
        let mut r = Rotation::for_cycle(None, 4);
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(r.next);
            r = r.advanced();
        }
        assert_eq!(seen, [1, 2, 3, 4, 1, 2, 3, 4]);
    }

    #[test]
    fn a_changed_or_corrupt_rotation_starts_over() {
        let stored = Rotation { next: 5, cycle: 7 };
        assert_eq!(Rotation::for_cycle(Some(stored), 7), stored);
        assert_eq!(Rotation::for_cycle(Some(stored), 3).next, 1);
        let bad = Rotation { next: 0, cycle: 7 };
        assert_eq!(Rotation::for_cycle(Some(bad), 7).next, 1);
    }
}
