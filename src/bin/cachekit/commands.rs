//! The commands: each converts its arguments, calls the core (the Rust API,
//! or `cachekit::internals` for operator access and the decoder of stored
//! bytes) and prints.

use crate::out::{self, Exit, Fail, Out, Outcome};
use crate::{Command, Global};
use cachekit::internals::inspect::{Inspection, Verdict};
use cachekit::internals::{Admin, Stored, WatchEvent};
use cachekit::{BreakerConfig, CacheOptions, Client, Config, Format, TimeoutConfig};
use clap::Args;
use rand::Rng;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::time::{Duration, Instant, SystemTime};

#[derive(Args)]
pub struct KeyArgs {
    /// The namespace, as the application names it
    namespace: String,
    /// The operation (the function's name, as the application names it)
    operation: String,
    /// The positional arguments as a JSON array; `-` reads it from stdin
    args_json: String,
    /// The protocol's interop key: exactly NAMESPACE:OPERATION:HASH, strict names
    #[arg(long)]
    interop: bool,
}

#[derive(Args)]
pub struct EntryArgs {
    /// The full Redis key (as `cachekit key` prints it)
    key: String,
    /// A tenant to try when decrypting (repeatable; CACHEKIT_TENANT_ID, the
    /// key's own t:TENANT: scope and "default" are always tried)
    #[arg(long = "tenant", value_name = "TENANT")]
    tenants: Vec<String>,
    /// A serializer name to try when decrypting an envelope (repeatable;
    /// default: every name the wrappers write)
    #[arg(long = "serializer", value_name = "NAME")]
    serializers: Vec<String>,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// The full Redis keys
    #[arg(required = true)]
    keys: Vec<String>,
    /// Succeed (exit 0) even when a key does not exist
    #[arg(long)]
    ignore_missing: bool,
}

#[derive(Args)]
pub struct ClearArgs {
    /// The namespace whose entries to delete
    namespace: String,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Args)]
pub struct StatsArgs {
    /// The namespace to count
    namespace: String,
    /// Values to measure for the byte estimate; 0 measures every one
    #[arg(long, value_name = "N", default_value_t = 1000)]
    sample: usize,
    /// Keys per SCAN call (Redis's COUNT hint)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    scan_count: u64,
    /// Operations listed, largest first
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Show progress on stderr even when it is not a terminal
    #[arg(long, conflicts_with = "no_progress")]
    progress: bool,
    /// Never show progress
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
pub struct MetricsArgs {
    /// Namespaces to open and check (their series appear in the output)
    namespaces: Vec<String>,
}

#[derive(Args)]
pub struct WatchArgs {
    /// Only this namespace's events (default: every namespace)
    namespace: Option<String>,
    /// Stop after this many events
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this many seconds
    #[arg(long = "for", value_name = "SECONDS")]
    for_seconds: Option<f64>,
}

pub fn run(g: &Global, command: Command, out: &Out) -> Outcome {
    match command {
        Command::Key(a) => key(g, a, out),
        Command::Inspect(a) => inspect(g, a, out),
        Command::Get(a) => get(g, a, out),
        Command::Delete(a) => delete(g, a, out),
        Command::Clear(a) => clear(g, a, out),
        Command::Stats(a) => stats(g, a, out),
        Command::Health => health(g, out),
        Command::Metrics(a) => metrics(g, a, out),
        Command::Watch(a) => watch(g, a, out),
    }
}

/// A client with the settings of the environment, `--url` and `--timeout`
/// over them (the core's `Config`: every URL form, every CACHEKIT_* variable).
fn client(g: &Global) -> Result<Client, Fail> {
    let mut explicit = Map::new();
    if let Some(url) = &g.url {
        explicit.insert("redis_url".into(), Value::String(url.clone()));
    }
    if let Some(t) = g.timeout {
        explicit.insert("socket_timeout".into(), json!(t));
        explicit.insert("socket_connect_timeout".into(), json!(t));
    }
    let config = Config::load(Some(&Value::Object(explicit).to_string()))?;
    Ok(Client::new(config)?)
}

/// A namespace handle for one operator command: errors reported, not
/// swallowed (fail-closed), no breaker or adaptive timeout in the way.
fn operator_cache(client: &Client, namespace: &str, collect_stats: bool) -> Result<cachekit::Cache, Fail> {
    let options = CacheOptions {
        fail_closed: true,
        l1_enabled: Some(false),
        circuit_breaker: BreakerConfig { enabled: false, ..Default::default() },
        adaptive_timeout: TimeoutConfig { enabled: false, ..Default::default() },
        collect_stats,
        ..Default::default()
    };
    Ok(client.cache(namespace, options)?)
}

// ---- key -------------------------------------------------------------------

fn key(g: &Global, a: KeyArgs, out: &Out) -> Outcome {
    let text = if a.args_json == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Fail::new(Exit::Usage, format!("cannot read ARGS_JSON from stdin: {e}")))?;
        s
    } else {
        a.args_json.clone()
    };
    let args: Value = serde_json::from_str(&text)
        .map_err(|e| Fail::new(Exit::Usage, format!("ARGS_JSON is not JSON ({e}): give the arguments as a JSON array, e.g. '[42, \"en\"]'")))?;
    if !args.is_array() {
        return Err(Fail::new(Exit::Usage, "ARGS_JSON must be a JSON array of the call's positional arguments, e.g. '[42, \"en\"]'"));
    }
    let mut msgpack = Vec::new();
    write_msgpack(&args, &mut msgpack);
    let format = if a.interop { Format::Interop } else { Format::Envelope };
    let client = client(g)?;
    let cache = client.cache(&a.namespace, CacheOptions { format, ..Default::default() })?;
    let key = cache.key(&a.operation, &msgpack)?;
    if out.json {
        out.doc(&json!({
            "key": key,
            "namespace": a.namespace,
            "operation": a.operation,
            "format": if a.interop { "interop" } else { "envelope" },
        }));
    } else {
        out.line(&key);
    }
    Ok(())
}

