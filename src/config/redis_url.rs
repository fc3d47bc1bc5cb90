//! The forms of `redis_url` (`CACHEKIT_REDIS_URL`): one server, or a Redis
//! Cluster given by its seed nodes.
//!
//! - `redis://[user:password@]host[:port][/db][?options]`, `rediss://…`
//!   (TLS), `unix:///path/to/socket` (or `redis+unix://`): one server.
//! - `redis+cluster://[user:password@]host1:port1,host2:port2[?options]`,
//!   `rediss+cluster://…` (TLS to every node): a Redis Cluster. Any one
//!   reachable seed is enough; the client learns the rest of the topology
//!   from it and follows it. The credentials and options apply to every
//!   node. A cluster has only database 0, so a path other than `/` or `/0`
//!   is refused.
//!
//! Only the form is checked here; the `redis` crate reads each URL later.

/// Where the Redis L2 is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server: the URL as given.
    Server(String),
    /// A Redis Cluster: one `redis://` or `rediss://` URL per seed node,
    /// each carrying the cluster URL's credentials and options.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// Read the form of `url`; the error says what is wrong (without the
    /// password).
    pub fn parse(url: &str) -> Result<RedisTarget, String> {
        parse(url)
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisTarget::Cluster(_))
    }
}

/// The URL forms, for messages.
pub const FORMS: &str = "redis://, rediss://, unix://, redis+cluster://host:port,host:port or rediss+cluster://…";

fn parse(url: &str) -> Result<RedisTarget, String> {
    let shown = super::redact(url);
    let (scheme, rest) = if let Some(r) = url.strip_prefix("redis+cluster://") {
        ("redis", r)
    } else if let Some(r) = url.strip_prefix("rediss+cluster://") {
        ("rediss", r)
    } else if ["redis://", "rediss://", "redis+unix://", "unix://"].iter().any(|p| url.starts_with(p)) {
        return Ok(RedisTarget::Server(url.to_string()));
    } else {
        return Err(format!("redis_url \"{shown}\" must start with {FORMS}"));
    };
    let (before_query, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // Host names never contain '@'; a password may (percent-encoded or not).
    let (userinfo, hosts_and_path) = match before_query.rfind('@') {
        Some(i) => (&before_query[..=i], &before_query[i + 1..]),
        None => ("", before_query),
    };
    let (hosts, path) = match hosts_and_path.find('/') {
        Some(i) => (&hosts_and_path[..i], &hosts_and_path[i..]),
        None => (hosts_and_path, ""),
    };
    if !matches!(path, "" | "/" | "/0") {
        return Err(format!("redis_url \"{shown}\": a Redis Cluster has only database 0, so the path \"{path}\" cannot be used"));
    }
    if hosts.trim().is_empty() {
        return Err(format!("redis_url \"{shown}\" names no seed node (redis+cluster://host:port,host:port)"));
    }
    let mut nodes = Vec::new();
    for node in hosts.split(',') {
        let node = node.trim();
        check_node(node).map_err(|why| format!("redis_url \"{shown}\": seed node \"{node}\" {why}"))?;
        nodes.push(format!("{scheme}://{userinfo}{node}{query}"));
    }
    Ok(RedisTarget::Cluster(nodes))
}

/// The part of `key` Redis Cluster hashes when it is not the whole key: the
/// text between the first `{` and the first `}` after it, when not empty.
pub fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let len = key[open + 1..].find('}')?;
    (len > 0).then(|| &key[open + 1..open + 1 + len])
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn check_node(node: &str) -> Result<(), &'static str> {
    if node.is_empty() {
        return Err("is empty (two commas in a row, or one at an end)");
    }
    let (host, port) = if let Some(v6) = node.strip_prefix('[') {
        let Some(end) = v6.find(']') else { return Err("opens an IPv6 address with [ but does not close it") };
        let after = &v6[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (&v6[..end], Some(p)),
            None if after.is_empty() => (&v6[..end], None),
            None => return Err("has text after its IPv6 address"),
        }
    } else {
        match node.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (node, None),
        }
    };
    if host.is_empty() {
        return Err("has no host");
    }
    if let Some(p) = port {
        if !p.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err("has a port that is not a number from 1 to 65535");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_urls_are_kept_as_given() {
        for u in ["redis://h:1/2", "rediss://u:p@h", "unix:///tmp/r.sock", "redis+unix:///tmp/r.sock"] {
            assert_eq!(parse(u), Ok(RedisTarget::Server(u.into())));
        }
    }

    #[test]
    fn a_cluster_url_gives_one_url_per_seed_with_credentials_and_options() {
        let t = parse("rediss+cluster://app:s3cret@a:7000,b:7001, [::1]:7002/?protocol=resp3").unwrap();
        assert_eq!(
            t,
            RedisTarget::Cluster(vec![
                "rediss://app:s3cret@a:7000?protocol=resp3".into(),
                "rediss://app:s3cret@b:7001?protocol=resp3".into(),
                "rediss://app:s3cret@[::1]:7002?protocol=resp3".into(),
            ])
        );
        assert_eq!(parse("redis+cluster://h").unwrap(), RedisTarget::Cluster(vec!["redis://h".into()]));
    }

    #[test]
    fn bad_cluster_urls_say_what_is_wrong_without_the_password() {
        let cases = [
            ("redis+cluster://", "names no seed node"),
            ("redis+cluster://a:1,,b:2", "is empty"),
            ("redis+cluster://a:1,b:x", "not a number"),
            ("redis+cluster://a:1,b:0", "not a number"),
            ("redis+cluster://u:pw@a:1/3", "only database 0"),
            ("redis+cluster://[::1:7000", "does not close"),
            ("redis+cluster://:7000", "has no host"),
            ("http://a:1", "must start with"),
        ];
        for (url, why) in cases {
            let e = parse(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("pw"), "the password is hidden: {e}");
        }
    }
}
