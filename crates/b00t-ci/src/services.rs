//! What a container's processes are (nginx, postgres, uvicorn, a shell, …), told from the
//! command lines of the engine's `top` by a table kept as data (`services.toml`), so that
//! it works on images with no `ps` inside and grows without code.

use std::sync::OnceLock;

use b00t_container::Process;
use serde::{Deserialize, Serialize};

use crate::error::CiError;

/// The table shipped with b00t.
pub const SERVICES_TOML: &str = include_str!("services.toml");

/// A process recognized as a known service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    pub pid: String,
    pub user: String,
    /// The table's name for it (`nginx`, `postgres`, `uvicorn`, …).
    pub service: String,
    /// What it is (`web server`, `database (PostgreSQL)`, …).
    pub kind: String,
    /// The whole command line.
    pub command: String,
    /// The ports the service usually listens on, to compare with what it does listen on.
    pub usual_ports: Vec<u16>,
}

/// A container's processes, classified.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Services {
    /// The recognized processes, in the order `top` gave them.
    pub services: Vec<Service>,
    /// The rest, as `top` gave them.
    pub unknown: Vec<Process>,
}

/// One entry of the table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    pub service: String,
    pub kind: String,
    /// Patterns for the executable's basename (a leading or trailing `*` is a wildcard).
    #[serde(rename = "match")]
    pub matches: Vec<String>,
    /// Interpreters that may run it, with its name among their arguments.
    #[serde(default)]
    pub via: Vec<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
}

/// The classification table: launchers to look through and the entries, tried in order.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTable {
    /// Launchers that exec the real program (`busybox`, `env`).
    #[serde(default)]
    pub skip: Vec<String>,
    pub services: Vec<ServiceEntry>,
}

impl ServiceTable {
    /// The table in [`SERVICES_TOML`], parsed once.
    pub fn embedded() -> &'static ServiceTable {
        static TABLE: OnceLock<ServiceTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            ServiceTable::parse(SERVICES_TOML)
                .expect("the embedded services.toml is valid (tested)")
        })
    }

    /// Parses and checks a table in the format of [`SERVICES_TOML`].
    pub fn parse(text: &str) -> Result<ServiceTable, CiError> {
        let table: ServiceTable =
            toml::from_str(text).map_err(|source| CiError::ServicesParse { source })?;
        for entry in &table.services {
            let problem = if entry.service.trim().is_empty() {
                Some("has an empty name: give every entry a `service`")
            } else if entry.matches.is_empty() {
                Some("has no `match` patterns: give it at least one executable name")
            } else if entry
                .matches
                .iter()
                .chain(&entry.via)
                .any(|pattern| pattern.trim_matches('*').is_empty())
            {
                Some("has an empty pattern, or one of only `*`, which would match every process: name the executable")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(CiError::ServiceEntry {
                    service: entry.service.clone(),
                    problem,
                });
            }
        }
        Ok(table)
    }

    /// The entry the command line `command` matches, if any.
    pub fn recognize(&self, command: &str) -> Option<&ServiceEntry> {
        let words = self.program_words(command);
        let (executable, arguments) = words.split_first()?;
        let executable = executable_name(executable);
        self.services.iter().find(|entry| {
            let direct = entry.matches.iter().any(|p| glob(p, &executable));
            direct
                || (entry.via.iter().any(|p| glob(p, &executable))
                    && argument_names(arguments)
                        .iter()
                        .any(|name| entry.matches.iter().any(|p| glob(p, name))))
        })
    }

    /// Classifies every process of `processes`.
    pub fn classify(&self, processes: &[Process]) -> Services {
        let mut classified = Services::default();
        for process in processes {
            match self.recognize(&process.command) {
                Some(entry) => classified.services.push(Service {
                    pid: process.pid.clone(),
                    user: process.user.clone(),
                    service: entry.service.clone(),
                    kind: entry.kind.clone(),
                    command: process.command.clone(),
                    usual_ports: entry.ports.clone(),
                }),
                None => classified.unknown.push(process.clone()),
            }
        }
        classified
    }

    /// The words of `command` from the real program on, past any launcher in `skip` and
    /// the options and `NAME=value` words that follow it.
    fn program_words<'a>(&self, command: &'a str) -> Vec<&'a str> {
        let mut words: Vec<&str> = command.split_whitespace().collect();
        loop {
            let Some(first) = words.first() else {
                return words;
            };
            let name = executable_name(first);
            if !self.skip.contains(&name) {
                return words;
            }
            let rest = words[1..]
                .iter()
                .position(|word| !(word.starts_with('-') || word.contains('=')))
                .map_or(words.len(), |at| at + 1);
            words.drain(..rest);
        }
    }
}

