//! JSON 6902 patches (`op: add|remove|replace|move|copy|test`), through the `json-patch` crate.

use serde_json::Value;

/// Parses a list of operations.
pub fn parse(ops: Value) -> Result<json_patch::Patch, String> {
    serde_json::from_value(ops).map_err(|e| format!("invalid JSON 6902 patch: {e}"))
}

/// Applies `patch` to `target`.
pub fn apply(target: &mut Value, patch: &json_patch::Patch) -> Result<(), String> {
    json_patch::patch(target, patch).map_err(|e| format!("JSON 6902 patch failed: {e}"))
}