/// JSON as the MessagePack a wrapper would send: integers as integers,
/// other numbers as float64, and the rest as themselves (the core
/// canonicalises it, so widths and map order do not matter).
fn write_msgpack(v: &Value, buf: &mut Vec<u8>) {
    use rmp::encode as e;
    // Writing into a Vec cannot fail.
    let _ = match v {
        Value::Null => e::write_nil(buf).map_err(|_| ()),
        Value::Bool(b) => e::write_bool(buf, *b).map_err(|_| ()),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => e::write_uint(buf, u).map(|_| ()).map_err(|_| ()),
            (None, Some(i)) => e::write_sint(buf, i).map(|_| ()).map_err(|_| ()),
            _ => e::write_f64(buf, n.as_f64().unwrap_or(f64::NAN)).map_err(|_| ()),
        },
        Value::String(s) => e::write_str(buf, s).map_err(|_| ()),
        Value::Array(items) => {
            let _ = e::write_array_len(buf, items.len() as u32);
            items.iter().for_each(|i| write_msgpack(i, buf));
            Ok(())
        }
        Value::Object(m) => {
            let _ = e::write_map_len(buf, m.len() as u32);
            for (k, v) in m {
                let _ = e::write_str(buf, k);
                write_msgpack(v, buf);
            }
            Ok(())
        }
    };
}

// ---- inspect, get, delete ---------------------------------------------------

/// Read `key` and say what it is; `Ok(None)`: no such key (reported).
fn read_entry(g: &Global, a: &EntryArgs, out: &Out) -> Result<Stored, Fail> {
    let client = client(g)?;
    let admin = Admin::new(&client)?;
    let keys = admin.decrypt_keys(&a.key, &a.tenants, &a.serializers)?;
    match admin.inspect(&a.key, &keys)? {
        Some(s) => Ok(s),
        None => {
            let f = Fail::new(Exit::NotFound, format!("{}: no such key", a.key));
            Err(if out.json { out.doc_failing(json!({ "key": a.key, "found": false }), f) } else { f })
        }
    }
}

