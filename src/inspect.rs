//! What stored bytes are, for operators: the read-only decoder behind
//! `cachekit inspect` and `cachekit get`.
//!
//! The read path (`engine`) knows the namespace it reads for (its format,
//! serializer and keyring) and treats anything else as a miss to delete.
//! An operator holds only a key and the bytes under it, so this module
//! recognises what they are instead, without changing anything: an envelope
//! (its serializer, sizes and checksum verdict), an interop MessagePack
//! document, an encrypted entry (opened with the master keys given, under
//! every tenant and serializer that may have written it), or a foreign
//! value (plain text, JSON, a Python pickle, a PHP `serialize()` string, a
//! compressed or binary blob). Every check is the codec's own (decode
//! bounds, envelope rules, AES-GCM bound to the exact key), so what this
//! says is what the core would do; it never panics on any input.

use crate::codec::{self, CodecError, Header, Keyring, Limits, Reader};
use crate::keyspace::{self, ENVELOPE_SUFFIX};
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// How many leading bytes a report shows in hex.
const HEAD_BYTES: usize = 32;

/// The serializer names written in envelopes by our wrappers, tried in
/// turn when an encrypted entry's AAD (which names the serializer) has to
/// be guessed.
pub const KNOWN_SERIALIZERS: [&str; 5] = ["msgpack", "json", "arrow", "pickle", "auto"];

/// What a key's name says about the entry (see `keyspace`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyLayout {
    /// `"envelope"` (`…:{hash}:e1`), `"interop"` (`…:{hash}`), or `"other"`
    /// (not a cachekit entry key).
    pub format: &'static str,
    /// Everything before `:{operation}:{hash}`: key prefix, tenant scope and
    /// namespace (`None` for other keys).
    pub namespace: Option<String>,
    pub operation: Option<String>,
    pub hash: Option<String>,
}

impl KeyLayout {
    /// Reads `{scope}{namespace}:{operation}:{64 hex}[:e1]`.
    pub fn parse(key: &str) -> KeyLayout {
        let other = KeyLayout { format: "other", namespace: None, operation: None, hash: None };
        let (rest, envelope) = match key.strip_suffix(ENVELOPE_SUFFIX) {
            Some(r) => (r, true),
            None => (key, false),
        };
        let Some((before, hash)) = rest.rsplit_once(':') else { return other };
        let Some((namespace, operation)) = before.rsplit_once(':') else { return other };
        if !keyspace::is_hash_suffix(hash.as_bytes()) || namespace.is_empty() || operation.is_empty() {
            return other;
        }
        KeyLayout {
            format: if envelope { "envelope" } else { "interop" },
            namespace: Some(namespace.to_string()),
            operation: Some(operation.to_string()),
            hash: Some(hash.to_string()),
        }
    }

    /// The tenant of a `t:{tenant}:` scope in the key, after `key_prefix`.
    pub fn scoped_tenant(&self, key_prefix: &str) -> Option<String> {
        let ns = self.namespace.as_deref()?.strip_prefix(key_prefix)?;
        let (tenant, _) = ns.strip_prefix("t:")?.split_once(':')?;
        percent_encoding::percent_decode_str(tenant).decode_utf8().ok().map(|t| t.into_owned())
    }
}

/// The keys an encrypted entry may be opened with.
#[derive(Clone, Default)]
pub struct DecryptKeys {
    /// Raw 32-byte master keys (current first). Empty: nothing is decrypted.
    pub master_keys: Vec<[u8; 32]>,
    /// Tenants tried in turn (the AAD and the derived key depend on it).
    pub tenants: Vec<String>,
    /// Serializer names tried in turn for envelope entries (the AAD names
    /// it); [`KNOWN_SERIALIZERS`] when empty.
    pub serializers: Vec<String>,
}

impl std::fmt::Debug for DecryptKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("DecryptKeys")
            .field("master_keys", &self.master_keys.len())
            .field("tenants", &self.tenants)
            .field("serializers", &self.serializers)
            .finish()
    }
}

/// The verdict on stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A cachekit entry that every check accepts.
    Ok,
    /// A cachekit envelope that fails a check (checksum, LZ4 block, sizes,
    /// payload): the read path would delete it and recompute.
    Corrupt,
    /// Not a cachekit entry: written by another program, or encrypted with
    /// no master key given to open it.
    Foreign,
    /// Master keys were given and none opens the entry under this key.
    CannotDecrypt,
}

