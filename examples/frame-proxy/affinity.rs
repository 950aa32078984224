//! Session affinity: which color created each `Mcp-Session-Id`, learned from responses.
//!
//! A plain `Mutex<HashMap>` (hand-written rather than a cache crate): it is only touched by
//! requests that carry a session id, holds one small entry per live session, is bounded by
//! `max_sessions`, and forgets a color's sessions when that color's drain ends.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::color::Color;

/// Longest session id learned (the MCP spec asks for visible ASCII; real ids are UUID-sized).
const MAX_SESSION_ID: usize = 256;

/// Session id → color that created it.
pub(crate) struct Affinity {
    sessions: Mutex<HashMap<String, Color>>,
    max: usize,
}

impl Affinity {
    /// An empty map holding at most `max` sessions.
    pub(crate) fn new(max: usize) -> Self {
        Affinity {
            sessions: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Color>> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts
        // and removes), so a poisoned lock is still usable.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The color that created `session`, if known.
    pub(crate) fn get(&self, session: &str) -> Option<Color> {
        self.lock().get(session).copied()
    }

    /// Records that `color` answered with `session`. Ids that are too long or not visible
    /// ASCII are ignored; when the map is full the new session is not tracked (it then
    /// follows the active color, as it would behind a proxy without affinity).
    pub(crate) fn learn(&self, session: &str, color: Color) -> bool {
        if session.is_empty()
            || session.len() > MAX_SESSION_ID
            || !session.bytes().all(|b| b.is_ascii_graphic())
        {
            return false;
        }
        let mut map = self.lock();
        if map.len() >= self.max && !map.contains_key(session) {
            return false;
        }
        map.insert(session.to_owned(), color);
        true
    }

    /// Forgets a session (after its DELETE succeeded).
    pub(crate) fn forget(&self, session: &str) {
        self.lock().remove(session);
    }

    /// Forgets every session of `color` (its drain ended: they cannot be served any more).
    pub(crate) fn forget_color(&self, color: Color) {
        self.lock().retain(|_, c| *c != color);
    }

    /// Whether any session of `color` is tracked.
    pub(crate) fn has_color(&self, color: Color) -> bool {
        self.lock().values().any(|c| *c == color)
    }

    /// Number of tracked sessions.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::Affinity;
    use crate::color::Color;

    #[test]
    fn learns_forgets_and_stays_bounded() {
        let map = Affinity::new(2);
        assert!(map.learn("s1", Color::Blue));
        assert!(map.learn("s2", Color::Green));
        assert!(!map.learn("s3", Color::Blue), "over the cap");
        assert!(
            map.learn("s1", Color::Green),
            "an update is not a new entry"
        );
        assert_eq!(map.get("s1"), Some(Color::Green));
        map.forget("s1");
        assert_eq!(map.get("s1"), None);
        assert!(map.has_color(Color::Green));
        map.forget_color(Color::Green);
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn refuses_hostile_ids() {
        let map = Affinity::new(10);
        for bad in ["", "a b", "tab\there", "é", &"x".repeat(257)] {
            assert!(!map.learn(bad, Color::Blue), "{bad:.20}");
        }
        assert!(map.learn(&"x".repeat(256), Color::Blue));
    }
}