/// Classifies `processes` with the embedded table.
pub fn classify(processes: &[Process]) -> Services {
    ServiceTable::embedded().classify(processes)
}

/// The executable's name as the table matches it: the basename, lowercased, without a
/// leading `-` (a login shell) or a trailing `:` (a process title such as
/// `nginx: worker process`).
fn executable_name(word: &str) -> String {
    let base = word.rsplit('/').next().unwrap_or(word);
    base.trim_start_matches('-')
        .trim_end_matches(':')
        .to_ascii_lowercase()
}

/// What an interpreter's arguments name: each argument's basename, and after `-m` the
/// module and its top package (`-m uvicorn.main` gives `uvicorn.main` and `uvicorn`).
fn argument_names(arguments: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    let mut after_m = false;
    for argument in arguments {
        let name = executable_name(argument);
        if after_m {
            if let Some((package, _)) = name.split_once('.') {
                names.push(package.to_owned());
            }
        }
        after_m = *argument == "-m";
        names.push(name);
    }
    names
}

/// Whether `text` matches `pattern`, where a leading or trailing `*` is a wildcard.
fn glob(pattern: &str, text: &str) -> bool {
    let starts = pattern.starts_with('*');
    let ends = pattern.ends_with('*') && pattern.len() > 1;
    let core = pattern.trim_matches('*');
    match (starts, ends) {
        (true, true) => text.contains(core),
        (true, false) => text.ends_with(core),
        (false, true) => text.starts_with(core),
        (false, false) => text == core,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(command: &str, expected: Option<&str>) {
        let found = ServiceTable::embedded()
            .recognize(command)
            .map(|entry| entry.service.as_str());
        assert_eq!(found, expected, "{command:?}");
    }

    #[test]
    fn the_embedded_table_is_valid() {
        let table = ServiceTable::parse(SERVICES_TOML).unwrap();
        assert!(table.services.len() >= 20);
        for service in [
            "nginx", "postgres", "mysql", "mariadb", "redis", "mongodb", "node",
        ] {
            assert!(
                table.services.iter().any(|e| e.service == service),
                "{service}"
            );
        }
    }

    /// Command lines as Docker's `top` shows them for the official images.
    #[test]
    fn realistic_top_command_lines() {
        let cases = [
            ("nginx: master process nginx -g daemon off;", Some("nginx")),
            ("nginx: worker process", Some("nginx")),
            ("postgres", Some("postgres")),
            ("postgres: checkpointer ", Some("postgres")),
            ("postgres: background writer ", Some("postgres")),
            ("/usr/lib/postgresql/16/bin/postgres -D /var/lib/postgresql/data", Some("postgres")),
            ("mysqld", Some("mysql")),
            ("mariadbd", Some("mariadb")),
            ("redis-server *:6379", Some("redis")),
            ("mongod --bind_ip_all", Some("mongodb")),
            ("memcached", Some("memcached")),
            ("/usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf", Some("mosquitto")),
            ("httpd -DFOREGROUND", Some("httpd")),
            ("/usr/sbin/apache2 -k start", Some("httpd")),
            ("httpd -f -p 8080 -h /www", Some("httpd")),
            ("busybox httpd -f -p 80", Some("httpd")),
            ("/bin/busybox httpd -f -v -p 8080", Some("httpd")),
            ("caddy run --config /etc/caddy/Caddyfile --adapter caddyfile", Some("caddy")),
            ("traefik traefik", Some("traefik")),
            (
                "/usr/local/lib/erlang/erts-14.2/bin/beam.smp -W w -MBas ageffcbf -- -root /usr/local/lib/erlang -bindir /usr/local/lib/erlang/erts-14.2/bin -progname erl -- -home /var/lib/rabbitmq -- -pa  -noshell -noinput -s rabbit boot",
                Some("rabbitmq"),
            ),
            (
                "/usr/share/elasticsearch/jdk/bin/java -Xms1g -Xmx1g -XX:+UseG1GC -Des.path.home=/usr/share/elasticsearch -cp /usr/share/elasticsearch/lib/* org.elasticsearch.bootstrap.Elasticsearch",
                Some("elasticsearch"),
            ),
            ("java -jar /app/app.jar", Some("java")),
            ("/opt/java/openjdk/bin/java -Dcatalina.home=/usr/local/tomcat org.apache.catalina.startup.Bootstrap start", Some("java")),
            ("/usr/local/bin/python -m uvicorn main:app --host 0.0.0.0 --port 8000", Some("uvicorn")),
            ("/usr/local/bin/python3.12 /usr/local/bin/uvicorn app.main:app", Some("uvicorn")),
            ("uvicorn main:app --host 0.0.0.0", Some("uvicorn")),
            ("python -m uvicorn.main app:app", Some("uvicorn")),
            ("/usr/local/bin/python /usr/local/bin/gunicorn -w 4 -b 0.0.0.0:8000 app:app", Some("gunicorn")),
            ("gunicorn: master [app:app]", Some("gunicorn")),
            ("gunicorn: worker [app:app]", Some("gunicorn")),
            ("/usr/bin/python3 /usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf", Some("supervisord")),
            ("python app.py", Some("python")),
            ("python3 -u worker.py", Some("python")),
            ("node server.js", Some("node")),
            ("/usr/local/bin/node /app/dist/index.js", Some("node")),
            ("npm start", Some("node")),
            ("env NODE_ENV=production PORT=3000 node server.js", Some("node")),
            ("php-fpm: master process (/usr/local/etc/php-fpm.conf)", Some("php-fpm")),
            ("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", Some("sshd")),
            ("/usr/sbin/sshd -D", Some("sshd")),
            ("cron -f", Some("cron")),
            ("crond -f -l 2", Some("cron")),
            ("/sbin/tini -- node server.js", Some("init")),
            ("/sbin/docker-init -- /entrypoint.sh", Some("init")),
            ("/bin/sh -c while true; do sleep 1; done", Some("shell")),
            ("bash /docker-entrypoint.sh", Some("shell")),
            ("-bash", Some("shell")),
            ("/b00t agent run --group main", Some("b00t")),
            ("sleep infinity", None),
            ("/pause", None),
            ("", None),
            ("busybox", None),
            // An interpreter's argument only counts for entries run through it.
            ("sleep uvicorn", None),
        ];
        for (command, expected) in cases {
            check(command, expected);
        }
    }

    #[test]
    fn classify_splits_services_from_the_rest() {
        let process = |pid: &str, command: &str| Process {
            pid: pid.to_owned(),
            user: "root".to_owned(),
            command: command.to_owned(),
        };
        let processes = [
            process("4242", "nginx: master process nginx -g daemon off;"),
            process("4300", "sleep 3600"),
            process("4301", "nginx: worker process"),
        ];
        let classified = classify(&processes);
        assert_eq!(
            classified.services[0],
            Service {
                pid: "4242".to_owned(),
                user: "root".to_owned(),
                service: "nginx".to_owned(),
                kind: "web server".to_owned(),
                command: "nginx: master process nginx -g daemon off;".to_owned(),
                usual_ports: vec![80, 443],
            }
        );
        assert_eq!(classified.services[1].pid, "4301");
        assert_eq!(classified.unknown, [processes[1].clone()]);
        let json = serde_json::to_value(&classified).unwrap();
        assert_eq!(json["services"][0]["service"], "nginx");
        assert_eq!(json["unknown"][0]["command"], "sleep 3600");
    }

    #[test]
    fn bad_tables_are_refused_with_the_service_named() {
        let cases = [
            (
                "services = [{ service = \"x\", kind = \"k\", match = [] }]",
                "`x`",
            ),
            (
                "services = [{ service = \"x\", kind = \"k\", match = [\"*\"] }]",
                "`x`",
            ),
            (
                "services = [{ service = \"x\", kind = \"k\", match = [\"a\"], via = [\"\"] }]",
                "`x`",
            ),
            (
                "services = [{ service = \" \", kind = \"k\", match = [\"a\"] }]",
                "empty name",
            ),
            (
                "services = [{ service = \"x\", kind = \"k\", match = [\"a\"], port = [1] }]",
                "port",
            ),
            ("services = 1", "parse"),
        ];
        for (text, expected) in cases {
            let error = ServiceTable::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn globs() {
        let cases = [
            ("python*", "python3.12", true),
            ("python*", "ipython", false),
            ("*fpm", "php-fpm", true),
            ("*search*", "elasticsearch", true),
            ("nginx", "nginx", true),
            ("nginx", "nginx2", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), expected, "{pattern} {text}");
        }
    }
}
