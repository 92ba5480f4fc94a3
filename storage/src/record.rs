//! Records as every backend stores them: MessagePack of the core types, and
//! a pass put back together from its record and its separately kept state.

use crate::{PassState, StoreError};
use scangate_core::{Pass, PassId};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(value)
        .map_err(|e| StoreError::Internal(format!("cannot encode a record: {e}")))
}

/// Encodes a record with its field names (a MessagePack map): for records
/// that skip absent fields and gain fields over time (an event's
/// definition), where the compact form's field order would not hold.
pub fn encode_named<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(value)
        .map_err(|e| StoreError::Internal(format!("cannot encode a record: {e}")))
}

/// Decodes a record; failure is corruption, named by `what`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A pass from its stored record and its state; the state is authoritative
/// (grants and admin changes write only the state).
pub fn merge_pass(id: PassId, record: &[u8], state: PassState) -> Result<Pass, StoreError> {
    let mut pass: Pass = decode(record, "pass record")?;
    if pass.id != id {
        return Err(StoreError::Corrupt(format!(
            "pass record: stored under {id} but names {}",
            pass.id
        )));
    }
    pass.uses = state.uses;
    pass.status = state.status;
    pass.max_uses = state.max_uses;
    pass.presence = state.presence;
    Ok(pass)
}
