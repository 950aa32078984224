//! backup-runner against real restic (Debian's 0.14) and a real PostgreSQL (axe-isolation's
//! `TestDb`), by running the built example binary.
//!
//! The ring tier is tested over real SSH on loopback (sshd with a key made by the test whose
//! forced command is an append-only `rclone serve restic --stdio`), and as a second local
//! repository; "unreachable ring" is an `sftp:` location on a loopback port where nothing
//! listens.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{
    PASSWORD, Setup, World, count_kind, dir_size, pg_dump_wrapper, restic, runner_raw, snapshots,
    tags, text,
};

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[tokio::test]
async fn two_entities_backed_up_to_every_tier_then_the_drill_matches_and_catches_a_forged_manifest()
{
    let w = World::new().await;
    w.entity_with_rows("acme", 500, 200).await;
    w.entity_with_rows("beta", 300, 100).await;
    let folder = w.path("files");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("a.txt"), "hello").unwrap();
    let setup = Setup {
        ring: Some(w.path("ring").display().to_string()),
        cold: Some((w.path("cold").display().to_string(), None)),
        folders: vec![folder],
        ..Setup::default()
    };
    let config = w.config("backup.yaml", &setup);

    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    for repo in ["local", "ring", "cold"] {
        let path = w.path(repo);
        assert_eq!(count_kind(&path, &w.password_file, "dump"), 2, "{repo}");
        assert_eq!(count_kind(&path, &w.password_file, "manifest"), 2, "{repo}");
        assert_eq!(count_kind(&path, &w.password_file, "globals"), 1, "{repo}");
        assert_eq!(count_kind(&path, &w.password_file, "folder"), 1, "{repo}");
    }
    let dump = snapshots(&w.path("local"), &w.password_file)
        .into_iter()
        .find(|s| tags(s).contains(&"entity:acme".to_owned()))
        .unwrap();
    let t = tags(&dump);
    assert!(t.contains(&"tier:local".to_owned()), "{t:?}");
    assert!(t.iter().any(|t| t.starts_with("run:")), "{t:?}");
    let report = w.report();
    assert_eq!(report["last_run"]["outcome"], "ok");
    assert_eq!(report["tiers"]["cold"]["last_state"], "ok");

    // The drill restores both entities from each tier and matches the manifests.
    for tier in ["local", "ring", "cold"] {
        let out = w.runner(&config, &["restore-drill", "--tier", tier]).await;
        assert_eq!(code(&out), Some(0), "{tier}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("entity acme: restore matches the manifest (2 tables, 667 rows)"),
            "{stdout}"
        );
        assert!(
            stdout.contains("entity beta: restore matches the manifest (2 tables, 400 rows)"),
            "{stdout}"
        );
    }
    // Scratch databases are gone, the live one untouched.
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'axe\\_drill\\_%'")
            .fetch_one(w.db.owner_pool())
            .await
            .unwrap();
    assert_eq!(left, 0);

    // status reads the report.
    let out = w.runner(&config, &["status"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let status = String::from_utf8_lossy(&out.stdout);
    for tier in ["local", "ring", "cold"] {
        assert!(
            status
                .lines()
                .any(|l| l.starts_with(tier) && l.contains(" ok ")),
            "{status}"
        );
    }
    assert!(status.contains("restore drill cold: ok"), "{status}");

    // A forged manifest (one row more in `notes`) stored under the same run: the drill fails
    // and names the table.
    let local = w.path("local");
    let manifest = snapshots(&local, &w.password_file)
        .into_iter()
        .find(|s| {
            let t = tags(s);
            t.contains(&"kind:manifest".to_owned()) && t.contains(&"entity:acme".to_owned())
        })
        .unwrap();
    let out = std::process::Command::new("restic")
        .arg("--repo")
        .arg(&local)
        .arg("--password-file")
        .arg(&w.password_file)
        .args([
            "dump",
            manifest["id"].as_str().unwrap(),
            "/ent_acme.manifest.json",
        ])
        .output()
        .unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = forged["tables"]["notes"]["rows"].as_i64().unwrap();
    forged["tables"]["notes"]["rows"] = (rows + 1).into();
    let mut args = vec![
        "backup",
        "--stdin",
        "--stdin-filename",
        "ent_acme.manifest.json",
        "--host",
        "testhost",
    ];
    let t = tags(&manifest);
    for tag in &t {
        args.push("--tag");
        args.push(tag);
    }
    restic(
        &local,
        &w.password_file,
        &args,
        &serde_json::to_vec(&forged).unwrap(),
    );
    let out = w
        .runner(
            &config,
            &["restore-drill", "--tier", "local", "--entity", "acme"],
        )
        .await;
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("table notes: manifest 501 rows"),
        "{stdout}"
    );
    assert!(stdout.contains("restored 500 rows"), "{stdout}");
}

