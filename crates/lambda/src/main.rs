//! `bootstrap`: the flowatlas AWS Lambda function. S3 object-created events (direct, through
//! SQS, or from EventBridge) in; the tables of each object in the destination bucket out, by
//! the same per-object pipeline as `flowatlas process`. Everything but logging and the runtime
//! loop is in the library (`lib.rs`).

use std::sync::Arc;

use flowatlas_lambda::{Settings, State};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let state = match cold_start().await {
        Ok(state) => Arc::new(state),
        Err(error) => {
            let message = flowatlas_pipeline::error_chain(error.as_ref());
            tracing::error!(error = message, "cold start failed");
            return Err(message.into());
        }
    };
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "flowatlas".into());
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let state = Arc::clone(&state);
        let function = function.clone();
        async move {
            flowatlas_lambda::handle(state, event.payload, event.context.deadline, &function)
                .await
                .map_err(lambda_runtime::Diagnostic::from)
        }
    }))
    .await
}

async fn cold_start() -> anyhow::Result<State> {
    let settings = Settings::from_vars(std::env::vars()).map_err(anyhow::Error::msg)?;
    let client = flowatlas_s3::client_from_env().await;
    State::new(settings, client).await
}

/// JSON log lines, one per event, at the level of `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
fn init_logging() {
    use lambda_runtime::tracing::subscriber::{EnvFilter, fmt};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    fmt()
        .json()
        .with_target(false)
        .with_current_span(false)
        .with_env_filter(EnvFilter::new(level.to_lowercase()))
        .init();
}
