//! axe-isolation: one small query in an entity-scoped transaction against the same query in a
//! plain sqlx transaction on the same pool, with 1, 100 and 1,000 provisioned entities.
//!
//! `cargo bench -p axe-benches --bench isolation -- --warm-up-time 2 --measurement-time 6`
//!
//! Five transactions, each `BEGIN`, one query, `COMMIT`, on the same guarded runtime pool
//! (4 connections, statement cache of 4,096 per connection) of a private PostgreSQL (the
//! crate's `test-util` harness), so all pay the same acquire, release hook and ping:
//!
//! - `isolation/plain_tx/N`: `pool.begin()`, `SELECT name FROM bench_plain.item WHERE id = $1`
//!   on one table of the same shape as an entity's.
//! - `isolation/entity_hot_tx/N`: `isolation.begin(entity)` on one entity among the N
//!   provisioned, `SELECT name FROM item WHERE id = $1` on its own table. Against `plain_tx`
//!   this is the issue's comparison: the same query, scoped or not, with N entities
//!   provisioned (the runtime role a member of N roles, N schemas in the catalog).
//! - `isolation/entity_tx/N`: the worst case, every transaction for another entity:
//!   `isolation.begin(entity)` with entities taken round-robin over the N.
//! - `isolation/plain_rotating_tx/N`: the control of the worst case. A plain sqlx transaction,
//!   no entity role, begun with `SET LOCAL search_path TO bench_p<i>, pg_temp; BEGIN` (one
//!   round trip, like a scoped `BEGIN`) with `i` round-robin over N schemas of the same shape.
//!   It pays what schema-per-entity with shared SQL text costs without any wall: PostgreSQL
//!   re-analyses and re-plans a cached statement whenever the search path resolves to other
//!   schemas than the ones it was planned under.
//! - `isolation/entity_tagged_tx/N`: the worst case again, but the SQL text carries the entity
//!   (`/* ent_<id> */ SELECT …`), so every entity has its own prepared statement on each
//!   connection and no plan is ever invalidated by a search-path change. This measures the
//!   per-entity-statement alternative, which costs server memory per connection, entity and
//!   statement (see the crate README).
//!
//! The `_const` variants run `SELECT $1::int` (one spelling per variant) instead, which reads
//! no table: the cost of the scoping alone. Each variant has its own statement text, so that
//! one variant never invalidates another's cached plan on a shared connection.
//!
//! On a shared 2-core machine back-to-back criterion runs drift with the load, so after each
//! size the bench also times `ROUNDS` rounds of the five variants *interleaved* (in a new
//! random order each round, each transaction started once the previous one's pool release
//! hook has finished) and prints the medians, the 10th percentiles and the ratios
//! (`isolation/ratio/…`): those lines are the numbers to compare with the 1.2x goal (the
//! medians; on this VM every variant's times are bimodal, which makes the p10 ratios swing
//! from run to run).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axe_isolation::testing::TestDb;
use axe_isolation::{EntityId, Isolation, Migrations};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType};

const SIZES: [usize; 3] = [1, 100, 1_000];

/// Interleaved rounds (one transaction of each variant) timed after each size.
const ROUNDS: usize = 3_000;

/// Runtime pool size of the benchmark.
const POOL_SIZE: u32 = 4;

/// Prepared statements sqlx keeps per connection: room for one per entity for each of the
/// tagged variant's two queries at 1,000 entities, and the other variants' few.
const STATEMENT_CACHE: usize = 4_096;

/// The schema of the control's `i`-th table.
fn rotating_schema(i: usize) -> String {
    format!("bench_p{i:04}")
}

