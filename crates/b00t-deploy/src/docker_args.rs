//! The arguments of `docker run` that a docker datum's `docker_args` holds, parsed into
//! the intent's fields. Every argument either has a translation or is an error naming it.
//!
//! Only what compose, Kubernetes and Nomad can all say is accepted: environment, ports,
//! volumes, a health check, the restart policy, CPU, memory and GPUs, labels, the
//! entrypoint, working directory, user, host name and a read-only root. `--rm`, `-d`,
//! `-i`, `-t` (and `-it`, `-dit`, …) say how `docker run` is called, not what runs, and
//! are accepted and ignored; so are `--network bridge` and `--network default`. Both
//! `--flag value` and `--flag=value` are read, and short flags take `-p 80`, `-p80` and
//! `-p=80`.
//!
//! `--gpus N` (or `count=N`) is a count; `--gpus all` has none, so it sets
//! [`Parsed::gpus_all`] and the datum must give `gpu_count` in `[b00t.resources]`
//! (the reader checks).

use std::collections::BTreeMap;

use crate::error::DeployError;
use crate::intent::{Health, HealthTest, Port, Protocol, Resources, Restart, Volume, VolumeSource};

/// What `docker_args` says about the workload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// `-e` / `--env KEY=value`, the last one of a key winning.
    pub env: BTreeMap<String, String>,
    /// `-p` / `--publish` (published) and `--expose` (`host: None`), in order.
    pub ports: Vec<Port>,
    /// `-v` / `--volume`, `--mount` and `--tmpfs`, in order.
    pub volumes: Vec<Volume>,
    /// `--health-cmd` with `--health-interval`, `--health-timeout`, `--health-retries`
    /// and `--health-start-period`.
    pub health: Option<Health>,
    pub restart: Option<Restart>,
    /// `--cpus`, `-m` / `--memory`, `--gpus N`.
    pub resources: Resources,
    /// `--gpus all`: GPUs asked for without a count.
    pub gpus_all: bool,
    /// `-l` / `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--entrypoint`: one program, not split.
    pub entrypoint: Option<Vec<String>>,
    /// `-w` / `--workdir`.
    pub workdir: Option<String>,
    /// `-u` / `--user`.
    pub user: Option<String>,
    /// `--name`: the container's name for `docker run`; kept, but the workload's name
    /// comes from `[b00t.services]` or the datum.
    pub name: Option<String>,
    /// `-h` / `--hostname`.
    pub hostname: Option<String>,
    /// `--read-only`: the root file system is read-only.
    pub read_only: bool,
}

/// Parses the `docker_args` of the datum `datum` (named in errors).
pub fn parse(datum: &str, args: &[String]) -> Result<Parsed, DeployError> {
    let mut parser = Parser {
        datum,
        parsed: Parsed::default(),
        health: HealthFlags::default(),
    };
    let mut index = 0;
    while index < args.len() {
        let written = args[index].as_str();
        index += 1;
        let (flag, inline) = split_flag(written).ok_or_else(|| {
            parser.error(
                written,
                "docker_args holds only flags: the image is the datum's `image`, and the \
                 command goes in `[b00t.container] command` and `args`",
            )
        })?;
        if let Some(kind) = boolean_flag(flag) {
            let on = match inline {
                None => true,
                Some(value) => parse_bool(value)
                    .ok_or_else(|| parser.error(written, "takes `true` or `false`, or no value"))?,
            };
            parser.boolean(written, kind, on)?;
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => {
                let Some(next) = args.get(index) else {
                    return Err(parser.error(written, "needs a value after it"));
                };
                index += 1;
                next.as_str()
            }
        };
        let arg = match inline {
            Some(_) => written.to_owned(),
            None => format!("{written} {value}"),
        };
        parser.valued(&arg, flag, value)?;
    }
    parser.finish()
}

/// The bytes a memory size stands for: a number (a fraction allowed), then an optional
/// `k`, `m`, `g`, `t` or `p`, an optional `i` and an optional `b`, any case: `512m`,
/// `512Mi`, `1.5g`, `1GiB`, `1048576`. Every unit is 1024-based, as docker reads them
/// (Kubernetes' decimal `M` and `G` too). `Err` says what is wrong.
pub(crate) fn parse_memory(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let number_len = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_len);
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(memory_help(text)),
    };
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return Err(memory_help(text));
    }
    let bytes = match number.split_once('.') {
        None => number
            .parse::<u64>()
            .ok()
            .and_then(|whole| whole.checked_mul(1u64 << shift)),
        Some(_) => number
            .parse::<f64>()
            .ok()
            .map(|value| value * (1u64 << shift) as f64)
            .filter(|bytes| *bytes < u64::MAX as f64)
            .map(|bytes| bytes as u64),
    };
    match bytes {
        Some(0) => Err(format!(
            "`{text}` is no memory at all: give more than 0 bytes"
        )),
        Some(bytes) => Ok(bytes),
        None => Err(format!("`{text}` is more memory than b00t can count")),
    }
}