/// The envelope's items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvelopeInfo {
    /// The serializer named in the envelope (`"msgpack"` for the standard one).
    pub serializer: String,
    /// Length of the LZ4 block.
    pub compressed_bytes: usize,
    /// The uncompressed size the envelope claims.
    pub original_bytes: u64,
    /// The stored xxHash3-64, hex.
    pub checksum: String,
    /// Whether it matches the decompressed bytes (`None`: not reached, the
    /// block did not decompress to the claimed size).
    pub checksum_ok: Option<bool>,
    /// The block is stored in the legacy form (an array of integers).
    pub legacy_block: bool,
}

/// How an encrypted entry was opened (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EncryptionInfo {
    /// `"envelope"` or `"interop"`: what the ciphertext holds.
    pub inner_format: &'static str,
    pub tenant: String,
    /// The serializer name bound in the AAD.
    pub serializer: String,
    /// The fingerprint of the derived key that opened it (as health shows).
    pub key_fingerprint: String,
    /// Which of the master keys given opened it (0: the first).
    pub master_key_index: usize,
}

/// What a foreign value looks like.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForeignInfo {
    /// `"text"`, `"json"`, `"pickle"`, `"php-serialize"`, `"gzip"`, `"zstd"`,
    /// `"msgpack"` (a document that is not the expected envelope),
    /// `"empty"`, or `"binary"`.
    pub kind: &'static str,
    /// The start of a textual value, for reading.
    pub preview: Option<String>,
}

/// The report on one stored value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// `"envelope"`, `"interop"`, `"encrypted"` or `"foreign"`.
    pub format: &'static str,
    pub verdict: Verdict,
    /// Why the verdict is not `ok`, or a remark.
    pub detail: Option<String>,
    pub key_layout: KeyLayout,
    pub stored_bytes: usize,
    /// The first [`HEAD_BYTES`] stored bytes, hex.
    pub head_hex: String,
    pub envelope: Option<EnvelopeInfo>,
    pub encryption: Option<EncryptionInfo>,
    pub foreign: Option<ForeignInfo>,
    /// Length of the value the wrappers would get (the serializer's bytes).
    pub value_bytes: Option<usize>,
    /// The value as JSON (MessagePack and JSON serializers); see [`to_json`].
    pub value: Option<Value>,
}

impl Inspection {
    fn new(layout: KeyLayout, stored: &[u8]) -> Inspection {
        Inspection {
            format: "foreign",
            verdict: Verdict::Foreign,
            detail: None,
            key_layout: layout,
            stored_bytes: stored.len(),
            head_hex: hex::encode(&stored[..stored.len().min(HEAD_BYTES)]),
            envelope: None,
            encryption: None,
            foreign: None,
            value_bytes: None,
            value: None,
        }
    }
}

/// Says what `stored`, read from Redis under `key`, is. Changes nothing and
/// never panics.
pub fn inspect(key: &str, stored: &[u8], keys: &DecryptKeys, limits: &Limits) -> Inspection {
    let layout = KeyLayout::parse(key);
    let expected = layout.format;
    let mut out = Inspection::new(layout, stored);
    if read_plain(&mut out, stored, expected, limits) {
        return out;
    }
    if let Some(f) = foreign_kind(stored) {
        out.foreign = Some(f);
        out.detail = Some("foreign format: not written by cachekit".into());
        return out;
    }
    if keys.master_keys.is_empty() {
        out.foreign = Some(ForeignInfo { kind: "binary", preview: None });
        out.detail = Some(
            "foreign format: neither an envelope nor a MessagePack document (an encrypted entry looks like this too: \
             set CACHEKIT_MASTER_KEY to decrypt it)"
                .into(),
        );
        return out;
    }
    if !decrypt(&mut out, key, stored, keys, limits) {
        // "cannot decrypt" and nothing else: not even the ciphertext's bytes.
        out.format = "encrypted";
        out.verdict = Verdict::CannotDecrypt;
        out.detail = Some("cannot decrypt".into());
        out.head_hex.clear();
    }
    out
}

