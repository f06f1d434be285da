//! The SQS side of the queue-triggered Lambdas (the usage aggregator, the runners' work queues):
//! a batch's records read into message ids and decoded bodies, and the messages to deliver
//! again reported in `batchItemFailures` (partial batch responses), so SQS retries each failed
//! message alone and, after the queue's receive count, parks it in its DLQ.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::de::DeserializeOwned;

/// One record of a batch: its message id, and its body decoded, or why it cannot be.
#[derive(Debug)]
pub struct Record<T> {
    pub message_id: String,
    pub body: Result<T, String>,
}

/// The records of `event`, each body decoded as JSON into `T`; `what` names a body in the
/// problem (`unreadable {what}: …`). A record without a message id can be neither
/// deduplicated nor reported: SQS always sends one, so it is a malformed test event, skipped
/// loudly.
pub fn records<T: DeserializeOwned>(event: SqsEvent, what: &str) -> Vec<Record<T>> {
    event
        .records
        .into_iter()
        .filter_map(|message| {
            let Some(message_id) = message.message_id else {
                tracing::error!("an SQS record without a messageId was skipped");
                return None;
            };
            let body = match message.body.as_deref() {
                Some(body) => {
                    serde_json::from_str(body).map_err(|e| format!("unreadable {what}: {e}"))
                }
                None => Err("the message has no body".to_owned()),
            };
            Some(Record { message_id, body })
        })
        .collect()
}

/// The messages of a batch SQS is to deliver again.
#[derive(Debug, Default)]
pub struct BatchFailures(SqsBatchResponse);

impl BatchFailures {
    /// Reports `message_id` for another delivery, logging why (`what` failed: `problem`).
    pub fn retry(&mut self, message_id: String, what: &str, problem: &str) {
        tracing::warn!(%message_id, what, %problem, "message not processed; SQS will retry it");
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = message_id;
        self.0.batch_item_failures.push(failure);
    }

    pub fn into_response(self) -> SqsBatchResponse {
        self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn records_keep_their_ids_and_say_why_a_body_is_unreadable() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "m1", "body": "{\"n\": 1}"},
            {"messageId": "m2", "body": "not json"},
            {"messageId": "m3"},
            {"body": "{\"n\": 4}"},
        ]}))
        .unwrap();
        #[derive(Debug, serde::Deserialize, PartialEq)]
        struct Body {
            n: u32,
        }
        let read = records::<Body>(event, "test body");
        let ids: Vec<&str> = read.iter().map(|r| r.message_id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2", "m3"]);
        assert_eq!(read[0].body.as_ref().unwrap(), &Body { n: 1 });
        assert!(
            read[1]
                .body
                .as_ref()
                .unwrap_err()
                .starts_with("unreadable test body: ")
        );
        assert_eq!(
            read[2].body.as_ref().unwrap_err(),
            "the message has no body"
        );
        let mut failures = BatchFailures::default();
        failures.retry("m2".into(), "test body", "unreadable");
        let response = failures.into_response();
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(response.batch_item_failures[0].item_identifier, "m2");
    }
}
