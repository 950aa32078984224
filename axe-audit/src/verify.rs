//! [`AuditLog::verify`]: walk an entity's chain and name the first broken link.

use axe_isolation::EntityId;

use crate::chain::{GENESIS, link_hash};
use crate::error::Error;
use crate::store::AuditLog;

/// Rows read per round trip while verifying.
pub(crate) const PAGE: i64 = 1_000;

/// What is wrong at a [`BrokenLink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkFault {
    /// The row at the expected `seq` is missing: the next row found has a higher `seq` (or a
    /// row was deleted at the end... which cannot be seen without an anchor).
    MissingSeq {
        /// The `seq` actually found where `BrokenLink::seq` was expected.
        found: i64,
    },
    /// The row's `prev_hash` is not the previous row's `hash` (rows reordered, removed or
    /// re-chained).
    PrevHashMismatch,
    /// The row's content no longer hashes to its `hash` (the row was changed).
    HashMismatch,
}

/// The first link of a chain that does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenLink {
    /// The `seq` at which the chain breaks.
    pub seq: i64,
    /// How it breaks.
    pub fault: LinkFault,
}

/// The result of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// How many rows were checked before the walk stopped.
    pub rows: u64,
    /// The `hash` of the last good row ([`GENESIS`] for an empty log).
    pub head: [u8; 32],
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

impl Verified {
    /// Whether every link held.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

impl AuditLog {
    /// Walks `entity`'s chain from `seq` 1 and stops at the first link that does not hold: a
    /// missing `seq`, a `prev_hash` that is not the previous `hash`, or a row whose content no
    /// longer matches its `hash`.
    ///
    /// Truncation at the end of the log cannot be seen from the log alone; keep the returned
    /// `head` (or a `tail`) elsewhere to anchor it.
    ///
    /// # Errors
    ///
    /// As [`AuditLog::tail`]; a row that cannot even be read is [`Error::MalformedRow`].
    pub async fn verify(&self, entity: &EntityId) -> Result<Verified, Error> {
        let verified = walk(|after| self.page(entity, after, PAGE)).await?;
        if let Some(broken) = verified.broken {
            tracing::warn!(%entity, seq = broken.seq, fault = ?broken.fault, "audit chain broken");
        }
        Ok(verified)
    }
}

/// Walks a chain page by page (`next(after_seq)` returns the following rows in order).
pub(crate) async fn walk<F, Fut>(mut next: F) -> Result<Verified, Error>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<crate::event::AuditEvent>, Error>>,
{
    {
        let mut expected = 1_i64;
        let mut head = GENESIS;
        let mut rows = 0_u64;
        loop {
            let page = next(expected - 1).await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                let fault = if row.seq != expected {
                    Some(LinkFault::MissingSeq { found: row.seq })
                } else if row.prev_hash != head {
                    Some(LinkFault::PrevHashMismatch)
                } else if link_hash(row)? != row.hash {
                    Some(LinkFault::HashMismatch)
                } else {
                    None
                };
                if let Some(fault) = fault {
                    let broken = BrokenLink {
                        seq: expected,
                        fault,
                    };
                    return Ok(Verified {
                        rows,
                        head,
                        broken: Some(broken),
                    });
                }
                head = row.hash;
                rows += 1;
                expected += 1;
            }
        }
        Ok(Verified {
            rows,
            head,
            broken: None,
        })
    }
}
