//! Keys, encoding and decoding of one namespace's values, and its L1.

use super::Namespace;
use crate::codec::{self, CodecError};
use crate::key;
use crate::config::Format;
use crate::error::{Error, Result};
use crate::keyspace;
use crate::l1::{Bytes, L1Namespace};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What stored bytes decode to.
pub(crate) enum Decoded {
    Value(Vec<u8>),
    Corrupt(CodecError),
    Mismatch(CodecError),
}

impl Namespace {
    pub(crate) fn l1(&self) -> Option<&L1Namespace> {
        self.inner.local().l1.as_ref()
    }

    /// As [`Cache::key`], remembered for repeated calls: a repeated call
    /// costs one fast hash instead of canonicalisation and Blake2b.
    pub(crate) fn key_shared(&self, operation: &str, args: &[u8]) -> Result<Arc<str>> {
        let owner = self.inner.memo_owner;
        if let Some(k) = crate::keymemo::get(owner, operation, args) {
            return Ok(k);
        }
        let k: Arc<str> = self.key(operation, args)?.into();
        crate::keymemo::put(owner, operation, args, k.clone());
        Ok(k)
    }

    /// The full L2 key of `operation` called with `args` (a MessagePack array).
    pub(crate) fn key(&self, operation: &str, args: &[u8]) -> Result<String> {
        let i = &self.inner;
        match i.options.format {
            Format::Interop => Ok(keyspace::scoped(&i.key_prefix, crate::key::interop_key(&i.namespace, operation, args)?)),
            Format::Envelope => {
                super::validate_loose(operation, "operation", false)?;
                let canonical = crate::key::canonicalize_args(args)?;
                Ok(keyspace::envelope_key(&i.key_prefix, &i.namespace, operation, &canonical))
            }
        }
    }

    pub(crate) fn compressed_flag(&self) -> bool {
        self.inner.options.format == Format::Envelope
    }

    pub(crate) fn aad(&self, full_key: &str) -> Vec<u8> {
        let ring = self.inner.keyring.as_ref().expect("aad only with a keyring");
        // The AAD binds the exact stored key (prefix and tenant scope included),
        // so a ciphertext copied to any other key fails to decrypt.
        codec::build_aad(ring.tenant(), full_key, self.format_name(), self.compressed_flag(), None)
    }

    pub(crate) fn format_name(&self) -> &str {
        &self.inner.options.serializer
    }

    /// Value bytes as the wrapper gave them -> (the value as readers will
    /// see it, the bytes stored in L2). Interop values are canonicalised, so
    /// an L1 hit returns the same bytes as an L2 hit.
    pub(crate) fn encode(&self, full_key: &str, value: &[u8]) -> Result<(Option<Vec<u8>>, Vec<u8>)> {
        let i = &self.inner;
        if value.len() > i.limits.max_uncompressed {
            return Err(Error::Encode(format!(
                "value of {} bytes is larger than max_chunk_size_mb ({} MiB)",
                value.len(),
                i.client.config().max_chunk_size_mb
            )));
        }
        let mut canonical = None;
        let plain = match i.options.format {
            Format::Envelope => {
                if i.options.serializer == "msgpack" {
                    codec::check_document(value, &i.limits)
                        .map_err(|e| Error::Encode(format!("value is not one MessagePack document: {e}")))?;
                }
                if i.client.config().enable_compression {
                    codec::encode_envelope(value, self.format_name())
                } else {
                    codec::encode_envelope_uncompressed(value, self.format_name())
                }
            }
            Format::Interop => {
                let c = key::canonicalize_value(value)
                    .map_err(|e| Error::Encode(format!("value cannot be stored in interop mode: {e}")))?;
                canonical = Some(c.clone());
                c
            }
        };
        let stored = match &i.keyring {
            Some(ring) => ring.encrypt(&plain, &self.aad(full_key)),
            None => plain,
        };
        Ok((canonical, stored))
    }

    /// Bytes from L2 (or ciphertext kept in L1) -> the wrapper's value bytes.
    pub(crate) fn decode(&self, full_key: &str, stored: &[u8]) -> Decoded {
        let i = &self.inner;
        let plain_owned;
        let plain: &[u8] = match &i.keyring {
            Some(ring) => match ring.decrypt(stored, &self.aad(full_key)) {
                Ok(p) => {
                    plain_owned = p;
                    &plain_owned
                }
                Err(e) => return Decoded::Corrupt(e),
            },
            None => stored,
        };
        match i.options.format {
            Format::Envelope => match codec::decode_envelope(plain, self.format_name(), &i.limits) {
                Ok(v) => Decoded::Value(v),
                Err(e @ CodecError::FormatMismatch { .. }) => Decoded::Mismatch(e),
                Err(e) => Decoded::Corrupt(e),
            },
            Format::Interop => match codec::check_document(plain, &i.limits) {
                Ok(()) => Decoded::Value(plain.to_vec()),
                Err(e) => Decoded::Corrupt(e),
            },
        }
    }

    /// Whether L1 keeps the L2 bytes (ciphertext) rather than the value.
    pub(crate) fn l1_keeps_ciphertext(&self) -> bool {
        self.inner.keyring.is_some() && !self.inner.options.l1_plaintext
    }

    /// L1 lookup by full key. Never leaves the calling thread.
    pub(crate) fn l1_get(&self, key: &str) -> Option<Bytes> {
        let l1 = self.l1()?;
        let stored = l1.get(key)?;
        if !self.l1_keeps_ciphertext() {
            return Some(stored);
        }
        match self.decode(key, &stored) {
            Decoded::Value(v) => Some(v.into()),
            _ => {
                // Only verified bytes enter L1; failing now means the keyring
                // changed under us. Drop the entry.
                l1.remove(key);
                None
            }
        }
    }

    /// Put in L1 for `remaining` (the entry's remaining lifetime in L2,
    /// stale-while-revalidate period included).
    pub(crate) fn l1_put(&self, key: &str, value: &Bytes, stored: &[u8], remaining: Option<Duration>) {
        if let Some(l1) = self.l1() {
            let now = Instant::now();
            let expires = remaining.map(|t| now + t);
            let swr = self.swr();
            let refresh_at = match (remaining, swr.is_zero()) {
                (Some(t), false) => Some(now + t.saturating_sub(swr)),
                _ => None,
            };
            let v = if self.l1_keeps_ciphertext() { stored.into() } else { value.clone() };
            l1.put_with_refresh(key, v, expires, refresh_at);
        }
    }

    /// The stale-while-revalidate period.
    pub(crate) fn swr(&self) -> Duration {
        Duration::from_secs(self.inner.options.stale_while_revalidate)
    }

    /// How long an entry written now with `ttl` lives in L2.
    pub(crate) fn l2_ttl(&self, ttl: Duration) -> Duration {
        ttl + self.swr()
    }
}
