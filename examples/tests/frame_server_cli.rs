//! The frame-server binary's command line: dev mode refuses non-loopback addresses, a failed
//! dev start stops the PostgreSQL it started, and `--config … --check` names the field and the
//! reason of every problem in hostile configs without printing secrets.
#![allow(clippy::unwrap_used)]

mod frame_server_support;

use std::process::{Command, Output};

use frame_server_support::{binary, temp_dir};

fn run(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("DATABASE_URL")
        .env(
            "FRAME_TEST_DB_URL",
            "postgres://frame_rt:from-env-pw@db:3700/frame",
        )
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dev_mode_refuses_non_loopback_addresses() {
    let dir = temp_dir();
    let dev = dir.path().join("dev");
    for addr in [
        "0.0.0.0:3710",
        "[::]:3710",
        "10.1.2.3:3710",
        "192.168.0.10:0",
    ] {
        let out = run(&["--listen", addr, "--dev-dir", dev.to_str().unwrap()]);
        assert!(!out.status.success(), "{addr} accepted");
        assert!(
            stderr(&out).contains("loopback only"),
            "{addr}: {}",
            stderr(&out)
        );
    }
    // Refused before anything was created.
    assert!(!dev.exists());
    for bad in ["not-an-address", "127.0.0.1:99999", "70000"] {
        let out = run(&["--listen", bad, "--dev-dir", dev.to_str().unwrap()]);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(stderr(&out).contains("--listen"), "{bad}: {}", stderr(&out));
    }
}

#[test]
fn flags_that_make_no_sense_together_are_refused() {
    let out = run(&["--check"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for args in [
        &["--config", "x.yaml", "--dev-dir", "y"][..],
        &["--ephemeral", "--config", "x.yaml"],
        &["--ephemeral", "--dev-dir", "y"],
        &["--ephemeral", "--check"],
        // Secrets never come from flags: there is no flag for them.
        &["--master-key", "00"],
        &["--database-url", "postgres://u:p@h/d"],
        &["--token", "x"],
        &["--listen"],
        &["--config"],
        &["positional"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // A config file that does not exist is named, and nothing starts.
    let out = run(&["--config", "/nonexistent/frame.yaml", "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/frame.yaml"),
        "{}",
        stderr(&out)
    );
}

const CUSTOMERS: &str = r#"
base_domain: axelabs.ai
customers:
  - id: axe
    tenant: 122fb574-1b1d-4c59-a6b1-6a3f0d5ad0e1
    domains: [axellc.com]
    services: [frame]
    entities:
      - { id: axe, default: true }
"#;

const GOOD: &str = r#"
public_url: https://axe.axelabs.ai
customers: customers.yaml
entra:
  client_id: 6f1c2a3b-0000-4000-8000-000000000001
  app_id_uri: api://frame.axelabs.ai
database:
  url: { env: FRAME_TEST_DB_URL }
  owner_url: { file: owner.url }
master_key: { file: master.key }
"#;

#[test]
fn check_accepts_a_good_config_and_names_every_problem_of_hostile_ones() {
    let dir = temp_dir();
    let p = dir.path();
    std::fs::write(p.join("customers.yaml"), CUSTOMERS).unwrap();
    std::fs::write(p.join("master.key"), "0f".repeat(32)).unwrap();
    std::fs::write(
        p.join("owner.url"),
        "postgres://frame_owner:owner-secret-pw@db/frame",
    )
    .unwrap();
    let config = p.join("frame.yaml");

    std::fs::write(&config, GOOD).unwrap();
    let out = run(&["--config", config.to_str().unwrap(), "--check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok (customer axe"), "{stdout}");

    let cases: &[(&str, &str, &[&str])] = &[
        (
            "url: { env: FRAME_TEST_DB_URL }",
            "url: postgres://frame_rt:inline-secret@db/frame",
            &["database.url"],
        ),
        (
            "master_key: { file: master.key }",
            "master_key: { file: /etc/shadow-does-not-exist }",
            &["master_key.file"],
        ),
        (
            "public_url: https://axe.axelabs.ai",
            "public_url: https://attacker.example",
            &["public_url"],
        ),
        (
            "client_id: 6f1c2a3b-0000-4000-8000-000000000001",
            "client_id: \"' OR 1=1 --\"",
            &["entra.client_id"],
        ),
        (
            "customers: customers.yaml",
            "customers: ../../../../etc/passwd",
            &["customers"],
        ),
        (
            "public_url: https://axe.axelabs.ai",
            "public_url: https://axe.axelabs.ai\nlisten: \"0.0.0.0\"\nallowed_origins: [\"*\"]\nshutdown_grace_secs: 100000",
            &["listen", "allowed_origins[0]", "shutdown_grace_secs"],
        ),
        ("entra:", "entra_typo:", &["line"]),
    ];
    for (from, to, fields) in cases {
        let yaml = GOOD.replace(from, to);
        assert_ne!(yaml, GOOD);
        std::fs::write(&config, &yaml).unwrap();
        let out = run(&["--config", config.to_str().unwrap(), "--check"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{to}: {err}");
        for field in *fields {
            assert!(
                err.contains(&format!(": {field}")),
                "{to}: {field} not named in {err}"
            );
        }
        assert!(err.contains("frame.yaml"), "{err}");
        for secret in [
            "inline-secret",
            "owner-secret-pw",
            "from-env-pw",
            &"0f".repeat(32),
        ] {
            assert!(!err.contains(secret), "secret printed: {err}");
        }
    }

    // Not a file, too big, not UTF-8.
    let out = run(&["--config", p.to_str().unwrap(), "--check"]);
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(&config, vec![0xff, 0xfe, 0x00]).unwrap();
    let out = run(&["--config", config.to_str().unwrap(), "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("UTF-8"), "{}", stderr(&out));
    std::fs::write(&config, "a".repeat(2 * 1024 * 1024)).unwrap();
    let out = run(&["--config", config.to_str().unwrap(), "--check"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_dev_start_that_fails_after_starting_postgres_stops_it_again() {
    // customers.yaml is read after the dev cluster is up; a broken one must not leave the
    // cluster running behind the failed start.
    let dir = temp_dir();
    let dev = dir.path().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::write(dev.join("customers.yaml"), "customers: [\n  - {name: \"\n").unwrap();
    let out = run(&[
        "--listen",
        "127.0.0.1:0",
        "--dev-dir",
        dev.to_str().unwrap(),
    ]);
    assert!(
        !out.status.success(),
        "started with a broken customers.yaml"
    );
    let data = dev.join("pg").join("data");
    assert!(
        data.join("PG_VERSION").exists(),
        "the cluster was never started, so this test shows nothing: {}",
        stderr(&out)
    );
    assert!(
        !data.join("postmaster.pid").exists(),
        "the dev PostgreSQL is still running after a failed start: {}",
        stderr(&out)
    );
}
