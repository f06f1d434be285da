//! The test clock of API.md (`/v1/test-clock`, only with `BILLING_TEST_CLOCK=true`): read it,
//! or move it forward. It never moves back: billing periods, dunning and usage windows all
//! assume time only grows.

use billing_core::Timestamp;
use billing_core::period::whole_seconds;
use billing_ledger::{Conflict, LedgerError};

use crate::clock::{Clock, TestClock};
use crate::context::App;
use crate::error::AppError;

/// How often a move is retried when another writer moved the clock between our read and our
/// write (each retry re-reads, so a backwards move is still refused).
const MOVE_ATTEMPTS_MAX: usize = 3;

/// The stored test clock (started at the system time on first read).
pub async fn now(app: &App) -> Result<Timestamp, AppError> {
    TestClock::new(app.ledger.clone()).now().await
}

/// Moves the test clock to `to` (truncated to whole seconds, BILLING.md): the same instant is
/// fine, an earlier one is `clock_moved_backwards`.
pub async fn advance(app: &App, to: Timestamp) -> Result<Timestamp, AppError> {
    let to = whole_seconds(to);
    for _ in 0..MOVE_ATTEMPTS_MAX {
        let current = now(app).await?;
        if to < current {
            return Err(moved_backwards(current, to));
        }
        match app.ledger.set_test_clock(Some(current), to).await {
            Ok(()) => return Ok(to),
            Err(LedgerError::Conflict(Conflict::ClockMovedBackwards)) => {
                return Err(moved_backwards(current, to));
            }
            Err(LedgerError::Conflict(Conflict::Stale { .. })) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(AppError::conflict(
        "clock_changed",
        "the test clock kept changing while it was being moved; retry",
        None,
    ))
}

fn moved_backwards(current: Timestamp, to: Timestamp) -> AppError {
    AppError::conflict(
        "clock_moved_backwards",
        format!(
            "the test clock only moves forward: it is {} and {} is earlier",
            current.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        Some("now"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ErrorKind;

    async fn app(fixture: &billing_store::testing::Fixture) -> App {
        let ledger = billing_ledger::Ledger::new(fixture.table.clone());
        App::local(
            ledger.clone(),
            std::sync::Arc::new(crate::clock::TestClock::new(ledger.clone())),
        )
    }

    #[tokio::test]
    async fn the_test_clock_moves_forward_to_whole_seconds_and_never_back() {
        let fixture = billing_store::testing::embedded("test_clock")
            .await
            .unwrap();
        let app = app(&fixture).await;
        let start = now(&app).await.unwrap();
        assert_eq!(now(&app).await.unwrap(), start, "a read does not move it");
        let later = start + chrono::Duration::milliseconds(90_500);
        let moved = advance(&app, later).await.unwrap();
        assert_eq!(moved, start + chrono::Duration::seconds(90));
        assert_eq!(now(&app).await.unwrap(), moved);
        assert_eq!(
            advance(&app, moved).await.unwrap(),
            moved,
            "standing still is fine"
        );
        let error = advance(&app, start).await.unwrap_err();
        assert_eq!(
            (error.kind(), error.code()),
            (ErrorKind::Conflict, "clock_moved_backwards")
        );
        assert_eq!(now(&app).await.unwrap(), moved);
    }
}
