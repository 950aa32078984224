//! Provisioning, listing, deprovisioning, and the errors for missing entities.

use axe_isolation::testing::TestDb;
use axe_isolation::{Error, Provisioned};

use crate::*;

#[tokio::test]
async fn provision_is_idempotent_and_sets_up_the_wall() -> TestResult {
    let db = TestDb::new().await?;
    let isolation = db.isolation().await?;
    let a = id("a");
    assert_eq!(
        isolation.provision(&a).await?,
        Provisioned {
            schema_created: true,
            role_created: true
        }
    );
    assert_eq!(
        isolation.provision(&a).await?,
        Provisioned {
            schema_created: false,
            role_created: false
        }
    );

    let role = isolation.role_of(&a);
    let (schema_owner, can_login, inherits, runtime_member, entity_can_create, public_create): (
        String,
        bool,
        bool,
        bool,
        bool,
        bool,
    ) = sqlx::query_as(
        "SELECT pg_get_userbyid(n.nspowner)::text, r.rolcanlogin, r.rolinherit, \
                pg_has_role($2, r.oid, 'MEMBER'), \
                has_schema_privilege(r.oid, n.oid, 'CREATE'), \
                has_schema_privilege($2, 'public', 'CREATE') \
         FROM pg_namespace n, pg_roles r WHERE n.nspname = 'ent_a' AND r.rolname = $1",
    )
    .bind(role.as_str())
    .bind(db.runtime_role().as_str())
    .fetch_one(db.owner_pool())
    .await?;
    assert_eq!(schema_owner, db.owner_role().as_str());
    assert!(!can_login);
    assert!(!inherits);
    assert!(runtime_member);
    assert!(!entity_can_create);
    assert!(!public_create);

    // The runtime role owns nothing and inherits nothing.
    let (owns, inherit): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspowner = r.oid) \
             OR EXISTS (SELECT 1 FROM pg_class WHERE relowner = r.oid), r.rolinherit \
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(db.runtime_role().as_str())
    .fetch_one(db.owner_pool())
    .await?;
    assert!(!owns);
    assert!(!inherit);
    Ok(())
}

#[tokio::test]
async fn concurrent_provisioning_of_one_entity_creates_it_once() -> TestResult {
    let db = TestDb::new().await?;
    let isolation = db.isolation().await?;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let isolation = isolation.clone();
        tasks.push(tokio::spawn(
            async move { isolation.provision(&id("a")).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        if task.await??.schema_created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    Ok(())
}

#[tokio::test]
async fn missing_entities_are_named_errors() -> TestResult {
    let db = TestDb::new().await?;
    let isolation = db.isolation().await?;
    let ghost = id("ghost");
    let begun = isolation.begin(&ghost).await;
    assert!(
        matches!(&begun, Err(Error::UnknownEntity { entity }) if *entity == ghost),
        "{begun:?}"
    );
    assert!(matches!(
        isolation.migrate(&ghost).await,
        Err(Error::NoOwnerPool { .. } | Error::UnknownEntity { .. })
    ));

    // Schema dropped by hand: the role is still there.
    let half = id("half");
    isolation.provision(&half).await?;
    sqlx::raw_sql("DROP SCHEMA ent_half CASCADE")
        .execute(db.owner_pool())
        .await?;
    let begun = isolation.begin(&half).await;
    assert!(
        matches!(
            &begun,
            Err(Error::NotProvisioned {
                missing: "schema",
                ..
            })
        ),
        "{begun:?}"
    );
    // Provisioning again repairs it.
    assert!(isolation.provision(&half).await?.schema_created);
    isolation.begin(&half).await?.commit().await?;

    // Without an owner pool, DDL is refused before touching the database.
    let serving_only = Isolation::builder(db.runtime_pool().clone())
        .build()
        .await?;
    assert!(matches!(
        serving_only.provision(&id("x")).await,
        Err(Error::NoOwnerPool {
            operation: "provision"
        })
    ));
    Ok(())
}

#[tokio::test]
async fn list_and_deprovision() -> TestResult {
    let f = fixture(&["a", "b", "c"]).await?;
    let isolation = &f.isolation;
    assert_eq!(
        isolation.list_entities().await?,
        [id("a"), id("b"), id("c")]
    );

    let gone = isolation.deprovision(&id("b")).await?;
    assert!(gone.schema_dropped && gone.role_dropped);
    assert_eq!(isolation.list_entities().await?, [id("a"), id("c")]);
    let role_left: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(isolation.role_of(&id("b")).as_str())
            .fetch_one(f.db.owner_pool())
            .await?;
    assert!(!role_left);
    assert!(matches!(
        isolation.begin(&id("b")).await,
        Err(Error::UnknownEntity { .. })
    ));

    let again = isolation.deprovision(&id("b")).await?;
    assert!(!again.schema_dropped && !again.role_dropped);

    // Re-provisioned, it starts empty and must be migrated before it is served.
    isolation.provision(&id("b")).await?;
    assert!(matches!(
        isolation.begin(&id("b")).await,
        Err(Error::SchemaBehind {
            current: None,
            expected: 2,
            ..
        })
    ));
    isolation.migrate(&id("b")).await?;
    let mut tx = isolation.begin(&id("b")).await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(n, 0);
    Ok(())
}

#[tokio::test]
async fn many_entities_provision_concurrently_and_public_create_is_revoked() -> TestResult {
    let db = TestDb::new().await?;
    // As an older server would have it: anyone may create in public.
    sqlx::raw_sql("GRANT CREATE ON SCHEMA public TO PUBLIC")
        .execute(db.owner_pool())
        .await?;
    let isolation = db.isolation().await?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let isolation = isolation.clone();
        tasks.spawn(async move { isolation.provision(&id(&format!("e{i}"))).await });
    }
    while let Some(done) = tasks.join_next().await {
        assert!(done??.schema_created);
    }
    assert_eq!(isolation.list_entities().await?.len(), 8);
    let public_create: bool =
        sqlx::query_scalar("SELECT has_schema_privilege($1, 'public', 'CREATE')")
            .bind(db.runtime_role().as_str())
            .fetch_one(db.owner_pool())
            .await?;
    assert!(!public_create);
    Ok(())
}
