//! Reading the seed data files (YAML with anchors and `<<` merge keys).

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses an embedded data file; `what` names it in the error.
pub fn parse<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, ApiError> {
    let bad = |e: serde_yaml::Error| ApiError::internal(format!("the built-in {what} do not parse: {e}"));
    let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(bad)?;
    value.apply_merge().map_err(bad)?;
    serde_yaml::from_value(value).map_err(bad)
}
