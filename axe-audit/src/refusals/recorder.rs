//! [`RefusalRecorder`]: the background task that writes refusals, and its counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{Extensions, StatusCode};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::layer::Shared;
use super::{Captured, Refusal};
use crate::operator::OperatorLog;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    queued: AtomicU64,
    dropped: AtomicU64,
    recorded: AtomicU64,
    failed: AtomicU64,
}

/// What a [`RefusalLayer`](super::RefusalLayer) has done so far (shared, live counters).
#[derive(Debug, Clone)]
pub struct RefusalStats {
    counters: Arc<Counters>,
}

impl RefusalStats {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }

    /// Refusals handed to the recorder.
    #[must_use]
    pub fn queued(&self) -> u64 {
        self.counters.queued.load(Ordering::Relaxed)
    }

    /// Refusals dropped because the queue was full (or the recorder gone).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Refusals written to the operator log.
    #[must_use]
    pub fn recorded(&self) -> u64 {
        self.counters.recorded.load(Ordering::Relaxed)
    }

    /// Refusals the operator log refused to take (database trouble).
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }
}

impl Shared {
    /// Queues a record if `status` is one of the recorded ones; never waits.
    pub(crate) fn observe(&self, captured: Captured, status: StatusCode, extensions: &Extensions) {
        if !self.statuses.contains(&status) {
            return;
        }
        let refusal = Refusal {
            captured,
            status,
            reason: (self.reason)(status, extensions),
        };
        match self.tx.try_send(refusal) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // Warn at 1, 2, 4, 8... drops so a flood does not flood the log too.
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        "refused-request record dropped: the recorder queue is full or gone"
                    );
                }
            }
        }
    }
}

/// Writes queued refusals to the operator log, one transaction each, until every
/// [`RefusalLayer`](super::RefusalLayer) and service holding the queue is dropped.
#[derive(Debug)]
pub struct RefusalRecorder {
    rx: mpsc::Receiver<Refusal>,
    log: OperatorLog,
    counters: Arc<Counters>,
}

impl RefusalRecorder {
    pub(crate) fn new(
        rx: mpsc::Receiver<Refusal>,
        log: OperatorLog,
        counters: Arc<Counters>,
    ) -> Self {
        Self { rx, log, counters }
    }

    /// Runs until the queue closes and is drained.
    pub async fn run(mut self) {
        while let Some(refusal) = self.rx.recv().await {
            let (entity, event) = refusal.into_event();
            match self.log.record(entity.as_ref(), event).await {
                Ok(_) => {
                    self.counters.recorded.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "refused-request record not written");
                }
            }
        }
    }
}
