//! `mirrorfleet host disable SITE/HOST [--reason TEXT]` and `host enable SITE/HOST`
//! (control-plane.md, top of the page): `admin_active` and `disable_reason`, one audit event
//! per change, the generation bumped when `admin_active` changes (so `serve` publishes it),
//! nothing published by the command itself; the derivation (data-model.md §9) drops a
//! disabled host and takes an enabled one back. The library on SQLite and PostgreSQL, then
//! the binary's messages and exit statuses on both.
//!
//! PostgreSQL: `MIRRORFLEET_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`
//! (unreachable: FAIL under `CI=true`, a SKIP line otherwise).

use mirrorfleet_control::db::Database;
use mirrorfleet_control::derive_db::{DeriveOptions, derive_snapshot};
use mirrorfleet_control::inventory::parse_inventory;
use mirrorfleet_control::store::StoreError;
use mirrorfleet_control::store::host::{HostSwitch, SwitchOutcome, parse_target, switch_host};
use mirrorfleet_control::store::import::{import_inventory, init};
use mirrorfleet_control::with_pool;
use serde_json::Value;

mod support;
use support::*;

const INVENTORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/inventory.json");
const SITE: &str = "Example University";
const HOST: &str = "mirror.example.edu";

async fn populate(db: &Database) {
    init(db, Some(*b"0123456789abcdef")).await.expect("init");
    let text = std::fs::read_to_string(INVENTORY).unwrap();
    let (inv, _) = parse_inventory("inventory.json", &text).expect("inventory parses");
    import_inventory(db, &inv, false).await.expect("import");
}

async fn generation(db: &Database) -> i64 {
    with_pool!(db, p => sqlx::query_scalar::<_, i64>(
        "SELECT CAST(generation AS BIGINT) FROM meta WHERE id = 1").fetch_one(p).await)
    .unwrap()
}

async fn host_row(db: &Database, name: &str) -> (bool, Option<String>) {
    with_pool!(db, p => sqlx::query_as::<_, (bool, Option<String>)>(
        "SELECT admin_active, disable_reason FROM host WHERE name = $1")
        .bind(name).fetch_one(p).await)
    .unwrap()
}

/// (actor, action, object_type, object_id, site_id, changes, generation_after), oldest first.
type AuditRow = (
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Value,
    Option<i64>,
);

async fn audit(db: &Database) -> Vec<AuditRow> {
    with_pool!(db, p => sqlx::query_as::<_, AuditRow>(
        "SELECT actor, action, object_type, object_id, CAST(site_id AS BIGINT), changes, \
         CAST(generation_after AS BIGINT) FROM audit_event ORDER BY id")
        .fetch_all(p).await)
    .unwrap()
}

async fn selectable(db: &Database) -> Vec<String> {
    let derived = derive_snapshot(db, &DeriveOptions::default())
        .await
        .expect("derive");
    let mut names: Vec<String> = derived.data.hosts.into_iter().map(|h| h.name).collect();
    names.sort();
    names
}

