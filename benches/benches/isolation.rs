//! axe-isolation: one small query in an entity-scoped transaction against the same query in a
//! plain sqlx transaction on the same pool, with 1, 100 and 1,000 provisioned entities.
//!
//! `cargo bench -p axe-benches --bench isolation -- --warm-up-time 2 --measurement-time 6`
//!
//! Three transactions, each `BEGIN`, one query, `COMMIT`, on the same guarded runtime pool
//! (4 connections) of a private PostgreSQL (the crate's `test-util` harness), so all pay the
//! same acquire, release hook and ping:
//!
//! - `isolation/plain_tx/N`: `pool.begin()`, `SELECT name FROM bench_plain.item WHERE id = $1`
//!   on one shared table.
//! - `isolation/plain_rotating_tx/N`: the control. A plain sqlx transaction, no entity role,
//!   begun with `SET LOCAL search_path TO bench_p<i>, pg_temp; BEGIN` (one round trip, like
//!   a scoped `BEGIN`) with `i` taken round-robin over N schemas of the same shape, then
//!   `SELECT item.name FROM item WHERE item.id = $1`. It pays what schema-per-entity with
//!   shared SQL text costs without any wall: PostgreSQL re-analyses and re-plans a cached
//!   statement whenever the search path resolves to other schemas than the ones it was
//!   planned under.
//! - `isolation/entity_tx/N`: `isolation.begin(entity)`, `SELECT name FROM item WHERE id = $1`
//!   on the entity's own table, entities taken round-robin over the N.
//!
//! The `_const` variants run `SELECT $1::int` (one spelling per variant) instead, which reads
//! no table: the cost of the scoping alone. Each variant has its own statement text, so that
//! one variant never invalidates another's cached plan on a shared connection.
//!
//! On a shared 2-core machine back-to-back criterion runs drift with the load, so after each
//! size the bench also times `ROUNDS` rounds of the three variants *interleaved* and prints the
//! medians, the 10th percentiles (the least disturbed by other load) and the ratios
//! (`isolation/ratio/…`): those lines are the numbers to compare with the 1.2x goal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axe_isolation::testing::TestDb;
use axe_isolation::{EntityId, Isolation, Migrations};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType};

const SIZES: [usize; 3] = [1, 100, 1_000];

/// Interleaved rounds (one transaction of each variant) timed after each size.
const ROUNDS: usize = 3_000;

/// The schema of the control's `i`-th table.
fn rotating_schema(i: usize) -> String {
    format!("bench_p{i:04}")
}

