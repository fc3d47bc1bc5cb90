//! Every Redis key and channel name the core uses (DESIGN section 4), in
//! one place. An entry key is `{scope}{namespace}:{operation}:{hash}`, plus
//! [`ENVELOPE_SUFFIX`] in the envelope format; `scope` is the configured
//! key prefix followed by `t:{tenant}:` when a tenant is configured.
//! Beside each entry live its fill lock and its waiters marker; beside each
//! namespace, its generation number.

use crate::config::hash_tag;
use crate::key;

/// Suffix of envelope-format keys, so that an interop reader (ours or another
/// SDK's) never decodes an envelope as the user's value.
pub(crate) const ENVELOPE_SUFFIX: &str = ":e1";

/// Where a fill's holder announces its value to waiters of other processes
/// (the payload is the entry key).
pub(crate) const FILLED_CHANNEL: &str = "cachekit:filled";

/// Where deletes and clears are announced (see [`invalidation_message`]).
pub(crate) const INVALIDATE_CHANNEL: &str = "cachekit:invalidate";

/// The scope put before every key of a client: the key prefix, then the
/// tenant (percent-encoded) as `t:{tenant}:`.
pub(crate) fn scope(key_prefix: &str, tenant_id: Option<&str>) -> String {
    let mut s = key_prefix.to_string();
    if let Some(t) = tenant_id {
        s.push_str("t:");
        s.push_str(&percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string());
        s.push(':');
    }
    s
}

/// The envelope-format key of `operation` called with `canonical` args.
pub(crate) fn envelope_key(scope: &str, namespace: &str, operation: &str, canonical: &[u8]) -> String {
    let mut k = String::with_capacity(scope.len() + namespace.len() + operation.len() + 70);
    k.push_str(scope);
    k.push_str(namespace);
    k.push(':');
    k.push_str(operation);
    k.push(':');
    key::push_args_hash_hex(canonical, &mut k);
    k.push_str(ENVELOPE_SUFFIX);
    k
}

/// An interop key (exactly the protocol's) put in `scope`.
pub(crate) fn scoped(scope: &str, logical: String) -> String {
    if scope.is_empty() {
        logical
    } else {
        format!("{scope}{logical}")
    }
}

/// A key beside `entry` that Redis Cluster puts in `entry`'s slot, so that
/// one script may touch both: `{entry}{suffix}`, whose hash tag is the whole
/// entry key, or `entry{suffix}` when the entry has a hash tag of its own (a
/// key prefix such as `{app}:`), which the longer key then shares. Entry
/// keys themselves are never changed: interop readers must find them.
fn beside(entry: &str, suffix: &str) -> String {
    if hash_tag(entry).is_some() {
        format!("{entry}{suffix}")
    } else {
        format!("{{{entry}}}{suffix}")
    }
}

/// The fill lock of an entry (`SET NX PX` with a random token).
pub fn lock_key(entry: &str) -> String {
    beside(entry, LOCK_SUFFIX)
}

const LOCK_SUFFIX: &str = ":lock";

/// The entry whose fill lock `lock_key` is.
pub(crate) fn entry_of_lock(lock_key: &str) -> &str {
    let entry = lock_key.strip_suffix(LOCK_SUFFIX).unwrap_or(lock_key);
    match entry.strip_prefix('{').and_then(|e| e.strip_suffix('}')) {
        Some(inner) if hash_tag(inner).is_none() => inner,
        _ => entry,
    }
}

/// The marker of processes waiting for another's fill of `entry`.
pub fn waiters_key(entry: &str) -> String {
    beside(entry, ":waiters")
}

/// The generation number of a namespace, bumped by every delete and clear.
/// (`pub` for the tests that bump it without announcing the change: see
/// `cachekit::internals::keyspace`.)
pub fn generation_key(scope: &str, namespace: &str) -> String {
    format!("{scope}{namespace}:~gen")
}

/// The prefix of every entry key of a namespace.
pub(crate) fn namespace_prefix(scope: &str, namespace: &str) -> String {
    format!("{scope}{namespace}:")
}

