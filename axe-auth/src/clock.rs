//! The validator's notion of "now", injectable so tests of `exp`, `nbf` and
//! cache lifetimes set the time instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until moved: for tests.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use axe_auth::{Clock, ManualClock};
/// let clock = ManualClock::at(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_700_000_061));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    micros: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `t` (times before 1970 are clamped to the epoch).
    pub fn at(t: SystemTime) -> Self {
        let clock = ManualClock {
            micros: Arc::new(AtomicU64::new(0)),
        };
        clock.set(t);
        clock
    }

    /// Sets the time.
    pub fn set(&self, t: SystemTime) {
        let micros = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
        self.micros
            .store(u64::try_from(micros).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, d: Duration) {
        let add = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(add, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.micros.load(Ordering::SeqCst))
    }
}
