//! `cachekit`: see what a cachekit Redis holds and what the cache is doing.
//!
//! The command converts its arguments and prints; everything that decides
//! how a key is derived or what stored bytes are comes from the core: the
//! Rust API ([`cachekit::Client`], [`cachekit::Cache`]) and the operator
//! access and decoder of `cachekit::internals` (`Admin`, `inspect`).
//! `cachekit --help` is the manual.

mod commands;
mod out;

use clap::{Args, Parser, Subcommand};
use out::{Exit, Out};

const ABOUT: &str = "See what a cachekit Redis holds and what the cache is doing";

const LONG_ABOUT: &str = "\
cachekit inspects and manages the Redis entries that the cachekit core writes \
for every language (C, Python, PHP, Node.js, Go and Rust): it derives a call's \
key exactly as the wrappers do, says what is stored under a key (format, sizes, \
checksum verdict, lifetime, and the value as JSON, decrypted when a master key \
is given), deletes entries the way the core does (every process drops them from \
its L1 too), counts a namespace, checks the connection and follows \
invalidations and fills live.

The Redis to use comes from --url, else CACHEKIT_REDIS_URL, else REDIS_URL, \
read by the core's own settings: one server (redis://, rediss:// for TLS, \
user:password@ for ACL), a cluster (redis+cluster://host1:port1,host2:port2) \
or a master behind Sentinel (redis+sentinel://s1:26379,s2:26379/MASTER) all work \
the same way. Every CACHEKIT_* setting the libraries read applies (key prefix, \
tenant, timeouts, TLS CA).";

