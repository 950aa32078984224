//! JSONL export against a real PostgreSQL, and the export verifier on hostile input.
#![allow(clippy::unwrap_used)]

use axe_audit::export::{JsonlError, MAX_LINE, verify_jsonl};
use axe_audit::{AuditEvent, AuditLog, LinkFault, NewEvent, OperatorLog, Outcome, Target};
use axe_isolation::EntityId;
use axe_isolation::testing::TestDb;
use proptest::prelude::*;

async fn exported(rows: usize) -> (TestDb, AuditLog, EntityId, Vec<u8>) {
    let db = TestDb::new().await.unwrap();
    let isolation = db
        .isolation_builder()
        .migrations(axe_audit::migrations().unwrap())
        .build()
        .await
        .unwrap();
    let acme = EntityId::new("acme").unwrap();
    isolation.provision(&acme).await.unwrap();
    isolation.migrate(&acme).await.unwrap();
    let log = AuditLog::new(isolation);
    for i in 0..rows {
        let outcome = if i % 2 == 0 {
            Outcome::Ok
        } else {
            Outcome::DeniedWith {
                code: "nope".into(),
            }
        };
        log.record_standalone(
            &acme,
            NewEvent::new("contoso", format!("a.{i}"), outcome).target(Target::new("r", "é\"\n")),
        )
        .await
        .unwrap();
    }
    let mut out = Vec::new();
    assert_eq!(
        log.export_jsonl(&acme, &mut out).await.unwrap(),
        u64::try_from(rows).unwrap()
    );
    (db, log, acme, out)
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn line_error(result: Result<axe_audit::Verified, JsonlError>) -> (u64, &'static str) {
    match result {
        Err(JsonlError::Line { line, reason }) => (line, reason),
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[tokio::test]
async fn export_verifies_like_the_database() {
    let (_db, log, acme, out) = exported(5).await;
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(text.ends_with('\n'));
    let first: AuditEvent = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first, log.tail(&acme, 5).await.unwrap()[0]);
    assert!(text.contains("\"hash\":\"") && text.contains("\"prev_hash\":\""));

    let from_db = log.verify(&acme).await.unwrap();
    let from_file = verify_jsonl(out.as_slice()).unwrap();
    assert!(from_file.is_intact());
    assert_eq!(from_file, from_db);
    assert_eq!(from_file.rows, 5);
}

#[tokio::test]
async fn hostile_exports_are_caught() {
    let (_db, _log, _acme, out) = exported(4).await;
    let good = lines(&out);

    // Reordered lines: the chain breaks where the order does.
    let mut swapped = good.clone();
    swapped.swap(1, 2);
    let v = verify_jsonl(swapped.concat().as_slice()).unwrap();
    assert_eq!(
        v.broken.map(|b| (b.seq, b.fault)),
        Some((2, LinkFault::MissingSeq { found: 3 }))
    );
    assert_eq!(v.rows, 1);

    // A line removed from the middle.
    let mut removed = good.clone();
    removed.remove(1);
    let v = verify_jsonl(removed.concat().as_slice()).unwrap();
    assert_eq!(v.broken.unwrap().seq, 2);

    // A row changed and re-serialized canonically: its hash no longer holds.
    let mut row: AuditEvent = serde_json::from_slice(&good[2]).unwrap();
    row.action = "a.forged".into();
    let mut changed = good.clone();
    changed[2] = axe_audit::export::to_line(&row).unwrap();
    let v = verify_jsonl(changed.concat().as_slice()).unwrap();
    assert_eq!(
        v.broken.map(|b| (b.seq, b.fault)),
        Some((3, LinkFault::HashMismatch))
    );

    // Truncated: cut inside the last line, or just its newline.
    let all = good.concat();
    let (line, reason) = line_error(verify_jsonl(&all[..all.len() - 1]));
    assert_eq!(line, 4);
    assert!(reason.contains("truncated"), "{reason}");
    let (line, _) = line_error(verify_jsonl(&all[..all.len() - 20]));
    assert_eq!(line, 4);

    // Not JSON, not a row, not canonical, extra fields, empty line, not UTF-8.
    let text = String::from_utf8(good[1].clone()).unwrap();
    for (i, bad) in [
        b"{not json\n".to_vec(),
        b"{}\n".to_vec(),
        b"\n".to_vec(),
        b"[1,2]\n".to_vec(),
        text.replacen("{", "{ ", 1).into_bytes(),
        text.replacen("{", "{\"zz\":1,", 1).into_bytes(),
        text.replacen("\"seq\":2", "\"seq\":2.0", 1).into_bytes(),
        text.replacen("\"kind\":\"denied\"", "\"kind\":\"evil\"", 1)
            .into_bytes(),
        b"\xff\xfe\n".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        assert_ne!(bad, good[1], "case {i} must change the line");
        let mut input = good.clone();
        input[1] = bad;
        let (line, _) = line_error(verify_jsonl(input.concat().as_slice()));
        assert_eq!(line, 2, "case {i}");
    }

    // A line longer than the limit is refused without reading it all into memory.
    let mut long = good[0][..good[0].len() - 1].to_vec();
    long.extend(std::iter::repeat_n(b' ', MAX_LINE + 10));
    let (line, reason) = line_error(verify_jsonl(long.as_slice()));
    assert_eq!(line, 1);
    assert!(reason.contains("too long"), "{reason}");

    // Empty export: an intact, empty chain.
    let v = verify_jsonl(&b""[..]).unwrap();
    assert_eq!((v.rows, v.broken), (0, None));
}

#[tokio::test]
async fn operator_log_exports_too() {
    let db = TestDb::new().await.unwrap();
    let log = OperatorLog::new(db.owner_pool().clone());
    log.install().await.unwrap();
    for _ in 0..3 {
        log.record(None, NewEvent::new("", "axe.x", Outcome::Ok))
            .await
            .unwrap();
    }
    let mut out = Vec::new();
    assert_eq!(log.export_jsonl(&mut out).await.unwrap(), 3);
    assert_eq!(
        verify_jsonl(out.as_slice()).unwrap(),
        log.verify().await.unwrap()
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = verify_jsonl(bytes.as_slice());
    }
}
