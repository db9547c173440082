//! From the URL a user writes to tokio-postgres's configuration and TLS.

use std::fmt;
use std::time::Duration;

use hookgate_queue::QueueError;
use tokio_postgres::config::SslMode;

use crate::tls::Tls;

/// How long connecting may take when the URL does not say (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to connect.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: Tls,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // tokio-postgres's Debug prints the password as `_`.
        f.debug_struct("Target")
            .field("config", &self.config)
            .field("tls", &self.tls.is_on())
            .finish()
    }
}

impl Target {
    /// Parses a `postgres://` URL (or a `key=value` connection string).
    ///
    /// Beyond what tokio-postgres reads: `sslmode=verify-ca` and
    /// `verify-full` mean `require` (the certificate is always verified), and
    /// `sslrootcert=PATH` names the PEM file of the roots to trust. Without
    /// `require`, connections are plain text: `prefer` (libpq's default)
    /// does not try TLS first.
    pub(crate) fn parse(url: &str) -> Result<Self, QueueError> {
        let (rewritten, root_cert, verify) = rewrite(url)?;
        let mut config: tokio_postgres::Config = rewritten
            .parse()
            .map_err(|e| QueueError::invalid(format!("invalid postgres url: {e}")))?;
        if verify {
            config.ssl_mode(SslMode::Require);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("hookgate");
        }
        let tls = if config.get_ssl_mode() == SslMode::Require {
            Tls::rustls(root_cert.as_deref()).map_err(QueueError::invalid)?
        } else {
            config.ssl_mode(SslMode::Disable);
            Tls::none()
        };
        Ok(Self { config, tls })
    }
}

/// Takes `sslrootcert` out of a URL's query and turns `sslmode=verify-*`
/// into `require` (and libpq's `allow` into `disable`); returns the URL for
/// tokio-postgres, the root file, and whether a verifying mode was asked
/// for. The other parameters are kept as written (tokio-postgres
/// percent-decodes them itself).
fn rewrite(url: &str) -> Result<(String, Option<String>, bool), QueueError> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let Some((base, query)) = url.split_once('?').filter(|_| is_url) else {
        return Ok((url.to_owned(), None, false));
    };
    let mut root_cert = None;
    let mut verify = false;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = |s: &str| {
            url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        match decoded(key).as_str() {
            "sslrootcert" => root_cert = Some(decoded(value)),
            "sslmode" => match decoded(value).as_str() {
                "verify-ca" | "verify-full" => verify = true,
                "allow" => kept.push("sslmode=disable"),
                "disable" | "prefer" | "require" => kept.push(pair),
                other => {
                    return Err(QueueError::invalid(format!(
                        "invalid postgres url: sslmode {other:?} is not one of disable, allow, \
                         prefer, require, verify-ca, verify-full"
                    )));
                }
            },
            _ => kept.push(pair),
        }
    }
    let rewritten = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rewritten, root_cert, verify))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_parameters_are_taken_out_and_the_rest_kept_as_written() {
        let (url, root, verify) = rewrite(
            "postgres://u:p%40ss@db.example:5433/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&options=-c%20statement_timeout%3D5s",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://u:p%40ss@db.example:5433/app?options=-c%20statement_timeout%3D5s"
        );
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));
        assert!(verify);
        assert_eq!(
            rewrite("host=/run/postgresql dbname=app").unwrap(),
            ("host=/run/postgresql dbname=app".to_owned(), None, false)
        );
        assert_eq!(
            rewrite("postgres://h/db?sslrootcert=ca.pem").unwrap().0,
            "postgres://h/db"
        );
        assert_eq!(
            rewrite("postgres://h/db?sslmode=allow").unwrap().0,
            "postgres://h/db?sslmode=disable"
        );
    }

    #[test]
    fn plain_text_unless_tls_is_required_and_the_password_is_not_printed() {
        let target = Target::parse("postgres://hookgate:s3cret@127.0.0.1/app").unwrap();
        assert_eq!(target.config.get_ssl_mode(), SslMode::Disable);
        assert!(!target.tls.is_on());
        assert_eq!(target.config.get_application_name(), Some("hookgate"));
        let debug = format!("{target:?}");
        assert!(!debug.contains("s3cret"), "{debug}");

        let err = Target::parse("postgres://h/db?sslmode=sometimes").unwrap_err();
        assert_eq!(err.kind(), hookgate_queue::QueueErrorKind::Invalid);
        assert!(err.to_string().contains("sslmode"), "{err}");
        let missing = Target::parse("postgres://h/db?sslmode=require&sslrootcert=/nonexistent.pem")
            .unwrap_err();
        assert!(
            missing.to_string().contains("sslrootcert /nonexistent.pem"),
            "{missing}"
        );
    }
}
