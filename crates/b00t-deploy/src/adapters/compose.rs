//! The compose adapter.

use crate::adapters::Manifests;
use crate::error::DeployError;
use crate::intent::Intent;

/// Translates `intent` for compose.
pub fn translate(intent: &Intent) -> Result<Manifests, DeployError> {
    let _ = intent;
    todo!("compose adapter")
}
