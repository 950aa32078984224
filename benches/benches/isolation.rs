//! axe-isolation: one small query in an entity-scoped transaction against the same query in a
//! plain sqlx transaction on the same pool, with 1, 100 and 1,000 provisioned entities.
//!
//! `cargo bench -p axe-benches --bench isolation -- --warm-up-time 1 --measurement-time 3`
//!
//! - `isolation/plain_tx/N`: `pool.begin()`, `SELECT name FROM bench_plain.item WHERE id = $1`,
//!   commit.
//! - `isolation/entity_tx/N`: `isolation.begin(entity)`, `SELECT name FROM item WHERE id = $1`
//!   on the entity's own table, commit; entities taken round-robin over the N.
//! - `isolation/{plain,entity}_tx_const/N`: the same transactions around `SELECT $1::int`,
//!   which reads no table: the cost of the scoping alone, without the cost of PostgreSQL
//!   re-planning a statement whenever the search path points at another schema.
//!
//! Both run on the same guarded runtime pool (4 connections) of a private PostgreSQL (the
//! crate's `test-util` harness), so both pay the same acquire, release hook and ping.
//!
//! On a shared 2-core machine back-to-back criterion runs drift with the load, so after each
//! size the bench also times `PAIRS` plain/scoped pairs *interleaved* and prints the medians,
//! the 10th percentiles (the least disturbed by other load) and their ratios
//! (`isolation/ratio/…`): those lines are the numbers to compare with the 1.2x goal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axe_isolation::testing::TestDb;
use axe_isolation::{EntityId, Isolation, Migrations};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType};

const SIZES: [usize; 3] = [1, 100, 1_000];

/// Interleaved plain/scoped pairs timed after each size.
const PAIRS: usize = 3_000;

struct Setup {
    db: TestDb,
    isolation: Isolation,
    entities: Vec<EntityId>,
    next: AtomicUsize,
}

impl Setup {
    async fn new() -> anyhow::Result<Self> {
        let db = TestDb::new().await?;
        let item = Migrations::from_vec(vec![Migration::new(
            1,
            "item".into(),
            MigrationType::Simple,
            "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL); \
             INSERT INTO item VALUES (1, 'one');"
                .into_sql_str(),
            false,
        )])?;
        let isolation = db
            .isolation_builder()
            .migrations(item)
            .migrate_concurrency(4)
            .build()
            .await?;
        // The plain transaction's table: same shape, readable by the runtime role itself.
        let grant = format!(
            "CREATE SCHEMA bench_plain; \
             CREATE TABLE bench_plain.item (id int PRIMARY KEY, name text NOT NULL); \
             INSERT INTO bench_plain.item VALUES (1, 'one'); \
             GRANT USAGE ON SCHEMA bench_plain TO {rt}; \
             GRANT SELECT ON bench_plain.item TO {rt};",
            rt = db.runtime_role().quoted()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(grant))
            .execute(db.owner_pool())
            .await?;
        Ok(Self {
            db,
            isolation,
            entities: Vec::new(),
            next: AtomicUsize::new(0),
        })
    }