/// The exit status and message of an inspection that is not `ok`.
fn verdict_failure(key: &str, i: &Inspection) -> Option<Fail> {
    let (exit, what) = match i.verdict {
        Verdict::Ok => return None,
        Verdict::CannotDecrypt => (Exit::CannotDecrypt, "cannot decrypt".to_string()),
        Verdict::Corrupt => (Exit::Unreadable, format!("corrupt: {}", i.detail.as_deref().unwrap_or("fails a check"))),
        Verdict::Foreign => {
            let kind = i.foreign.as_ref().map(|f| f.kind).unwrap_or("binary");
            (Exit::Unreadable, format!("foreign format ({kind}); first bytes {}", i.head_hex))
        }
    };
    Some(Fail::new(exit, format!("{key}: {what}")))
}

fn ttl_seconds(s: &Stored) -> Value {
    s.ttl.map_or(Value::Null, |t| json!(t.as_secs_f64()))
}

fn inspect(g: &Global, a: EntryArgs, out: &Out) -> Outcome {
    let s = read_entry(g, &a, out)?;
    let i = &s.inspection;
    if out.json {
        let mut doc = json!({ "key": a.key, "found": true, "redis_type": s.redis_type, "ttl_seconds": ttl_seconds(&s) });
        if let (Some(d), Ok(Value::Object(m))) = (doc.as_object_mut(), serde_json::to_value(i)) {
            d.extend(m);
        }
        return match verdict_failure(&a.key, i) {
            Some(f) => Err(out.doc_failing(doc, f)),
            None => {
                out.doc(&doc);
                Ok(())
            }
        };
    }
    print_inspection(&a.key, &s, out);
    verdict_failure(&a.key, i).map_or(Ok(()), Err)
}

fn print_inspection(key: &str, s: &Stored, out: &Out) {
    let i = &s.inspection;
    let l = &i.key_layout;
    let mut rows: Vec<(&str, String)> = vec![("key", key.to_string())];
    rows.push((
        "key layout",
        match (l.format, &l.namespace, &l.operation) {
            ("other", _, _) | (_, None, _) | (_, _, None) => "not a cachekit entry key".into(),
            (f, Some(ns), Some(op)) => format!("{f} key of namespace {ns}, operation {op}"),
        },
    ));
    let format = match (i.format, &i.encryption, &i.foreign) {
        ("encrypted", Some(e), _) => format!("encrypted (AES-256-GCM), holding {}", e.inner_format),
        ("foreign", _, Some(f)) => format!("foreign ({})", f.kind),
        (f, _, _) => f.to_string(),
    };
    rows.push(("format", format));
    rows.push((
        "verdict",
        match i.verdict {
            Verdict::Ok => "ok".into(),
            Verdict::Corrupt => format!("corrupt: {}", i.detail.as_deref().unwrap_or("")),
            Verdict::Foreign => "foreign format".into(),
            Verdict::CannotDecrypt => "cannot decrypt".into(),
        },
    ));
    if s.redis_type == "string" {
        rows.push(("stored", format!("{} bytes", i.stored_bytes)));
    } else {
        rows.push(("stored", format!("a Redis {}", s.redis_type)));
    }
    rows.push(("ttl", out::ttl_text(s.ttl)));
    if i.verdict == Verdict::CannotDecrypt {
        out.fields(&rows);
        return;
    }
    if let Some(e) = &i.encryption {
        rows.push(("encryption", format!("tenant {:?}, serializer {:?}, key fingerprint {}", e.tenant, e.serializer, e.key_fingerprint)));
    }
    if let Some(e) = &i.envelope {
        rows.push(("serializer", e.serializer.clone()));
        let legacy = if e.legacy_block { ", legacy array form" } else { "" };
        rows.push(("compressed", format!("{} -> {} bytes (LZ4 block{legacy})", e.compressed_bytes, e.original_bytes)));
        let verdict = match e.checksum_ok {
            Some(true) => "ok",
            Some(false) => "MISMATCH",
            None => "not checked",
        };
        rows.push(("checksum", format!("xxh3-64 {}: {verdict}", e.checksum)));
    } else if i.format == "interop" {
        rows.push(("checksum", "none (interop entries carry no checksum)".into()));
    }
    if i.verdict == Verdict::Foreign || i.value.is_none() {
        rows.push(("first bytes", i.head_hex.clone()));
    }
    if let Some(p) = i.foreign.as_ref().and_then(|f| f.preview.as_ref()) {
        rows.push(("preview", p.escape_debug().to_string()));
    }
    if let (Some(d), true) = (&i.detail, i.verdict != Verdict::Corrupt) {
        rows.push(("note", d.clone()));
    }
    if let Some(n) = i.value_bytes {
        rows.push(("value", format!("{n} bytes{}", if i.value.is_some() { ", as JSON:" } else { "" })));
    }
    out.fields(&rows);
    if let Some(v) = &i.value {
        out.line(&serde_json::to_string_pretty(v).unwrap_or_default());
    }
}

