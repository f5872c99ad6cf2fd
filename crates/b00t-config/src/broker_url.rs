//! `mqtt://[USER[:PASS]@]HOST[:PORT]`: where a broker is. Hand-parsed: the grammar is this
//! small, and the `url` crate would pull IDNA tables into every binary for it.

use std::fmt;

use crate::ConfigError;

/// A parsed broker URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl BrokerUrl {
    pub const DEFAULT_PORT: u16 = 1883;

    pub fn parse(url: &str) -> Result<BrokerUrl, ConfigError> {
        let fail = |problem: &str| ConfigError::BrokerUrl {
            url: url.to_owned(),
            problem: problem.to_owned(),
        };
        let rest = ["mqtt://", "tcp://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .ok_or_else(|| fail("has an unsupported scheme (only `mqtt://` and `tcp://`)"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') {
            return Err(fail("has a path or query"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (Some(user.to_owned()), Some(pass.to_owned())),
                None => (Some(u.to_owned()), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| fail("has an unclosed `[`"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(fail("has text after `]`")),
            };
            (host, port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(fail("has no host"));
        }
        let port = match port {
            None => Self::DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| fail("has a port that is not a number from 1 to 65535"))?,
        };
        Ok(BrokerUrl {
            host: host.to_owned(),
            port,
            username,
            password,
        })
    }

    /// The URL a client uses to reach a broker listening on `listen`: a wildcard address
    /// becomes loopback.
    pub fn for_listen(listen: std::net::SocketAddr) -> BrokerUrl {
        let ip = if listen.ip().is_unspecified() {
            match listen {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            }
        } else {
            listen.ip()
        };
        BrokerUrl {
            host: ip.to_string(),
            port: listen.port(),
            username: None,
            password: None,
        }
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mqtt://")?;
        if let Some(user) = &self.username {
            write!(f, "{user}")?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for BrokerUrl {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BrokerUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let got = match BrokerUrl::parse(input) {
            Ok(u) => format!(
                "{}:{} user={:?} pass={:?}",
                u.host, u.port, u.username, u.password
            ),
            Err(e) => format!("error: {e}"),
        };
        assert!(got.contains(expected), "{input}: {got}");
    }

    #[test]
    fn parses() {
        check("mqtt://127.0.0.1:1883", "127.0.0.1:1883 user=None");
        check("mqtt://broker", "broker:1883");
        check("tcp://h:9/", "h:9");
        check("mqtt://u:p@h:2", "h:2 user=Some(\"u\") pass=Some(\"p\")");
        check("mqtt://[::1]:1884", "::1:1884");
        check(
            "http://h",
            "error: broker URL `http://h` has an unsupported scheme",
        );
        check("mqtt://h:0", "not a number from 1 to 65535");
        check("mqtt://h:x", "not a number");
        check("mqtt://", "has no host");
        check("mqtt://h/path", "has a path");
    }

    #[test]
    fn displays_without_password() {
        let u = BrokerUrl::parse("mqtt://u:secret@h:2").unwrap();
        assert_eq!(u.to_string(), "mqtt://u:***@h:2");
        let l = BrokerUrl::for_listen("0.0.0.0:1999".parse().unwrap());
        assert_eq!(l.to_string(), "mqtt://127.0.0.1:1999");
    }
}