    /// Provisions and migrates entities until there are `n`, then warms up.
    async fn grow_to(&mut self, n: usize) -> anyhow::Result<()> {
        let new: Vec<EntityId> = (self.entities.len()..n)
            .map(|i| EntityId::new(&format!("e{i:04}")))
            .collect::<Result<_, _>>()?;
        let isolation = &self.isolation;
        for chunk in new.chunks(4) {
            let mut tasks = tokio::task::JoinSet::new();
            for e in chunk {
                let (isolation, e) = (isolation.clone(), e.clone());
                tasks.spawn(async move { isolation.provision(&e).await });
            }
            while let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        let report = isolation.migrate_all().await?;
        anyhow::ensure!(report.is_success(), "migration failed: {report:?}");
        self.entities.extend(new);
        // Warm every pooled backend's caches for every entity (first-use checks, relation
        // cache of each `item`), as a long-running server would have them.
        let pool_size = usize::try_from(self.db.runtime_pool().options().get_max_connections())?;
        for _ in 0..self.entities.len() * pool_size * 2 {
            self.scoped(Query::Item).await?;
        }
        Ok(())
    }

    async fn plain(&self, query: Query) -> anyhow::Result<()> {
        let mut tx = self.db.runtime_pool().begin().await?;
        query
            .run(&mut tx, "SELECT name FROM bench_plain.item WHERE id = $1")
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn scoped(&self, query: Query) -> anyhow::Result<()> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.entities.len();
        let mut tx = self.isolation.begin(&self.entities[i]).await?;
        query
            .run(&mut tx, "SELECT name FROM item WHERE id = $1")
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What runs inside the transaction.
#[derive(Clone, Copy)]
enum Query {
    /// One row of a table by primary key.
    Item,
    /// No table at all.
    Const,
}

impl Query {
    fn suffix(self) -> &'static str {
        match self {
            Query::Item => "",
            Query::Const => "_const",
        }
    }

    async fn run(
        self,
        conn: &mut sqlx::PgConnection,
        item_sql: &'static str,
    ) -> anyhow::Result<()> {
        match self {
            Query::Item => {
                let name: String = sqlx::query_scalar(item_sql)
                    .bind(1_i32)
                    .fetch_one(conn)
                    .await?;
                anyhow::ensure!(name == "one");
            }
            Query::Const => {
                let one: i32 = sqlx::query_scalar("SELECT $1::int")
                    .bind(1_i32)
                    .fetch_one(conn)
                    .await?;
                anyhow::ensure!(one == 1);
            }
        }
        Ok(())
    }
}

/// Times `PAIRS` plain and scoped transactions alternately; returns a report line with the
/// medians and their ratio.
async fn interleaved(setup: &Setup, query: Query, n: usize) -> anyhow::Result<String> {
    let mut plain = Vec::with_capacity(PAIRS);
    let mut scoped = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        let start = Instant::now();
        setup.plain(query).await?;
        plain.push(start.elapsed());
        let start = Instant::now();
        setup.scoped(query).await?;
        scoped.push(start.elapsed());
    }
    plain.sort_unstable();
    scoped.sort_unstable();
    let at = |v: &[Duration], q: usize| v[v.len() * q / 100];
    let (p50, s50) = (at(&plain, 50), at(&scoped, 50));
    let (p10, s10) = (at(&plain, 10), at(&scoped, 10));
    Ok(format!(
        "isolation/ratio{}/{n}: median plain {p50:?} entity {s50:?} ratio {:.3}; \
         p10 plain {p10:?} entity {s10:?} ratio {:.3}",
        query.suffix(),
        s50.as_secs_f64() / p50.as_secs_f64(),
        s10.as_secs_f64() / p10.as_secs_f64(),
    ))
}

fn isolation(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    let mut setup = match runtime.block_on(Setup::new()) {
        Ok(setup) => setup,
        Err(e) => panic!("benchmark set-up: {e:#}"),
    };
    let mut group = c.benchmark_group("isolation");
    let mut ratios = Vec::new();
    for n in SIZES {
        if let Err(e) = runtime.block_on(setup.grow_to(n)) {
            panic!("provisioning {n} entities: {e:#}");
        }
        let setup = &setup;
        for query in [Query::Item, Query::Const] {
            let suffix = query.suffix();
            group.bench_with_input(
                BenchmarkId::new(format!("plain_tx{suffix}"), n),
                &n,
                |b, _| {
                    b.to_async(&runtime).iter(|| async {
                        if let Err(e) = setup.plain(query).await {
                            panic!("plain transaction: {e:#}");
                        }
                    });
                },
            );
            group.bench_with_input(
                BenchmarkId::new(format!("entity_tx{suffix}"), n),
                &n,
                |b, _| {
                    b.to_async(&runtime).iter(|| async {
                        if let Err(e) = setup.scoped(query).await {
                            panic!("entity transaction: {e:#}");
                        }
                    });
                },
            );
            match runtime.block_on(interleaved(setup, query, n)) {
                Ok(line) => {
                    println!("{line}");
                    ratios.push(line);
                }
                Err(e) => panic!("interleaved pairs: {e:#}"),
            }
        }
    }
    group.finish();
    println!("summary:");
    for line in ratios {
        println!("  {line}");
    }
    runtime.block_on(async move { drop(setup) });
}

criterion_group!(benches, isolation);
criterion_main!(benches);
