//! Exit statuses, failures, and printing (text or JSON) for the `cachekit`
//! command. Nothing here knows about keys or values.

use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The exit statuses, as `cachekit --help` documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Anything else (an internal error, stdout closed).
    Failure = 1,
    /// Bad command line: unknown option, missing or malformed argument
    /// (ARGS_JSON that does not parse, a namespace the key rules refuse).
    Usage = 2,
    /// The key does not exist.
    NotFound = 3,
    /// Redis is unreachable, timed out, refused the credentials, or is unhealthy.
    Redis = 4,
    /// A setting cannot be used: no Redis URL, a malformed URL, a bad
    /// CACHEKIT_* variable or master key.
    Config = 5,
    /// The entry exists but is not a readable cachekit entry: foreign
    /// format, corrupt, or encrypted without CACHEKIT_MASTER_KEY.
    Unreadable = 6,
    /// A master key was given and does not decrypt the entry.
    CannotDecrypt = 7,
}

impl Exit {
    pub fn kind(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Failure => "failure",
            Exit::Usage => "usage",
            Exit::NotFound => "not_found",
            Exit::Redis => "redis",
            Exit::Config => "config",
            Exit::Unreadable => "unreadable",
            Exit::CannotDecrypt => "cannot_decrypt",
        }
    }
}

/// A command that did not succeed: its exit status and what to tell.
#[derive(Debug)]
pub struct Fail {
    pub exit: Exit,
    pub message: String,
    /// The JSON document (with `--json`) was printed already.
    pub reported: bool,
}

impl Fail {
    pub fn new(exit: Exit, message: impl Into<String>) -> Fail {
        Fail { exit, message: message.into(), reported: false }
    }

    /// `{"exit_code", "kind", "message"}`.
    pub fn to_json(&self) -> Value {
        json!({ "exit_code": self.exit as i32, "kind": self.exit.kind(), "message": self.message })
    }
}

impl From<cachekit::Error> for Fail {
    fn from(e: cachekit::Error) -> Fail {
        use cachekit::Error as E;
        let exit = match &e {
            E::Config(_) | E::Encryption(_) => Exit::Config,
            E::Backend(_) => Exit::Redis,
            E::InvalidKey(_) | E::InvalidArgument(_) | E::Encode(_) => Exit::Usage,
            _ => Exit::Failure,
        };
        Fail::new(exit, e.message().to_string())
    }
}

pub type Outcome = Result<(), Fail>;

/// Where results go: stdout, as text or as JSON.
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Print one line on stdout. A closed stdout (`cachekit watch | head`)
    /// ends the program quietly, as other Unix tools do.
    pub fn line(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        if let Err(e) = writeln!(o, "{text}").and_then(|_| o.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("cachekit: cannot write to stdout: {e}");
            std::process::exit(Exit::Failure as i32);
        }
    }

    /// Print a JSON document: pretty on a terminal, one line otherwise.
    pub fn doc(&self, v: &Value) {
        use std::io::IsTerminal;
        let text = if std::io::stdout().is_terminal() {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        };
        self.line(&text.unwrap_or_else(|_| "null".into()));
    }

    /// A JSON document on one line (a stream of them: `watch --json`).
    pub fn json_line(&self, v: &Value) {
        self.line(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
    }

    /// `label value` lines, aligned.
    pub fn fields(&self, rows: &[(&str, String)]) {
        for (k, v) in rows {
            self.line(&format!("{k:<13}{v}"));
        }
    }

    /// Report a failure: on stderr always, and as `{"error": ...}` on
    /// stdout with `--json` (unless the command printed its document, with
    /// that member in it: see [`Out::doc_failing`]).
    pub fn fail(&self, f: &Fail) {
        if self.json && !f.reported {
            self.doc(&json!({ "error": f.to_json() }));
        }
        eprintln!("cachekit: {}", f.message);
    }

    /// Print a command's document with the `error` member of `f` in it,
    /// and hand `f` back to be returned.
    pub fn doc_failing(&self, mut doc: Value, mut f: Fail) -> Fail {
        if let Some(m) = doc.as_object_mut() {
            m.insert("error".into(), f.to_json());
        }
        self.doc(&doc);
        f.reported = true;
        f
    }
}

/// Seconds as text: `3597 s`, `1.5 s`, `250 ms`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 10.0 {
        format!("{} s", d.as_secs())
    } else if s >= 1.0 {
        format!("{s:.1} s")
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// A remaining lifetime as text, with the time it ends.
pub fn ttl_text(ttl: Option<Duration>) -> String {
    match ttl {
        None => "no expiry".into(),
        Some(t) => format!("{} (expires {})", seconds(t), rfc3339(SystemTime::now() + t)),
    }
}

/// Bytes as text: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{} B", n.round() as u64)
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A time as RFC 3339 UTC with milliseconds (`2026-05-01T12:00:00.250Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_millis(951_782_400_250)), "2000-02-29T00:00:00.250Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_767_225_599)), "2025-12-31T23:59:59.000Z");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    }
}