/// The report on a key that holds another Redis type than a string (no
/// cache entry is one).
pub fn not_a_string(key: &str, redis_type: &str) -> Inspection {
    let mut out = Inspection::new(KeyLayout::parse(key), &[]);
    out.foreign = Some(ForeignInfo { kind: "redis-type", preview: Some(redis_type.to_string()) });
    out.detail = Some(format!("foreign format: a Redis {redis_type}, not a string"));
    out
}

/// Reads `bytes` as a plaintext entry of the format the key names (either
/// for other keys). False when they are neither.
fn read_plain(out: &mut Inspection, bytes: &[u8], expected: &str, limits: &Limits) -> bool {
    let envelope = codec::envelope_parts(bytes, limits).is_ok();
    match expected {
        "envelope" if envelope => read_envelope(out, bytes, limits),
        "envelope" => {
            if codec::check_document(bytes, limits).is_ok() {
                out.foreign = Some(ForeignInfo { kind: "msgpack", preview: None });
                out.value = to_json(bytes, limits).ok();
                out.detail = Some("foreign format: a MessagePack document, not the envelope this key's format stores".into());
                return true;
            }
            return false;
        }
        "interop" if envelope && decodes(bytes, limits) => {
            read_envelope(out, bytes, limits);
            out.detail = Some(
                "an envelope stored under an interop key (no :e1 suffix): interop readers take the envelope itself for the value"
                    .into(),
            );
        }
        "other" if envelope => read_envelope(out, bytes, limits),
        _ => {
            if codec::check_document(bytes, limits).is_err() {
                return false;
            }
            read_interop(out, bytes, limits);
        }
    }
    true
}

fn decodes(bytes: &[u8], limits: &Limits) -> bool {
    codec::envelope_parts(bytes, limits).is_ok_and(|p| codec::decode_envelope_raw(bytes, p.format, limits).is_ok())
}

fn read_interop(out: &mut Inspection, doc: &[u8], limits: &Limits) {
    out.format = "interop";
    out.verdict = Verdict::Ok;
    out.value_bytes = Some(doc.len());
    out.value = to_json(doc, limits).ok();
}

/// An envelope (its shape already read): sizes, checksum, value.
fn read_envelope(out: &mut Inspection, bytes: &[u8], limits: &Limits) {
    let Ok(parts) = codec::envelope_parts(bytes, limits) else { return };
    out.format = "envelope";
    let serializer = parts.format.to_string();
    out.envelope = Some(EnvelopeInfo {
        serializer: serializer.clone(),
        compressed_bytes: parts.block.len(),
        original_bytes: parts.original_size,
        checksum: hex::encode(parts.checksum),
        checksum_ok: None,
        legacy_block: matches!(parts.block, std::borrow::Cow::Owned(_)),
    });
    let set_checksum = |out: &mut Inspection, ok: bool| {
        if let Some(e) = out.envelope.as_mut() {
            e.checksum_ok = Some(ok);
        }
    };
    match codec::decode_envelope_raw(bytes, &serializer, limits) {
        Err(CodecError::ChecksumMismatch) => {
            set_checksum(out, false);
            out.verdict = Verdict::Corrupt;
            out.detail = Some(CodecError::ChecksumMismatch.to_string());
        }
        Err(e) => {
            out.verdict = Verdict::Corrupt;
            out.detail = Some(e.to_string());
        }
        Ok(payload) => {
            set_checksum(out, true);
            out.value_bytes = Some(payload.len());
            out.verdict = Verdict::Ok;
            match serializer.as_str() {
                "msgpack" => match codec::check_document(&payload, limits) {
                    Ok(()) => out.value = to_json(&payload, limits).ok(),
                    Err(e) => {
                        out.verdict = Verdict::Corrupt;
                        out.detail = Some(format!("the msgpack payload is not one MessagePack document: {e}"));
                    }
                },
                "json" => match serde_json::from_slice::<Value>(&payload) {
                    Ok(v) => out.value = Some(v),
                    Err(_) => out.detail = Some("the json serializer's payload is not JSON; not shown".into()),
                },
                other => {
                    out.detail = Some(format!(
                        "a value of serializer {other:?}: not shown (first bytes {})",
                        hex::encode(&payload[..payload.len().min(HEAD_BYTES)])
                    ))
                }
            }
        }
    }
}