/// Go's duration syntax as docker reads it (`1s`, `500ms`, `1m30s`, `1.5h`, `0`), in
/// milliseconds. `Err` says what is wrong.
pub(crate) fn parse_duration_ms(text: &str) -> Result<u64, String> {
    const HELP: &str = "write a duration with its unit: `500ms`, `10s`, `1m30s`, `2h`";
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err(format!("empty duration: {HELP}"));
    }
    let mut nanos: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("`{text}` has no unit: {HELP}")),
            other => return Err(format!("`{text}` has the unknown unit `{other}`: {HELP}")),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || number.matches('.').count() > 1 {
            return Err(format!("`{text}` is not a duration: {HELP}"));
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("`{text}` is too long a duration"))?
        };
        let mut part = whole
            .checked_mul(unit_nanos)
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
        let mut scale = unit_nanos;
        for digit in fraction.chars().take(18) {
            scale /= 10;
            part += u128::from(digit.to_digit(10).unwrap_or(0)) * scale;
        }
        nanos = nanos
            .checked_add(part)
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
        rest = after;
    }
    if !nanos.is_multiple_of(1_000_000) {
        return Err(format!(
            "`{text}` is finer than a millisecond: round it to whole milliseconds"
        ));
    }
    u64::try_from(nanos / 1_000_000).map_err(|_| format!("`{text}` is too long a duration"))
}

/// A flag that takes no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Boolean {
    /// How `docker run` is called: `--rm`, `-d`, `-i`, `-t`.
    Ignored,
    ReadOnly,
    Privileged,
    NoHealthcheck,
    Init,
}

/// The health flags, collected until the end so that their order does not matter.
#[derive(Default)]
struct HealthFlags {
    command: Option<String>,
    interval_ms: Option<u64>,
    timeout_ms: Option<u64>,
    retries: Option<u32>,
    start_period_ms: Option<u64>,
    /// The first timing flag, as written, for the error when there is no command.
    first_timing: Option<String>,
}

struct Parser<'a> {
    datum: &'a str,
    parsed: Parsed,
    health: HealthFlags,
}

