//! The kubernetes adapter.

use crate::adapters::Manifests;
use crate::error::DeployError;
use crate::intent::Intent;

/// Translates `intent` for kubernetes.
pub fn translate(intent: &Intent) -> Result<Manifests, DeployError> {
    let _ = intent;
    todo!("kubernetes adapter")
}
