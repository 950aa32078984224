//! Everything the data plane and the control plane share, wired once in `main`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Serialize;

use crate::color::Color;
use crate::config::Config;
use crate::passive::PassiveHealth;
use crate::routing::Routes;
use crate::signal::Trigger;

/// Pooled HTTP/1.1 client of the data plane for HTTP/2 client connections (request bodies
/// stream straight through); HTTP/1.1 client connections use [`crate::upstream::Paired`].
pub(crate) type DataClient = Client<HttpConnector, Incoming>;
/// Client of the readiness probes and the control CLI (small, fully built bodies).
pub(crate) type ProbeClient = Client<HttpConnector, Full<Bytes>>;

/// What the last swap or rollback did (shown by `status`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SwapRecord {
    /// `swap`, `rollback` or `auto-rollback`.
    pub(crate) kind: &'static str,
    /// Previously active color.
    pub(crate) from: Color,
    /// Newly active color.
    pub(crate) to: Color,
    /// Milliseconds since the Unix epoch when the flip happened.
    pub(crate) at_unix_ms: u128,
    /// Milliseconds the readiness checks took.
    pub(crate) checks_ms: u128,
    /// Milliseconds from the admin call to the first response served by the new color.
    pub(crate) first_response_ms: Option<u128>,
    /// Milliseconds from the flip until the old color had nothing in flight (or the deadline).
    pub(crate) drained_ms: Option<u128>,
    /// SSE streams of the old color ended at the drain deadline.
    pub(crate) streams_ended: Option<usize>,
    /// Why an automatic rollback happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// Per color: requests in flight (until their response body ends) and the token that ends
/// its SSE streams.
pub(crate) struct ColorSlot {
    in_flight: AtomicUsize,
    streams: Mutex<Trigger>,
    open_streams: AtomicUsize,
    /// Idle upstream connections parked beside their client connections.
    parked: AtomicUsize,
}