impl Parser<'_> {
    fn error(&self, arg: &str, why: impl Into<String>) -> DeployError {
        DeployError::DockerArg {
            datum: self.datum.to_owned(),
            arg: arg.to_owned(),
            why: why.into(),
        }
    }

    fn boolean(&mut self, arg: &str, kind: Boolean, on: bool) -> Result<(), DeployError> {
        match kind {
            Boolean::Ignored => {}
            Boolean::ReadOnly => self.parsed.read_only = on,
            _ if !on => {}
            Boolean::Privileged => {
                return Err(self.error(
                    arg,
                    "a privileged container has no translation for Kubernetes and Nomad \
                     (their clusters refuse it unless an operator allows it); remove it, or \
                     use a compose_path",
                ))
            }
            Boolean::NoHealthcheck => {
                return Err(self.error(
                    arg,
                    "the intent cannot switch off an image's own HEALTHCHECK (compose would \
                     run it, Kubernetes and Nomad never do); remove it, or use a compose_path",
                ))
            }
            Boolean::Init => {
                return Err(self.error(
                    arg,
                    "no translation for Kubernetes and Nomad; remove it, or use an image \
                     whose entrypoint reaps its children",
                ))
            }
        }
        Ok(())
    }

    fn valued(&mut self, arg: &str, flag: &str, value: &str) -> Result<(), DeployError> {
        match flag {
            "-e" | "--env" => {
                let Some((key, val)) = value.split_once('=') else {
                    return Err(self.error(
                        arg,
                        format!(
                            "needs KEY=value: docker would copy `{value}` from its own \
                             environment; write `{value}=${{{value}}}`"
                        ),
                    ));
                };
                if key.is_empty() || key.chars().any(char::is_whitespace) {
                    return Err(self.error(arg, "needs a variable name before the `=`"));
                }
                self.parsed.env.insert(key.to_owned(), val.to_owned());
            }
            "-p" | "--publish" => {
                let port = parse_publish(value).map_err(|why| self.error(arg, why))?;
                self.parsed.ports.push(port);
            }
            "--expose" => {
                let (number, protocol) =
                    split_protocol(value).map_err(|why| self.error(arg, why))?;
                let container = parse_port_number(number, "container port")
                    .map_err(|why| self.error(arg, why))?;
                self.parsed.ports.push(Port {
                    container,
                    host: None,
                    host_ip: None,
                    protocol,
                });
            }
            "-v" | "--volume" => {
                let volume = parse_volume(value).map_err(|why| self.error(arg, why))?;
                self.parsed.volumes.push(volume);
            }
            "--mount" => {
                let volume = parse_mount(value).map_err(|why| self.error(arg, why))?;
                self.parsed.volumes.push(volume);
            }
            "--tmpfs" => {
                if value.contains(':') {
                    return Err(self.error(
                        arg,
                        "tmpfs options (size, mode) have no translation for Kubernetes and \
                         Nomad: write `--tmpfs /path`",
                    ));
                }
                let target = absolute_target(value).map_err(|why| self.error(arg, why))?;
                self.parsed.volumes.push(Volume {
                    source: VolumeSource::Tmpfs,
                    target,
                    read_only: false,
                });
            }
            "--health-cmd" => {
                if value.trim().is_empty() {
                    return Err(self.error(arg, "needs the command that checks the service"));
                }
                self.health.command = Some(value.to_owned());
            }
            "--health-interval" | "--health-timeout" | "--health-start-period" => {
                let ms = parse_duration_ms(value).map_err(|why| self.error(arg, why))?;
                let ms = (ms > 0).then_some(ms);
                match flag {
                    "--health-interval" => self.health.interval_ms = ms,
                    "--health-timeout" => self.health.timeout_ms = ms,
                    _ => self.health.start_period_ms = ms,
                }
                self.health
                    .first_timing
                    .get_or_insert_with(|| arg.to_owned());
            }
            "--health-retries" => {
                let retries: u32 = value.parse().map_err(|_| {
                    self.error(arg, format!("`{value}` is not a number of retries"))
                })?;
                self.health.retries = (retries > 0).then_some(retries);
                self.health
                    .first_timing
                    .get_or_insert_with(|| arg.to_owned());
            }
            "--restart" => {
                let restart = parse_restart(value).map_err(|why| self.error(arg, why))?;
                self.parsed.restart = Some(restart);
            }
            "--cpus" => {
                let cpu = value
                    .parse::<f64>()
                    .ok()
                    .filter(|cpu| cpu.is_finite() && *cpu > 0.0)
                    .ok_or_else(|| {
                        self.error(
                            arg,
                            format!("`{value}` is not a number of cores: write `0.5` or `2`"),
                        )
                    })?;
                self.parsed.resources.cpu = Some(cpu);
            }
            "-m" | "--memory" => {
                let bytes = parse_memory(value).map_err(|why| self.error(arg, why))?;
                self.parsed.resources.memory = Some(bytes);
            }
            "--gpus" => self.gpus(arg, value)?,
            "-l" | "--label" => {
                let (key, val) = value.split_once('=').unwrap_or((value, ""));
                if key.is_empty() {
                    return Err(self.error(arg, "needs a label name before the `=`"));
                }
                self.parsed.labels.insert(key.to_owned(), val.to_owned());
            }
            "--entrypoint" => {
                if value.is_empty() {
                    return Err(self.error(
                        arg,
                        "an empty entrypoint clears the image's, which the intent cannot say: \
                         set `[b00t.container] command` to the program to run",
                    ));
                }
                self.parsed.entrypoint = Some(vec![value.to_owned()]);
            }
            "-w" | "--workdir" => {
                if !value.starts_with('/') {
                    return Err(self.error(arg, "the working directory must be an absolute path"));
                }
                self.parsed.workdir = Some(value.to_owned());
            }
            "-u" | "--user" => {
                if value.is_empty() {
                    return Err(self.error(arg, "needs a user (`1000`, `1000:1000`, `postgres`)"));
                }
                self.parsed.user = Some(value.to_owned());
            }
            "--name" => self.parsed.name = Some(value.to_owned()),
            "-h" | "--hostname" => {
                if value.is_empty() {
                    return Err(self.error(arg, "needs a host name"));
                }
                self.parsed.hostname = Some(value.to_owned());
            }
            "--network" | "--net" => match value {
                "bridge" | "default" => {}
                "host" => {
                    return Err(self.error(
                        arg,
                        "the host's network has no translation for Kubernetes and Nomad; \
                         remove it (publish ports with `-p`), or use a compose_path",
                    ))
                }
                _ => {
                    return Err(self.error(
                        arg,
                        "each orchestrator puts the deployment on its own network, where \
                         services reach each other by name; remove it, or use a compose_path",
                    ))
                }
            },
            "--env-file" | "--label-file" => {
                return Err(self.error(
                    arg,
                    "b00t does not read files named in docker_args: put the values in \
                     `[b00t.env]` (or `-e` / `-l` arguments)",
                ))
            }
            "--device" => {
                return Err(self.error(
                    arg,
                    "host devices have no translation for Kubernetes (it needs a device \
                     plugin) and Nomad; remove it, or use a compose_path",
                ))
            }
            "--cap-add" | "--cap-drop" => {
                return Err(self.error(
                    arg,
                    "capabilities are not carried into the deploy (Nomad grants them only \
                     where its client's `allow_caps` does); remove it, or use a compose_path",
                ))
            }
            _ => {
                return Err(self.error(
                    arg,
                    "b00t has no translation of it for compose, Kubernetes and Nomad; remove \
                     it, or use a compose_path",
                ))
            }
        }
        Ok(())
    }

    fn gpus(&mut self, arg: &str, value: &str) -> Result<(), DeployError> {
        let value = value.trim_matches('"');
        let count = value.strip_prefix("count=").unwrap_or(value);
        if count == "all" {
            self.parsed.gpus_all = true;
            self.parsed.resources.gpu_count = None;
            return Ok(());
        }
        match count.parse::<u32>() {
            Ok(count) if count > 0 => {
                self.parsed.gpus_all = false;
                self.parsed.resources.gpu_count = Some(count);
                Ok(())
            }
            _ => Err(self.error(
                arg,
                "write a number of GPUs (`--gpus 1`) or `all` with `gpu_count` in \
                 `[b00t.resources]`; devices and capabilities have no translation for \
                 Kubernetes and Nomad",
            )),
        }
    }

    fn finish(mut self) -> Result<Parsed, DeployError> {
        let health = std::mem::take(&mut self.health);
        match health.command {
            Some(command) => {
                self.parsed.health = Some(Health {
                    test: HealthTest::Shell(command),
                    interval_ms: health.interval_ms,
                    timeout_ms: health.timeout_ms,
                    retries: health.retries,
                    start_period_ms: health.start_period_ms,
                });
            }
            None => {
                if let Some(first) = health.first_timing {
                    return Err(self.error(
                        &first,
                        "needs `--health-cmd`: the timings of the image's own HEALTHCHECK have \
                         no translation for Kubernetes and Nomad, which never run it",
                    ));
                }
            }
        }
        Ok(self.parsed)
    }
}

