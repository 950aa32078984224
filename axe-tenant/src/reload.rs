//! Watching `customers.yaml`: [`CustomerRegistry::watch`] polls the file and
//! reloads it when its bytes change.
//!
//! Polling rather than file-system events: it sees every way a file is
//! replaced (editors that write a temporary file and rename it, Kubernetes
//! ConfigMap symlink swaps, a file on a network mount), costs one small read
//! per interval, and is simple to test. Call
//! [`reload`](CustomerRegistry::reload) yourself for an immediate reload
//! (on SIGHUP, or from an admin endpoint).

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::CustomerRegistry;

/// The polling task of [`CustomerRegistry::watch`]. Dropping it stops the
/// polling.
#[derive(Debug)]
#[must_use = "dropping the handle stops watching"]
pub struct WatchHandle {
    task: JoinHandle<()>,
}

impl WatchHandle {
    /// Stops watching.
    pub fn stop(self) {}
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CustomerRegistry {
    /// Polls the file every `every` and [`reload`](Self::reload)s it when it
    /// changed; a bad file is logged and the last good configuration kept.
    /// The read and parse run on the blocking pool.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn watch(&self, every: Duration) -> WatchHandle {
        let registry = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let r = registry.clone();
                // Errors are logged by reload itself.
                if let Err(e) = tokio::task::spawn_blocking(move || r.reload()).await {
                    tracing::error!(error = %e, "customers.yaml reload task failed");
                }
            }
        });
        WatchHandle { task }
    }
}
