use std::sync::Mutex;

use tokio::sync::watch;

use crate::{EmbedFuture, Embedder, Error, HashingEmbedder};

/// Which batches a [`GatedEmbedder`] holds back while its gate is shut.
pub type HoldRule = fn(&[String]) -> bool;

/// The hashing embedder behind a gate, for tests of what search does while the model is busy:
/// while the gate is shut, a batch the hold rule picks waits, as it would behind a busy model.
/// Records every text it embeds.
pub struct GatedEmbedder {
    inner: HashingEmbedder,
    open: watch::Receiver<bool>,
    holds: HoldRule,
    embedded: Mutex<Vec<String>>,
}

impl GatedEmbedder {
    /// Wraps `inner`; the returned sender opens (`true`, the start) and shuts (`false`) the gate.
    pub fn new(inner: HashingEmbedder, holds: HoldRule) -> (GatedEmbedder, watch::Sender<bool>) {
        let (gate, open) = watch::channel(true);
        let embedder = GatedEmbedder {
            inner,
            open,
            holds,
            embedded: Mutex::new(Vec::new()),
        };
        (embedder, gate)
    }

    /// Every text embedded so far, in order.
    pub fn embedded(&self) -> Vec<String> {
        self.embedded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Embedder for GatedEmbedder {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    fn embed(&self, texts: Vec<String>) -> EmbedFuture<'_> {
        let mut open = self.open.clone();
        Box::pin(async move {
            if (self.holds)(&texts) {
                open.wait_for(|open| *open)
                    .await
                    .map_err(|_| Error::Inference("the gate was dropped".into()))?;
            }
            self.embedded
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend(texts.iter().cloned());
            self.inner.embed_now(&texts)
        })
    }
}
