//! Export of one entity through pg_dump.

use std::process::Command;

use axe_isolation::Error;

use crate::*;

#[tokio::test]
async fn export_holds_that_entity_only() -> TestResult {
    let f = fixture(&["a", "b"]).await?;
    let mut archive = Vec::new();
    let bytes = f.isolation.export(&id("a"), &mut archive).await?;
    assert_eq!(bytes, u64::try_from(archive.len())?);
    assert!(
        archive.starts_with(b"PGDMP"),
        "custom-format archives start with PGDMP"
    );

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("a.dump");
    std::fs::write(&file, &archive)?;
    let script = Command::new("pg_restore")
        .arg("-f")
        .arg("-")
        .arg(&file)
        .output()?;
    assert!(
        script.status.success(),
        "{}",
        String::from_utf8_lossy(&script.stderr)
    );
    let script = String::from_utf8_lossy(&script.stdout);
    assert!(script.contains("secret of a"));
    assert!(script.contains("ent_a.notes"));
    assert!(!script.contains("ent_b"));
    assert!(!script.contains("secret of b"));

    let missing = f.isolation.export(&id("ghost"), &mut Vec::new()).await;
    assert!(
        matches!(missing, Err(Error::UnknownEntity { .. })),
        "{missing:?}"
    );
    Ok(())
}
