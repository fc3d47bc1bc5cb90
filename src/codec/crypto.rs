//! AES-256-GCM encryption of stored values, as the cachekit protocol defines it.
//!
//! Keys: HKDF-SHA256(ikm = master key, salt = "cachekit_v1_" || u8 len(domain)
//! || domain || u16 BE len(tenant) || tenant, info = domain), domain
//! "encryption". Stored form: nonce(12) || ciphertext || tag(16). The AAD
//! binds a ciphertext to its tenant, cache key and format, so an entry copied
//! to another key fails authentication.

use super::CodecError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const DOMAIN: &str = "encryption";
const AAD_VERSION: u8 = 0x03;

/// Most previous master keys a keyring accepts for decryption (protocol cap).
pub const MAX_DECRYPT_ONLY_KEYS: usize = 3;

/// Builds the AAD v0x03: `0x03`, then for tenant, cache key, format,
/// `"True"`/`"False"` and (only when present) the original type, a 4-byte
/// big-endian length and the bytes.
pub fn build_aad(tenant: &str, cache_key: &str, format: &str, compressed: bool, original_type: Option<&str>) -> Vec<u8> {
    let flag = if compressed { "True" } else { "False" };
    let mut parts = vec![tenant, cache_key, format, flag];
    if let Some(t) = original_type {
        parts.push(t);
    }
    let mut out = Vec::with_capacity(1 + parts.iter().map(|p| 4 + p.len()).sum::<usize>());
    out.push(AAD_VERSION);
    for p in parts {
        // Strings beyond 4 GiB cannot occur for keys/tenants/formats.
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p.as_bytes());
    }
    out
}

/// Parses a master key given as hex: exactly 64 hex digits (either case), no
/// white space, sign or `0x` prefix, decoding to exactly 32 bytes.
pub fn parse_master_key_hex(s: &str) -> Result<[u8; 32], CodecError> {
    if s.len() != 64 {
        return Err(CodecError::InvalidMasterKey(format!(
            "expected exactly 64 hex digits (32 bytes, e.g. from `openssl rand -hex 32`), got {} characters",
            s.len()
        )));
    }
    let mut key = [0u8; 32];
    // hex::decode_to_slice only admits [0-9a-fA-F] pairs: no signs, spaces or prefixes.
    hex::decode_to_slice(s, &mut key).map_err(|_| {
        CodecError::InvalidMasterKey("contains a character that is not a hex digit (0-9, a-f)".into())
    })?;
    Ok(key)
}

fn derive_key(master: &[u8; 32], tenant: &str) -> [u8; 32] {
    let mut salt = Vec::with_capacity(12 + 1 + DOMAIN.len() + 2 + tenant.len());
    salt.extend_from_slice(b"cachekit_v1_");
    salt.push(DOMAIN.len() as u8);
    salt.extend_from_slice(DOMAIN.as_bytes());
    salt.extend_from_slice(&(tenant.len() as u16).to_be_bytes());
    salt.extend_from_slice(tenant.as_bytes());
    let hk = Hkdf::<Sha256>::new(Some(&salt), master);
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: cannot fail.
    if hk.expand(DOMAIN.as_bytes(), &mut okm).is_err() {
        unreachable!("HKDF-SHA256 expand of 32 bytes");
    }
    okm
}

fn fingerprint_of(derived: &[u8; 32]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"key_fingerprint_v1");
    h.update(derived);
    let d = h.finalize();
    let mut fp = [0u8; 16];
    fp.copy_from_slice(&d[..16]);
    fp
}

fn raw_key(bytes: &[u8], what: &str) -> Result<[u8; 32], CodecError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        CodecError::InvalidKeyring(format!(
            "{what} must be exactly 32 raw bytes, got {} (pass hex keys through parse_master_key_hex)",
            bytes.len()
        ))
    })
}

/// Nonce source: a random 8-byte instance id and a 32-bit counter.
struct NonceState {
    instance: [u8; 8],
    counter: u32,
}

/// The keys of one tenant: one current key (encrypts and decrypts) and up to
/// [`MAX_DECRYPT_ONLY_KEYS`] previous keys (decrypt only, for rotation).
pub struct Keyring {
    current: Aes256Gcm,
    fingerprint: [u8; 16],
    decrypt_only: Vec<Aes256Gcm>,
    tenant: String,
    // A mutex (not a bare atomic) so that the counter wrap and the choice of a
    // new instance id happen together: no nonce is ever issued twice.
    nonce: Mutex<NonceState>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Keyring")
            .field("tenant", &self.tenant)
            .field("fingerprint", &hex::encode(self.fingerprint))
            .field("decrypt_only_keys", &self.decrypt_only.len())
            .finish()
    }
}

