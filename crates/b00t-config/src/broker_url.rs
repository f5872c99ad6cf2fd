//! `mqtt://[USER[:PASS]@]HOST[:PORT]`: where a broker is, or several of them separated by
//! commas (the nodes of one cluster, tried in order, one identity logging in to each).
//! Hand-parsed: the grammar is this small, and the `url` crate would pull IDNA tables into
//! every binary for it.

use std::fmt;

use crate::ConfigError;

/// A parsed broker URL: the first broker, its credentials, and the other brokers of the
/// same cluster that a client moves to when the first is lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The brokers after the first in a comma-separated list, in order; the same
    /// credentials log in to each. Empty for one broker.
    pub alternates: Vec<BrokerAddr>,
    /// In the runtime's own process only: reach the first broker through this Unix
    /// socket (the embedded broker's local door) rather than its TCP port. Never parsed
    /// from a URL nor written into one, so a process handed the URL as text connects
    /// over TCP.
    pub local_socket: Option<std::path::PathBuf>,
}

/// Where one broker of a list listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
}

impl BrokerUrl {
    pub const DEFAULT_PORT: u16 = 1883;

    /// Parses one URL or a comma-separated list of them. In a list each URL is checked
    /// on its own (the error names it and its position); user and password may be given
    /// on the first URL only or alike on each, never differently.
    pub fn parse(list: &str) -> Result<BrokerUrl, ConfigError> {
        if !list.contains(',') {
            return BrokerUrl::parse_one(list);
        }
        let mut first: Option<BrokerUrl> = None;
        for (index, item) in list.split(',').enumerate() {
            let item = item.trim();
            let fail = |problem: String| ConfigError::BrokerList {
                url: item.to_owned(),
                position: index + 1,
                problem,
            };
            if item.is_empty() {
                return Err(fail("is empty".to_owned()));
            }
            let url = BrokerUrl::parse_one(item).map_err(|e| match e {
                ConfigError::BrokerUrl { problem, .. } => fail(problem),
                other => other,
            })?;
            match &mut first {
                None => first = Some(url),
                Some(first) => {
                    let same_user = url.username.is_none()
                        || (url.username == first.username && url.password == first.password);
                    if !same_user {
                        return Err(fail("logs in as another user than the first URL (one list is one identity): give the user and password on the first URL only".to_owned()));
                    }
                    let addr = BrokerAddr {
                        host: url.host,
                        port: url.port,
                    };
                    if first.endpoints().any(|a| a == addr) {
                        return Err(fail("is in the list twice".to_owned()));
                    }
                    first.alternates.push(addr);
                }
            }
        }
        first.ok_or_else(|| ConfigError::BrokerUrl {
            url: list.to_owned(),
            problem: "is empty".to_owned(),
        })
    }

    /// Every broker of the list in order, the first one first.
    pub fn endpoints(&self) -> impl Iterator<Item = BrokerAddr> + '_ {
        std::iter::once(BrokerAddr {
            host: self.host.clone(),
            port: self.port,
        })
        .chain(self.alternates.iter().cloned())
    }

    fn parse_one(url: &str) -> Result<BrokerUrl, ConfigError> {
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
            alternates: Vec::new(),
            local_socket: None,
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
            alternates: Vec::new(),
            local_socket: None,
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
        write!(f, "{}", self.endpoints().next().expect("a first broker"))?;
        for other in &self.alternates {
            write!(f, ",mqtt://{other}")?;
        }
        Ok(())
    }
}

impl fmt::Display for BrokerAddr {
    /// `HOST:PORT`, an IPv6 host in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

    fn check_list(input: &str, expected: &str) {
        let got = match BrokerUrl::parse(input) {
            Ok(u) => {
                let all: Vec<String> = u.endpoints().map(|a| a.to_string()).collect();
                format!(
                    "{} user={:?} pass={:?}",
                    all.join(" "),
                    u.username,
                    u.password
                )
            }
            Err(e) => format!("error: {e}"),
        };
        assert!(got.contains(expected), "{input}: {got}");
    }

    #[test]
    fn parses_lists_in_order() {
        check_list(
            "mqtt://127.0.0.1:11883,mqtt://127.0.0.1:12883",
            "127.0.0.1:11883 127.0.0.1:12883 user=None",
        );
        check_list(
            "mqtt://a:1, mqtt://b:2 ,tcp://[::1]:3",
            "a:1 b:2 [::1]:3 user=None",
        );
        check_list(
            "mqtt://u:p@a:1,mqtt://b:2",
            "a:1 b:2 user=Some(\"u\") pass=Some(\"p\")",
        );
        check_list(
            "mqtt://u:p@a:1,mqtt://u:p@b:2",
            "a:1 b:2 user=Some(\"u\") pass=Some(\"p\")",
        );
        check_list(
            "mqtt://a:1,http://b:2",
            "error: broker URL `http://b:2`, number 2 in the list, has an unsupported scheme",
        );
        check_list(
            "mqtt://a:1,mqtt://b:0",
            "number 2 in the list, has a port that is not a number from 1 to 65535: give each broker as `mqtt://HOST:PORT`, separated by commas",
        );
        check_list(
            "mqtt://a:1,,mqtt://b:2",
            "`, number 2 in the list, is empty",
        );
        check_list("mqtt://a:1,", "number 2 in the list, is empty");
        check_list(
            "mqtt://a:1,mqtt://a:1",
            "number 2 in the list, is in the list twice",
        );
        check_list(
            "mqtt://u:p@a:1,mqtt://v:p@b:2",
            "number 2 in the list, logs in as another user",
        );
    }

    #[test]
    fn a_list_displays_and_parses_back() {
        let u = BrokerUrl::parse("mqtt://u:secret@a:1,mqtt://b:2,mqtt://[::1]:3").unwrap();
        assert_eq!(u.to_string(), "mqtt://u:***@a:1,mqtt://b:2,mqtt://[::1]:3");
        let plain = BrokerUrl::parse("mqtt://a:1,mqtt://b:2").unwrap();
        assert_eq!(BrokerUrl::parse(&plain.to_string()).unwrap(), plain);
    }
}