/// `--flag`, `--flag=value`, `-f`, `-fvalue`, `-f=value` → the flag (`--flag`, `-f`) and
/// the value written with it. A cluster of `-d`, `-i` and `-t` (`-it`) is `-i`. `None`
/// for something that is not a flag.
fn split_flag(arg: &str) -> Option<(&str, Option<&str>)> {
    if let Some(long) = arg.strip_prefix("--") {
        if long.is_empty() || long.starts_with('-') {
            return None;
        }
        return Some(match long.split_once('=') {
            Some((name, value)) => (&arg[..name.len() + 2], Some(value)),
            None => (arg, None),
        });
    }
    let short = arg.strip_prefix('-')?;
    let first = short.chars().next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    if short.len() > 1 && short.chars().all(|c| matches!(c, 'd' | 'i' | 't')) {
        return Some(("-i", None));
    }
    let (flag, value) = arg.split_at(2);
    Some(match value {
        "" => (flag, None),
        _ => (flag, Some(value.strip_prefix('=').unwrap_or(value))),
    })
}

fn boolean_flag(flag: &str) -> Option<Boolean> {
    Some(match flag {
        "--rm" | "-d" | "--detach" | "-i" | "--interactive" | "-t" | "--tty" => Boolean::Ignored,
        "--read-only" => Boolean::ReadOnly,
        "--privileged" => Boolean::Privileged,
        "--no-healthcheck" => Boolean::NoHealthcheck,
        "--init" => Boolean::Init,
        _ => return None,
    })
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// `-p`: `8080`, `18080:8080`, `:8080`, `127.0.0.1:18080:8080`, `127.0.0.1::8080`,
/// `[::1]:18080:8080`, each with an optional `/tcp` or `/udp`.
fn parse_publish(value: &str) -> Result<Port, String> {
    let (spec, protocol) = split_protocol(value)?;
    let (host_ip, rest) = match spec.strip_prefix('[') {
        Some(bracketed) => {
            let (ip, after) = bracketed
                .split_once("]:")
                .ok_or_else(|| format!("`{value}`: an IPv6 address is written `[::1]:8080:80`"))?;
            (Some(ip), after)
        }
        None => match spec.matches(':').count() {
            0 | 1 => (None, spec),
            2 => {
                let (ip, after) = spec.split_once(':').unwrap_or(("", spec));
                (Some(ip), after)
            }
            _ => {
                return Err(format!(
                    "`{value}` is not a port mapping: write `8080`, `18080:8080` or \
                 `127.0.0.1:18080:8080`"
                ))
            }
        },
    };
    let (host, container) = match rest.split_once(':') {
        Some((host, container)) => (host, container),
        None => ("", rest),
    };
    let container = parse_port_number(container, "container port")?;
    let host = match host {
        "" => 0,
        host => parse_port_number(host, "host port")?,
    };
    let host_ip = match host_ip {
        None | Some("") => None,
        Some(ip) => Some(ip.to_owned()),
    };
    Ok(Port {
        container,
        host: Some(host),
        host_ip,
        protocol,
    })
}

fn split_protocol(value: &str) -> Result<(&str, Protocol), String> {
    match value.rsplit_once('/') {
        None => Ok((value, Protocol::Tcp)),
        Some((spec, "tcp")) => Ok((spec, Protocol::Tcp)),
        Some((spec, "udp")) => Ok((spec, Protocol::Udp)),
        Some((_, other)) => Err(format!(
            "protocol `{other}` has no translation for every orchestrator: use `tcp` or `udp`"
        )),
    }
}

fn parse_port_number(text: &str, what: &str) -> Result<u16, String> {
    if text.contains('-') {
        return Err(format!(
            "port ranges (`{text}`) have no translation for Kubernetes and Nomad: publish \
             each port with its own `-p`"
        ));
    }
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!(
            "`{text}` is not a {what}: write a number from 1 to 65535"
        )),
    }
}

