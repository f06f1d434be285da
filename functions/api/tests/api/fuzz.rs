//! Fuzz targets of what the API parses (issue 19.3), run with `bolero`: as normal tests each
//! replays `tests/api/__fuzz__/fuzz__<target>/corpus` and tries random inputs for a few
//! seconds; `cargo bolero test -p billing-api --test api fuzz::<target>` fuzzes for real.
//!
//! - `usage_batch`: a body of `POST /v1/usage`, parsed by the strict JSON extractor as the
//!   route does, then ingested and aggregated: a body the API accepts (202) is never refused
//!   later by the core (every accepted event is counted or found a duplicate), and a refused
//!   one is a 400, never a panic or a 5xx.
//! - `list_cursor`: a cursor from the wire on every list: a page or 400 `invalid_cursor`,
//!   never a panic or a 5xx.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use billing_api::extract::parse_json;
use billing_app::usage::{IngestUsage, drain_usage_queue, ingest_usage};
use billing_app::{App, ErrorKind};
use billing_ledger::Ledger;
use billing_store::EmbeddedTable;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app};

const TEST_TIME: Duration = Duration::from_secs(3);
const NOW: &str = "2027-01-15T12:00:00Z";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A data directory in memory where there is one: the embedded store fsyncs every commit, and
/// these targets want many inputs a second, not durability.
fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

// ---- usage batches

struct UsageRig {
    app: App,
    users: Vec<String>,
    _dir: tempfile::TempDir,
}

async fn usage_rig() -> UsageRig {
    let dir = scratch_dir();
    let ledger = Ledger::new(Arc::new(EmbeddedTable::open(dir.path()).unwrap()));
    let app = App::local(
        ledger.clone(),
        Arc::new(billing_app::clock::TestClock::new(ledger.clone())),
    );
    let previous = ledger.test_clock().await.unwrap();
    ledger
        .set_test_clock(previous, NOW.parse().unwrap())
        .await
        .unwrap();
    let mut users = Vec::new();
    for email in ["a@example.com", "b@example.com"] {
        let user = billing_app::users::create_user(
            &app,
            billing_app::users::CreateUser {
                email: email.into(),
                name: None,
                payment_method: None,
            },
            &billing_app::Actor("fuzz".into()),
        )
        .await
        .unwrap();
        users.push(user.id);
    }
    UsageRig {
        app,
        users,
        _dir: dir,
    }
}

/// The route's path for one body: parse strictly, ingest, then aggregate what was accepted.
async fn check_usage_body(rig: &UsageRig, body: &[u8]) -> bool {
    let Ok(request) = parse_json::<IngestUsage>(body) else {
        return false;
    };
    let events = request.events.len();
    match ingest_usage(&rig.app, request).await {
        Ok(accepted) => {
            assert_eq!(accepted, events, "{}", String::from_utf8_lossy(body));
            let report = drain_usage_queue(&rig.app).await.unwrap_or_else(|error| {
                panic!(
                    "accepted, then refused by aggregation ({error}): {}",
                    String::from_utf8_lossy(body)
                )
            });
            assert_eq!(
                usize::try_from(report.counted + report.duplicates).unwrap(),
                accepted,
                "{report:?}: {}",
                String::from_utf8_lossy(body)
            );
            true
        }
        Err(error) => {
            assert_eq!(
                error.kind(),
                ErrorKind::InvalidRequest,
                "{error}: {}",
                String::from_utf8_lossy(body)
            );
            assert!(error.param().is_some(), "{error}: no param");
            false
        }
    }
}

#[test]
fn usage_batch() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static ACCEPTED: AtomicU64 = AtomicU64::new(0);
    let runtime = runtime();
    let rig = runtime.block_on(usage_rig());
    // A failing input panics and ends the run: nothing observes the state after it.
    let rig = std::panic::AssertUnwindSafe((&runtime, &rig));
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            let (runtime, rig) = *rig;
            INPUTS.fetch_add(1, Ordering::Relaxed);
            // Corpus files name users `$0`, `$1`: the rig's real ids.
            let text = String::from_utf8_lossy(input)
                .replace("$0", &rig.users[0])
                .replace("$1", &rig.users[1]);
            if runtime.block_on(check_usage_body(rig, text.as_bytes())) {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
            }
        });
    eprintln!(
        "fuzz usage_batch: {} inputs ({} accepted), 0 findings",
        INPUTS.load(Ordering::Relaxed),
        ACCEPTED.load(Ordering::Relaxed)
    );
}