impl Keyring {
    /// Builds a keyring from raw 32-byte master keys. Refuses a key of any
    /// other length, more than three decrypt-only keys, a decrypt-only key
    /// equal to the current key or to another decrypt-only key, and an empty
    /// or over-long (> 65535 bytes) tenant (use `"default"` when the caller
    /// supplies none, as the protocol requires).
    pub fn new(current: &[u8], decrypt_only: &[Vec<u8>], tenant: &str) -> Result<Keyring, CodecError> {
        let cur = raw_key(current, "the current master key")?;
        if decrypt_only.len() > MAX_DECRYPT_ONLY_KEYS {
            return Err(CodecError::InvalidKeyring(format!(
                "{} decrypt-only (previous) master keys given; at most {MAX_DECRYPT_ONLY_KEYS} are allowed",
                decrypt_only.len()
            )));
        }
        if tenant.is_empty() {
            return Err(CodecError::InvalidKeyring(
                "tenant is empty; use \"default\" when there is no tenant".into(),
            ));
        }
        if tenant.len() > u16::MAX as usize {
            return Err(CodecError::InvalidKeyring(format!(
                "tenant is {} bytes; at most 65535 are allowed",
                tenant.len()
            )));
        }
        let mut olds: Vec<[u8; 32]> = Vec::with_capacity(decrypt_only.len());
        for (i, k) in decrypt_only.iter().enumerate() {
            let k = raw_key(k, &format!("decrypt-only master key #{}", i + 1))?;
            if k == cur {
                return Err(CodecError::InvalidKeyring(format!(
                    "decrypt-only master key #{} repeats the current master key",
                    i + 1
                )));
            }
            if olds.contains(&k) {
                return Err(CodecError::InvalidKeyring(format!(
                    "decrypt-only master key #{} is listed twice",
                    i + 1
                )));
            }
            olds.push(k);
        }
        let mut instance = [0u8; 8];
        rand::rngs::OsRng
            .try_fill_bytes(&mut instance)
            .map_err(|e| CodecError::InvalidKeyring(format!("operating system random source failed: {e}")))?;
        let derived = derive_key(&cur, tenant);
        let cipher = |k: &[u8; 32]| Aes256Gcm::new(k.into());
        Ok(Keyring {
            current: cipher(&derived),
            fingerprint: fingerprint_of(&derived),
            decrypt_only: olds.iter().map(|k| cipher(&derive_key(k, tenant))).collect(),
            tenant: tenant.to_owned(),
            nonce: Mutex::new(NonceState { instance, counter: 0 }),
        })
    }

    /// First 16 bytes of SHA-256("key_fingerprint_v1" || current derived key).
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// The tenant the keys were derived for (also the AAD's first component).
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    fn next_nonce(&self) -> [u8; 12] {
        // The state is always consistent, so a poisoned lock is still usable.
        let mut st = self.nonce.lock().unwrap_or_else(|p| p.into_inner());
        if st.counter == u32::MAX {
            // Counter space of this instance id is spent: start a fresh one.
            rand::thread_rng().fill_bytes(&mut st.instance);
            st.counter = 0;
        }
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&st.instance);
        n[8..].copy_from_slice(&st.counter.to_be_bytes());
        st.counter += 1;
        n
    }

    /// Encrypts under the current key; returns nonce || ciphertext || tag.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = self.next_nonce();
        self.encrypt_with_nonce(plaintext, aad, &nonce)
    }

    /// Encrypts with a caller-chosen nonce. Only for test vectors: reusing a
    /// nonce under one key breaks AES-GCM.
    #[doc(hidden)]
    pub fn encrypt_with_nonce(&self, plaintext: &[u8], aad: &[u8], nonce: &[u8; 12]) -> Vec<u8> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(nonce);
        // aes-gcm only fails for inputs beyond ~64 GiB, which a cache value never is.
        match self.current.encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad }) {
            Ok(ct) => out.extend_from_slice(&ct),
            Err(_) => unreachable!("AES-GCM plaintext length limit exceeded"),
        }
        out
    }

    /// Decrypts nonce || ciphertext || tag, trying the current key first and
    /// then each decrypt-only key. Fails unless one authenticates under `aad`.
    pub fn decrypt(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, CodecError> {
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(CodecError::CiphertextTooShort { len: data.len() });
        }
        let (nonce, ct) = data.split_at(NONCE_LEN);
        let nonce = Nonce::from_slice(nonce);
        std::iter::once(&self.current)
            .chain(self.decrypt_only.iter())
            .find_map(|c| c.decrypt(nonce, Payload { msg: ct, aad }).ok())
            .ok_or(CodecError::DecryptFailed)
    }
}
