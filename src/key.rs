//! TEMPORARY STUB (replaced by the protocol implementation).
#[derive(Debug)]
pub enum KeyError { InvalidSegment { segment: String }, Other(String) }
impl std::fmt::Display for KeyError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") } }
impl std::error::Error for KeyError {}
pub fn validate_segment(_s: &str) -> Result<(), KeyError> { todo!() }
pub fn canonicalize_args(_a: &[u8]) -> Result<Vec<u8>, KeyError> { todo!() }
pub fn canonicalize_value(_a: &[u8]) -> Result<Vec<u8>, KeyError> { todo!() }
pub fn args_hash_hex(_c: &[u8]) -> String { todo!() }
pub fn interop_key(_n: &str, _o: &str, _a: &[u8]) -> Result<String, KeyError> { todo!() }
