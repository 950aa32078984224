//! [`AuditLog::verify`]: walk an entity's chain and name the first broken link.

use axe_isolation::EntityId;

use crate::chain::{GENESIS, link_hash};
use crate::error::Error;
use crate::event::AuditEvent;
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

/// Checks rows one after the other against the chain rules.
#[derive(Debug)]
pub(crate) struct Walker {
    expected: i64,
    head: [u8; 32],
    rows: u64,
}

impl Walker {
    pub(crate) fn new() -> Self {
        Self {
            expected: 1,
            head: GENESIS,
            rows: 0,
        }
    }

    /// The `seq` of the last good row (0 before the first).
    pub(crate) fn last_seq(&self) -> i64 {
        self.expected - 1
    }

    /// Checks the next row; on a fault, the walk is over.
    pub(crate) fn step(&mut self, row: &AuditEvent) -> Result<Option<BrokenLink>, Error> {
        let fault = if row.seq != self.expected {
            Some(LinkFault::MissingSeq { found: row.seq })
        } else if row.prev_hash != self.head {
            Some(LinkFault::PrevHashMismatch)
        } else if link_hash(row)? != row.hash {
            Some(LinkFault::HashMismatch)
        } else {
            None
        };
        if let Some(fault) = fault {
            return Ok(Some(BrokenLink {
                seq: self.expected,
                fault,
            }));
        }
        self.head = row.hash;
        self.rows += 1;
        self.expected += 1;
        Ok(None)
    }

    pub(crate) fn finish(self, broken: Option<BrokenLink>) -> Verified {
        Verified {
            rows: self.rows,
            head: self.head,
            broken,
        }
    }
}

/// Walks a chain page by page (`next(after_seq)` returns the following rows in order).
pub(crate) async fn walk<F, Fut>(mut next: F) -> Result<Verified, Error>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<AuditEvent>, Error>>,
{
    let mut walker = Walker::new();
    loop {
        let page = next(walker.last_seq()).await?;
        if page.is_empty() {
            return Ok(walker.finish(None));
        }
        for row in &page {
            if let Some(broken) = walker.step(row)? {
                return Ok(walker.finish(Some(broken)));
            }
        }
    }
}
