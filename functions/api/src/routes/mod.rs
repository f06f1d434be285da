//! One module per resource, each exposing `router() -> OpenApiRouter<ApiState>`.

pub mod audit;
pub mod health;
pub mod invoices;
pub mod openapi_json;
pub mod test_clock;
pub mod tokens;