impl ColorSlot {
    fn new() -> Self {
        ColorSlot {
            in_flight: AtomicUsize::new(0),
            streams: Mutex::new(Trigger::new()),
            open_streams: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
        }
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, Trigger> {
        // Replacing a token is a single assignment: a poisoned lock holds a valid token.
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The shared state.
pub(crate) struct ProxyState {
    pub(crate) config: Config,
    pub(crate) routes: Routes,
    pub(crate) data_client: DataClient,
    pub(crate) probe_client: ProbeClient,
    pub(crate) passive: PassiveHealth,
    slots: [ColorSlot; 2],
    last_swap: Mutex<Option<SwapRecord>>,
    /// Set by a flip; the first response of the new color records the swap time.
    first_pending: AtomicBool,
    swap_started: Mutex<Option<(Instant, u64)>>,
    /// Serialises swaps and rollbacks.
    pub(crate) swap_lock: tokio::sync::Mutex<()>,
    /// Cancelled when the process shuts down.
    pub(crate) shutdown: Trigger,
    /// The main runtime: control-plane work started from the data plane (an automatic
    /// rollback) runs there, not on a data-plane thread.
    pub(crate) control_runtime: tokio::runtime::Handle,
}

/// Decrements a color's in-flight count when dropped.
pub(crate) struct InFlightGuard {
    state: &'static ProxyState,
    color: Color,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.state.slots[self.color.index()]
            .in_flight
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts one open SSE stream of a color while alive.
pub(crate) struct StreamGuard {
    state: &'static ProxyState,
    color: Color,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.state.slots[self.color.index()]
            .open_streams
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl ProxyState {
    /// Builds the clients and the initial routing state. Called on the main runtime.
    pub(crate) fn new(config: Config, active: Color) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let data_client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle)
            .pool_max_idle_per_host(config.pool_max_idle)
            // Only requests that were provably never written are retried: hyper-util retries
            // a request when a reused pooled connection turned out closed before the request
            // started (TrySendError::Retryable with connection_reused). Nothing else is.
            .retry_canceled_requests(true)
            .build(connector.clone());
        let probe_client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle)
            .pool_max_idle_per_host(2)
            .build(connector);
        Arc::new(ProxyState {
            routes: Routes::new(active, config.max_sessions, config.shared_session_store),
            passive: PassiveHealth::new(config.auto_rollback.clone()),
            config,
            data_client,
            probe_client,
            slots: [ColorSlot::new(), ColorSlot::new()],
            last_swap: Mutex::new(None),
            first_pending: AtomicBool::new(false),
            swap_started: Mutex::new(None),
            swap_lock: tokio::sync::Mutex::new(()),
            shutdown: Trigger::new(),
            control_runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Lends `state` to the data plane for the rest of the process (called once, by
    /// [`crate::server::serve`]).
    ///
    /// The data plane holds this `'static` borrow instead of cloning the `Arc`: every clone
    /// and drop is an atomic update of one shared counter, and with a request touching it
    /// several times from every data-plane thread, that cache line would bounce between the
    /// cores on each request. The state lives until the process exits anyway.
    pub(crate) fn for_data_plane(state: &Arc<Self>) -> &'static Arc<Self> {
        Box::leak(Box::new(Arc::clone(state)))
    }

    /// Counts a request to `color` unless `max_in_flight` is reached.
    pub(crate) fn enter(&'static self, color: Color) -> Option<InFlightGuard> {
        let slot = &self.slots[color.index()];
        let before = slot.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlightGuard { state: self, color };
        (before < self.config.max_in_flight).then_some(guard)
    }

    /// Counts one more parked upstream connection of `color` unless `pool_max_idle` are.
    pub(crate) fn try_park(&self, color: Color) -> bool {
        let parked = &self.slots[color.index()].parked;
        parked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.config.pool_max_idle).then_some(n + 1)
            })
            .is_ok()
    }

    /// Counts one parked upstream connection of `color` less.
    pub(crate) fn unpark(&self, color: Color) {
        self.slots[color.index()]
            .parked
            .fetch_sub(1, Ordering::AcqRel);
    }

    /// Registers an SSE stream of `color`: its guard and the token that ends it.
    pub(crate) fn open_stream(&'static self, color: Color) -> (StreamGuard, Trigger) {
        let slot = &self.slots[color.index()];
        slot.open_streams.fetch_add(1, Ordering::AcqRel);
        let token = slot.streams().clone();
        (StreamGuard { state: self, color }, token)
    }

    /// Ends every open SSE stream of `color` (at their next event boundary); returns how many
    /// were open. Streams opened later get a fresh token.
    pub(crate) fn end_streams(&self, color: Color) -> usize {
        let slot = &self.slots[color.index()];
        let old = std::mem::replace(&mut *slot.streams(), Trigger::new());
        // Counted before firing: a stream on another data-plane thread may end (and stop
        // counting) the moment the token fires.
        let open = slot.open_streams.load(Ordering::Acquire);
        old.fire();
        open
    }

    /// Requests of `color` in flight (including open streams).
    pub(crate) fn in_flight(&self, color: Color) -> usize {
        self.slots[color.index()].in_flight.load(Ordering::Acquire)
    }

    /// Open SSE streams of `color`.
    pub(crate) fn open_streams(&self, color: Color) -> usize {
        self.slots[color.index()]
            .open_streams
            .load(Ordering::Acquire)
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Option<SwapRecord>> {
        self.last_swap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The last swap, if any.
    pub(crate) fn last_swap(&self) -> Option<SwapRecord> {
        self.records().clone()
    }

    /// Stores the record of a flip of `generation` that was requested at `started`.
    pub(crate) fn record_swap(&self, record: SwapRecord, started: Instant, generation: u64) {
        *self.records() = Some(record);
        *self
            .swap_started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((started, generation));
        self.first_pending.store(true, Ordering::Release);
    }

    /// Called for every response: the first one of the active color after a flip sets
    /// `first_response_ms`.
    pub(crate) fn note_response(&self, color: Color) {
        if !self.first_pending.load(Ordering::Acquire) {
            return;
        }
        let state = self.routes.load();
        if color != state.active {
            return;
        }
        let started = *self
            .swap_started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((started, generation)) = started
            && generation == state.generation
            && self
                .first_pending
                .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            && let Some(record) = self.records().as_mut()
        {
            record.first_response_ms = Some(started.elapsed().as_millis());
        }
    }

    /// Notes when the old color of the last flip had nothing in flight any more.
    pub(crate) fn record_drained(&self, from: Color, drained_ms: u128) {
        if let Some(record) = self.records().as_mut()
            && record.from == from
            && record.drained_ms.is_none()
        {
            record.drained_ms = Some(drained_ms);
        }
    }

    /// Notes how many SSE streams of the old color were ended when its drain finished.
    pub(crate) fn record_streams_ended(&self, from: Color, ended: usize) {
        if let Some(record) = self.records().as_mut()
            && record.from == from
        {
            record.streams_ended = Some(ended);
        }
    }
}