type EventInput = (u8, String, u8, u8, i64, Option<(i64, u8)>);

/// Batches built from typed fields, so most are valid JSON and many are valid batches.
#[test]
fn usage_batch_fields() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static ACCEPTED: AtomicU64 = AtomicU64::new(0);
    let runtime = runtime();
    let rig = runtime.block_on(usage_rig());
    let now: billing_core::Timestamp = NOW.parse().unwrap();
    let rig = std::panic::AssertUnwindSafe((&runtime, &rig));
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_type::<Vec<EventInput>>()
        .for_each(|events| {
            let (runtime, rig) = *rig;
            INPUTS.fetch_add(1, Ordering::Relaxed);
            // A few events, most fields valid: one bad event refuses the whole batch.
            let events: Vec<Value> = events
                .iter()
                .take(3)
                .map(|(id_kind, text, user, metric, quantity, timestamp)| {
                    let id = match id_kind % 8 {
                        4..=7 => format!("e{}", id_kind % 16),
                        0 => format!("e{}", id_kind / 4 % 3),
                        1 => text.clone(),
                        2 => "x".repeat(usize::from(*id_kind)),
                        _ => format!("{text}#{}", "é".repeat(usize::from(id_kind % 130))),
                    };
                    let user_id = match user % 8 {
                        0 | 1 | 4..=7 => rig.users[usize::from(user % 2)].clone(),
                        2 => text.clone(),
                        _ => "u".repeat(usize::from(*user) * 20),
                    };
                    let metric = match metric % 8 {
                        5..=7 => "api_calls".to_owned(),
                        0 => "api_calls".to_owned(),
                        1 => "gb_stored".to_owned(),
                        2 => text.clone(),
                        3 => "m".repeat(usize::from(*metric)),
                        _ => "API calls".to_owned(),
                    };
                    let quantity = match quantity.rem_euclid(6) {
                        0 | 4 | 5 => quantity.rem_euclid(1_000),
                        1 => 1_000_000_000_000 - quantity.rem_euclid(2),
                        _ => *quantity,
                    };
                    let mut event = json!({"id": id, "user_id": user_id, "metric": metric, "quantity": quantity});
                    if let Some((offset, style)) = timestamp {
                        let range = if style % 2 == 0 { 600 } else { 400 * 366 * 86_400 };
                        let at = now + chrono::Duration::seconds(offset % range);
                        let text = match style % 3 {
                            0 => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            1 => at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                            _ => at
                                .with_timezone(&chrono::FixedOffset::east_opt(-5 * 3600).unwrap())
                                .to_rfc3339(),
                        };
                        event["timestamp"] = json!(text);
                    }
                    event
                })
                .collect();
            let body = json!({"events": events}).to_string();
            if runtime.block_on(check_usage_body(rig, body.as_bytes())) {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
            }
        });
    eprintln!(
        "fuzz usage_batch_fields: {} inputs ({} accepted), 0 findings",
        INPUTS.load(Ordering::Relaxed),
        ACCEPTED.load(Ordering::Relaxed)
    );
}

// ---- list cursors

/// Every list, and the cursors its pages hand out.
const LISTS: [&str; 8] = [
    "/v1/users",
    "/v1/plans",
    "/v1/subscriptions",
    "/v1/invoices",
    "/v1/payments",
    "/v1/audit",
    "/v1/audit?entity_id=usr_x",
    "/v1/tokens",
];