const AFTER_LONG_HELP: &str = "\
OUTPUT:
    Results go to stdout, diagnostics to stderr. With --json every command
    prints one JSON document on stdout (watch: one per line), also when it
    fails: then {\"error\": {\"exit_code\": N, \"kind\": \"...\", \"message\": \"...\"}}.

EXIT STATUS:
    0   success
    1   any other failure (an internal error, stdout could not be written)
    2   usage error: unknown command or option, missing or malformed argument
        (ARGS_JSON that is not a JSON array, a namespace the key rules refuse)
    3   the key does not exist (get, inspect, delete)
    4   Redis is unreachable, timed out, refused the credentials, or is
        unhealthy (health)
    5   configuration error: no Redis URL, a malformed URL, a bad CACHEKIT_*
        variable or master key
    6   the entry exists but is not a readable cachekit entry: foreign format
        (written by another program), corrupt (checksum, sizes), or encrypted
        and no CACHEKIT_MASTER_KEY is set
    7   cannot decrypt: CACHEKIT_MASTER_KEY is set and does not open the entry

ENVIRONMENT:
    CACHEKIT_REDIS_URL, REDIS_URL
                       the Redis to use when --url is not given
    CACHEKIT_MASTER_KEY
                       64 hex digits: decrypts encrypted entries (never printed)
    CACHEKIT_KEY_PREFIX, CACHEKIT_TENANT_ID
                       the key scope, as in the applications (key, stats,
                       clear, watch)
    CACHEKIT_TLS_CA_CERT
                       PEM file of the CA of a rediss:// server
    CACHEKIT_SOCKET_TIMEOUT, CACHEKIT_SOCKET_CONNECT_TIMEOUT
                       seconds (default 1); --timeout sets both
    LOG_LEVEL          the core's own log events on stderr (off unless set)

EXAMPLES:
    Where does get_user(42) of namespace users live, and what is there?
        cachekit key users get_user '[42]'
        cachekit inspect \"$(cachekit key users get_user '[42]')\"

    The value alone, for jq:
        cachekit get users:get_user:0f3c…:e1 | jq .name

    How big is a namespace, and drop it:
        cachekit stats users
        cachekit clear users --yes

    Follow deletes and fills as they happen:
        cachekit watch users

    In a script: is Redis there?
        cachekit health --json >/dev/null || echo \"cache down: $?\"

SEE ALSO:
    cachekit <command> --help, redis-cli(1); README.md, \"Inspecting the cache\".";

#[derive(Parser)]
#[command(
    name = "cachekit",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes (before or after the command's name).
#[derive(Args, Clone)]
pub struct Global {
    /// Redis URL (default: CACHEKIT_REDIS_URL, then REDIS_URL)
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// Print JSON on stdout (one document; watch: one per line)
    #[arg(long, global = true)]
    json: bool,
    /// Redis connect and response timeout, seconds (default 1)
    #[arg(long, global = true, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Show the core's log events on stderr (LOG_LEVEL=INFO)
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Derive the Redis key of a call, exactly as the language wrappers do
    #[command(
        long_about = "\
Derive the Redis key of NAMESPACE's OPERATION called with ARGS_JSON, exactly as \
the wrappers of every language do: the arguments are canonicalised (integral \
floats become integers, map keys are sorted, ...) and hashed with Blake2b-256; \
the key prefix and tenant scope of CACHEKIT_KEY_PREFIX and CACHEKIT_TENANT_ID \
come first, and envelope keys (the default format) end in :e1.

ARGS_JSON is the JSON array of the positional arguments after keyword arguments \
were bound to their positions (`-` reads it from stdin). Values JSON cannot \
express hash as the wrappers' canonical forms do: give a UUID as its lowercase \
string and a datetime as float seconds since the epoch. No Redis is needed.",
        after_long_help = "\
EXIT STATUS:
    0 the key was printed; 2 ARGS_JSON or a name is refused; 5 a setting is
    unusable (an interop key with a key prefix or tenant configured).

EXAMPLES:
    cachekit key users get_user '[42]'
    cachekit key --interop reports monthly '[2026, \"eu\"]'
    echo '[{\"id\": 1}]' | cachekit key users lookup -"
    )]
    Key(commands::KeyArgs),

    /// Show what is stored under a key: format, sizes, checksum, TTL, value
    #[command(
        long_about = "\
Read the entry under KEY, change nothing, and say what it is:

  format     envelope (LZ4 + xxHash3-64, the default), interop (one plain
             MessagePack document), encrypted (AES-256-GCM; what it holds is
             shown once decrypted), or foreign (not written by cachekit: plain
             text, JSON, a Python pickle, a PHP serialize() string, gzip,
             zstd, another Redis type, or bytes of no known form)
  sizes      bytes stored, the LZ4 block, the value
  checksum   the envelope's xxHash3-64 and whether it matches
  ttl        remaining lifetime
  value      the value as JSON (MessagePack and JSON serializers; bin shows
             as {\"$bin\": hex}, ext as {\"$ext\": type, \"hex\": ...})

An encrypted entry is decrypted when CACHEKIT_MASTER_KEY is set, trying the \
tenants given with --tenant, CACHEKIT_TENANT_ID, the key's own t:TENANT: scope \
and \"default\", and every serializer name the wrappers write. The key is \
never printed. A key that does not open it gives \"cannot decrypt\" and nothing \
else. A foreign entry shows its first bytes in hex.",
        after_long_help = "\
EXIT STATUS:
    0 a cachekit entry that passes every check; 3 no such key; 4 Redis
    unreachable; 6 foreign format, corrupt, or encrypted with no master key
    set; 7 cannot decrypt with the master key set.

EXAMPLES:
    cachekit inspect users:get_user:0f3c…:e1
    CACHEKIT_MASTER_KEY=$(cat key.hex) cachekit inspect --json secrets:get:…:e1"
    )]
    Inspect(commands::EntryArgs),

    /// Print the value stored under a key, as JSON
    #[command(
        long_about = "\
Print the value under KEY as JSON on stdout and nothing else (made for jq), \
read and checked as `cachekit inspect` reads it (decrypted with \
CACHEKIT_MASTER_KEY). Changes nothing: unlike the libraries' read path, a \
corrupt entry is reported, not deleted.",
        after_long_help = "\
EXIT STATUS:
    0 the value was printed; 3 no such key; 4 Redis unreachable; 6 not a
    readable cachekit entry, or a value of a serializer that has no JSON form
    (arrow, pickle); 7 cannot decrypt.

EXAMPLES:
    cachekit get \"$(cachekit key users get_user '[42]')\" | jq .email"
    )]
    Get(commands::EntryArgs),

    /// Delete entries; every process drops them from its L1 too
    #[command(
        long_about = "\
Delete each KEY from Redis the way the libraries do: the namespace's generation \
is bumped and the deletion published on cachekit:invalidate, so every process \
using the cache drops the entry from its in-process L1 at once (or within \
l1_sync_ms when it missed the message).",
        after_long_help = "\
EXIT STATUS:
    0 every key existed and was deleted (or --ignore-missing); 3 at least one
    key did not exist; 4 Redis unreachable.

