//! The connection-limit flags that `aha serve-reward` and `aha serve-model` both take (behind the
//! `clap` feature): one definition, so the two servers' flags, defaults and help cannot drift.
//! The body-size flag stays with each server, whose default differs.

use std::time::Duration;

use crate::Limits;

/// `--max-connections`, `--header-timeout-ms`, `--body-timeout-ms` and `--max-header-bytes`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Most open connections. At the limit a new connection evicts the longest-idle one
    /// (connections that never finished a request first); when all are busy it gets an
    /// immediate 503. Keep it below `ulimit -n`.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Milliseconds a connection has to send a complete request head; also the keep-alive idle
    /// timeout (late → connection closed).
    #[arg(long, default_value_t = 30_000)]
    pub header_timeout_ms: u64,
    /// Milliseconds the whole body has to arrive after its head (late → 408, connection closed).
    #[arg(long, default_value_t = 60_000)]
    pub body_timeout_ms: u64,
    /// Largest request head in bytes, at least 8192 (larger → 431).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
}

impl ConnectionArgs {
    /// The [`Limits`] these flags set, with the server's own body-size limit.
    pub fn limits(&self, max_body_bytes: usize) -> Limits {
        Limits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            max_header_bytes: self.max_header_bytes,
            max_body_bytes,
        }
    }
}

/// Parses `argv` (program name first) into one group of flags `A` (a `clap::Args` struct such as
/// a server's `ServeArgs`), as if it were a whole command line: for tests of such groups, which
/// otherwise each need a wrapper command.
pub fn parse_group<A: clap::Args>(argv: &[&str]) -> Result<A, clap::Error> {
    use clap::{FromArgMatches, Parser};

    #[derive(Parser)]
    struct Wrapper<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }
    let matches = <Wrapper<A> as clap::CommandFactory>::command().try_get_matches_from(argv)?;
    Ok(Wrapper::<A>::from_arg_matches(&matches)?.args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_the_limits() {
        let argv = ["x", "--max-connections", "7", "--body-timeout-ms", "250"];
        let conn: ConnectionArgs = parse_group(&argv).unwrap();
        let l = conn.limits(99);
        assert_eq!(l.max_connections, 7);
        assert_eq!(l.header_timeout, Duration::from_millis(30_000));
        assert_eq!(l.body_timeout, Duration::from_millis(250));
        assert_eq!(l.max_header_bytes, 64 * 1024);
        assert_eq!(l.max_body_bytes, 99);
    }
}