/// The prefix of every entry key of one operation of a namespace.
pub(crate) fn operation_prefix(scope: &str, namespace: &str, operation: &str) -> String {
    format!("{scope}{namespace}:{operation}:")
}

/// A message on [`INVALIDATE_CHANNEL`]: who sent it, the generation key and
/// number it bumped, and what was removed (a key, or a prefix ending in `*`).
pub(crate) fn invalidation_message(origin: &str, gen_key: &str, gen: i64, target: &str) -> String {
    format!("{origin}\n{gen_key}\n{gen}\n{target}")
}

/// The parts of an [`invalidation_message`]: (origin, generation key,
/// generation, target).
pub(crate) fn parse_invalidation(text: &str) -> Option<(&str, &str, i64, &str)> {
    let mut parts = text.splitn(4, '\n');
    let (origin, gen_key, gen, target) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some((origin, gen_key, gen.parse().ok()?, target))
}

/// Whether `rest` (a Redis key after `{scope}{namespace}:`) is
/// `{operation}:{64 hex}` or `{operation}:{64 hex}:e1`: the keys of this
/// namespace and not of a longer one such as `{namespace}:v1`.
pub(crate) fn is_entry_suffix(rest: &[u8]) -> bool {
    let Some(colon) = rest.iter().position(|b| *b == b':') else { return false };
    colon > 0 && is_hash_suffix(&rest[colon + 1..])
}

/// Whether `rest` is `{64 hex}` or `{64 hex}:e1`.
pub(crate) fn is_hash_suffix(rest: &[u8]) -> bool {
    let rest = rest.strip_suffix(ENVELOPE_SUFFIX.as_bytes()).unwrap_or(rest);
    rest.len() == 64 && rest.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_suffixes() {
        let h = "a".repeat(64);
        assert!(is_entry_suffix(format!("op:{h}").as_bytes()));
        assert!(is_entry_suffix(format!("op:{h}:e1").as_bytes()));
        assert!(!is_entry_suffix(format!("v1:op:{h}").as_bytes()), "a longer namespace");
        assert!(!is_entry_suffix(b"~gen"));
        assert!(!is_entry_suffix(format!("op:{h}:lock").as_bytes()));
        assert!(is_hash_suffix(h.as_bytes()));
    }

    #[test]
    fn tenant_scope_is_percent_encoded() {
        assert_eq!(scope("app:", Some("a b")), "app:t:a%20b:");
        assert_eq!(scope("", None), "");
    }

    #[test]
    fn invalidation_messages_round_trip() {
        let m = invalidation_message("o1", "ns:~gen", 7, "ns:op:*");
        assert_eq!(parse_invalidation(&m), Some(("o1", "ns:~gen", 7, "ns:op:*")));
        assert_eq!(parse_invalidation("o1\nns:~gen\nx\nt"), None);
    }

    #[test]
    fn lock_keys_name_their_entry() {
        assert_eq!(entry_of_lock(&lock_key("ns:op:h")), "ns:op:h");
        assert_eq!(entry_of_lock(&lock_key("{app}:ns:op:h")), "{app}:ns:op:h");
    }

    #[test]
    fn locks_and_waiters_hash_to_their_entrys_cluster_slot() {
        // The key Redis Cluster hashes: the hash tag, else the whole key.
        let hashed = |k: &str| hash_tag(k).unwrap_or(k).to_string();
        for entry in ["ns:op:h", "app:t:a%20b:ns:op:h:e1", "{app}:ns:op:h", "a}b{app}:ns:op:h"] {
            for aux in [lock_key(entry), waiters_key(entry)] {
                assert_eq!(hashed(&aux), hashed(entry), "{aux} beside {entry}");
            }
        }
        assert_eq!(lock_key("ns:op:h"), "{ns:op:h}:lock");
        assert_eq!(waiters_key("{app}:ns:op:h"), "{app}:ns:op:h:waiters");
    }
}
