//! One module per resource, each exposing `router() -> OpenApiRouter<ApiState>`.

pub mod audit;
pub mod dashboard;
pub mod health;
pub mod invoices;
pub mod openapi_json;
pub mod plans;
pub mod runs;
pub mod subscriptions;
pub mod test_clock;
pub mod tokens;
pub mod usage;
pub mod users;
pub mod webhooks;
