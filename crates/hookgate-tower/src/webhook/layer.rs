use std::sync::Arc;

use hookgate_receive::{ProblemJson, Receiver, RespondToRejection};
use tower_layer::Layer;

use super::Webhook;

/// Applies [`Webhook`] to a service; see the [module docs](crate::webhook).
///
/// `R` turns refusals into responses; swap it with
/// [`rejection_response`](Self::rejection_response).
#[derive(Debug)]
pub struct WebhookLayer<R = ProblemJson> {
    receiver: Receiver,
    respond: Arc<R>,
}

impl<R> Clone for WebhookLayer<R> {
    fn clone(&self) -> Self {
        Self {
            receiver: self.receiver.clone(),
            respond: Arc::clone(&self.respond),
        }
    }
}

impl WebhookLayer {
    /// Receives the sources of `receiver`, answering refusals with problem+json.
    pub fn new(receiver: Receiver) -> Self {
        Self {
            receiver,
            respond: Arc::new(ProblemJson),
        }
    }
}

impl<R> WebhookLayer<R> {
    /// Answers refusals with `respond` instead (any `Fn(&Rejection) -> http::Response<Bytes>`).
    #[must_use]
    pub fn rejection_response<R2: RespondToRejection>(self, respond: R2) -> WebhookLayer<R2> {
        WebhookLayer {
            receiver: self.receiver,
            respond: Arc::new(respond),
        }
    }

    /// The receiver's configuration.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }
}

impl<S, R> Layer<S> for WebhookLayer<R> {
    type Service = Webhook<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Webhook::from_parts(inner, self.receiver.clone(), Arc::clone(&self.respond))
    }
}
