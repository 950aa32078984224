//! axe-audit: sealing PII and recording audit rows.
//!
//! `cargo bench -p axe-benches --bench audit -- --warm-up-time 1 --measurement-time 3`
//!
//! - `audit/seal_open_100b`: `seal_with` + `open_with` of a 100-byte field with a ready data key
//!   (what `Envelope::seal`/`open` do once the key cache is warm; includes the HKDF column-key
//!   derivation per call).
//! - `audit/raw_aes_gcm_100b`: raw `aes-gcm` encrypt + decrypt of the same payload with a ready
//!   cipher (goal: the envelope at ≥ 0.8× this throughput).
//! - `audit/tx_plain` vs `audit/tx_record`: an entity transaction inserting one row, without and
//!   with `axe_audit::record` in the same transaction, on a private PostgreSQL.
//! - `audit/seal_with_100b` vs `audit/envelope_seal_100b`: sealing a 100-byte field with a ready
//!   data key vs `Envelope::seal` with a warm key cache, which also counts the seal against the
//!   key's limit (one atomic per seal, one `UPDATE` of the key table per 1,024 seals).

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use axe_audit::envelope::{Field, open_with, seal_with};
use axe_audit::keys::DataKey;
use axe_audit::keys::{LocalKeys, MasterKey};
use axe_audit::{AuditLog, Envelope, NewEvent, Outcome};
use axe_isolation::EntityId;
use axe_isolation::testing::TestDb;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use zeroize::Zeroizing;

fn crypto(c: &mut Criterion) {
    let entity = match EntityId::new("acme") {
        Ok(e) => e,
        Err(e) => panic!("entity: {e}"),
    };
    let field = Field::new(&entity, "contacts", "email", "42");
    let dek = DataKey::new(1, Zeroizing::new([7; 32]));
    let payload = [0x5a_u8; 100];
    let mut group = c.benchmark_group("audit");
    group.bench_function("seal_open_100b", |b| {
        b.iter(|| {
            let sealed = match seal_with(&dek, &field, black_box(&payload)) {
                Ok(s) => s,
                Err(e) => panic!("seal: {e}"),
            };
            match open_with(&dek, &field, &sealed) {
                Ok(p) => black_box(p),
                Err(e) => panic!("open: {e}"),
            };
        });
    });
    let cipher = match Aes256Gcm::new_from_slice(&[7; 32]) {
        Ok(c) => c,
        Err(e) => panic!("key: {e}"),
    };
    let aad = b"axe/v1 aad of similar length: acme contacts email 42";
    group.bench_function("raw_aes_gcm_100b", |b| {
        b.iter(|| {
            let nonce = Nonce::<Aes256Gcm>::generate();
            let ct = match cipher.encrypt(
                &nonce,
                Payload {
                    msg: black_box(&payload),
                    aad,
                },
            ) {
                Ok(ct) => ct,
                Err(e) => panic!("encrypt: {e}"),
            };
            match cipher.decrypt(&nonce, Payload { msg: &ct, aad }) {
                Ok(p) => black_box(p),
                Err(e) => panic!("decrypt: {e}"),
            };
        });
    });
    group.finish();
}

async fn setup() -> anyhow::Result<(TestDb, AuditLog, EntityId)> {
    let db = TestDb::new().await?;
    let isolation = db
        .isolation_builder()
        .migrations(axe_audit::migrations()?)
        .build()
        .await?;
    let entity = EntityId::new("acme")?;
    isolation.provision(&entity).await?;
    isolation.migrate(&entity).await?;
    sqlx::query("CREATE TABLE ent_acme.notes (id bigserial PRIMARY KEY, body text NOT NULL)")
        .execute(db.owner_pool())
        .await?;
    Ok((db, AuditLog::new(isolation), entity))
}

async fn effect(log: &AuditLog, entity: &EntityId, audited: bool) -> anyhow::Result<()> {
    let mut tx = log.isolation().begin(entity).await?;
    sqlx::query("INSERT INTO notes (body) VALUES ('x')")
        .execute(&mut *tx)
        .await?;
    if audited {
        axe_audit::record(
            &mut tx,
            NewEvent::new("contoso", "mcp.tools/call:notes_put", Outcome::Ok),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn record(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    let (db, log, entity) = match runtime.block_on(setup()) {
        Ok(s) => s,
        Err(e) => panic!("benchmark set-up: {e:#}"),
    };
    let mut group = c.benchmark_group("audit");
    for (name, audited) in [("tx_plain", false), ("tx_record", true)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                if let Err(e) = effect(&log, &entity, audited).await {
                    panic!("{name}: {e:#}");
                }
            });
        });
    }
    let envelope = Envelope::new(
        std::sync::Arc::new(LocalKeys::new(MasterKey::from_bytes(1, [3; 32]))),
        db.owner_pool().clone(),
    );
    let dek = match runtime.block_on(async {
        envelope.install().await?;
        envelope.current_key(&entity).await
    }) {
        Ok(dek) => dek,
        Err(e) => panic!("envelope set-up: {e}"),
    };
    let field = Field::new(&entity, "contacts", "email", "42");
    let payload = [0x5a_u8; 100];
    group.bench_function("seal_with_100b", |b| {
        b.iter(|| match seal_with(&dek, &field, black_box(&payload)) {
            Ok(s) => black_box(s),
            Err(e) => panic!("seal: {e}"),
        });
    });
    group.bench_function("envelope_seal_100b", |b| {
        b.to_async(&runtime).iter(|| async {
            match envelope.seal(&field, black_box(&payload)).await {
                Ok(s) => black_box(s),
                Err(e) => panic!("seal: {e}"),
            }
        });
    });
    group.finish();
    runtime.block_on(async move {
        drop(log);
        drop(db);
    });
}

criterion_group!(benches, crypto, record);
criterion_main!(benches);