async fn disable_and_enable(db: Database) {
    populate(&db).await;
    let g0 = generation(&db).await;
    assert!(selectable(&db).await.contains(&HOST.to_string()));

    // Disable: admin_active false, the reason, one audit event, the generation bumped.
    let r = switch_host(
        &db,
        SITE,
        HOST,
        HostSwitch::Disable {
            reason: Some("disk failure"),
        },
        "cli:tester",
    )
    .await
    .expect("disable");
    assert_eq!(r.outcome, SwitchOutcome::Switched);
    assert_eq!((r.site.as_str(), r.host.as_str()), (SITE, HOST));
    assert_eq!((r.generation_before, r.generation_after), (g0, g0 + 1));
    assert_eq!(generation(&db).await, g0 + 1);
    assert_eq!(
        host_row(&db, HOST).await,
        (false, Some("disk failure".into()))
    );
    assert!(
        !selectable(&db).await.contains(&HOST.to_string()),
        "a disabled host is not derived"
    );
    let events = audit(&db).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (actor, action, object_type, object_id, site_id, changes, after) = &events[0];
    assert_eq!(
        (actor.as_str(), action.as_str(), object_type.as_str()),
        ("cli:tester", "host.disable", "host")
    );
    assert_eq!(object_id.as_deref(), Some(r.host_id.to_string().as_str()));
    assert_eq!(*site_id, Some(r.site_id));
    assert_eq!(*after, Some(g0 + 1));
    assert_eq!(changes["admin_active"]["old"], true);
    assert_eq!(changes["admin_active"]["new"], false);
    assert_eq!(changes["disable_reason"]["old"], Value::Null);
    assert_eq!(changes["disable_reason"]["new"], "disk failure");

    // Names are matched ignoring case; already disabled: nothing changes, nothing audited.
    let r = switch_host(
        &db,
        "example university",
        "MIRROR.example.edu",
        HostSwitch::Disable { reason: None },
        "cli:tester",
    )
    .await
    .expect("disable again");
    assert_eq!(r.outcome, SwitchOutcome::Unchanged);
    assert_eq!(r.disable_reason.as_deref(), Some("disk failure"));
    assert_eq!(generation(&db).await, g0 + 1);
    assert_eq!(audit(&db).await.len(), 1);

    // Already disabled, another reason: only the reason, audited, no generation bump.
    let r = switch_host(
        &db,
        SITE,
        HOST,
        HostSwitch::Disable {
            reason: Some("disk replaced, resyncing"),
        },
        "cli:tester",
    )
    .await
    .expect("new reason");
    assert_eq!(r.outcome, SwitchOutcome::ReasonUpdated);
    assert_eq!(generation(&db).await, g0 + 1);
    assert_eq!(
        host_row(&db, HOST).await,
        (false, Some("disk replaced, resyncing".into()))
    );
    let events = audit(&db).await;
    assert_eq!(events.len(), 2);
    assert!(events[1].5.get("admin_active").is_none(), "{events:?}");
    assert_eq!(
        events[1].5["disable_reason"]["new"],
        "disk replaced, resyncing"
    );
    assert_eq!(events[1].6, Some(g0 + 1));

    // Enable: admin_active true, the reason cleared, the generation bumped, derived again.
    let r = switch_host(&db, SITE, HOST, HostSwitch::Enable, "cli:tester")
        .await
        .expect("enable");
    assert_eq!(r.outcome, SwitchOutcome::Switched);
    assert!(r.also_inactive.is_empty(), "{:?}", r.also_inactive);
    assert_eq!(generation(&db).await, g0 + 2);
    assert_eq!(host_row(&db, HOST).await, (true, None));
    assert!(selectable(&db).await.contains(&HOST.to_string()));
    let events = audit(&db).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].1, "host.enable");
    assert_eq!(events[2].6, Some(g0 + 2));

    // Already enabled: nothing.
    let r = switch_host(&db, SITE, HOST, HostSwitch::Enable, "cli:tester")
        .await
        .expect("enable again");
    assert_eq!(r.outcome, SwitchOutcome::Unchanged);
    assert_eq!(generation(&db).await, g0 + 2);
    assert_eq!(audit(&db).await.len(), 3);

    // Enabling a host the crawler auto-disabled keeps its reason and says why it stays out.
    db.execute(
        "UPDATE host SET admin_active = FALSE, auto_disabled_at = '2026-11-01T00:00:00Z', \
         disable_reason = 'Disabled automatically after 4 consecutive failed crawls' \
         WHERE name = 'fedora.example.net'",
    )
    .await
    .unwrap();
    let r = switch_host(
        &db,
        "Example Hosting",
        "fedora.example.net",
        HostSwitch::Enable,
        "cli:tester",
    )
    .await
    .expect("enable auto-disabled");
    assert_eq!(r.outcome, SwitchOutcome::Switched);
    assert!(
        r.disable_reason
            .as_deref()
            .is_some_and(|t| t.starts_with("Disabled automatically")),
        "{r:?}"
    );
    assert!(
        r.also_inactive
            .iter()
            .any(|t| t.contains("crawler disabled it automatically")),
        "{:?}",
        r.also_inactive
    );
    assert!(
        !selectable(&db)
            .await
            .contains(&"fedora.example.net".to_string())
    );

    // Unknown names: NotFound naming what was missing; nothing written.
    let g = generation(&db).await;
    let e = switch_host(&db, "No Such Site", HOST, HostSwitch::Enable, "cli:tester")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::NotFound(m) if m.contains("no site named \"No Such Site\"")),
        "{e}"
    );
    let e = switch_host(
        &db,
        SITE,
        "nope.example.edu",
        HostSwitch::Disable { reason: None },
        "cli:tester",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, StoreError::NotFound(m)
            if m.contains("site \"Example University\" has no host named \"nope.example.edu\"")),
        "{e}"
    );
    // A reason over 500 characters is refused before anything is read.
    let long = "x".repeat(501);
    let e = switch_host(
        &db,
        SITE,
        HOST,
        HostSwitch::Disable {
            reason: Some(&long),
        },
        "cli:tester",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("at most 500")),
        "{e}"
    );
    assert_eq!(generation(&db).await, g);
    assert_eq!(audit(&db).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_and_enable_sqlite() {
    disable_and_enable(sqlite_db().await.db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_and_enable_postgres() {
    let Some(t) = postgres_db().await else {
        return;
    };
    disable_and_enable(t.db.clone()).await;
}

#[test]
fn targets_split_at_the_last_slash() {
    assert_eq!(
        parse_target("Example University/mirror.example.edu").unwrap(),
        ("Example University", "mirror.example.edu")
    );
    assert_eq!(
        parse_target("ACME/Mirrors/m1.acme.example").unwrap(),
        ("ACME/Mirrors", "m1.acme.example")
    );
    for bad in ["no-slash", "/host", "site/", "/", ""] {
        assert!(
            matches!(parse_target(bad), Err(StoreError::Invalid(_))),
            "{bad:?}"
        );
    }
}

/// The binary: messages and exit statuses, against `db_args` (none: the embedded SQLite
/// default; else `--database-url URL`).
fn cli(db_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = db_args.to_vec();
        all.extend_from_slice(args);
        let o = mirrorfleet(dir.path(), &all);
        (o.status.code(), output_text(&o))
    };
    for args in [&["init"][..], &["import", "inventory", INVENTORY]] {
        let (code, text) = run(args);
        assert_eq!(code, Some(0), "{args:?}: {text}");
    }
    let target = format!("{SITE}/{HOST}");

    let (code, text) = run(&["host", "disable", &target, "--reason", "disk failure"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "host \"{target}\" disabled (reason: \"disk failure\"); generation 1 → 2"
        )),
        "{text}"
    );
    assert!(
        text.contains("published by `mirrorfleet serve` or the next `mirrorfleet publish`"),
        "{text}"
    );
    let (code, text) = run(&["host", "disable", &target]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("is already disabled (reason: \"disk failure\"); nothing changed"),
        "{text}"
    );
    let (code, text) = run(&["host", "enable", &target]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("host \"{target}\" enabled; generation 2 → 3")),
        "{text}"
    );
    let (code, text) = run(&["host", "enable", &target]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("is already enabled; nothing changed (generation 3)"),
        "{text}"
    );

    // Usage errors: exit 2, naming what is wrong.
    let (code, text) = run(&["host", "disable", "No Such Site/x.example"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no site named \"No Such Site\""), "{text}");
    let (code, text) = run(&["host", "enable", &format!("{SITE}/nope.example.edu")]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("site \"Example University\" has no host named \"nope.example.edu\""),
        "{text}"
    );
    let (code, text) = run(&["host", "disable", "mirror.example.edu"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("is not SITE/HOST"), "{text}");
    let (code, text) = run(&["host", "disable", &target, "--reason", ""]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--reason must not be empty"), "{text}");

    // Nothing was published by these commands; a publish carries the last state.
    assert!(!dir.path().join("data/store/manifest.json").exists());
}

#[test]
fn cli_sqlite() {
    cli(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_postgres() {
    let Some(schema) = pg_schema(false).await else {
        return;
    };
    let url = schema.url();
    tokio::task::spawn_blocking(move || cli(&["--database-url", &url]))
        .await
        .unwrap();
}