fn get(g: &Global, a: EntryArgs, out: &Out) -> Outcome {
    let s = read_entry(g, &a, out)?;
    let i = &s.inspection;
    if let Some(f) = verdict_failure(&a.key, i) {
        return Err(if out.json { out.doc_failing(json!({ "key": a.key, "found": true, "verdict": i.verdict }), f) } else { f });
    }
    let Some(value) = &i.value else {
        let f = Fail::new(Exit::Unreadable, format!("{}: {}", a.key, i.detail.as_deref().unwrap_or("the value has no JSON form")));
        return Err(f);
    };
    if out.json {
        out.doc(&json!({ "key": a.key, "value": value, "ttl_seconds": ttl_seconds(&s) }));
    } else {
        out.line(&serde_json::to_string_pretty(value).unwrap_or_default());
    }
    Ok(())
}

fn delete(g: &Global, a: DeleteArgs, out: &Out) -> Outcome {
    let client = client(g)?;
    let admin = Admin::new(&client)?;
    let (mut deleted, mut missing) = (Vec::new(), Vec::new());
    for k in &a.keys {
        if admin.delete(k)? {
            deleted.push(k.clone());
        } else {
            missing.push(k.clone());
        }
    }
    let failure = (!missing.is_empty() && !a.ignore_missing).then(|| Fail::new(Exit::NotFound, format!("no such key: {}", missing.join(", "))));
    let doc = json!({ "deleted": deleted, "missing": missing });
    if !out.json {
        deleted.iter().for_each(|k| out.line(&format!("deleted {k}")));
        missing.iter().for_each(|k| out.line(&format!("not found {k}")));
    }
    match failure {
        Some(f) if out.json => Err(out.doc_failing(doc, f)),
        Some(f) => Err(f),
        None => {
            if out.json {
                out.doc(&doc);
            }
            Ok(())
        }
    }
}

// ---- clear, stats ------------------------------------------------------------

fn clear(g: &Global, a: ClearArgs, out: &Out) -> Outcome {
    let client = client(g)?;
    let admin = Admin::new(&client)?;
    let cache = operator_cache(&client, &a.namespace, false)?;
    if !a.yes && std::io::stdin().is_terminal() {
        let url = client.config().redacted_redis_url().unwrap_or_default();
        eprint!("Delete every entry of namespace {:?} ({}*) on {url}? [y/N] ", a.namespace, admin.namespace_prefix(&a.namespace));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            return Err(Fail::new(Exit::Failure, "not cleared"));
        }
    }
    let n = cache.clear()?;
    if out.json {
        out.doc(&json!({ "namespace": a.namespace, "deleted": n }));
    } else {
        out.line(&format!("cleared {n} entries of namespace {}", a.namespace));
    }
    Ok(())
}