/// Tries every master key, tenant, container and serializer that may have
/// written `stored` under `key`. True when one opened it (the inner value is
/// then read into `out`).
fn decrypt(out: &mut Inspection, key: &str, stored: &[u8], keys: &DecryptKeys, limits: &Limits) -> bool {
    let serializers: Vec<&str> = if keys.serializers.is_empty() {
        KNOWN_SERIALIZERS.to_vec()
    } else {
        keys.serializers.iter().map(String::as_str).collect()
    };
    // (compressed flag of the AAD, serializer): an envelope key holds an
    // envelope, an interop key plain MessagePack ("msgpack"); other keys either.
    let mut attempts: Vec<(bool, &str)> = Vec::new();
    if out.key_layout.format != "interop" {
        attempts.extend(serializers.iter().map(|s| (true, *s)));
    }
    if out.key_layout.format != "envelope" {
        attempts.push((false, "msgpack"));
    }
    let mut tenants: Vec<&str> = Vec::new();
    for t in keys.tenants.iter().map(String::as_str).chain(["default"]) {
        if !t.is_empty() && !tenants.contains(&t) {
            tenants.push(t);
        }
    }
    for (index, master) in keys.master_keys.iter().enumerate() {
        for tenant in &tenants {
            let Ok(ring) = Keyring::new(master, &[], tenant) else { continue };
            for (compressed, serializer) in &attempts {
                let aad = codec::build_aad(tenant, key, serializer, *compressed, None);
                let Ok(plain) = ring.decrypt(stored, &aad) else { continue };
                let inner = if *compressed { "envelope" } else { "interop" };
                if *compressed {
                    read_envelope(out, &plain, limits);
                    if out.format != "envelope" {
                        out.verdict = Verdict::Corrupt;
                        out.detail = Some("decrypted, but the plaintext is not an envelope".into());
                    }
                } else if codec::check_document(&plain, limits).is_ok() {
                    read_interop(out, &plain, limits);
                } else {
                    out.verdict = Verdict::Corrupt;
                    out.detail = Some("decrypted, but the plaintext is not one MessagePack document".into());
                }
                out.format = "encrypted";
                out.encryption = Some(EncryptionInfo {
                    inner_format: inner,
                    tenant: tenant.to_string(),
                    serializer: serializer.to_string(),
                    key_fingerprint: hex::encode(ring.fingerprint()),
                    master_key_index: index,
                });
                return true;
            }
        }
    }
    false
}

/// Recognises values other programs write.
fn foreign_kind(b: &[u8]) -> Option<ForeignInfo> {
    let text = std::str::from_utf8(b).ok();
    let preview = || text.map(|t| t.chars().take(120).collect::<String>());
    let kind = if b.is_empty() {
        "empty"
    } else if b.starts_with(&[0x1f, 0x8b]) {
        "gzip"
    } else if b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "zstd"
    } else if b.len() >= 3 && b[0] == 0x80 && (2..=5).contains(&b[1]) && b.ends_with(b".") {
        // Pickle protocols 2 to 5: PROTO opcode, version, ..., STOP.
        "pickle"
    } else if is_php_serialized(b) {
        "php-serialize"
    } else if serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok() {
        "json"
    } else if text.is_some_and(|t| t.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))) {
        "text"
    } else {
        return None;
    };
    let preview = match kind {
        "json" | "text" | "php-serialize" => preview(),
        _ => None,
    };
    Some(ForeignInfo { kind, preview })
}

/// PHP `serialize()` output: `N;`, `b:1;`, `i:5;`, `d:0.5;`, `s:3:"abc";`,
/// `a:1:{...}`, `O:3:"Foo":1:{...}` (and `C:`, `E:`).
fn is_php_serialized(b: &[u8]) -> bool {
    if b == b"N;" {
        return true;
    }
    b.len() >= 4
        && b"bidsaOCE".contains(&b[0])
        && b[1] == b':'
        && matches!(b[b.len() - 1], b';' | b'}')
        && b[2..].iter().take(24).all(|c| c.is_ascii_graphic())
}

