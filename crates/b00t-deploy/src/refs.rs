//! References in datum strings. `${VAR}` and `${VAR:-default}` come from the environment
//! the deploy runs in and are expanded when the intent is read ([`expand_vars`]);
//! `${STACK:<stack>:<service>:endpoint|host|port}` depends on the orchestrator and is
//! resolved by each adapter through a [`Locator`] ([`resolve_stack_refs`]). `$$` is a
//! literal `$`. A reference to a variable that is not set (and has no default), or to a
//! stack or service that is not in the deployment, is an error naming it.
//!
//! `$$` is unescaped once, by [`expand_vars`]; what it returns has no escapes left, so a
//! `${STACK:…}` in it (written, or from a variable's value) is always a reference.

use std::collections::BTreeMap;

use crate::error::DeployError;

/// The variables `${VAR}` reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vars(pub BTreeMap<String, String>);

impl Vars {
    /// The environment of this process; variables whose name or value is not UTF-8 are
    /// left out (a datum cannot name them).
    pub fn from_env() -> Vars {
        Vars(
            std::env::vars_os()
                .filter_map(|(name, value)| {
                    Some((name.into_string().ok()?, value.into_string().ok()?))
                })
                .collect(),
        )
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Vars {
        Vars(
            iter.into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        )
    }
}

/// Where one orchestrator says a service is reached.
pub trait Locator {
    /// The host name of `service` of `stack` (`web`, `web.ns.svc.cluster.local`,
    /// `localhost`), or `None` when the deployment has no such service.
    fn host(&self, stack: &str, service: &str) -> Option<String>;
    /// Its port as other workloads reach it.
    fn port(&self, stack: &str, service: &str) -> Option<u16>;
    /// The services a reference may name, each as `<stack>:<service>`, for the error
    /// about one that does not exist. Empty (the default) leaves the list out.
    fn services(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Expands `${VAR}` and `${VAR:-default}` in `text` from `vars`, leaving `${STACK:…}` as
/// written. `what` names where the text comes from, for the error.
///
/// - `${VAR}`: the value of `VAR`, which must be set (an empty value is a value).
/// - `${VAR:-default}`: the value of `VAR`, or `default` when it is unset or empty (as a
///   shell and compose do). `default` may be empty and cannot hold `}` or `${`.
/// - `$$`: a literal `$`.
/// - `$VAR` without braces, and a `$` before anything else: kept as written.
///
/// A name is `[A-Za-z_][A-Za-z0-9_]*`; anything else between `${` and `}` (other than
/// `STACK:…`) is an error, as is a `${` with no `}`.
pub fn expand_vars(text: &str, vars: &Vars, what: &str) -> Result<String, DeployError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(after_escape) = after.strip_prefix('$') {
            out.push('$');
            rest = after_escape;
        } else if let Some(inside) = after.strip_prefix('{') {
            let Some(close) = inside.find('}') else {
                return Err(unterminated(&rest[dollar..], what));
            };
            let body = &inside[..close];
            let reference = &rest[dollar..dollar + close + 3];
            if body.starts_with("STACK:") {
                out.push_str(reference);
            } else {
                out.push_str(&expand_one(body, reference, vars, what)?);
            }
            rest = &inside[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves every `${STACK:<stack>:<service>:endpoint|host|port}` in `text` through
/// `locator`: `host`, `port`, or `endpoint` (`host:port`, `[host]:port` for an IPv6
/// address). Everything else is kept as written; `text` is expected to have been through
/// [`expand_vars`] already, so `$$` is not unescaped here.
pub fn resolve_stack_refs(
    text: &str,
    locator: &dyn Locator,
    what: &str,
) -> Result<String, DeployError> {
    const OPEN: &str = "${STACK:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let inside = &rest[start + OPEN.len()..];
        let Some(close) = inside.find('}') else {
            return Err(unterminated(&rest[start..], what));
        };
        let reference = &rest[start..start + OPEN.len() + close + 1];
        out.push_str(&resolve_one(&inside[..close], reference, locator, what)?);
        rest = &inside[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The body of one `${…}` (not `STACK:`), expanded.
fn expand_one(body: &str, reference: &str, vars: &Vars, what: &str) -> Result<String, DeployError> {
    let name_len = body
        .char_indices()
        .find(|&(index, c)| !is_name_char(c, index == 0))
        .map_or(body.len(), |(index, _)| index);
    let (name, tail) = body.split_at(name_len);
    if name.is_empty() || body.contains("${") {
        return Err(not_a_reference(reference, what));
    }
    if tail.is_empty() {
        return vars.get(name).map(str::to_owned).ok_or_else(|| {
            DeployError::Reference(format!(
                "`{reference}` in {what} is not set: set it in the environment of `b00t up`, \
                 or write `${{{name}:-default}}`"
            ))
        });
    }
    let Some(default) = tail.strip_prefix(":-") else {
        return Err(not_a_reference(reference, what));
    };
    Ok(match vars.get(name) {
        Some(value) if !value.is_empty() => value.to_owned(),
        _ => default.to_owned(),
    })
}

/// The body of one `${STACK:…}` after `STACK:`, resolved.
fn resolve_one(
    body: &str,
    reference: &str,
    locator: &dyn Locator,
    what: &str,
) -> Result<String, DeployError> {
    let parts: Vec<&str> = body.split(':').collect();
    let [stack, service, field] = parts.as_slice() else {
        return Err(DeployError::Reference(format!(
            "`{reference}` in {what} is not a stack reference: \
             write `${{STACK:<stack>:<service>:endpoint}}` (or `:host`, `:port`)"
        )));
    };
    if !matches!(*field, "endpoint" | "host" | "port") {
        return Err(DeployError::Reference(format!(
            "`{reference}` in {what} asks for `{field}`: a stack reference ends in \
             `:endpoint`, `:host` or `:port`"
        )));
    }
    let missing = || unknown_service(reference, what, stack, service, locator);
    let host = locator.host(stack, service).ok_or_else(missing)?;
    let port = locator.port(stack, service).ok_or_else(missing)?;
    Ok(match *field {
        "host" => host,
        "port" => port.to_string(),
        _ if host.contains(':') && !host.starts_with('[') => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    })
}

fn is_name_char(c: char, first: bool) -> bool {
    c == '_' || c.is_ascii_alphabetic() || (!first && c.is_ascii_digit())
}

fn unterminated(from: &str, what: &str) -> DeployError {
    let shown: String = from.chars().take(40).collect();
    DeployError::Reference(format!(
        "`{shown}` in {what} opens `${{` and never closes it: add the `}}`, \
         or write `$${{` for a literal `${{`"
    ))
}

fn not_a_reference(reference: &str, what: &str) -> DeployError {
    DeployError::Reference(format!(
        "`{reference}` in {what} is not a reference b00t knows: write `${{NAME}}`, \
         `${{NAME:-default}}` or `${{STACK:<stack>:<service>:endpoint}}`, \
         or `$$` for a literal `$`"
    ))
}

fn unknown_service(
    reference: &str,
    what: &str,
    stack: &str,
    service: &str,
    locator: &dyn Locator,
) -> DeployError {
    let services = locator.services();
    let prefix = format!("{stack}:");
    let problem = if !services.is_empty() && !services.iter().any(|s| s.starts_with(&prefix)) {
        format!("stack `{stack}` is not in this deployment")
    } else {
        format!("stack `{stack}` has no service `{service}` in this deployment")
    };
    let known = if services.is_empty() {
        String::new()
    } else {
        let listed: Vec<String> = services.iter().map(|s| format!("`{s}`")).collect();
        format!("; the services are {}", listed.join(", "))
    };
    DeployError::Reference(format!(
        "`{reference}` in {what}: {problem}{known}: add it to the stack, \
         or require its stack in `[b00t.dependencies] requires_stacks`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("USER_NAME", "ada"), ("EMPTY", ""), ("PORT", "8080")]
            .into_iter()
            .collect()
    }

    fn check(text: &str, expected: &str) {
        assert_eq!(
            expand_vars(text, &vars(), "the test").as_deref(),
            Ok(expected),
            "{text}"
        );
    }

    fn check_error(text: &str, expected: &str) {
        let error = expand_vars(text, &vars(), "`docker_args` of `web.docker`").unwrap_err();
        assert!(matches!(error, DeployError::Reference(_)), "{error:?}");
        assert_eq!(error.to_string(), expected, "{text}");
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        check("", "");
        check("plain text", "plain text");
        check("${USER_NAME}", "ada");
        check("user=${USER_NAME}!", "user=ada!");
        check("${PORT}:${PORT}", "8080:8080");
        check("${MISSING:-18080}:8080", "18080:8080");
        check("${PORT:-1}", "8080");
        check("${MISSING:-}", "");
        check("${EMPTY}", "");
        check("${EMPTY:-fallback}", "fallback");
        check("${MISSING:-a b:c=d-e}", "a b:c=d-e");
        check("${MISSING:-}}", "}");
        check("é${USER_NAME}ü", "éadaü");
    }

    #[test]
    fn keeps_what_is_not_a_braced_variable() {
        check("$$", "$");
        check("$${USER_NAME}", "${USER_NAME}");
        check("a$$$$b", "a$$b");
        check("$USER_NAME", "$USER_NAME");
        check("cost $5", "cost $5");
        check("end$", "end$");
        check(
            "${STACK:starter:web:endpoint}",
            "${STACK:starter:web:endpoint}",
        );
        check(
            "http://${STACK:s:web:host}:${PORT}/",
            "http://${STACK:s:web:host}:8080/",
        );
    }

    #[test]
    fn an_unset_variable_without_default_is_an_error_naming_it() {
        check_error(
            "${POSTGRES_PASSWORD}",
            "`${POSTGRES_PASSWORD}` in `docker_args` of `web.docker` is not set: set it in the \
             environment of `b00t up`, or write `${POSTGRES_PASSWORD:-default}`",
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        check_error(
            "x=${OPEN",
            "`${OPEN` in `docker_args` of `web.docker` opens `${` and never closes it: add the \
             `}`, or write `$${` for a literal `${`",
        );
        for bad in [
            "${}",
            "${1X}",
            "${A-B}",
            "${A:?err}",
            "${A:+alt}",
            "${A B}",
            "${stack:a:b:host}",
            "${A:-${B}}",
        ] {
            let error = expand_vars(bad, &vars(), "the test").unwrap_err();
            assert!(
                error.to_string().contains("is not a reference b00t knows"),
                "{bad}: {error}"
            );
        }
        assert!(expand_vars("${STACK:a:b:host", &vars(), "t").is_err());
    }

    #[test]
    fn from_env_reads_this_process() {
        let vars = Vars::from_env();
        let path = std::env::var("PATH").ok();
        assert_eq!(vars.get("PATH"), path.as_deref());
    }

    struct Fixed;

    impl Locator for Fixed {
        fn host(&self, stack: &str, service: &str) -> Option<String> {
            match (stack, service) {
                ("starter", "web") => Some("web".to_owned()),
                ("starter", "v6") => Some("::1".to_owned()),
                _ => None,
            }
        }
        fn port(&self, stack: &str, service: &str) -> Option<u16> {
            match (stack, service) {
                ("starter", "web") => Some(8080),
                ("starter", "v6") => Some(5432),
                _ => None,
            }
        }
        fn services(&self) -> Vec<String> {
            vec!["starter:web".to_owned(), "starter:v6".to_owned()]
        }
    }

    struct Silent;

    impl Locator for Silent {
        fn host(&self, _: &str, _: &str) -> Option<String> {
            None
        }
        fn port(&self, _: &str, _: &str) -> Option<u16> {
            None
        }
    }

    fn resolve(text: &str) -> Result<String, DeployError> {
        resolve_stack_refs(text, &Fixed, "`args` of `check.job`")
    }

    #[test]
    fn resolves_endpoint_host_and_port() {
        assert_eq!(
            resolve("http://${STACK:starter:web:endpoint}/health").as_deref(),
            Ok("http://web:8080/health")
        );
        assert_eq!(
            resolve("${STACK:starter:web:host} ${STACK:starter:web:port}").as_deref(),
            Ok("web 8080")
        );
        assert_eq!(
            resolve("${STACK:starter:v6:endpoint}").as_deref(),
            Ok("[::1]:5432")
        );
        assert_eq!(
            resolve("$ ${USER} $${x} no refs").as_deref(),
            Ok("$ ${USER} $${x} no refs")
        );
    }

    #[test]
    fn unknown_stacks_services_and_fields_are_errors() {
        assert_eq!(
            resolve("${STACK:starter:db:host}").unwrap_err().to_string(),
            "`${STACK:starter:db:host}` in `args` of `check.job`: stack `starter` has no \
             service `db` in this deployment; the services are `starter:web`, `starter:v6`: \
             add it to the stack, or require its stack in `[b00t.dependencies] requires_stacks`"
        );
        assert!(resolve("${STACK:other:web:host}")
            .unwrap_err()
            .to_string()
            .contains("stack `other` is not in this deployment"));
        assert_eq!(
            resolve_stack_refs("${STACK:a:b:port}", &Silent, "t")
                .unwrap_err()
                .to_string(),
            "`${STACK:a:b:port}` in t: stack `a` has no service `b` in this deployment: add it \
             to the stack, or require its stack in `[b00t.dependencies] requires_stacks`"
        );
        assert!(resolve("${STACK:starter:web:url}")
            .unwrap_err()
            .to_string()
            .contains("asks for `url`"));
        assert!(resolve("${STACK:starter:web}")
            .unwrap_err()
            .to_string()
            .contains("is not a stack reference"));
        assert!(resolve("${STACK:starter:web:host")
            .unwrap_err()
            .to_string()
            .contains("never closes it"));
    }
}
