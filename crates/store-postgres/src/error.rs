//! The PostgreSQL store's error type, and how it travels inside the store crate's error.

use std::time::Duration;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the PostgreSQL store.
///
/// The [`TokenStore`](zoho_oauth_store::TokenStore) methods return
/// [`zoho_oauth_store::Error::Backend`] with `backend: "postgres"` and one of these as its
/// `source` (see [`Error::from_store`] to get it back); a compare-and-swap that lost its race is
/// the store crate's own [`Conflict`](zoho_oauth_store::Error::Conflict).
///
/// No variant holds a token or the database password: sqlx's errors carry the server's message,
/// which names users and objects, never a parameter value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached: the pool found no working connection in time, the
    /// connection broke, or TLS failed. Retrying later may work; the store reconnects by itself.
    #[error("postgres is unavailable while trying to {operation}: {source}")]
    Unavailable {
        /// What the store was doing, such as `"load tokens"`.
        operation: &'static str,
        /// What sqlx reported.
        #[source]
        source: sqlx::Error,
    },
    /// The operation did not finish within the store's operation timeout
    /// ([`PostgresStoreBuilder::operation_timeout`](crate::PostgresStoreBuilder::operation_timeout)).
    ///
    /// Whether a write that timed out was applied is unknown: load again.
    #[error("postgres did not answer within {after:?} while trying to {operation}")]
    Timeout {
        /// What the store was doing.
        operation: &'static str,
        /// The timeout that passed.
        after: Duration,
    },
    /// Another worker held the refresh lock for longer than the lock timeout
    /// ([`PostgresStoreBuilder::lock_timeout`](crate::PostgresStoreBuilder::lock_timeout)).
    #[error("the refresh lock was still held by another worker after {waited:?}")]
    LockTimeout {
        /// How long this worker waited.
        waited: Duration,
    },
    /// The database answered with an error: a missing privilege, a missing table, a constraint.
    #[error("postgres refused to {operation}: {source}")]
    Database {
        /// What the store was doing.
        operation: &'static str,
        /// What sqlx reported, with the server's SQLSTATE code.
        #[source]
        source: sqlx::Error,
    },
    /// A stored row does not decode: it was edited by hand, or written by a newer version.
    /// The row is left as it is; it never holds a token in this message.
    #[error("a stored row is corrupt: {reason}")]
    Corrupt {
        /// What is wrong, without quoting the row.
        reason: String,
    },
    /// The schema name is not one this store accepts (see
    /// [`PostgresStoreBuilder::schema`](crate::PostgresStoreBuilder::schema)).
    #[error("{name:?} is not a valid schema name: {reason}")]
    InvalidSchema {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The connection URL does not parse. The URL itself is not repeated: it may hold a password.
    #[error("the postgres connection URL is invalid: {source}")]
    InvalidUrl {
        /// What sqlx reported.
        #[source]
        source: sqlx::Error,
    },
    /// Creating or upgrading the schema failed, or the database holds migrations this version of
    /// the crate does not know (it was upgraded by a newer version: upgrade this program too).
    #[error("migrating the token store schema failed: {source}")]
    Migrate {
        /// What sqlx's migrator reported.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

impl Error {
    /// This crate's error inside a store error, if the store error came from this crate.
    ///
    /// ```
    /// # use zoho_oauth_store_postgres::Error;
    /// # fn check(error: &zoho_oauth_store::Error) {
    /// if let Some(Error::LockTimeout { waited }) = Error::from_store(error) {
    ///     eprintln!("another worker is refreshing; waited {waited:?}");
    /// }
    /// # }
    /// ```
    pub fn from_store(error: &zoho_oauth_store::Error) -> Option<&Self> {
        match error {
            zoho_oauth_store::Error::Backend { source, .. } => source.downcast_ref(),
            _ => None,
        }
    }

    /// Whether a later attempt may succeed without anyone changing anything: the database was
    /// unreachable, slow, or the lock was busy.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Timeout { .. } | Self::LockTimeout { .. })
    }

    /// Sorts a sqlx error into [`Unavailable`](Self::Unavailable) or [`Database`](Self::Database).
    pub(crate) fn sqlx(operation: &'static str, source: sqlx::Error) -> Self {
        match source {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Self::Unavailable { operation, source },
            // The server shutting down or restarting ends sessions with these SQLSTATE codes:
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now.
            sqlx::Error::Database(ref db) if db.code().is_some_and(|code| code.starts_with("57P")) => {
                Self::Unavailable { operation, source }
            }
            source => Self::Database { operation, source },
        }
    }
}

impl From<Error> for zoho_oauth_store::Error {
    fn from(error: Error) -> Self {
        zoho_oauth_store::Error::Backend { backend: "postgres", source: Box::new(error) }
    }
}
