//! TEMPORARY STUB (replaced by the protocol implementation).
#[derive(Debug)]
pub enum CodecError { FormatMismatch { found: String, expected: String }, Other(String) }
impl std::fmt::Display for CodecError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") } }
impl std::error::Error for CodecError {}
pub struct Limits { pub max_uncompressed: usize, pub max_ratio: u64, pub max_depth: usize }
impl Default for Limits { fn default() -> Self { Limits { max_uncompressed: 512 << 20, max_ratio: 1000, max_depth: 512 } } }
pub fn check_document(_b: &[u8], _l: &Limits) -> Result<(), CodecError> { todo!() }
pub fn encode_envelope(_p: &[u8], _f: &str) -> Vec<u8> { todo!() }
pub fn encode_envelope_uncompressed(_p: &[u8], _f: &str) -> Vec<u8> { todo!() }
pub fn decode_envelope(_b: &[u8], _f: &str, _l: &Limits) -> Result<Vec<u8>, CodecError> { todo!() }
pub fn build_aad(_t: &str, _k: &str, _f: &str, _c: bool, _o: Option<&str>) -> Vec<u8> { todo!() }
pub fn parse_master_key_hex(_s: &str) -> Result<[u8; 32], CodecError> { todo!() }
pub struct Keyring;
impl Keyring {
  pub fn new(_c: &[u8], _d: &[Vec<u8>], _t: &str) -> Result<Keyring, CodecError> { todo!() }
  pub fn fingerprint(&self) -> [u8; 16] { todo!() }
  pub fn tenant(&self) -> &str { todo!() }
  pub fn encrypt(&self, _p: &[u8], _a: &[u8]) -> Vec<u8> { todo!() }
  pub fn decrypt(&self, _d: &[u8], _a: &[u8]) -> Result<Vec<u8>, CodecError> { todo!() }
}
