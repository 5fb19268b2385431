//! A [`Publisher`] that records what it was given, for testing the pipeline's logic.

use std::sync::{Arc, Mutex};

use crate::publish::{
    Alert, CompletionEvent, DeletionEvent, PrefixCompletedEvent, PublishError, Publisher,
    TableCommittedEvent,
};

#[derive(Debug, Clone, Default)]
pub struct MemoryPublisher {
    completions: Arc<Mutex<Vec<CompletionEvent>>>,
    alerts: Arc<Mutex<Vec<Alert>>>,
    prefixes: Arc<Mutex<Vec<PrefixCompletedEvent>>>,
    deletions: Arc<Mutex<Vec<DeletionEvent>>>,
    tables: Arc<Mutex<Vec<TableCommittedEvent>>>,
    fail_completions: Arc<Mutex<bool>>,
}

impl MemoryPublisher {
    pub fn completions(&self) -> Vec<CompletionEvent> {
        self.completions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn prefixes(&self) -> Vec<PrefixCompletedEvent> {
        self.prefixes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn deletions(&self) -> Vec<DeletionEvent> {
        self.deletions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn tables(&self) -> Vec<TableCommittedEvent> {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes every completion publish fail (transiently) until called with `false`.
    pub fn fail_completions(&self, fail: bool) {
        *self
            .fail_completions
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = fail;
    }
}

impl Publisher for MemoryPublisher {
    async fn publish_completion(&self, event: &CompletionEvent) -> Result<(), PublishError> {
        if *self
            .fail_completions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            return Err(PublishError {
                topic_arn: "memory:completions".into(),
                message: "injected failure".into(),
                transient: true,
            });
        }
        self.completions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }

    async fn publish_prefix_completed(
        &self,
        event: &PrefixCompletedEvent,
    ) -> Result<(), PublishError> {
        self.prefixes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }

    async fn publish_deletion(&self, event: &DeletionEvent) -> Result<(), PublishError> {
        self.deletions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }

    async fn publish_table_committed(
        &self,
        event: &TableCommittedEvent,
    ) -> Result<(), PublishError> {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }

    async fn publish_alert(&self, alert: &Alert) -> Result<(), PublishError> {
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(alert.clone());
        Ok(())
    }
}