/// Progress of a long scan on stderr.
struct Progress {
    enabled: bool,
    terminal: bool,
    started: Instant,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    fn update(&mut self, namespace: &str, entries: u64, walked: u64, total: u64) {
        let now = Instant::now();
        let due = self.last.is_none_or(|l| now - l >= Duration::from_millis(200));
        // On a terminal only scans that last show it; forced, every one does.
        if !self.enabled || !due || (self.terminal && now - self.started < Duration::from_millis(500)) {
            return;
        }
        self.last = Some(now);
        let pct = if total > 0 { walked as f64 * 100.0 / total as f64 } else { 100.0 };
        let text = format!("scanning {namespace}: {entries} entries found, ~{walked} of {total} keys walked ({pct:.0}%)");
        if self.terminal {
            eprint!("\r\x1b[K{text}");
        } else {
            eprintln!("{text}");
        }
        self.shown = true;
    }

    fn done(&self) {
        if self.shown && self.terminal {
            eprint!("\r\x1b[K");
        }
    }
}

fn stats(g: &Global, a: StatsArgs, out: &Out) -> Outcome {
    let client = client(g)?;
    let admin = Admin::new(&client)?;
    operator_cache(&client, &a.namespace, false)?; // the name is valid
    let terminal = std::io::stderr().is_terminal();
    let mut progress = Progress { enabled: a.progress || (terminal && !a.no_progress), terminal, started: Instant::now(), last: None, shown: false };
    let (mut entries, mut envelope, mut interop) = (0u64, 0u64, 0u64);
    let mut operations: BTreeMap<String, u64> = BTreeMap::new();
    let mut sample: Vec<String> = Vec::new();
    let mut measured: Vec<Option<(u64, Option<Duration>)>> = Vec::new();
    let (mut walked, mut total) = (0, 0);
    let mut exact = a.sample == 0;
    let mut rng = rand::thread_rng();
    let mut failure = None;
    let prefix = admin.namespace_prefix(&a.namespace);
    let started = Instant::now();
    admin.scan(&a.namespace, a.scan_count.max(1), |page| {
        for k in page.keys {
            entries += 1;
            if k.ends_with(":e1") {
                envelope += 1;
            } else {
                interop += 1;
            }
            let op = k[prefix.len()..].split(':').next().unwrap_or_default();
            *operations.entry(op.to_string()).or_default() += 1;
            // Reservoir sampling: every key has the same chance to be measured.
            if !exact {
                if sample.len() < a.sample {
                    sample.push(k.clone());
                } else {
                    let j = rng.gen_range(0..entries) as usize;
                    if j < a.sample {
                        sample[j] = k.clone();
                    }
                }
            }
        }
        if exact && !page.keys.is_empty() {
            match admin.sizes(page.keys, 32) {
                Ok(s) => measured.extend(s),
                Err(e) => {
                    failure = Some(e);
                    return false;
                }
            }
        }
        (walked, total) = (page.walked, page.total);
        progress.update(&a.namespace, entries, walked, total);
        true
    })?;
    progress.done();
    if let Some(e) = failure {
        return Err(e.into());
    }
    if !exact {
        measured = admin.sizes(&sample, 32)?;
        // A sample that holds every entry measured them all.
        exact = sample.len() as u64 == entries;
    }
    let seconds = started.elapsed().as_secs_f64();
    let present: Vec<(u64, Option<Duration>)> = measured.into_iter().flatten().collect();
    let sampled_bytes: u64 = present.iter().map(|(n, _)| n).sum();
    let mean = if present.is_empty() { 0.0 } else { sampled_bytes as f64 / present.len() as f64 };
    let bytes = if exact { sampled_bytes as f64 } else { mean * entries as f64 };
    let ttls: Vec<Duration> = present.iter().filter_map(|(_, t)| *t).collect();
    let no_expiry = present.iter().filter(|(_, t)| t.is_none()).count();
    let mut ops: Vec<(String, u64)> = operations.into_iter().collect();
    ops.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    if out.json {
        out.doc(&json!({
            "namespace": a.namespace,
            "prefix": prefix,
            "entries": entries,
            "formats": { "envelope": envelope, "interop": interop },
            "operations": ops.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
            "bytes": bytes.round() as u64,
            "bytes_exact": exact,
            "sampled": present.len(),
            "sampled_bytes": sampled_bytes,
            "mean_bytes": mean,
            "ttl_seconds": {
                "min": ttls.iter().min().map(|d| d.as_secs_f64()),
                "max": ttls.iter().max().map(|d| d.as_secs_f64()),
                "no_expiry": no_expiry,
            },
            "keys_walked": walked,
            "database_keys": total,
            "seconds": seconds,
        }));
        return Ok(());
    }
    let how = if exact { "every value measured".to_string() } else { format!("estimated from {} sampled values, mean {}", present.len(), out::bytes(mean)) };
    let mut rows = vec![
        ("namespace", format!("{} (keys {prefix}*)", a.namespace)),
        ("entries", format!("{entries} (envelope {envelope}, interop {interop})")),
        ("bytes", format!("{}{} ({how})", if exact { "" } else { "~" }, out::bytes(bytes))),
    ];
    if !present.is_empty() {
        let ttl = match (ttls.iter().min(), ttls.iter().max()) {
            (Some(lo), Some(hi)) => format!("{} to {}", out::seconds(*lo), out::seconds(*hi)),
            _ => "none".into(),
        };
        rows.push(("ttl", format!("{ttl}; {no_expiry} without expiry (of those measured)")));
    }
    if !ops.is_empty() {
        let mut shown: Vec<String> = ops.iter().take(a.top).map(|(k, v)| format!("{k} {v}")).collect();
        if ops.len() > a.top {
            shown.push(format!("and {} more", ops.len() - a.top));
        }
        rows.push(("operations", shown.join(", ")));
    }
    rows.push(("scanned", format!("{walked} of {total} keys in {seconds:.2} s")));
    out.fields(&rows);
    Ok(())
}

