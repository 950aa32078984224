//! Sessions bound to the user who created them.
//!
//! rmcp serves any request that carries a known `Mcp-Session-Id`, whoever sends it. The
//! endpoint records, when a response creates a session, the [`SessionOwner`] of the request
//! that created it, and refuses with 404 a request whose session is unknown, idle past its
//! timeout, or owned by someone else (one answer for all three, so ids cannot be probed).
//! Authorization still comes from each request's own token; the binding only says whose
//! session it is.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axe_auth::Principal;
use axe_tenant::Tenancy;

use crate::error::StoreError;

/// Who owns a session: the Entra directory and object id, the client application and the
/// customer the request was resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionOwner {
    /// The token's `tid`.
    pub tid: String,
    /// The token's `oid`.
    pub oid: String,
    /// The token's `azp`/`appid`.
    pub client_id: String,
    /// The customer (empty when the endpoint runs without a tenancy layer).
    pub customer: String,
}

impl SessionOwner {
    /// The owner a request of `principal`, resolved to `tenancy`, would have.
    pub fn of(principal: &Principal, tenancy: Option<&Tenancy>) -> Self {
        Self {
            tid: principal.tenant_id().to_string(),
            oid: principal.object_id().to_owned(),
            client_id: principal.client_id().to_owned(),
            customer: tenancy.map(|t| t.customer.to_string()).unwrap_or_default(),
        }
    }
}

/// Where session → owner bindings live. [`MemoryBindings`] for one process,
/// [`PgSessionStore`](crate::PgSessionStore) to share them between processes.
#[async_trait::async_trait]
pub trait BindingStore: Send + Sync + 'static {
    /// Records that `session` belongs to `owner`.
    async fn bind(&self, session: &str, owner: &SessionOwner) -> Result<(), StoreError>;

    /// The owner of `session`, if it is bound and not idle past the timeout; refreshes its
    /// last use.
    async fn owner_of(&self, session: &str) -> Result<Option<SessionOwner>, StoreError>;

    /// Forgets `session`.
    async fn unbind(&self, session: &str) -> Result<(), StoreError>;

    /// How many live sessions `owner` has.
    async fn count_for(&self, owner: &SessionOwner) -> Result<usize, StoreError>;
}

/// Bindings in this process's memory, forgotten after `idle` without use.
#[derive(Debug)]
pub struct MemoryBindings {
    idle: Duration,
    map: Mutex<HashMap<String, (SessionOwner, Instant)>>,
}

impl MemoryBindings {
    /// Bindings that expire after `idle` without a request.
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (SessionOwner, Instant)>> {
        // A panic while holding this lock cannot leave the map half-updated (each operation
        // is one insert or remove), so a poisoned lock is still safe to use.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl BindingStore for MemoryBindings {
    async fn bind(&self, session: &str, owner: &SessionOwner) -> Result<(), StoreError> {
        self.lock()
            .insert(session.to_owned(), (owner.clone(), Instant::now()));
        Ok(())
    }

    async fn owner_of(&self, session: &str) -> Result<Option<SessionOwner>, StoreError> {
        let mut map = self.lock();
        let now = Instant::now();
        match map.get_mut(session) {
            Some((owner, seen)) if now.duration_since(*seen) <= self.idle => {
                *seen = now;
                Ok(Some(owner.clone()))
            }
            Some(_) => {
                map.remove(session);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn unbind(&self, session: &str) -> Result<(), StoreError> {
        self.lock().remove(session);
        Ok(())
    }

    async fn count_for(&self, owner: &SessionOwner) -> Result<usize, StoreError> {
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, (_, seen)| now.duration_since(*seen) <= self.idle);
        Ok(map.values().filter(|(o, _)| o == owner).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(oid: &str) -> SessionOwner {
        SessionOwner {
            tid: "t".into(),
            oid: oid.into(),
            client_id: "c".into(),
            customer: "axe".into(),
        }
    }

    #[tokio::test]
    async fn bound_sessions_expire_when_idle() {
        let b = MemoryBindings::new(Duration::from_millis(50));
        b.bind("s1", &owner("alice")).await.unwrap();
        assert_eq!(b.owner_of("s1").await.unwrap(), Some(owner("alice")));
        assert_eq!(b.count_for(&owner("alice")).await.unwrap(), 1);
        assert_eq!(b.count_for(&owner("bob")).await.unwrap(), 0);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(b.owner_of("s1").await.unwrap(), None);
        assert_eq!(b.count_for(&owner("alice")).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn unbind_forgets() {
        let b = MemoryBindings::new(Duration::from_secs(60));
        b.bind("s1", &owner("alice")).await.unwrap();
        b.unbind("s1").await.unwrap();
        assert_eq!(b.owner_of("s1").await.unwrap(), None);
        assert_eq!(b.owner_of("never").await.unwrap(), None);
    }
}
