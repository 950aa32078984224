//! Swap, rollback and drain: the control plane's only writes to the routing state.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::color::Color;
use crate::probe;
use crate::state::{ProxyState, SwapRecord};

/// How often a drain checks the old color's in-flight count.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// Which flip is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Full checks on the passive color, then flip.
    Swap,
    /// Flip back; the other color only has to answer `/readyz` once.
    Rollback,
    /// A rollback started by passive health.
    AutoRollback,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Swap => "swap",
            Kind::Rollback => "rollback",
            Kind::AutoRollback => "auto-rollback",
        }
    }
}

/// Runs the checks for `kind` and flips the routing state.
pub(crate) async fn flip(
    state: &Arc<ProxyState>,
    kind: Kind,
    reason: Option<String>,
) -> Result<SwapRecord, String> {
    let started = Instant::now();
    let Ok(_lock) = state.swap_lock.try_lock() else {
        return Err("another swap or rollback is in progress".into());
    };
    if state.shutdown.is_fired() {
        return Err("the proxy is shutting down".into());
    }
    let from = state.routes.load().active;
    let to = from.other();
    let checks = match kind {
        Kind::Swap => {
            async {
                probe::readyz(state, to, state.config.ready_checks).await?;
                probe::mcp(state, to).await
            }
            .await
        }
        Kind::Rollback | Kind::AutoRollback => probe::readyz(state, to, 1).await,
    };
    if let Err(why) = checks {
        tracing::warn!(kind = kind.as_str(), %from, %to, reason = %why, "refused");
        return Err(format!("{} to {to} refused: {why}", kind.as_str()));
    }
    let checks_ms = started.elapsed().as_millis();
    if let Err(e) = crate::state_file::store(&state.config.state_file, to) {
        tracing::error!(error = %e, "cannot persist the active color");
        return Err(format!(
            "{} to {to} refused: cannot persist the active color to {}: {e}",
            kind.as_str(),
            state.config.state_file.display()
        ));
    }
    let deadline = Instant::now() + state.config.drain;
    let snapshot = state.routes.flip(to, deadline);
    let record = SwapRecord {
        kind: kind.as_str(),
        from,
        to,
        at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
        checks_ms,
        first_response_ms: None,
        drained_ms: None,
        streams_ended: None,
        reason,
    };
    state.record_swap(record.clone(), started, snapshot.generation);
    match kind {
        Kind::Swap => state.passive.watch(to, snapshot.generation),
        Kind::Rollback | Kind::AutoRollback => state.passive.stop(),
    }
    tracing::info!(kind = kind.as_str(), %from, %to, checks_ms = checks_ms as u64, drain_ms = state.config.drain.as_millis() as u64, "flipped");
    tokio::spawn(drain(
        Arc::clone(state),
        snapshot.generation,
        from,
        deadline,
    ));
    Ok(record)
}

/// Drains `from` after the flip `generation`.
///
/// The old color counts as drained (`drained_ms` in `status`) as soon as nothing is in
/// flight there. Its sessions keep being routed to it until the deadline (the affinity
/// window), so the drain state only ends early when no session of that color is tracked (or
/// the frame servers share a session store). At the deadline its remaining SSE streams are
/// ended at an event boundary. A later flip takes over and this task just stops.
async fn drain(state: Arc<ProxyState>, generation: u64, from: Color, deadline: Instant) {
    let flipped = Instant::now();
    let mut idle_noted = false;
    loop {
        tokio::time::sleep(DRAIN_POLL).await;
        if state.routes.load().generation != generation {
            return;
        }
        if !idle_noted && state.in_flight(from) == 0 {
            idle_noted = true;
            state.record_drained(from, flipped.elapsed().as_millis());
            tracing::info!(color = %from, "drained: nothing in flight");
        }
        // (The session scan only runs once the old color is idle.)
        if idle_noted
            && state.in_flight(from) == 0
            && (state.config.shared_session_store || !state.routes.affinity().has_color(from))
        {
            if state.routes.end_drain(generation) {
                state.routes.affinity().forget_color(from);
                state.record_streams_ended(from, 0);
            }
            return;
        }
        if Instant::now() >= deadline {
            if state.routes.end_drain(generation) {
                let ended = state.end_streams(from);
                state.routes.affinity().forget_color(from);
                state.record_streams_ended(from, ended);
                tracing::info!(color = %from, streams_ended = ended, still_in_flight = state.in_flight(from), "drain deadline passed");
            }
            return;
        }
    }
}

/// Passive health asked for a rollback of the flip `generation`.
pub(crate) async fn auto_rollback(state: Arc<ProxyState>, generation: u64, reason: String) {
    if state.routes.load().generation != generation {
        return;
    }
    tracing::warn!(%reason, "automatic rollback");
    if let Err(why) = flip(&state, Kind::AutoRollback, Some(reason)).await {
        tracing::error!(reason = %why, "automatic rollback failed");
    }
}