/// `-v`: `name:/path`, `/host/path:/path`, each with an optional `:ro` or `:rw`.
fn parse_volume(value: &str) -> Result<Volume, String> {
    let parts: Vec<&str> = value.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => {
            return Err(format!(
                "`{target}` is an anonymous volume: name it (`data:{target}`) so that every \
                 orchestrator keeps the same one"
            ))
        }
        [source, target] => (*source, *target, ""),
        [source, target, options] => (*source, *target, *options),
        _ => {
            return Err(format!(
                "`{value}` is not a volume: write `name:/path` or `/host/path:/path`, with \
                 `:ro` for read-only"
            ))
        }
    };
    let mut read_only = false;
    for option in options.split(',').filter(|option| !option.is_empty()) {
        match option {
            "ro" | "readonly" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(format!(
                    "volume option `{other}` has no translation for Kubernetes and Nomad: \
                     use `ro` or `rw`, or nothing"
                ))
            }
        }
    }
    Ok(Volume {
        source: volume_source(source)?,
        target: absolute_target(target)?,
        read_only,
    })
}

/// `--mount type=volume|bind|tmpfs,source=…,target=…[,readonly]`.
fn parse_mount(value: &str) -> Result<Volume, String> {
    let mut kind = "volume";
    let mut source = None;
    let mut target = None;
    let mut read_only = false;
    for field in value.split(',').filter(|field| !field.is_empty()) {
        let (key, val) = match field.split_once('=') {
            Some((key, val)) => (key, Some(val)),
            None => (field, None),
        };
        match (key, val) {
            ("type", Some(val)) => kind = val,
            ("source" | "src", Some(val)) => source = Some(val),
            ("target" | "destination" | "dst", Some(val)) => target = Some(val),
            ("readonly" | "ro", None) => read_only = true,
            ("readonly" | "ro", Some(val)) => {
                read_only =
                    parse_bool(val).ok_or_else(|| format!("`{field}` takes `true` or `false`"))?;
            }
            _ => {
                return Err(format!(
                    "mount option `{field}` has no translation for Kubernetes and Nomad: use \
                     `type`, `source`, `target` and `readonly`"
                ))
            }
        }
    }
    let target = absolute_target(target.ok_or("needs `target=/path`")?)?;
    let source = match (kind, source) {
        ("tmpfs", None) => VolumeSource::Tmpfs,
        ("tmpfs", Some(_)) => return Err("a tmpfs mount has no `source`".to_owned()),
        ("volume", None) => {
            return Err(format!(
                "an anonymous volume: name it (`source=data,target={target}`) so that every \
                 orchestrator keeps the same one"
            ))
        }
        ("volume", Some(name)) if name.starts_with('/') => {
            return Err(format!(
                "`{name}` is a path: write `type=bind` for a host folder"
            ))
        }
        ("volume" | "bind", Some(source)) => match volume_source(source)? {
            VolumeSource::Named(_) if kind == "bind" => {
                return Err(format!(
                    "bind source `{source}` must be an absolute path on the host"
                ))
            }
            source => source,
        },
        ("bind", None) => return Err("a bind mount needs `source=/host/path`".to_owned()),
        (other, _) => {
            return Err(format!(
                "mount type `{other}` has no translation: use `volume`, `bind` or `tmpfs`"
            ))
        }
    };
    Ok(Volume {
        source,
        target,
        read_only,
    })
}

/// A volume's source: an absolute host path (bind) or a volume name.
fn volume_source(source: &str) -> Result<VolumeSource, String> {
    if source.starts_with('/') {
        return Ok(VolumeSource::Bind(source.to_owned()));
    }
    if source.starts_with('.') || source.starts_with('~') || source.contains('/') {
        return Err(format!(
            "`{source}` is a relative path, which every orchestrator would read from a \
             different folder: use an absolute path"
        ));
    }
    let mut chars = source.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(format!(
            "`{source}` is not a volume name: use letters, digits, `_`, `.` and `-`"
        ));
    }
    Ok(VolumeSource::Named(source.to_owned()))
}

fn absolute_target(target: &str) -> Result<String, String> {
    if target.starts_with('/') {
        Ok(target.to_owned())
    } else {
        Err(format!(
            "`{target}` is not a path in the container: it must be absolute (`/data`)"
        ))
    }
}