struct Setup {
    db: TestDb,
    /// The runtime pool every variant uses (the guard installed, a large statement cache).
    pool: sqlx::PgPool,
    isolation: Isolation,
    entities: Vec<EntityId>,
    /// Per entity, the tagged variant's statement texts: `[item, const]`.
    tagged_sql: Vec<[String; 2]>,
    /// `SET LOCAL search_path TO bench_p<i>, pg_temp; BEGIN`, one per schema.
    rotating_begins: Vec<String>,
    next_entity: AtomicUsize,
    next_tagged: AtomicUsize,
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
        let pool = axe_isolation::guard::install(
            sqlx::postgres::PgPoolOptions::new().max_connections(POOL_SIZE),
        )
        .connect_with(
            db.runtime_connect_options()
                .statement_cache_capacity(STATEMENT_CACHE),
        )
        .await?;
        let isolation = db
            .isolation_builder_on(pool.clone())
            .migrations(item)
            .migrate_concurrency(4)
            .build()
            .await?;
        let setup = Self {
            db,
            pool,
            isolation,
            entities: Vec::new(),
            tagged_sql: Vec::new(),
            rotating_begins: Vec::new(),
            next_entity: AtomicUsize::new(0),
            next_tagged: AtomicUsize::new(0),
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
        for e in &new {
            let tag =
                |query: Query| format!("/* {} */ {}", e.schema(), query.sql(Variant::EntityTagged));
            self.tagged_sql.push([tag(Query::Item), tag(Query::Const)]);
        }
        self.entities.extend(new);
        for i in self.rotating_begins.len()..n {
            let schema = rotating_schema(i);
            self.create_plain_table(&schema).await?;
            self.rotating_begins
                .push(format!("SET LOCAL search_path TO {schema}, pg_temp; BEGIN"));
        }
        // Warm every pooled backend's caches for every entity and schema (first-use checks,
        // relation cache of each `item`), as a long-running server would have them.
        // The tagged variant gets three times as many rounds: it must have prepared every
        // entity's statements on every connection, which are handed out in turn.
        let pool_size = usize::try_from(POOL_SIZE)?;
        for _ in 0..n * pool_size * 2 {
            self.run(Variant::Entity, Query::Item).await?;
            self.run(Variant::PlainRotating, Query::Item).await?;
        }
        for _ in 0..n * pool_size * 6 {
            self.run(Variant::EntityTagged, Query::Item).await?;
            self.run(Variant::EntityTagged, Query::Const).await?;
        }
        Ok(())
    }

