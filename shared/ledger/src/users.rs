//! Users: the user item, its email claim (one user per email, case-insensitively) and its entry
//! in the name index; reads by id, email, list and name prefix.

use billing_core::user::{NAME_SEARCH_KEY_CHARS, User, name_search_key};
use billing_store::{Condition, Direction, Index, SortKeyCondition};

use crate::change::{Change, gsi, newest_sk};
use crate::error::{Conflict, Result};
use crate::keys;
use crate::ledger::{Ledger, Listing, PageRequest};
use crate::record::{Versioned, required, s, string_attribute, to_item};

impl Ledger {
    pub async fn user(&self, id: &str) -> Result<Option<Versioned<User>>> {
        self.get_versioned("user", keys::user(id)).await
    }

    /// The user id holding this email (lowercased key), if any.
    pub async fn user_id_by_email(&self, email_key: &str) -> Result<Option<String>> {
        let Some(item) = self.table.get(&keys::email_claim(email_key)).await? else {
            return Ok(None);
        };
        required(
            "email_claim",
            &item,
            "user_id",
            string_attribute("email_claim", &item, "user_id")?,
        )
        .map(Some)
    }

    pub async fn users(&self, page: &PageRequest) -> Result<Listing<User>> {
        self.list(
            "user",
            Index::Gsi3,
            "USERS".into(),
            SortKeyCondition::All,
            page,
            |_| true,
        )
        .await
    }

    /// Users whose name begins with `prefix`, case-insensitively, in name order: one
    /// partition of the name index (gsi4), read from the prefix on.
    pub async fn users_by_name_prefix(
        &self,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Listing<User>> {
        // Leading spaces never start a stored name; trailing ones are part of the prefix.
        let wanted = prefix.trim_start().to_lowercase();
        let Some(first) = wanted.chars().next() else {
            return Ok(Listing {
                data: Vec::new(),
                next_cursor: None,
            });
        };
        let indexed: String = wanted.chars().take(NAME_SEARCH_KEY_CHARS).collect();
        self.list_in(
            Direction::Forward,
            "user",
            Index::Gsi4,
            keys::user_name_partition(first),
            SortKeyCondition::BeginsWith(indexed),
            page,
            // The index keeps the first characters only; a longer prefix checks the name.
            |user: &User| {
                user.name
                    .as_deref()
                    .is_some_and(|name| name_search_key(name).starts_with(&wanted))
            },
        )
        .await
    }
}

impl Change {
    pub fn create_user(&mut self, user: &User, email_key: &str) -> Result<()> {
        self.claim(
            "email_claim",
            serde_json::json!({"user_id": user.id}),
            keys::email_claim(email_key),
            Conflict::EmailTaken,
        )?;
        self.put(user_item(user, 1)?, Condition::NotExists, None);
        Ok(())
    }

    /// Writes `user` as version `read_version + 1`, if it is still at `read_version`.
    pub fn update_user(&mut self, user: &User, read_version: u64) -> Result<()> {
        self.put(
            user_item(user, read_version + 1)?,
            Condition::VersionEquals(read_version),
            Some(Conflict::Stale {
                entity: "user",
                id: user.id.clone(),
            }),
        );
        Ok(())
    }
}

fn user_item(user: &User, version: u64) -> Result<billing_store::Item> {
    let mut indexes = vec![
        (gsi::ALL_PK, s("USERS")),
        (gsi::ALL_SK, newest_sk(user.created_at, &user.id)),
    ];
    // Named users are in the name index (gsi4), by the first characters of their search key;
    // rewriting the user (every update is a whole put) moves the entry with the name.
    let search: String = user
        .name
        .as_deref()
        .map(name_search_key)
        .unwrap_or_default()
        .chars()
        .take(NAME_SEARCH_KEY_CHARS)
        .collect();
    if let Some(first) = search.chars().next() {
        indexes.push((gsi::FILTER_PK, s(keys::user_name_partition(first))));
        indexes.push((gsi::FILTER_SK, s(format!("{search}#{}", user.id))));
    }
    to_item("user", user, &keys::user(&user.id), Some(version), indexes)
}