fn parse_restart(value: &str) -> Result<Restart, String> {
    match value {
        "no" => Ok(Restart::No),
        "always" => Ok(Restart::Always),
        "unless-stopped" => Ok(Restart::UnlessStopped),
        "on-failure" => Ok(Restart::OnFailure(None)),
        _ => match value.strip_prefix("on-failure:") {
            Some(count) => count
                .parse::<u32>()
                .map(|count| Restart::OnFailure(Some(count)))
                .map_err(|_| format!("`{count}` is not a number of restarts")),
            None => Err(format!(
                "`{value}` is not a restart policy: use `no`, `always`, `unless-stopped` or \
                 `on-failure[:N]`"
            )),
        },
    }
}

fn memory_help(text: &str) -> String {
    format!("`{text}` is not a memory size: write `512m`, `512Mi`, `1g` or a number of bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    fn ok(list: &[&str]) -> Parsed {
        parse("web.docker", &args(list)).unwrap_or_else(|error| panic!("{list:?}: {error}"))
    }

    /// The error for `list`, which must name `arg` and say something containing `why`.
    fn check_error(list: &[&str], arg: &str, why: &str) {
        match parse("web.docker", &args(list)) {
            Err(DeployError::DockerArg {
                datum,
                arg: named,
                why: said,
            }) => {
                assert_eq!(datum, "web.docker");
                assert_eq!(named, arg, "{list:?}");
                assert!(said.contains(why), "{list:?}: {said}");
            }
            other => panic!("{list:?}: expected an error, got {other:?}"),
        }
    }

    fn port(container: u16, host: Option<u16>, host_ip: Option<&str>, protocol: Protocol) -> Port {
        Port {
            container,
            host,
            host_ip: host_ip.map(str::to_owned),
            protocol,
        }
    }

    fn corpus_args(file: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/b00t-datums")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let datum = b00t_datums::Datum::from_toml(&path, path.parent().unwrap(), &text).unwrap();
        datum.docker_args
    }

    #[test]
    fn the_corpus_postgres_datums_parse() {
        for file in ["postgres.docker.toml", "postgres-enhanced.docker.toml"] {
            let parsed = parse(file, &corpus_args(file)).unwrap();
            assert_eq!(parsed.env["POSTGRES_PASSWORD"], "password");
            assert_eq!(parsed.env["POSTGRES_DB"], "testdb");
            assert_eq!(parsed.ports, [port(5432, Some(5432), None, Protocol::Tcp)]);
            assert_eq!(
                parsed.volumes,
                [Volume {
                    source: VolumeSource::Named("postgres_data".to_owned()),
                    target: "/var/lib/postgresql/data".to_owned(),
                    read_only: false,
                }]
            );
        }
    }

    #[test]
    fn env_in_every_spelling() {
        let parsed = ok(&[
            "-e", "A=1", "--env", "B=x=y", "--env=C=", "-eD=4", "-e=E=5", "-e", "A=last",
        ]);
        let expected: BTreeMap<String, String> = [
            ("A", "last"),
            ("B", "x=y"),
            ("C", ""),
            ("D", "4"),
            ("E", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(parsed.env, expected);
        check_error(&["-e", "TOKEN"], "-e TOKEN", "needs KEY=value");
        check_error(&["-e", "TOKEN"], "-e TOKEN", "write `TOKEN=${TOKEN}`");
        check_error(&["-e", "=x"], "-e =x", "needs a variable name");
        check_error(&["-p"], "-p", "needs a value");
    }

    #[test]
    fn ports() {
        let cases: &[(&str, Port)] = &[
            ("8080", port(8080, Some(0), None, Protocol::Tcp)),
            (":8080", port(8080, Some(0), None, Protocol::Tcp)),
            ("18080:8080", port(8080, Some(18080), None, Protocol::Tcp)),
            (
                "127.0.0.1:18080:8080",
                port(8080, Some(18080), Some("127.0.0.1"), Protocol::Tcp),
            ),
            (
                "127.0.0.1::8080",
                port(8080, Some(0), Some("127.0.0.1"), Protocol::Tcp),
            ),
            (
                "[::1]:18080:8080",
                port(8080, Some(18080), Some("::1"), Protocol::Tcp),
            ),
            ("53:53/udp", port(53, Some(53), None, Protocol::Udp)),
            ("8080/tcp", port(8080, Some(0), None, Protocol::Tcp)),
        ];
        for (spec, expected) in cases {
            assert_eq!(
                &ok(&["-p", spec]).ports,
                std::slice::from_ref(expected),
                "{spec}"
            );
            assert_eq!(
                &ok(&[&format!("--publish={spec}")]).ports,
                std::slice::from_ref(expected)
            );
        }
        assert_eq!(
            ok(&["--expose", "9000", "--expose=53/udp"]).ports,
            [
                port(9000, None, None, Protocol::Tcp),
                port(53, None, None, Protocol::Udp)
            ]
        );
        check_error(
            &["-p", "8000-8010:8000-8010"],
            "-p 8000-8010:8000-8010",
            "port ranges",
        );
        check_error(
            &["-p", "80:http"],
            "-p 80:http",
            "`http` is not a container port",
        );
        check_error(&["-p", "0"], "-p 0", "from 1 to 65535");
        check_error(
            &["-p", "70000:80"],
            "-p 70000:80",
            "`70000` is not a host port",
        );
        check_error(&["-p", "80/sctp"], "-p 80/sctp", "protocol `sctp`");
        check_error(&["-p", "a:b:c:d"], "-p a:b:c:d", "not a port mapping");
        check_error(&["--expose", "1-2"], "--expose 1-2", "port ranges");
    }

    #[test]
    fn volumes() {
        let named = |name: &str, target: &str, read_only| Volume {
            source: VolumeSource::Named(name.to_owned()),
            target: target.to_owned(),
            read_only,
        };
        let bind = |path: &str, target: &str, read_only| Volume {
            source: VolumeSource::Bind(path.to_owned()),
            target: target.to_owned(),
            read_only,
        };
        let tmpfs = |target: &str| Volume {
            source: VolumeSource::Tmpfs,
            target: target.to_owned(),
            read_only: false,
        };
        assert_eq!(
            ok(&[
                "-v",
                "data:/data",
                "-v",
                "/etc/ssl:/etc/ssl:ro",
                "--volume=cache:/cache:rw",
                "--tmpfs",
                "/run",
                "--mount",
                "type=bind,source=/srv,target=/srv,readonly",
                "--mount",
                "source=vol,dst=/vol",
                "--mount=type=tmpfs,target=/tmp",
            ])
            .volumes,
            [
                named("data", "/data", false),
                bind("/etc/ssl", "/etc/ssl", true),
                named("cache", "/cache", false),
                tmpfs("/run"),
                bind("/srv", "/srv", true),
                named("vol", "/vol", false),
                tmpfs("/tmp"),
            ]
        );
        check_error(&["-v", "./x:/x"], "-v ./x:/x", "use an absolute path");
        check_error(&["-v", "x/y:/x"], "-v x/y:/x", "use an absolute path");
        check_error(&["-v", "/data"], "-v /data", "anonymous volume");
        check_error(&["-v", "data:rel"], "-v data:rel", "must be absolute");
        check_error(&["-v", "data:/d:z"], "-v data:/d:z", "volume option `z`");
        check_error(
            &["--tmpfs", "/run:size=64m"],
            "--tmpfs /run:size=64m",
            "tmpfs options",
        );
        check_error(
            &["--mount", "type=bind,source=rel,target=/x"],
            "--mount type=bind,source=rel,target=/x",
            "absolute path",
        );
        check_error(
            &["--mount", "type=volume,target=/x,volume-opt=a=b"],
            "--mount type=volume,target=/x,volume-opt=a=b",
            "mount option `volume-opt=a=b`",
        );
        check_error(
            &["--mount", "type=npipe,target=/x"],
            "--mount type=npipe,target=/x",
            "mount type",
        );
    }

    #[test]
    fn health() {
        let parsed = ok(&[
            "--health-interval",
            "1m30s",
            "--health-cmd",
            "pg_isready -U postgres",
            "--health-timeout=500ms",
            "--health-retries",
            "5",
            "--health-start-period",
            "2h",
        ]);
        assert_eq!(
            parsed.health,
            Some(Health {
                test: HealthTest::Shell("pg_isready -U postgres".to_owned()),
                interval_ms: Some(90_000),
                timeout_ms: Some(500),
                retries: Some(5),
                start_period_ms: Some(7_200_000),
            })
        );
        assert_eq!(ok(&[]).health, None);
        check_error(
            &["--health-interval", "5s"],
            "--health-interval 5s",
            "needs `--health-cmd`",
        );
        check_error(
            &["--health-cmd", "x", "--health-interval", "5"],
            "--health-interval 5",
            "has no unit",
        );
        check_error(
            &["--health-cmd", "x", "--health-retries", "-1"],
            "--health-retries -1",
            "not a number of retries",
        );
        check_error(&["--health-cmd", ""], "--health-cmd ", "needs the command");
        check_error(&["--no-healthcheck"], "--no-healthcheck", "HEALTHCHECK");
    }

    #[test]
    fn durations() {
        for (text, ms) in [
            ("0", 0),
            ("1s", 1000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("2h", 7_200_000),
            ("1.5s", 1500),
            (".5s", 500),
            ("1h1m1s1ms", 3_661_001),
            ("1000000ns", 1),
            ("2000us", 2),
        ] {
            assert_eq!(parse_duration_ms(text), Ok(ms), "{text}");
        }
        for bad in ["", "5", "1d", "s", "1..5s", "1ns", "1.s5"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn restart() {
        for (value, expected) in [
            ("no", Restart::No),
            ("always", Restart::Always),
            ("unless-stopped", Restart::UnlessStopped),
            ("on-failure", Restart::OnFailure(None)),
            ("on-failure:3", Restart::OnFailure(Some(3))),
        ] {
            assert_eq!(ok(&["--restart", value]).restart, Some(expected), "{value}");
        }
        check_error(
            &["--restart=sometimes"],
            "--restart=sometimes",
            "not a restart policy",
        );
        check_error(
            &["--restart", "on-failure:x"],
            "--restart on-failure:x",
            "`x` is not a number",
        );
    }

    #[test]
    fn resources() {
        let parsed = ok(&["--cpus", "0.5", "-m", "512m", "--gpus", "2"]);
        assert_eq!(
            parsed.resources,
            Resources {
                cpu: Some(0.5),
                memory: Some(512 << 20),
                gpu_count: Some(2),
                gpu_type: None,
            }
        );
        assert!(!parsed.gpus_all);
        let all = ok(&["--gpus", "all"]);
        assert!(all.gpus_all);
        assert_eq!(all.resources.gpu_count, None);
        assert_eq!(ok(&["--gpus=count=1"]).resources.gpu_count, Some(1));
        assert_eq!(ok(&["--memory=1g"]).resources.memory, Some(1 << 30));
        check_error(
            &["--cpus", "lots"],
            "--cpus lots",
            "`lots` is not a number of cores",
        );
        check_error(&["--cpus", "0"], "--cpus 0", "not a number of cores");
        check_error(&["-m", "big"], "-m big", "`big` is not a memory size");
        check_error(&["--gpus", "device=0"], "--gpus device=0", "number of GPUs");
    }

    #[test]
    fn memory_sizes() {
        for (text, bytes) in [
            ("1048576", 1_048_576),
            ("1024b", 1024),
            ("1k", 1024),
            ("512m", 512 << 20),
            ("512M", 512 << 20),
            ("512Mi", 512 << 20),
            ("512MiB", 512 << 20),
            ("512mb", 512 << 20),
            ("1Gi", 1 << 30),
            ("1.5g", 3 << 29),
            ("2 g", 2 << 30),
            ("1t", 1 << 40),
        ] {
            assert_eq!(parse_memory(text), Ok(bytes), "{text}");
        }
        for bad in ["", "m", "1x", "1.2.3m", "0", "-1m", "99999999999p"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rest_of_what_translates() {
        let parsed = ok(&[
            "--rm",
            "-d",
            "-it",
            "-dit",
            "--detach=true",
            "-i",
            "-t",
            "--tty",
            "-l",
            "tier=db",
            "--label=flag",
            "--entrypoint",
            "/bin/sh",
            "-w",
            "/srv",
            "-u",
            "1000:1000",
            "--name",
            "pg",
            "-h",
            "db",
            "--read-only",
            "--network",
            "bridge",
        ]);
        assert_eq!(parsed.labels["tier"], "db");
        assert_eq!(parsed.labels["flag"], "");
        assert_eq!(parsed.entrypoint, Some(vec!["/bin/sh".to_owned()]));
        assert_eq!(parsed.workdir.as_deref(), Some("/srv"));
        assert_eq!(parsed.user.as_deref(), Some("1000:1000"));
        assert_eq!(parsed.name.as_deref(), Some("pg"));
        assert_eq!(parsed.hostname.as_deref(), Some("db"));
        assert!(parsed.read_only);
        assert!(!ok(&["--read-only=false"]).read_only);
        assert_eq!(ok(&["-w/srv"]).workdir.as_deref(), Some("/srv"));
    }

    #[test]
    fn what_does_not_translate_is_an_error_naming_it() {
        check_error(
            &["--network", "host"],
            "--network host",
            "no translation for Kubernetes and Nomad",
        );
        check_error(&["--net=mynet"], "--net=mynet", "its own network");
        check_error(&["--privileged"], "--privileged", "privileged");
        check_error(&["--device", "/dev/fuse"], "--device /dev/fuse", "device");
        check_error(
            &["--cap-add", "NET_ADMIN"],
            "--cap-add NET_ADMIN",
            "capabilities",
        );
        check_error(&["--env-file", ".env"], "--env-file .env", "[b00t.env]");
        check_error(&["--shm-size", "1g"], "--shm-size 1g", "no translation");
        check_error(&["--frobnicate", "x"], "--frobnicate x", "no translation");
        check_error(&["--init"], "--init", "no translation");
        check_error(&["--rm=maybe"], "--rm=maybe", "`true` or `false`");
        check_error(&["postgres:16"], "postgres:16", "only flags");
        check_error(&["--"], "--", "only flags");
        check_error(&["--entrypoint", ""], "--entrypoint ", "empty entrypoint");
        check_error(&["-w", "rel"], "-w rel", "absolute path");
    }
}
