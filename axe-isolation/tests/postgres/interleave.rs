//! Property test: random interleavings of writes and reads over three entities, from several
//! concurrent tasks sharing a small pool. Every read returns only its own entity's rows, and in
//! the end each entity holds exactly its own committed writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axe_isolation::guard;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sqlx::postgres::PgPoolOptions;

use crate::*;

const ENTITIES: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Insert a row and commit.
    Write(usize),
    /// Insert a row and drop the transaction (rollback).
    Abandon(usize),
    /// Read every row and check its owner, scope and path.
    Read(usize),
    /// Insert, read back inside the same transaction, commit.
    WriteRead(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let entity = 0..ENTITIES.len();
    prop_oneof![
        entity.clone().prop_map(Op::Write),
        entity.clone().prop_map(Op::Abandon),
        entity.clone().prop_map(Op::Read),
        entity.prop_map(Op::WriteRead),
    ]
}

struct World {
    isolation: Isolation,
    committed: [AtomicUsize; 3],
}

async fn check_read(tx: &mut axe_isolation::EntityTx, entity: &str) -> Result<(), TestCaseError> {
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let owners: Vec<String> = sqlx::query_scalar("SELECT owner FROM notes")
        .fetch_all(&mut **tx)
        .await
        .map_err(|e| fail(&e))?;
    prop_assert!(
        owners.iter().all(|o| o == entity),
        "{entity} read {owners:?}"
    );
    let (user, path) = whoami(tx).await.map_err(|e| fail(&e))?;
    prop_assert!(
        user.ends_with(&format!("_ent_{entity}_rw")),
        "{entity} ran as {user}"
    );
    prop_assert_eq!(path, format!("ent_{entity}, pg_temp"));
    Ok(())
}

async fn run_op(world: &World, op: Op) -> Result<(), TestCaseError> {
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let (Op::Write(i) | Op::Abandon(i) | Op::Read(i) | Op::WriteRead(i)) = op;
    let name = ENTITIES[i];
    let mut tx = world
        .isolation
        .begin(&id(name))
        .await
        .map_err(|e| fail(&e))?;
    if !matches!(op, Op::Read(_)) {
        sqlx::query("INSERT INTO notes (owner, body) VALUES ($1, 'x')")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| fail(&e))?;
    }
    tokio::task::yield_now().await;
    if matches!(op, Op::Read(_) | Op::WriteRead(_)) {
        check_read(&mut tx, name).await?;
    }
    if matches!(op, Op::Abandon(_)) {
        drop(tx);
    } else {
        tx.commit().await.map_err(|e| fail(&e))?;
        if !matches!(op, Op::Read(_)) {
            world.committed[i].fetch_add(1, Ordering::SeqCst);
        }
    }
    Ok(())
}

async fn run_case(world: Arc<World>, ops: Vec<Op>, tasks: usize) -> Result<(), TestCaseError> {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let mine: Vec<Op> = ops.iter().skip(t).step_by(tasks).copied().collect();
        let world = world.clone();
        handles.push(tokio::spawn(async move {
            for op in mine {
                run_op(&world, op).await?;
            }
            Ok::<(), TestCaseError>(())
        }));
    }
    for handle in handles {
        handle
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))??;
    }
    // Every entity holds exactly its seed row plus its committed writes, all its own.
    for (i, name) in ENTITIES.iter().enumerate() {
        let mut tx = world
            .isolation
            .begin(&id(name))
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_read(&mut tx, name).await?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            usize::try_from(n).unwrap_or(usize::MAX),
            1 + world.committed[i].load(Ordering::SeqCst)
        );
    }
    Ok(())
}

#[test]
fn random_interleavings_never_cross_entities() -> TestResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (db, world) = runtime.block_on(async {
        let f = fixture(&ENTITIES).await?;
        let small =
            f.db.runtime_pool_with(guard::install(PgPoolOptions::new().max_connections(2)))
                .await?;
        let isolation =
            f.db.isolation_builder_on(small)
                .migrations(notes().await?)
                .build()
                .await?;
        let world = Arc::new(World {
            isolation,
            committed: Default::default(),
        });
        anyhow::Ok((f.db, world))
    })?;

    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &(proptest::collection::vec(op(), 1..32), 1..5_usize),
        |(ops, tasks)| runtime.block_on(run_case(world.clone(), ops, tasks)),
    );
    runtime.block_on(async move {
        drop(world);
        drop(db);
    });
    result.map_err(|e| anyhow::anyhow!("{e}"))
}
