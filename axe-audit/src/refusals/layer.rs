//! [`RefusalLayer`] and its builder.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::HeaderName;
use http::{Extensions, StatusCode};
use tokio::sync::mpsc;
use tower_layer::Layer;

use super::recorder::{Counters, RefusalRecorder, RefusalStats};
use super::service::RefusalService;
use super::{RefusalReason, default_peer_ip, default_reason};
use crate::operator::OperatorLog;

type PeerIpFn = dyn Fn(&Extensions) -> Option<IpAddr> + Send + Sync;
type ReasonFn = dyn Fn(StatusCode, &Extensions) -> Option<RefusalReason> + Send + Sync;

/// What every [`RefusalService`] of one layer shares.
pub(crate) struct Shared {
    pub(crate) tx: mpsc::Sender<super::Refusal>,
    pub(crate) statuses: Vec<StatusCode>,
    pub(crate) forwarded_hops: usize,
    pub(crate) request_id_header: HeaderName,
    pub(crate) peer_ip: Arc<PeerIpFn>,
    pub(crate) reason: Arc<ReasonFn>,
    pub(crate) counters: Arc<Counters>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("statuses", &self.statuses)
            .field("forwarded_hops", &self.forwarded_hops)
            .field("request_id_header", &self.request_id_header)
            .finish_non_exhaustive()
    }
}

/// Records refused requests (see the [module docs](super)). Build it with
/// [`RefusalLayer::builder`]; place it outside the authentication and tenancy layers.
#[derive(Debug, Clone)]
pub struct RefusalLayer {
    shared: Arc<Shared>,
}

impl RefusalLayer {
    /// A builder writing to `log` (whose pool's role may insert into the operator log).
    #[must_use]
    pub fn builder(log: OperatorLog) -> RefusalLayerBuilder {
        RefusalLayerBuilder {
            log,
            capacity: 1024,
            statuses: vec![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN],
            forwarded_hops: 0,
            request_id_header: HeaderName::from_static("x-request-id"),
            peer_ip: Arc::new(default_peer_ip),
            reason: Arc::new(default_reason),
        }
    }

    /// Counters of what was recorded, dropped or failed.
    #[must_use]
    pub fn stats(&self) -> RefusalStats {
        RefusalStats::new(Arc::clone(&self.shared.counters))
    }
}

impl<S> Layer<S> for RefusalLayer {
    type Service = RefusalService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RefusalService::new(inner, Arc::clone(&self.shared))
    }
}

/// Configures a [`RefusalLayer`].
pub struct RefusalLayerBuilder {
    log: OperatorLog,
    capacity: usize,
    statuses: Vec<StatusCode>,
    forwarded_hops: usize,
    request_id_header: HeaderName,
    peer_ip: Arc<PeerIpFn>,
    reason: Arc<ReasonFn>,
}

impl std::fmt::Debug for RefusalLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalLayerBuilder")
            .field("capacity", &self.capacity)
            .field("statuses", &self.statuses)
            .field("forwarded_hops", &self.forwarded_hops)
            .field("request_id_header", &self.request_id_header)
            .finish_non_exhaustive()
    }
}

impl RefusalLayerBuilder {
    /// How many refusals may wait for the recorder (default 1,024, at least 1); beyond that
    /// they are dropped and counted.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The response statuses that are recorded (default 401 and 403).
    #[must_use]
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Trust `X-Forwarded-For`: the client IP is the entry `hops` from the right (1 = the
    /// entry appended by the one proxy in front of the server). Only set this when every
    /// request passes through that many proxies you control; otherwise a client picks its own
    /// address. Default 0: the header is ignored.
    #[must_use]
    pub fn trust_forwarded_for(mut self, hops: usize) -> Self {
        self.forwarded_hops = hops;
        self
    }

    /// The request-id header (default `x-request-id`).
    #[must_use]
    pub fn request_id_header(mut self, name: HeaderName) -> Self {
        self.request_id_header = name;
        self
    }

    /// How to find the peer's IP in the request extensions (default [`default_peer_ip`]).
    /// With axum: `|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())`.
    #[must_use]
    pub fn peer_ip(
        mut self,
        find: impl Fn(&Extensions) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        self.peer_ip = Arc::new(find);
        self
    }

    /// How to find the reason in a refused response (default [`default_reason`]: the
    /// [`RefusalReason`] extension).
    #[must_use]
    pub fn reason(
        mut self,
        find: impl Fn(StatusCode, &Extensions) -> Option<RefusalReason> + Send + Sync + 'static,
    ) -> Self {
        self.reason = Arc::new(find);
        self
    }

    /// The layer and the recorder that must run (e.g. `tokio::spawn(recorder.run())`) for
    /// anything to be written. The recorder ends when every layer and service is dropped.
    #[must_use]
    pub fn build(self) -> (RefusalLayer, RefusalRecorder) {
        let (tx, rx) = mpsc::channel(self.capacity);
        let counters = Arc::new(Counters::default());
        let shared = Shared {
            tx,
            statuses: self.statuses,
            forwarded_hops: self.forwarded_hops,
            request_id_header: self.request_id_header,
            peer_ip: self.peer_ip,
            reason: self.reason,
            counters: Arc::clone(&counters),
        };
        let layer = RefusalLayer {
            shared: Arc::new(shared),
        };
        (layer, RefusalRecorder::new(rx, self.log, counters))
    }

    /// [`build`](Self::build), with the recorder spawned on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::spawn` does).
    #[must_use]
    pub fn spawn(self) -> (RefusalLayer, tokio::task::JoinHandle<()>) {
        let (layer, recorder) = self.build();
        (layer, tokio::spawn(recorder.run()))
    }
}