EXAMPLES:
    cachekit delete users:get_user:0f3c…:e1
    cachekit delete --ignore-missing \"$(cachekit key users get_user '[42]')\""
    )]
    Delete(commands::DeleteArgs),

    /// Delete every entry of a namespace (L2, and every process's L1)
    #[command(
        long_about = "\
Delete every entry of NAMESPACE, both formats, as the libraries' cache_clear() \
does: SCAN and UNLINK on the server (on every master of a cluster), then every \
process clears the namespace from its L1. Keys of longer namespaces \
(NAMESPACE:v2:...) stay. Asks first when stdin is a terminal, unless --yes.",
        after_long_help = "\
EXIT STATUS:
    0 cleared (the count is printed); 1 not confirmed; 2 a namespace the key
    rules refuse; 4 Redis unreachable.

EXAMPLES:
    cachekit clear users --yes
    cachekit clear --json users --yes | jq .deleted"
    )]
    Clear(commands::ClearArgs),

    /// Count a namespace's entries and estimate their bytes (SCAN sampling)
    #[command(
        long_about = "\
Walk NAMESPACE's keys with SCAN (every master of a cluster; never KEYS, so \
Redis keeps serving) and report the number of entries, by format and by \
operation, and their bytes and lifetimes measured on a random sample of \
--sample values (STRLEN and PTTL), from which the total is estimated. \
--sample 0 measures every value. On a terminal, a scan that takes more than \
half a second shows its progress on stderr (--progress forces it, \
--no-progress turns it off).",
        after_long_help = "\
EXIT STATUS:
    0 the figures were printed; 2 a namespace the key rules refuse; 4 Redis
    unreachable.

EXAMPLES:
    cachekit stats users
    cachekit stats users --sample 0 --json | jq .bytes"
    )]
    Stats(commands::StatsArgs),

    /// Check the connection to Redis (every node of a cluster)
    #[command(
        long_about = "\
PING Redis through the core, as the libraries' check_health() does, and report \
the status, the latency, the connection pool and, for a cluster, every node \
with its role and PING, for Sentinel the master it names now.",
        after_long_help = "\
EXIT STATUS:
    0 healthy; 4 unhealthy (unreachable, timed out, refused); 5 no Redis
    configured.

EXAMPLES:
    cachekit health
    cachekit health --json | jq .system.ping_latency_seconds"
    )]
    Health,

    /// Print the core's Prometheus metrics (exposition text)
    #[command(
        long_about = "\
Open each NAMESPACE as the libraries do, PING Redis through it, and print the \
core's Prometheus exposition text for this process: the metric names every \
binding exports (redis_cache_operations_total, \
redis_cache_operation_duration_seconds, redis_circuit_breaker_state, \
redis_connection_pool_utilization, ...). Useful as a black-box probe and to \
see the exposition format; each application serves its own figures. With \
--json, the samples as a list of {name, labels, value}.",
        after_long_help = "\
EXIT STATUS:
    0 printed; 4 Redis unreachable; 5 no Redis configured.

EXAMPLES:
    cachekit metrics users | grep redis_circuit_breaker_state"
    )]
    Metrics(commands::MetricsArgs),

    /// Follow invalidations and fills live (Ctrl-C to stop)
    #[command(
        long_about = "\
Subscribe to the channels the core uses between processes and print each \
event as it happens, for NAMESPACE or for all:

  deleted   an entry was deleted (cachekit:invalidate)
  cleared   a namespace or an operation was cleared (the key is a prefix
            ending in *)
  filled    a fill landed while another process waited for it
            (cachekit:filled; fills nobody waits for are not announced)

Each line shows the time (UTC), the event, the key, and for deletions the \
sending process and the namespace's new generation. A dropped connection is \
reported on stderr and the subscription made again (events meanwhile are lost). \
Runs until interrupted, --count events or --for seconds.",
        after_long_help = "\
EXIT STATUS:
    0 stopped by --count or --for; 4 Redis unreachable at the start.

EXAMPLES:
    cachekit watch users
    cachekit watch --json | jq -c 'select(.event == \"cleared\")'"
    )]
    Watch(commands::WatchArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // Usage errors exit 2, --help and --version 0 (clap's own codes).
        Err(e) => e.exit(),
    };
    // The core's log events (warnings of its read path) would interleave
    // with the command's output: off unless asked for.
    if std::env::var_os("LOG_LEVEL").is_none() {
        std::env::set_var("LOG_LEVEL", if cli.global.verbose { "INFO" } else { "OFF" });
    }
    let out = Out { json: cli.global.json };
    let result = commands::run(&cli.global, cli.command, &out);
    let code = match result {
        Ok(()) => Exit::Ok,
        Err(f) => {
            out.fail(&f);
            f.exit
        }
    };
    std::process::exit(code as i32);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

