//! The nomad adapter.

use crate::adapters::Manifests;
use crate::error::DeployError;
use crate::intent::Intent;

/// Translates `intent` for nomad.
pub fn translate(intent: &Intent) -> Result<Manifests, DeployError> {
    let _ = intent;
    todo!("nomad adapter")
}