async fn cursor_rig() -> (TestApp, Vec<(&'static str, String)>) {
    let app = spawn_app().await;
    for n in 0..3 {
        app.create_token(&format!("t{n}"), &["read"]).await;
        let user = app
            .post(
                "/v1/users",
                ADMIN_TOKEN,
                &json!({"email": format!("c{n}@example.com")}),
            )
            .await;
        assert_eq!(user.status, 201);
        let plan = app
            .post(
                "/v1/plans",
                ADMIN_TOKEN,
                &json!({"code": format!("p{n}"), "name": "P", "amount_cents": 0, "interval": "month"}),
            )
            .await;
        assert_eq!(plan.status, 201);
    }
    let mut cursors = Vec::new();
    for list in LISTS {
        let join = if list.contains('?') { '&' } else { '?' };
        let page = app.get(&format!("{list}{join}limit=1"), ADMIN_TOKEN).await;
        assert_eq!(page.status, 200, "{list}");
        if let Some(cursor) = page.body["next_cursor"].as_str() {
            cursors.push((list, cursor.to_owned()));
        }
    }
    assert!(cursors.len() >= 4, "{cursors:?}");
    // The harness sees pages: every cursor works on its own list.
    for (list, cursor) in &cursors {
        assert!(check_cursor(&app, list, cursor).await, "{list} {cursor}");
    }
    (app, cursors)
}

async fn check_cursor(app: &TestApp, list: &str, cursor: &str) -> bool {
    let join = if list.contains('?') { '&' } else { '?' };
    let encoded: String = form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    let path = format!("{list}{join}limit=2&cursor={encoded}");
    let response = app.get(&path, ADMIN_TOKEN).await;
    match response.status {
        200 => {
            assert!(response.body["data"].is_array(), "{path}");
            true
        }
        400 => {
            // A value the parameter check refuses for every route (empty, a control
            // character, over its length) is `invalid_parameter`; one that passes it but
            // positions no page is `invalid_cursor`. Either names the cursor.
            let (kind, code, param) = response.error();
            assert_eq!(
                (kind.as_str(), param.as_deref()),
                ("invalid_request", Some("cursor")),
                "{path}"
            );
            assert!(
                code == "invalid_cursor" || code == "invalid_parameter",
                "{path}: {code}"
            );
            false
        }
        other => panic!("{path} answered {other}: {:?}", response.body),
    }
}

/// Cursors as bytes: the first picks the list, the rest is the cursor (a corpus file may be
/// a real cursor of another list, or another partition).
#[test]
fn list_cursor() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static PAGES: AtomicU64 = AtomicU64::new(0);
    let runtime = runtime();
    let (app, _) = runtime.block_on(cursor_rig());
    let rig = std::panic::AssertUnwindSafe((&runtime, &app));
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            let (runtime, app) = *rig;
            let Some((which, cursor)) = input.split_first() else {
                return;
            };
            INPUTS.fetch_add(1, Ordering::Relaxed);
            let list = LISTS[usize::from(*which) % LISTS.len()];
            let cursor = String::from_utf8_lossy(cursor);
            if runtime.block_on(check_cursor(app, list, &cursor)) {
                PAGES.fetch_add(1, Ordering::Relaxed);
            }
        });
    eprintln!(
        "fuzz list_cursor: {} inputs ({} pages), 0 findings",
        INPUTS.load(Ordering::Relaxed),
        PAGES.load(Ordering::Relaxed)
    );
}

/// Real cursors, mutated: a hex digit changed, cut short, lengthened, sent to another list.
#[test]
fn list_cursor_mutated() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static PAGES: AtomicU64 = AtomicU64::new(0);
    let runtime = runtime();
    let (app, cursors) = runtime.block_on(cursor_rig());
    let rig = std::panic::AssertUnwindSafe((&runtime, &app, &cursors));
    bolero::check!()
        .with_test_time(TEST_TIME)
        .with_type::<(u8, u8, Vec<(u16, u8)>, u16)>()
        .for_each(|(which, source, edits, cut)| {
            let (runtime, app, cursors) = *rig;
            INPUTS.fetch_add(1, Ordering::Relaxed);
            let (own_list, cursor) = &cursors[usize::from(*source) % cursors.len()];
            // Half on the cursor's own list, half on any list.
            let list = if which % 2 == 0 {
                own_list
            } else {
                LISTS[usize::from(*which / 2) % LISTS.len()]
            };
            let mut cursor = cursor.clone().into_bytes();
            for (at, byte) in edits.iter().take(usize::from(which % 3)) {
                let at = usize::from(*at) % (cursor.len() + 1);
                let byte = b"0123456789abcdefABCDEFz%+ "[usize::from(*byte) % 26];
                if at == cursor.len() {
                    cursor.push(byte);
                } else {
                    cursor[at] = byte;
                }
            }
            if cut % 3 == 0 {
                cursor.truncate(usize::from(*cut) % (cursor.len() + 1));
            }
            let cursor = String::from_utf8(cursor).unwrap();
            if runtime.block_on(check_cursor(app, list, &cursor)) {
                PAGES.fetch_add(1, Ordering::Relaxed);
            }
        });
    eprintln!(
        "fuzz list_cursor_mutated: {} inputs ({} pages), 0 findings",
        INPUTS.load(Ordering::Relaxed),
        PAGES.load(Ordering::Relaxed)
    );
}
