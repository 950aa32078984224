//! Passive health after a swap: count the new color's failures for a window and ask for an
//! automatic rollback when they pass the threshold.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::color::Color;
use crate::config::AutoRollback;

struct Window {
    color: Color,
    generation: u64,
    until: Instant,
    total: u32,
    errors: u32,
}

/// The watch window of the last swap (if auto rollback is on).
pub(crate) struct PassiveHealth {
    settings: Option<AutoRollback>,
    watching: AtomicBool,
    window: Mutex<Option<Window>>,
}

impl PassiveHealth {
    /// Off when `settings` is `None`.
    pub(crate) fn new(settings: Option<AutoRollback>) -> Self {
        PassiveHealth {
            settings,
            watching: AtomicBool::new(false),
            window: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Window>> {
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts watching `color` after the flip of `generation`.
    pub(crate) fn watch(&self, color: Color, generation: u64) {
        let Some(settings) = &self.settings else {
            return;
        };
        *self.lock() = Some(Window {
            color,
            generation,
            until: Instant::now() + settings.window,
            total: 0,
            errors: 0,
        });
        self.watching.store(true, Ordering::Release);
    }

    /// Stops watching (a later flip happened).
    pub(crate) fn stop(&self) {
        self.watching.store(false, Ordering::Release);
        *self.lock() = None;
    }

    /// Records one response of `color`; returns the generation and a reason when an automatic
    /// rollback is due (once per window).
    pub(crate) fn record(&self, color: Color, failed: bool) -> Option<(u64, String)> {
        if !self.watching.load(Ordering::Acquire) {
            return None;
        }
        let settings = self.settings.as_ref()?;
        let mut slot = self.lock();
        let window = slot.as_mut()?;
        if Instant::now() > window.until {
            *slot = None;
            self.watching.store(false, Ordering::Release);
            return None;
        }
        if window.color != color {
            return None;
        }
        window.total += 1;
        window.errors += u32::from(failed);
        if window.errors >= settings.min_errors && window.errors * 2 >= window.total {
            let reason = format!(
                "{} of {} responses from {} failed within {} ms of the swap",
                window.errors,
                window.total,
                color,
                settings.window.as_millis()
            );
            let generation = window.generation;
            *slot = None;
            self.watching.store(false, Ordering::Release);
            return Some((generation, reason));
        }
        None
    }
}
