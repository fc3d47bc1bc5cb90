//! The error type of the Rust API and its mapping onto `ck_status`.
//!
//! Only programming and configuration errors reach a caller: bad arguments,
//! a value that cannot be encoded, a misconfigured namespace. Failures of L2
//! (Redis) are never errors of the caller; they are counted and swallowed by
//! the client (fail-open) unless the namespace chose fail-closed.

use std::fmt;

/// What went wrong, by kind. The message says what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument is missing, null, not UTF-8 or out of range.
    InvalidArgument(String),
    /// A namespace or operation does not match the key segment rules.
    InvalidKey(String),
    /// A setting or environment variable has a value that cannot be used.
    Config(String),
    /// Arguments or a value cannot be encoded in the requested format.
    Encode(String),
    /// Encryption is required but misconfigured, or decryption failed where
    /// the caller asked for a hard error.
    Encryption(String),
    /// L2 failed and the namespace is fail-closed.
    Backend(String),
    /// A fill lease was used after it was completed or abandoned.
    Lease(String),
    /// A panic was caught at the C ABI boundary (a bug in cachekit).
    Panic(String),
    /// The client was closed (`Client::close`, `ck_client_close`), or the
    /// host has shut the library down (`ck_shutdown`) and the call would
    /// need a callback that will never be called.
    Closed(String),
}

impl Error {
    /// The kind's name, as the C ABI's status without its `CK_` prefix
    /// (`"BACKEND"` for `CK_BACKEND`): what wrappers put in their errors.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::InvalidKey(_) => "INVALID_KEY",
            Error::Config(_) => "CONFIG",
            Error::Encode(_) => "ENCODE",
            Error::Encryption(_) => "ENCRYPTION",
            Error::Backend(_) => "BACKEND",
            Error::Lease(_) => "LEASE",
            Error::Panic(_) => "PANIC",
            Error::Closed(_) => "CLOSED",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Error::InvalidArgument(m)
            | Error::InvalidKey(m)
            | Error::Config(m)
            | Error::Encode(m)
            | Error::Encryption(m)
            | Error::Backend(m)
            | Error::Lease(m)
            | Error::Panic(m)
            | Error::Closed(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Error::InvalidArgument(_) => "invalid argument",
            Error::InvalidKey(_) => "invalid key",
            Error::Config(_) => "invalid configuration",
            Error::Encode(_) => "cannot encode",
            Error::Encryption(_) => "encryption",
            Error::Backend(_) => "backend",
            Error::Lease(_) => "fill lease",
            Error::Panic(_) => "internal panic",
            Error::Closed(_) => "shut down",
        };
        write!(f, "{kind}: {}", self.message())
    }
}

impl std::error::Error for Error {}

impl From<crate::key::KeyError> for Error {
    fn from(e: crate::key::KeyError) -> Self {
        match e {
            crate::key::KeyError::InvalidSegment { .. } => Error::InvalidKey(e.to_string()),
            other => Error::Encode(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
