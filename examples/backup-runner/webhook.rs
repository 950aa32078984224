//! The optional webhook: one JSON `POST` per run whose outcome is listed in `webhook.on`.
//! A webhook that fails is logged and never changes the run's outcome.

use std::time::Duration;

use crate::config::{Config, WebhookEvent};
use crate::report::{Outcome, RunReport};

/// Posts `run` to the configured webhook if its outcome is wanted.
pub(crate) async fn notify(config: &Config, run: &RunReport) {
    let Some(webhook) = &config.webhook else {
        return;
    };
    let event = match run.outcome {
        Outcome::Ok => WebhookEvent::Ok,
        Outcome::Degraded => WebhookEvent::Degraded,
        Outcome::Failed => WebhookEvent::Failed,
    };
    if !webhook.on.contains(&event) {
        return;
    }
    let body = serde_json::json!({
        "host": config.host,
        "run_id": run.run_id,
        "outcome": run.outcome,
        "finished": run.finished,
        "run": run,
    });
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "webhook client");
            return;
        }
    };
    match client.post(webhook.url.clone()).json(&body).send().await {
        Ok(response) if response.status().is_success() => {
            tracing::info!(status = %response.status(), "webhook notified");
        }
        Ok(response) => tracing::warn!(status = %response.status(), "webhook refused"),
        // The URL may hold a token: log the error kind, not the URL.
        Err(error) => tracing::warn!(error = %error.without_url(), "webhook failed"),
    }
}