// ---- health, metrics, watch ---------------------------------------------------

fn health(g: &Global, out: &Out) -> Outcome {
    let client = client(g)?;
    Admin::new(&client)?;
    let report = operator_cache(&client, "cachekit-cli", false)?.check_health();
    let system = report.get("system").cloned().unwrap_or(Value::Null);
    let status = system.get("status").and_then(Value::as_str).unwrap_or("unknown").to_string();
    let url = client.config().redacted_redis_url();
    let failure = (status != "healthy")
        .then(|| Fail::new(Exit::Redis, format!("unhealthy: {}", system.get("error").and_then(Value::as_str).unwrap_or(&status))));
    if out.json {
        let doc = json!({ "redis_url": url, "system": system });
        return match failure {
            Some(f) => Err(out.doc_failing(doc, f)),
            None => {
                out.doc(&doc);
                Ok(())
            }
        };
    } else {
        let s = |k: &str| system.get(k).cloned().unwrap_or(Value::Null);
        let mut rows = vec![("status", status.clone()), ("redis", url.clone().unwrap_or_default())];
        if let Some(l) = s("ping_latency_seconds").as_f64() {
            rows.push(("ping", format!("{:.2} ms", l * 1000.0)));
        }
        if let Some(e) = s("error").as_str() {
            rows.push(("error", e.to_string()));
        }
        let pool = s("connection_pool");
        rows.push((
            "pool",
            format!("{} connections, {} in use", pool.get("size").unwrap_or(&Value::Null), pool.get("in_use_connections").unwrap_or(&Value::Null)),
        ));
        if let Some(nodes) = s("redis_nodes").as_array() {
            for n in nodes {
                let f = |k: &str| n.get(k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).unwrap_or_default();
                let ping = n.get("ping_latency_seconds").and_then(Value::as_f64).map(|l| format!("{:.2} ms", l * 1000.0)).unwrap_or_else(|| f("error"));
                rows.push(("node", format!("{} {} {} {}", f("address"), f("role"), f("status"), ping)));
            }
        }
        if let Some(sen) = s("redis_sentinel").as_object() {
            rows.push(("sentinel", format!("master {} at {}", sen.get("master_name").unwrap_or(&Value::Null), sen.get("master").unwrap_or(&Value::Null))));
        }
        out.fields(&rows);
    }
    failure.map_or(Ok(()), Err)
}