/// One MessagePack document (already bounded by [`codec::check_document`]
/// or checked here) as JSON, for reading: nil, booleans, numbers, strings,
/// arrays and maps as themselves; a non-finite float as the string `"NaN"`,
/// `"Infinity"` or `"-Infinity"`; `bin` as `{"$bin": "<hex>"}`; an ext as
/// `{"$ext": <type>, "hex": "<hex>"}`; a map key that is not a string as its
/// JSON text. Dates are maps already (`{"__datetime__": true, ...}`).
pub fn to_json(doc: &[u8], limits: &Limits) -> Result<Value, CodecError> {
    codec::check_document(doc, limits)?;
    let mut r = Reader::new(doc);
    json_item(&mut r)
}

fn json_item(r: &mut Reader<'_>) -> Result<Value, CodecError> {
    Ok(match r.header()? {
        Header::Nil => Value::Null,
        Header::Bool(b) => Value::Bool(b),
        Header::Uint(v) => Value::from(v),
        Header::Nint(v) => Value::from(v),
        Header::F32(f) => float(f as f64),
        Header::F64(f) => float(f),
        Header::Str(n) => Value::String(r.str_body(n)?.to_string()),
        Header::Bin(n) => {
            let mut m = Map::new();
            m.insert("$bin".into(), Value::String(hex::encode(r.take(n as usize)?)));
            Value::Object(m)
        }
        Header::Ext { len, .. } => {
            let (ty, data) = r.ext_body(len)?;
            let mut m = Map::new();
            m.insert("$ext".into(), Value::from(ty));
            m.insert("hex".into(), Value::String(hex::encode(data)));
            Value::Object(m)
        }
        Header::Array(n) => Value::Array((0..n).map(|_| json_item(r)).collect::<Result<_, _>>()?),
        Header::Map(n) => {
            let mut m = Map::new();
            for _ in 0..n {
                let k = match json_item(r)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(k, json_item(r)?);
            }
            Value::Object(m)
        }
    })
}

fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const KEY: &str = "users:get:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn envelope_key() -> String {
        format!("{KEY}:e1")
    }

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn key_layouts() {
        let l = KeyLayout::parse(&envelope_key());
        assert_eq!((l.format, l.namespace.as_deref(), l.operation.as_deref()), ("envelope", Some("users"), Some("get")));
        assert_eq!(KeyLayout::parse(KEY).format, "interop");
        assert_eq!(KeyLayout::parse("session:abc").format, "other");
        assert_eq!(KeyLayout::parse(":get:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").format, "other");
        let scoped = KeyLayout::parse(&format!("app:t:a%20b:{KEY}:e1"));
        assert_eq!(scoped.namespace.as_deref(), Some("app:t:a%20b:users"));
        assert_eq!(scoped.scoped_tenant("app:").as_deref(), Some("a b"));
        assert_eq!(scoped.scoped_tenant("other:"), None);
    }

    #[test]
    fn an_envelope_is_read_with_its_checksum_and_value() {
        let value = [0x82, 0xa1, b'a', 0x01, 0xa1, b'b', 0x92, 0xc3, 0xc0]; // {"a":1,"b":[true,nil]}
        let stored = codec::encode_envelope(&value, "msgpack");
        let i = inspect(&envelope_key(), &stored, &DecryptKeys::default(), &limits());
        assert_eq!((i.format, i.verdict), ("envelope", Verdict::Ok));
        assert_eq!(i.value, Some(serde_json::json!({"a": 1, "b": [true, null]})));
        let e = i.envelope.unwrap();
        assert_eq!((e.serializer.as_str(), e.original_bytes, e.checksum_ok), ("msgpack", 9, Some(true)));

        // One bit of the checksum flipped: corrupt, with the verdict on it.
        let mut bad = stored.clone();
        let at = bad.len() - 12; // inside the 8 checksum integers
        bad[at] ^= 1;
        let i = inspect(&envelope_key(), &bad, &DecryptKeys::default(), &limits());
        assert_eq!(i.verdict, Verdict::Corrupt, "{i:?}");
    }

    #[test]
    fn interop_documents_and_foreign_values() {
        let i = inspect(KEY, &[0x93, 1, 2, 3], &DecryptKeys::default(), &limits());
        assert_eq!((i.format, i.value), ("interop", Some(serde_json::json!([1, 2, 3]))));
        for (bytes, kind) in [
            (&b"hello world"[..], "text"),
            (&br#"{"user": 1}"#[..], "json"),
            (&b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00\x8c\x05hello\x94."[..], "pickle"),
            (&br#"a:1:{s:1:"a";i:1;}"#[..], "php-serialize"),
            (&b"s:5:\"hello\";"[..], "php-serialize"),
            (&b""[..], "empty"),
        ] {
            let i = inspect(&envelope_key(), bytes, &DecryptKeys::default(), &limits());
            assert_eq!((i.format, i.verdict), ("foreign", Verdict::Foreign), "{bytes:?}");
            assert_eq!(i.foreign.unwrap().kind, kind, "{bytes:?}");
            assert_eq!(i.head_hex, hex::encode(&bytes[..bytes.len().min(HEAD_BYTES)]));
        }
    }

    #[test]
    fn encrypted_entries_open_with_the_right_key_only() {
        let master = [7u8; 32];
        let ring = Keyring::new(&master, &[], "default").unwrap();
        let key = envelope_key();
        let plain = codec::encode_envelope(&[0xa2, b'h', b'i'], "msgpack");
        let stored = ring.encrypt(&plain, &codec::build_aad("default", &key, "msgpack", true, None));
        let right = DecryptKeys { master_keys: vec![master], ..Default::default() };
        let i = inspect(&key, &stored, &right, &limits());
        assert_eq!((i.format, i.verdict, i.value.clone()), ("encrypted", Verdict::Ok, Some(Value::from("hi"))));
        assert_eq!(i.encryption.unwrap().inner_format, "envelope");

        let wrong = DecryptKeys { master_keys: vec![[8u8; 32]], ..Default::default() };
        let i = inspect(&key, &stored, &wrong, &limits());
        assert_eq!((i.format, i.verdict, i.value), ("encrypted", Verdict::CannotDecrypt, None));
        assert_eq!(i.detail.as_deref(), Some("cannot decrypt"));

        // Moved to another key: the AAD binds it, so it does not open.
        let i = inspect(&key.replace("users", "other"), &stored, &right, &limits());
        assert_eq!(i.verdict, Verdict::CannotDecrypt);

        let i = inspect(&key, &stored, &DecryptKeys::default(), &limits());
        assert_eq!((i.format, i.verdict), ("foreign", Verdict::Foreign));
        assert!(i.detail.unwrap().contains("CACHEKIT_MASTER_KEY"));
    }

    #[test]
    fn never_panics_on_random_or_mutated_bytes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        let keys = DecryptKeys { master_keys: vec![[1u8; 32]], ..Default::default() };
        let none = DecryptKeys::default();
        let valid = codec::encode_envelope(&[0x92, 0x01, 0xa3, b'a', b'b', b'c'], "msgpack");
        for round in 0..20_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                let len = rng.gen_range(0..200);
                (0..len).map(|_| rng.gen()).collect()
            } else {
                let mut b = valid.clone();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..b.len());
                    b[at] = rng.gen();
                }
                b.truncate(rng.gen_range(1..=b.len()));
                b
            };
            let k = if round % 3 == 0 { KEY.to_string() } else { envelope_key() };
            let i = inspect(&k, &bytes, if round % 5 == 0 { &keys } else { &none }, &limits());
            if i.verdict == Verdict::Ok {
                assert!(codec::check_document(&bytes, &limits()).is_ok(), "only a real document is ok: {bytes:?}");
            }
        }
    }

    #[test]
    fn json_rendering_of_msgpack_types() {
        // [bin 2, ext 5 (1 byte), nan f64, {1: "x"}]
        let doc = [0x94, 0xc4, 0x02, 0xab, 0xcd, 0xd4, 0x05, 0x09, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0, 0x81, 0x01, 0xa1, b'x'];
        assert_eq!(
            to_json(&doc, &limits()).unwrap(),
            serde_json::json!([{"$bin": "abcd"}, {"$ext": 5, "hex": "09"}, "NaN", {"1": "x"}])
        );
        assert!(to_json(&[0x92, 0x01], &limits()).is_err(), "truncated");
    }
}
