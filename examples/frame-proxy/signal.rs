//! A fire-once signal on a `tokio::sync::watch` channel (what tokio-util's
//! `CancellationToken` does, in twenty lines, so the example needs no extra crate).

use std::future::Future;

use tokio::sync::watch;

/// Fired once; every waiter, present or future, sees it.
#[derive(Clone)]
pub(crate) struct Trigger {
    tx: watch::Sender<bool>,
}

impl Trigger {
    /// Not fired yet.
    pub(crate) fn new() -> Self {
        Trigger {
            tx: watch::Sender::new(false),
        }
    }

    /// Fires the signal (idempotent).
    pub(crate) fn fire(&self) {
        self.tx.send_replace(true);
    }

    /// Whether it has fired.
    pub(crate) fn is_fired(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once fired; owns what it needs, so it can be boxed into a body.
    pub(crate) fn fired(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            // `wait_for` returns at once if already fired; an error means the sender is
            // gone, which only happens when the whole state is dropped: treat it as fired.
            let _ = rx.wait_for(|fired| *fired).await;
        }
    }
}