#[tokio::test]
async fn a_dump_killed_half_way_leaves_every_tier_unchanged_and_fails_the_run() {
    let w = World::new().await;
    // ~1 MB per entity, so the wrapper's cut at 64 KiB is well inside the dump.
    w.entity_with_rows("acme", 4000, 256).await;
    let base = Setup {
        globals: "off",
        ring: Some(w.path("ring").display().to_string()),
        cold: Some((w.path("cold").display().to_string(), None)),
        ..Setup::default()
    };
    let good = w.config("good.yaml", &base);
    let out = w.runner(&good, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let before: Vec<usize> = ["local", "ring", "cold"]
        .iter()
        .map(|r| snapshots(&w.path(r), &w.password_file).len())
        .collect();

    // pg_dump writes 64 KiB, then is killed (SIGKILL).
    let bin = pg_dump_wrapper(w.dir.path(), "\"$REAL\" \"$@\" | head -c 65536\nkill -9 $$");
    let bad = w.config(
        "bad.yaml",
        &Setup {
            bin_dir: Some(bin),
            ..base.clone()
        },
    );
    let out = w.runner(&bad, &["run"]).await;
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    let after: Vec<usize> = ["local", "ring", "cold"]
        .iter()
        .map(|r| snapshots(&w.path(r), &w.password_file).len())
        .collect();
    assert_eq!(before, after, "a failed dump must not become a snapshot");
    let report = w.report();
    assert_eq!(report["last_run"]["outcome"], "failed");
    let error = report["last_run"]["items"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("no snapshot was written") && error.contains("65536 bytes"),
        "{error}"
    );

    // The good config works again, unattended.
    let out = w.runner(&good, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
}

#[tokio::test]
async fn an_unprovisioned_entity_fails_the_run_without_a_snapshot_and_pings_the_webhook() {
    let w = World::new().await;
    w.entity_with_rows("acme", 10, 32).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hook = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read headers and body (Content-Length bounded; a short test body).
        loop {
            let n = tokio::time::timeout(Duration::from_secs(20), sock.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8(buf).unwrap()
    });
    let config = w.config(
        "ghost.yaml",
        &Setup {
            entities: "[acme, ghost]".into(),
            globals: "off",
            webhook: Some(format!("http://127.0.0.1:{port}/hook")),
            ..Setup::default()
        },
    );
    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    let local = w.path("local");
    assert_eq!(count_kind(&local, &w.password_file, "dump"), 1, "only acme");
    let ghost = format!("entity:{}", "ghost");
    assert!(
        !snapshots(&local, &w.password_file)
            .iter()
            .any(|s| tags(s).contains(&ghost))
    );
    let request = hook.await.unwrap();
    assert!(request.starts_with("POST /hook"), "{request}");
    assert!(request.contains("\"outcome\":\"failed\""), "{request}");
}

#[tokio::test]
async fn missing_cold_disk_and_unreachable_ring_degrade_while_local_completes() {
    let w = World::new().await;
    w.entity_with_rows("acme", 50, 64).await;
    let unplugged = w.path("media/cold"); // does not exist
    let config = w.config(
        "degraded.yaml",
        &Setup {
            // Nothing listens on loopback port 1: the ssh under restic's sftp backend is refused.
            ring: Some("sftp://axe@127.0.0.1:1//srv/ring".into()),
            cold: Some((
                unplugged.join("restic").display().to_string(),
                Some(unplugged.clone()),
            )),
            ..Setup::default()
        },
    );
    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    let local = w.path("local");
    assert_eq!(count_kind(&local, &w.password_file, "dump"), 1);
    assert_eq!(count_kind(&local, &w.password_file, "manifest"), 1);
    assert_eq!(count_kind(&local, &w.password_file, "globals"), 1);
    let report = w.report();
    assert_eq!(report["last_run"]["outcome"], "degraded");
    assert_eq!(report["last_run"]["tiers"]["local"]["state"], "ok");
    assert_eq!(report["last_run"]["tiers"]["cold"]["state"], "skipped");
    assert_eq!(report["last_run"]["tiers"]["ring"]["state"], "failed");

    // A cold mount point that is a plain folder (the disk is not mounted on it) is skipped too.
    std::fs::create_dir_all(&unplugged).unwrap();
    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(
        !unplugged.join("restic").exists(),
        "nothing written onto the bare mount folder"
    );
    let report = w.report();
    let reason = report["tiers"]["cold"]["error"].as_str().unwrap();
    assert!(reason.contains("is not mounted"), "{reason}");
    assert_eq!(count_kind(&local, &w.password_file, "dump"), 2);

    // The drill of the local tier passes; the drill of the absent tier fails cleanly.
    let out = w.runner(&config, &["restore-drill"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let out = w
        .runner(&config, &["restore-drill", "--tier", "cold"])
        .await;
    assert_eq!(code(&out), Some(1), "{}", text(&out));
}

#[tokio::test]
async fn kill_9_mid_backup_then_the_next_run_succeeds_unattended() {
    use std::os::unix::process::CommandExt as _;
    let w = World::new().await;
    w.entity_with_rows("acme", 4000, 256).await;
    let good = w.config(
        "good.yaml",
        &Setup {
            globals: "off",
            ..Setup::default()
        },
    );
    // First run creates the repository.
    let out = w.runner(&good, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));

    // pg_dump stalls after 64 KiB: the run is mid-backup, restic holds its lock.
    let stalled = w.path("stalled");
    let bin = pg_dump_wrapper(
        w.dir.path(),
        &format!(
            "\"$REAL\" \"$@\" | {{ head -c 65536; touch '{}'; sleep 120; cat >/dev/null; }}",
            stalled.display()
        ),
    );
    let slow = w.config(
        "slow.yaml",
        &Setup {
            globals: "off",
            bin_dir: Some(bin),
            ..Setup::default()
        },
    );
    let mut child = std::process::Command::new(support::binary());
    child
        .args(["--config", slow.to_str().unwrap(), "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = child.spawn().unwrap();
    let locks = w.path("local").join("locks");
    let mut waited = 0;
    loop {
        let n = std::fs::read_dir(&locks).map(|d| d.count()).unwrap_or(0);
        if n > 0 && stalled.exists() {
            break;
        }
        assert!(waited < 600, "the slow run never took a lock");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pgid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    // Wait until every process of the killed run (restic, pg_dump) is gone and reaped, as it is
    // by the time a scheduler starts the next run: restic deems a lock stale only when its
    // process no longer exists.
    let mut polls = 0;
    while nix::sys::signal::killpg(pgid, None).is_ok() {
        assert!(polls < 300, "the killed run's processes linger");
        tokio::time::sleep(Duration::from_millis(100)).await;
        polls += 1;
    }
    assert!(
        std::fs::read_dir(&locks).unwrap().count() > 0,
        "the killed run left its lock behind"
    );

    // The next run removes the stale lock and succeeds; the drill restores it.
    let out = w.runner(&good, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_dir(&locks).unwrap().count(), 0);
    assert_eq!(count_kind(&w.path("local"), &w.password_file, "dump"), 2);
    let out = w.runner(&good, &["restore-drill"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
}

#[tokio::test]
async fn retention_keeps_exactly_the_expected_snapshots_per_tier() {
    let w = World::new().await;
    let local = w.path("local");
    let ring = w.path("ring");
    let setup = Setup {
        entities: "[]".into(),
        globals: "off",
        local_retention: Some("{keep-daily: 3, keep-weekly: 2}".into()),
        ring: Some(ring.display().to_string()),
        ring_retention: Some("{keep-within: 3d}".into()),
        ..Setup::default()
    };
    let config = w.config("retention.yaml", &setup);
    // Synthetic history: one snapshot a day, 1 to 10 January 2026 at noon, and an earlier one
    // on the 10th; plus an operator's own snapshot that the runner must leave alone.
    restic(&local, &w.password_file, &["init"], b"");
    let mut times: Vec<String> = (1..=10)
        .map(|d| format!("2026-01-{d:02} 12:00:00"))
        .collect();
    times.push("2026-01-10 08:00:00".into());
    for time in &times {
        restic(
            &local,
            &w.password_file,
            &[
                "backup",
                "--stdin",
                "--stdin-filename",
                "ent_acme.dump",
                "--host",
                "testhost",
                "--tag",
                "axe",
                "--tag",
                "kind:dump",
                "--time",
                time,
            ],
            time.as_bytes(),
        );
    }
    restic(
        &local,
        &w.password_file,
        &[
            "backup",
            "--stdin",
            "--stdin-filename",
            "notes.txt",
            "--host",
            "testhost",
            "--time",
            "2026-01-01 09:00:00",
        ],
        b"mine",
    );

    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let kept = |repo: &std::path::Path| {
        let mut t: Vec<String> = snapshots(repo, &w.password_file)
            .iter()
            .map(|s| s["time"].as_str().unwrap()[..16].to_owned())
            .collect();
        t.sort();
        t
    };
    // keep-daily 3: the 10th (noon), 9th, 8th; keep-weekly 2: ISO weeks 2 (→ the 10th) and 1
    // (Mon 29 Dec – Sun 4 Jan → the 4th). The operator's snapshot stays.
    assert_eq!(
        kept(&local),
        [
            "2026-01-01T09:00",
            "2026-01-04T12:00",
            "2026-01-08T12:00",
            "2026-01-09T12:00",
            "2026-01-10T12:00"
        ]
    );
    // Ring: only the runner's snapshots are copied; keep-within 3d of the newest keeps 8-10.
    assert_eq!(
        kept(&ring),
        ["2026-01-08T12:00", "2026-01-09T12:00", "2026-01-10T12:00"]
    );
}

#[tokio::test]
async fn a_second_unchanged_backup_adds_less_than_5_percent_of_the_dump() {
    let w = World::new().await;
    // ~30 MB of row data: restic's chunks average 1 MiB, and the dump's header (with its
    // timestamp) changes one chunk per run, so a dump of a few MB cannot show dedup.
    w.entity_with_rows("acme", 100_000, 320).await;
    let config = w.config(
        "dedup.yaml",
        &Setup {
            globals: "off",
            ..Setup::default()
        },
    );
    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let dump_bytes = w.report()["last_run"]["items"][0]["bytes"]
        .as_u64()
        .unwrap();
    assert!(
        dump_bytes > 25_000_000,
        "dump of {dump_bytes} bytes is too small to measure"
    );
    let first = dir_size(&w.path("local"));
    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let second = dir_size(&w.path("local"));
    let added = second - first;
    eprintln!(
        "dedup: dump {dump_bytes} bytes, first backup {first} bytes, second added {added} bytes"
    );
    assert!(
        added * 20 < dump_bytes,
        "second backup added {added} bytes for a {dump_bytes}-byte dump"
    );
    assert_eq!(count_kind(&w.path("local"), &w.password_file, "dump"), 2);
}

#[tokio::test]
async fn verify_rotates_through_the_data_and_finds_a_damaged_pack() {
    let w = World::new().await;
    w.entity_with_rows("acme", 4000, 256).await;
    let config = w.config(
        "verify.yaml",
        &Setup {
            globals: "off",
            cycle: 3,
            ..Setup::default()
        },
    );
    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    for expected in ["1/3", "2/3", "3/3", "1/3"] {
        let out = w.runner(&config, &["verify"]).await;
        assert_eq!(code(&out), Some(0), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("local: check --read-data-subset {expected}: ok")),
            "{stdout}"
        );
    }

    // Damage the largest pack in the middle (same size, so only reading the data finds it).
    let mut packs = Vec::new();
    let mut stack = vec![w.path("local").join("data")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                packs.push((e.metadata().unwrap().len(), e.path()));
            }
        }
    }
    packs.sort();
    let (len, pack) = packs.last().unwrap().clone();
    let mut bytes = std::fs::read(&pack).unwrap();
    let mid = usize::try_from(len / 2).unwrap();
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xff;
    }
    std::fs::write(&pack, bytes).unwrap();

    // Within one cycle some verify reads it and fails; the failed subset is read again next time.
    let mut failed = None;
    for _ in 0..3 {
        let out = w.runner(&config, &["verify"]).await;
        if code(&out) == Some(1) {
            failed = Some(String::from_utf8_lossy(&out.stdout).to_string());
            break;
        }
        assert_eq!(code(&out), Some(0), "{}", text(&out));
    }
    let failed = failed.expect("a damaged pack went unnoticed for a whole cycle");
    let out = w.runner(&config, &["verify"]).await;
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        failed,
        "the same subset is read again"
    );
    assert_eq!(w.report()["verify"]["local"]["ok"], false);
}

#[tokio::test]
async fn hostile_configs_and_arguments_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, PASSWORD).unwrap();
    let empty_pw = dir.path().join("empty");
    std::fs::write(&empty_pw, "\n").unwrap();
    let good_tiers = format!(
        "tiers:\n  local:\n    repository: /tmp/x\n    password-file: {}\n",
        pw.display()
    );
    let base = format!(
        "database:\n  url: postgres://backup@localhost/frame\nstate-dir: /var/lib/b\n{good_tiers}"
    );
    let cases: Vec<(String, &str, &str)> = vec![
        (format!("{base}bogus: 1\n"), "bogus", "unknown field `bogus`"),
        (base.replace("postgres://backup@", "postgres://backup:hunter2@"), "database.url", "password"),
        (base.replace("postgres://backup@localhost/frame", "mysql://x/y"), "database.url", "postgres"),
        (base.replace("postgres://backup@localhost/frame", "postgres://backup@localhost"), "database.url", "database"),
        (format!("{base}entities: [acme, \"Bad;DROP\"]\n"), "entities[1]", ""),
        (format!("{base}entities: [acme, acme]\n"), "entities[1]", "twice"),
        (format!("{base}entities: everything\n"), "entities", "all"),
        (base.replace("/tmp/x", "\"-o=evil\""), "tiers.local.repository", "-"),
        (base.replace("/tmp/x", "relative/repo"), "tiers.local.repository", "absolute"),
        (base.replace(&pw.display().to_string(), "/nonexistent/pw"), "tiers.local.password-file", "cannot read"),
        (base.replace(&pw.display().to_string(), &empty_pw.display().to_string()), "tiers.local.password-file", "empty"),
        (format!("{base}    retention: {{keep-daily: -1}}\n"), "tiers.local.retention.keep-daily", ""),
        (format!("{base}    retention: {{keep-daily: 0}}\n"), "tiers.local.retention.keep-daily", "keep nothing"),
        (format!("{base}    retention: {{keep-within: 2w}}\n"), "tiers.local.retention.keep-within", "duration"),
        (format!("{base}    retentoin: {{keep-daily: 1}}\n"), "tiers.local.retentoin", "unknown field `retentoin`"),
        (format!("{base}  ring:\n    repository: sftp:a@b:/r\n    password-file: {}\n    retention: {{keep-daily: 3}}\n", pw.display()), "tiers.ring.retention.keep-daily", "append-only"),
        (format!("{base}  ring:\n    repository: /tmp/x\n    password-file: {}\n", pw.display()), "tiers.ring.repository", "two tiers"),
        (format!("{base}    mount: /mnt\n"), "tiers.local.mount", "cold"),
        (format!("{base}    options: [\"--no-lock\"]\n"), "tiers.local.options[0]", "key=value"),
        (base.replace("/var/lib/b", "state"), "state-dir", "absolute"),
        (format!("{base}check:\n  cycle: 0\n"), "check.cycle", "between"),
        (format!("{base}webhook:\n  url: file:///etc/passwd\n"), "webhook.url", "http"),
        (format!("{base}host: \"-evil\"\n"), "host", "letters"),
        ("[1, 2".into(), "", ""),
        (String::new(), "", ""),
        // A billion laughs: refused, not expanded.
        ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n".into(), "", ""),
    ];
    for (i, (yaml, field, reason)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("c{i}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let out = runner_raw(&["--config", file.to_str().unwrap(), "check-config"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), Some(2), "case {i}: {yaml}\n{}", text(&out));
        assert!(stderr.contains("config error"), "case {i}: {stderr}");
        if !field.is_empty() {
            assert!(
                stderr.contains(&format!("field `{field}`")),
                "case {i}: {stderr}"
            );
        }
        assert!(stderr.contains(reason), "case {i}: {stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "case {i}: a password reached the output"
        );
    }
    // The valid base passes.
    let file = dir.path().join("ok.yaml");
    std::fs::write(&file, &base).unwrap();
    let out = runner_raw(&["--config", file.to_str().unwrap(), "check-config"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    // Hostile arguments.
    let f = file.to_str().unwrap();
    for args in [
        vec!["--config", f, "verify", "--tier", "bogus"],
        vec![
            "--config",
            f,
            "restore-drill",
            "--entity",
            "acme;drop database frame",
        ],
        vec!["--config", f, "restore-drill", "--entity", "ACME"],
        vec!["--config", f, "restore-drill", "--tier", "../local"],
        vec!["--config", f, "explode"],
        vec!["run"],
    ] {
        let out = runner_raw(&args).await;
        assert_eq!(code(&out), Some(2), "{args:?}: {}", text(&out));
    }
    // A missing config file is a config error too.
    let out = runner_raw(&["--config", "/nonexistent/backup.yaml", "run"]).await;
    assert_eq!(code(&out), Some(2), "{}", text(&out));
}

#[tokio::test]
async fn ring_over_ssh_on_loopback_takes_copies_and_refuses_deletion() {
    let w = World::new().await;
    w.entity_with_rows("acme", 300, 64).await;
    let ring = support::SshRing::start(w.dir.path());
    let config = w.config(
        "ssh.yaml",
        &Setup {
            globals: "off",
            ring: Some("rclone:ring".into()),
            ring_options: vec![format!("rclone.program={}", ring.program)],
            ..Setup::default()
        },
    );
    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let listed = ring.restic(&w.password_file, &["snapshots", "--json"]);
    assert!(listed.status.success(), "{}", text(&listed));
    let on_ring: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        on_ring.len(),
        snapshots(&w.path("local"), &w.password_file).len()
    );
    assert_eq!(on_ring.len(), 2, "dump and manifest");
    let files = std::fs::read_dir(ring.dir.join("snapshots"))
        .unwrap()
        .count();
    assert_eq!(files, 2);

    // The drill restores from the ring, through ssh.
    let out = w
        .runner(&config, &["restore-drill", "--tier", "ring"])
        .await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));

    // The ring key can append but not delete.
    let id = on_ring[0]["id"].as_str().unwrap();
    let forget = ring.restic(&w.password_file, &["forget", id]);
    assert!(!forget.status.success(), "{}", text(&forget));
    assert_eq!(
        std::fs::read_dir(ring.dir.join("snapshots"))
            .unwrap()
            .count(),
        files
    );

    // A second run appends to it.
    let out = w.runner(&config, &["run"]).await;
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(ring.dir.join("snapshots"))
            .unwrap()
            .count(),
        4
    );
}