struct Setup {
    db: TestDb,
    isolation: Isolation,
    entities: Vec<EntityId>,
    /// `SET LOCAL search_path TO bench_p<i>, pg_temp; BEGIN`, one per schema.
    rotating_begins: Vec<String>,
    next_entity: AtomicUsize,
    next_rotating: AtomicUsize,
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
        let setup = Self {
            db,
            isolation,
            entities: Vec::new(),
            rotating_begins: Vec::new(),
            next_entity: AtomicUsize::new(0),
            next_rotating: AtomicUsize::new(0),
        };
        // The plain transaction's table: same shape, readable by the runtime role itself.
        setup.create_plain_table("bench_plain").await?;
        Ok(setup)
    }

    /// `schema.item`, the same shape as an entity's, readable by the runtime role itself.
    async fn create_plain_table(&self, schema: &str) -> anyhow::Result<()> {
        let sql = format!(
            "CREATE SCHEMA {schema}; \
             CREATE TABLE {schema}.item (id int PRIMARY KEY, name text NOT NULL); \
             INSERT INTO {schema}.item VALUES (1, 'one'); \
             GRANT USAGE ON SCHEMA {schema} TO {rt}; \
             GRANT SELECT ON {schema}.item TO {rt};",
            rt = self.db.runtime_role().quoted()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(self.db.owner_pool())
            .await?;
        Ok(())
    }

    /// Provisions and migrates entities (and the control's schemas) until there are `n`, then
    /// warms up.
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
        for i in self.rotating_begins.len()..n {
            let schema = rotating_schema(i);
            self.create_plain_table(&schema).await?;
            self.rotating_begins
                .push(format!("SET LOCAL search_path TO {schema}, pg_temp; BEGIN"));
        }
        // Warm every pooled backend's caches for every entity and schema (first-use checks,
        // relation cache of each `item`), as a long-running server would have them.
        let pool_size = usize::try_from(self.db.runtime_pool().options().get_max_connections())?;
        for _ in 0..n * pool_size * 2 {
            self.run(Variant::Entity, Query::Item).await?;
            self.run(Variant::PlainRotating, Query::Item).await?;
        }
        Ok(())
    }

    async fn run(&self, variant: Variant, query: Query) -> anyhow::Result<()> {
        let mut tx = match variant {
            Variant::Plain => self.db.runtime_pool().begin().await?,
            Variant::PlainRotating => {
                let i =
                    self.next_rotating.fetch_add(1, Ordering::Relaxed) % self.rotating_begins.len();
                let begin = self.rotating_begins[i].clone();
                self.db
                    .runtime_pool()
                    .begin_with(sqlx::AssertSqlSafe(begin))
                    .await?
            }
            Variant::Entity => {
                let i = self.next_entity.fetch_add(1, Ordering::Relaxed) % self.entities.len();
                let mut tx = self.isolation.begin(&self.entities[i]).await?;
                query.run(&mut tx, variant).await?;
                tx.commit().await?;
                return Ok(());
            }
        };
        query.run(&mut tx, variant).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Which transaction.
#[derive(Clone, Copy)]
enum Variant {
    /// A plain sqlx transaction on a schema-qualified shared table.
    Plain,
    /// A plain sqlx transaction whose search path rotates over N schemas (no role).
    PlainRotating,
    /// An `EntityTx`, entities round-robin.
    Entity,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Plain, Variant::PlainRotating, Variant::Entity];

    fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain_tx",
            Variant::PlainRotating => "plain_rotating_tx",
            Variant::Entity => "entity_tx",
        }
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

    /// The statement text of `variant`: distinct per variant, so that no variant invalidates
    /// another's cached plan on a shared connection.
    fn sql(self, variant: Variant) -> &'static str {
        match (self, variant) {
            (Query::Item, Variant::Plain) => "SELECT name FROM bench_plain.item WHERE id = $1",
            (Query::Item, Variant::PlainRotating) => {
                "SELECT item.name FROM item WHERE item.id = $1"
            }
            (Query::Item, Variant::Entity) => "SELECT name FROM item WHERE id = $1",
            (Query::Const, Variant::Plain) => "SELECT $1::int",
            (Query::Const, Variant::PlainRotating) => "SELECT $1::int AS r",
            (Query::Const, Variant::Entity) => "SELECT $1::int AS e",
        }
    }

    async fn run(self, conn: &mut sqlx::PgConnection, variant: Variant) -> anyhow::Result<()> {
        match self {
            Query::Item => {
                let name: String = sqlx::query_scalar(self.sql(variant))
                    .bind(1_i32)
                    .fetch_one(conn)
                    .await?;
                anyhow::ensure!(name == "one");
            }
            Query::Const => {
                let one: i32 = sqlx::query_scalar(self.sql(variant))
                    .bind(1_i32)
                    .fetch_one(conn)
                    .await?;
                anyhow::ensure!(one == 1);
            }
        }
        Ok(())
    }
}

/// Times `ROUNDS` rounds of the three variants, alternating; returns a report line with the
/// medians, 10th percentiles and ratios.
async fn interleaved(setup: &Setup, query: Query, n: usize) -> anyhow::Result<String> {
    let mut times: [Vec<Duration>; 3] = std::array::from_fn(|_| Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        for (variant, times) in Variant::ALL.into_iter().zip(times.iter_mut()) {
            let start = Instant::now();
            setup.run(variant, query).await?;
            times.push(start.elapsed());
        }
    }
    for t in &mut times {
        t.sort_unstable();
    }
    let at = |v: &[Duration], q: usize| v[v.len() * q / 100];
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let [plain, rotating, entity] = &times;
    let (p50, r50, e50) = (at(plain, 50), at(rotating, 50), at(entity, 50));
    let (p10, r10, e10) = (at(plain, 10), at(rotating, 10), at(entity, 10));
    Ok(format!(
        "isolation/ratio{suffix}/{n}: \
         median plain {p50:.1?} rotating {r50:.1?} entity {e50:.1?}; \
         p10 plain {p10:.1?} rotating {r10:.1?} entity {e10:.1?}; \
         entity/plain median {:.3} p10 {:.3}; \
         rotating/plain median {:.3} p10 {:.3}; \
         entity/rotating median {:.3} p10 {:.3}",
        ratio(e50, p50),
        ratio(e10, p10),
        ratio(r50, p50),
        ratio(r10, p10),
        ratio(e50, r50),
        ratio(e10, r10),
        suffix = query.suffix(),
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
            for variant in Variant::ALL {
                group.bench_with_input(
                    BenchmarkId::new(format!("{}{}", variant.name(), query.suffix()), n),
                    &n,
                    |b, _| {
                        b.to_async(&runtime).iter(|| async {
                            if let Err(e) = setup.run(variant, query).await {
                                panic!("{} transaction: {e:#}", variant.name());
                            }
                        });
                    },
                );
            }
            match runtime.block_on(interleaved(setup, query, n)) {
                Ok(line) => {
                    println!("{line}");
                    ratios.push(line);
                }
                Err(e) => panic!("interleaved rounds: {e:#}"),
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
