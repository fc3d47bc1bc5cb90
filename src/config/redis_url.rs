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
//! - `redis+sentinel://[user:password@]host1:port1,host2:port2/MASTER[/db][?options]`,
//!   `rediss+sentinel://…` (TLS to the sentinels and the master): a master
//!   watched by Redis Sentinel. The hosts are the sentinels (port 26379 when
//!   none is given), `MASTER` the name they know it by. The credentials,
//!   database and options are the master's (and its replicas'); sentinels
//!   that require their own credentials take them from the options
//!   `sentinel_username` and `sentinel_password`, which are not passed to
//!   the master. The client asks the sentinels where the master is, checks
//!   that it answers `ROLE` as a master, and asks again when it fails.
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
    /// A master found through Redis Sentinel.
    Sentinel(SentinelTarget),
}

/// A master found through Redis Sentinel (`redis+sentinel://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelTarget {
    /// One `redis://` or `rediss://` URL per sentinel, with the sentinels'
    /// own credentials.
    pub sentinels: Vec<String>,
    /// The name the sentinels know the master by.
    pub master_name: String,
    scheme: &'static str,
    /// `user:password@` or empty.
    userinfo: String,
    /// `/db` or empty.
    db: String,
    /// `?options` (without the sentinels' own) or empty.
    query: String,
}

impl SentinelTarget {
    /// The URL of the master (or a replica) at `host:port`, with the
    /// credentials, database and options of the sentinel URL.
    pub fn node_url(&self, host: &str, port: u16) -> String {
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
        format!("{}://{}{host}:{port}{}{}", self.scheme, self.userinfo, self.db, self.query)
    }
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
pub const FORMS: &str =
    "redis://, rediss://, unix://, redis+cluster://host:port,host:port, rediss+cluster://…, redis+sentinel://host:port,host:port/MASTER or rediss+sentinel://…";

/// The port of a sentinel given without one.
const SENTINEL_PORT: u16 = 26379;

fn parse(url: &str) -> Result<RedisTarget, String> {
    let shown = super::redact(url);
    let (scheme, rest) = if let Some(r) = url.strip_prefix("redis+cluster://") {
        ("redis", r)
    } else if let Some(r) = url.strip_prefix("rediss+cluster://") {
        ("rediss", r)
    } else if let Some(r) = url.strip_prefix("redis+sentinel://") {
        return parse_sentinel("redis", r, &shown);
    } else if let Some(r) = url.strip_prefix("rediss+sentinel://") {
        return parse_sentinel("rediss", r, &shown);
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

/// `redis+sentinel://[userinfo@]hosts/MASTER[/db][?options]` after its scheme.
fn parse_sentinel(scheme: &'static str, rest: &str, shown: &str) -> Result<RedisTarget, String> {
    let (before_query, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (userinfo, hosts_and_path) = match before_query.rfind('@') {
        Some(i) => (&before_query[..=i], &before_query[i + 1..]),
        None => ("", before_query),
    };
    let (hosts, path) = match hosts_and_path.find('/') {
        Some(i) => (&hosts_and_path[..i], &hosts_and_path[i + 1..]),
        None => (hosts_and_path, ""),
    };
    let form = "redis+sentinel://host:port,host:port/MASTER";
    if hosts.trim().is_empty() {
        return Err(format!("redis_url \"{shown}\" names no sentinel ({form})"));
    }
    let mut parts = path.split('/');
    let master_name = parts.next().unwrap_or("").to_string();
    if master_name.is_empty() {
        return Err(format!("redis_url \"{shown}\" names no master: the path is the name the sentinels know it by ({form})"));
    }
    let db = match (parts.next(), parts.next()) {
        (None, _) | (Some(""), None) => String::new(),
        (Some(db), None) if db.parse::<u32>().is_ok() => format!("/{db}"),
        _ => return Err(format!("redis_url \"{shown}\": after the master's name only a database number may follow (…/MASTER/2)")),
    };
    // The sentinels' own credentials are options of their own.
    let (mut kept, mut sentinel_user, mut sentinel_password) = (Vec::new(), "", "");
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sentinel_username", v)) => sentinel_user = v,
            Some(("sentinel_password", v)) => sentinel_password = v,
            _ => kept.push(pair),
        }
    }
    let sentinel_userinfo = match (sentinel_user, sentinel_password) {
        ("", "") => String::new(),
        (user, password) => format!("{user}:{password}@"),
    };
    let mut sentinels = Vec::new();
    for node in hosts.split(',') {
        let node = node.trim();
        check_node(node).map_err(|why| format!("redis_url \"{shown}\": sentinel \"{node}\" {why}"))?;
        let has_port = if node.starts_with('[') { node.contains("]:") } else { node.contains(':') };
        let node = if has_port { node.to_string() } else { format!("{node}:{SENTINEL_PORT}") };
        sentinels.push(format!("{scheme}://{sentinel_userinfo}{node}"));
    }
    Ok(RedisTarget::Sentinel(SentinelTarget {
        sentinels,
        master_name,
        scheme,
        userinfo: userinfo.to_string(),
        db,
        query: if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) },
    }))
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

    #[test]
    fn a_sentinel_url_names_the_sentinels_the_master_and_the_master_credentials() {
        let RedisTarget::Sentinel(t) = parse("redis+sentinel://app:s3cret@s1,s2:26380,[::1]/mymaster/2?protocol=resp3&sentinel_password=sp").unwrap() else {
            panic!("a sentinel target")
        };
        assert_eq!(t.sentinels, vec!["redis://:sp@s1:26379", "redis://:sp@s2:26380", "redis://:sp@[::1]:26379"]);
        assert_eq!(t.master_name, "mymaster");
        assert_eq!(t.node_url("10.0.0.5", 6380), "redis://app:s3cret@10.0.0.5:6380/2?protocol=resp3");
        assert_eq!(t.node_url("::1", 6380), "redis://app:s3cret@[::1]:6380/2?protocol=resp3");
        let RedisTarget::Sentinel(t) = parse("rediss+sentinel://h:1/m").unwrap() else { panic!("a sentinel target") };
        assert_eq!((t.node_url("a", 2), t.sentinels), ("rediss://a:2".to_string(), vec!["rediss://h:1".to_string()]));
    }

    #[test]
    fn bad_sentinel_urls_say_what_is_wrong_without_the_password() {
        let cases = [
            ("redis+sentinel://u:pw@s1:26379", "names no master"),
            ("redis+sentinel://u:pw@s1:26379/", "names no master"),
            ("redis+sentinel:///m", "names no sentinel"),
            ("redis+sentinel://s1:x/m", "not a number"),
            ("redis+sentinel://u:pw@s1/m/x", "only a database number"),
            ("redis+sentinel://u:pw@s1/m/1/2", "only a database number"),
        ];
        for (url, why) in cases {
            let e = parse(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("pw"), "the password is hidden: {e}");
        }
    }
}