fn metrics(g: &Global, a: MetricsArgs, out: &Out) -> Outcome {
    let client = client(g)?;
    Admin::new(&client)?;
    // The probe's own namespace is not counted; the ones asked for are.
    let mut checks = vec![operator_cache(&client, "cachekit-cli", false)?.check_health()];
    let mut caches = Vec::new();
    for ns in &a.namespaces {
        let c = operator_cache(&client, ns, true)?;
        checks.push(c.check_health());
        caches.push(c);
    }
    let text = client.metrics_text();
    let unhealthy = checks.iter().filter_map(|c| c.pointer("/system/error").and_then(Value::as_str)).next();
    let failure = unhealthy.map(|e| Fail::new(Exit::Redis, format!("unhealthy: {e}")));
    if out.json {
        let doc = json!({ "samples": parse_exposition(&text) });
        return match failure {
            Some(f) => Err(out.doc_failing(doc, f)),
            None => {
                out.doc(&doc);
                Ok(())
            }
        };
    }
    for l in text.lines() {
        out.line(l);
    }
    failure.map_or(Ok(()), Err)
}

/// Prometheus exposition text as `{name, labels, value}` samples.
fn parse_exposition(text: &str) -> Vec<Value> {
    let mut samples = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}').unwrap_or(rest))),
            None => (series, Map::new()),
        };
        let value = value.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::String(value.into()), Value::Number);
        samples.push(json!({ "name": name, "labels": labels, "value": value }));
    }
    samples
}

fn parse_labels(s: &str) -> Map<String, Value> {
    let mut m = Map::new();
    let mut chars = s.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim_start_matches(',').trim().to_string();
        if name.is_empty() || chars.next() != Some('"') {
            return m;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => break,
                },
                '"' => break,
                o => value.push(o),
            }
        }
        m.insert(name, Value::String(value));
    }
}

fn watch(g: &Global, a: WatchArgs, out: &Out) -> Outcome {
    let client = client(g)?;
    let admin = Admin::new(&client)?;
    if let Some(ns) = &a.namespace {
        operator_cache(&client, ns, false)?; // the name is valid
    }
    let ns = a.namespace.as_deref();
    let mut w = admin.watch(ns)?;
    let url = client.config().redacted_redis_url().unwrap_or_default();
    let what = ns.map_or("every namespace".to_string(), |n| format!("namespace {n}"));
    eprintln!("cachekit: watching {what} on {url} (Ctrl-C to stop)");
    let deadline = a.for_seconds.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut seen = 0u64;
    while a.count.is_none_or(|c| seen < c) {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            break;
        }
        let wait = left.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1));
        match w.next(wait) {
            Ok(Some(event)) => {
                seen += 1;
                print_event(&event, out);
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("cachekit: {}; subscribing again (events meanwhile are lost)", e.message());
                let mut backoff = Duration::from_millis(100);
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(());
                    }
                    std::thread::sleep(backoff);
                    match admin.watch(ns) {
                        Ok(again) => {
                            w = again;
                            eprintln!("cachekit: subscribed again");
                            break;
                        }
                        Err(_) => backoff = (backoff * 2).min(Duration::from_secs(2)),
                    }
                }
            }
        }
    }
    Ok(())
}

fn print_event(e: &WatchEvent, out: &Out) {
    let time = out::rfc3339(SystemTime::now());
    let (event, key, origin, generation) = match e {
        WatchEvent::Invalidated { key, origin, generation } => {
            (if key.ends_with('*') { "cleared" } else { "deleted" }, key, Some(origin), Some(*generation))
        }
        WatchEvent::Filled { key } => ("filled", key, None, None),
    };
    if out.json {
        out.json_line(&json!({ "time": time, "event": event, "key": key, "origin": origin, "generation": generation }));
    } else {
        let from = match (origin, generation) {
            (Some(o), Some(g)) => format!("  (process {o}, generation {g})"),
            _ => String::new(),
        };
        out.line(&format!("{time}  {event:<8} {key}{from}"));
    }
}
