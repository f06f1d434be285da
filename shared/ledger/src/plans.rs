//! Plans: one item per plan code (the code is the key, so it is unique), versioned.

use billing_core::plan::Plan;
use billing_store::{Condition, Index, SortKeyCondition};

use crate::change::{Change, gsi, newest_sk};
use crate::error::{Conflict, Result};
use crate::keys;
use crate::ledger::{Ledger, Listing, PageRequest};
use crate::record::{Versioned, s, to_item};

impl Ledger {
    pub async fn plan(&self, code: &str) -> Result<Option<Versioned<Plan>>> {
        self.get_versioned("plan", keys::plan(code)).await
    }

    pub async fn plans(&self, page: &PageRequest) -> Result<Listing<Plan>> {
        self.list(
            "plan",
            Index::Gsi3,
            "PLANS".into(),
            SortKeyCondition::All,
            page,
            |_| true,
        )
        .await
    }
}

impl Change {
    pub fn create_plan(&mut self, plan: &Plan) -> Result<()> {
        self.put(
            plan_item(plan, 1)?,
            Condition::NotExists,
            Some(Conflict::PlanCodeTaken),
        );
        Ok(())
    }

    pub fn update_plan(&mut self, plan: &Plan, read_version: u64) -> Result<()> {
        self.put(
            plan_item(plan, read_version + 1)?,
            Condition::VersionEquals(read_version),
            Some(Conflict::Stale {
                entity: "plan",
                id: plan.code.clone(),
            }),
        );
        Ok(())
    }
}

fn plan_item(plan: &Plan, version: u64) -> Result<billing_store::Item> {
    to_item(
        "plan",
        plan,
        &keys::plan(&plan.code),
        Some(version),
        vec![
            (gsi::ALL_PK, s("PLANS")),
            (gsi::ALL_SK, newest_sk(plan.created_at, &plan.code)),
        ],
    )
}