    /// Waits until every pooled connection is idle again, i.e. the release hook (the guard's
    /// reset round trip, which sqlx runs in a task of its own after a transaction is
    /// returned) of the previous transaction has finished, so that it is not timed as part of
    /// the next one. A server does that reset off the request path too.
    async fn quiesce(&self) {
        for _ in 0..10_000 {
            if self.pool.num_idle() >= self.pool.size() as usize {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    async fn run(&self, variant: Variant, query: Query) -> anyhow::Result<()> {
        let mut tx = match variant {
            Variant::Plain => self.pool.begin().await?,
            Variant::PlainRotating => {
                let i =
                    self.next_rotating.fetch_add(1, Ordering::Relaxed) % self.rotating_begins.len();
                let begin = self.rotating_begins[i].clone();
                self.db
                    .runtime_pool()
                    .begin_with(sqlx::AssertSqlSafe(begin))
                    .await?
            }
            Variant::EntityHot | Variant::Entity | Variant::EntityTagged => {
                let i = match variant {
                    Variant::EntityHot => 0,
                    Variant::EntityTagged => self.next_tagged.fetch_add(1, Ordering::Relaxed),
                    _ => self.next_entity.fetch_add(1, Ordering::Relaxed),
                } % self.entities.len();
                let mut tx = self.isolation.begin(&self.entities[i]).await?;
                match variant {
                    Variant::EntityTagged => {
                        let sql = self.tagged_sql[i][query.index()].clone();
                        query.run_text(&mut tx, sqlx::AssertSqlSafe(sql)).await?;
                    }
                    _ => query.run(&mut tx, variant).await?,
                }
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
    /// An `EntityTx` of one entity among the N.
    EntityHot,
    /// An `EntityTx`, entities round-robin.
    Entity,
    /// An `EntityTx`, entities round-robin, SQL text tagged with the entity.
    EntityTagged,
}

impl Variant {
    const ALL: [Variant; 5] = [
        Variant::Plain,
        Variant::EntityHot,
        Variant::PlainRotating,
        Variant::Entity,
        Variant::EntityTagged,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain_tx",
            Variant::PlainRotating => "plain_rotating_tx",
            Variant::EntityHot => "entity_hot_tx",
            Variant::Entity => "entity_tx",
            Variant::EntityTagged => "entity_tagged_tx",
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
            (Query::Item, Variant::EntityHot) => "SELECT h.name FROM item AS h WHERE h.id = $1",
            (Query::Item, Variant::Entity | Variant::EntityTagged) => {
                "SELECT name FROM item WHERE id = $1"
            }
            (Query::Const, Variant::Plain) => "SELECT $1::int",
            (Query::Const, Variant::PlainRotating) => "SELECT $1::int AS r",
            (Query::Const, Variant::EntityHot) => "SELECT $1::int AS h",
            (Query::Const, Variant::Entity | Variant::EntityTagged) => "SELECT $1::int AS e",
        }
    }

    /// Position in per-query arrays.
    fn index(self) -> usize {
        match self {
            Query::Item => 0,
            Query::Const => 1,
        }
    }

    async fn run(self, conn: &mut sqlx::PgConnection, variant: Variant) -> anyhow::Result<()> {
        self.run_text(conn, self.sql(variant)).await
    }

    /// Runs this query's statement spelled as `sql` and checks its answer.
    async fn run_text(
        self,
        conn: &mut sqlx::PgConnection,
        sql: impl SqlSafeStr + Send,
    ) -> anyhow::Result<()> {
        match self {
            Query::Item => {
                let name: String = sqlx::query_scalar(sql).bind(1_i32).fetch_one(conn).await?;
                anyhow::ensure!(name == "one");
            }
            Query::Const => {
                let one: i32 = sqlx::query_scalar(sql).bind(1_i32).fetch_one(conn).await?;
                anyhow::ensure!(one == 1);
            }
        }
        Ok(())
    }
}

/// Times `ROUNDS` rounds of the variants, alternating; returns a report line with the
/// medians, 10th percentiles and ratios.
async fn interleaved(setup: &Setup, query: Query, n: usize) -> anyhow::Result<String> {
    let mut times: [Vec<Duration>; 5] = std::array::from_fn(|_| Vec::with_capacity(ROUNDS));
    // A new order every round: the pool hands out its connections in turn, so a fixed order
    // would pair each variant with the same connection states every round.
    let mut rng = StdRng::seed_from_u64(0x00a8_e150);
    let mut order: [usize; 5] = std::array::from_fn(|i| i);
    for _ in 0..ROUNDS {
        order.shuffle(&mut rng);
        for &v in &order {
            setup.quiesce().await;
            let start = Instant::now();
            setup.run(Variant::ALL[v], query).await?;
            times[v].push(start.elapsed());
        }
    }
    for t in &mut times {
        t.sort_unstable();
    }
    let at = |v: &[Duration], q: usize| v[v.len() * q / 100];
    let p50 = times.each_ref().map(|t| at(t, 50));
    let p10 = times.each_ref().map(|t| at(t, 10));
    let [plain, hot, rotating, entity, tagged] = [0, 1, 2, 3, 4];
    let ratio = |a: usize, b: usize| {
        format!(
            "p10 {:.3} (median {:.3})",
            p10[a].as_secs_f64() / p10[b].as_secs_f64(),
            p50[a].as_secs_f64() / p50[b].as_secs_f64()
        )
    };
    let mut line = format!("isolation/ratio{}/{n}:", query.suffix());
    for (variant, (p10, p50)) in Variant::ALL.iter().zip(p10.iter().zip(&p50)) {
        line.push_str(&format!(
            " {} p10 {p10:.1?} median {p50:.1?};",
            variant.name()
        ));
    }
    line.push_str(&format!(
        " entity_hot/plain {}; entity/plain {}; rotating/plain {}; entity/rotating {}; \
         entity_tagged/plain {}",
        ratio(hot, plain),
        ratio(entity, plain),
        ratio(rotating, plain),
        ratio(entity, rotating),
        ratio(tagged, plain),
    ));
    Ok(line)
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
