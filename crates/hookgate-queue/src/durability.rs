//! How durable an acknowledged enqueue is, in one vocabulary for every
//! back-end, and what a back-end found when it checked its server.

/// How durable an acknowledged enqueue is.
///
/// The same two words for every back-end. The embedded SQLite queue sets its
/// own `synchronous` pragma from it; the server back-ends (Redis, NATS,
/// PostgreSQL) cannot set their server's settings, so they *check* them at
/// start and refuse a server that does not keep what this level promises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Each acknowledged enqueue is on stable storage (`fsync`ed) before the
    /// caller is answered: it survives a power loss or a kernel crash.
    /// SQLite: `PRAGMA synchronous = FULL`.
    #[default]
    Fsync,
    /// Each acknowledged enqueue has reached the operating system (or the
    /// server's own log) before the caller is answered: it survives a crash
    /// of the process (`kill -9`), and may lose the last writes on a power
    /// loss. SQLite: `PRAGMA synchronous = NORMAL`.
    ProcessCrash,
}

impl Durability {
    /// The word for it in `hookgate.toml` (`durability = "fsync"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::ProcessCrash => "process-crash",
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a server back-end's durability check found, when it did not refuse.
///
/// A server that does not keep what the [`Durability`] asks for is an error
/// (`QueueErrorKind::Invalid`, naming the setting to change); this is the
/// answer otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurabilityCheck {
    /// The server's settings meet the durability asked for.
    Met,
    /// Some setting that decides it could not be read (a managed Redis with
    /// `CONFIG` disabled, a NATS server's `sync_interval`, which clients
    /// cannot see): the caller decides whether to go on, and should say so.
    Unverified {
        /// What could not be read, and what to check by hand.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_config_words() {
        assert_eq!(Durability::Fsync.to_string(), "fsync");
        assert_eq!(Durability::ProcessCrash.to_string(), "process-crash");
        assert_eq!(Durability::default(), Durability::Fsync);
    }
}
