//! The routing state the data plane reads on every request: one atomic pointer load.

use std::time::Instant;

use arc_swap::ArcSwap;

use crate::affinity::Affinity;
use crate::color::Color;

/// The color that drains after a swap, and until when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draining {
    /// The previously active color.
    pub(crate) color: Color,
    /// After this instant its sessions move to the active color and its streams are ended.
    pub(crate) deadline: Instant,
}

/// One immutable snapshot of the routing decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteState {
    /// Where new requests go.
    pub(crate) active: Color,
    /// The old color, still serving its sessions.
    pub(crate) draining: Option<Draining>,
    /// Incremented by every swap or rollback; a drain task only ends its own drain.
    pub(crate) generation: u64,
}

/// Active/draining colors behind an `ArcSwap` plus the learned session affinity.
pub(crate) struct Routes {
    state: ArcSwap<RouteState>,
    affinity: Affinity,
    shared_session_store: bool,
}

impl Routes {
    /// Starts with `active` and nothing draining.
    pub(crate) fn new(active: Color, max_sessions: usize, shared_session_store: bool) -> Self {
        Routes {
            state: ArcSwap::from_pointee(RouteState {
                active,
                draining: None,
                generation: 0,
            }),
            affinity: Affinity::new(max_sessions),
            shared_session_store,
        }
    }

    /// The current snapshot.
    pub(crate) fn load(&self) -> RouteState {
        **self.state.load()
    }

    /// The learned sessions.
    pub(crate) fn affinity(&self) -> &Affinity {
        &self.affinity
    }

    /// Where a request of `session` (if any) goes now.
    pub(crate) fn pick(&self, session: Option<&str>) -> Color {
        let state = self.state.load();
        if let (Some(draining), Some(session)) = (state.draining, session)
            && !self.shared_session_store
            && Instant::now() < draining.deadline
            && self.affinity.get(session) == Some(draining.color)
        {
            return draining.color;
        }
        state.active
    }

    /// Makes `to` active and lets the previous color drain until `deadline`; returns the new
    /// snapshot. Callers serialise flips (the swap lock).
    pub(crate) fn flip(&self, to: Color, deadline: Instant) -> RouteState {
        let old = self.load();
        let new = RouteState {
            active: to,
            draining: (old.active != to).then_some(Draining {
                color: old.active,
                deadline,
            }),
            generation: old.generation + 1,
        };
        self.state.store(std::sync::Arc::new(new));
        new
    }

    /// Ends the drain of `generation` (if no later flip replaced it). Returns whether it did.
    pub(crate) fn end_drain(&self, generation: u64) -> bool {
        let mut ended = false;
        self.state.rcu(|current| {
            if current.generation == generation && current.draining.is_some() {
                ended = true;
                RouteState {
                    draining: None,
                    ..**current
                }
            } else {
                ended = false;
                **current
            }
        });
        ended
    }
}
