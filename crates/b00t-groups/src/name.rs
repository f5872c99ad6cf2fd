//! Group names: the agent-name grammar (a group's agent answers on `b00t.<group>.*`),
//! minus the names of built-in agents and special folders, and never anything that could
//! name a path outside the groups folder.

use b00t_proto::Name;

use crate::error::GroupError;

/// The shared folder beside the groups: not a group, not an agent.
pub const GLOBAL: &str = "global";

/// The privileged group: it may write `global/` and read the project.
pub const MAIN: &str = "main";

/// Names a group cannot take, and why.
const RESERVED: &[(&str, &str)] = &[
    (GLOBAL, "`groups/global` is the folder every group shares"),
    ("runtime", "`runtime` is the built-in runtime agent"),
    ("installer", "`installer` is the built-in installer agent"),
    ("echo", "`echo` is the built-in echo agent"),
    ("scheduler", "`scheduler` is the built-in scheduler agent"),
    ("cli", CLI_CLIENTS),
    (
        "operator",
        "`operator` is the identity of the home's CLI on the bus",
    ),
    (
        "anonymous",
        "`anonymous` is what clients without credentials are called on the bus",
    ),
];

const CLI_CLIENTS: &str = "`cli` and `cli-…` are the names of command-line clients on the bus";

/// Checks a group name: the agent-name grammar `[a-z0-9][a-z0-9-]{0,62}`, and none of the
/// reserved names (`global`, `runtime`, `installer`, `echo`, `scheduler`, `cli`, `cli-…`).
/// Anything path-like (`..`, `/`, an absolute path, `.`, NUL) is refused with its own
/// message. Whether `groups/<name>` is a symlink is checked by [`crate::Groups`].
pub fn validate_name(s: &str) -> Result<Name, GroupError> {
    let invalid = |reason: &str| GroupError::InvalidName {
        name: s.escape_debug().to_string(),
        reason: reason.to_owned(),
    };
    if s.is_empty() {
        return Err(invalid("it is empty; use 1 to 63 of `a-z`, `0-9` and `-`"));
    }
    if s.contains('\0') {
        return Err(invalid(
            "it holds a NUL byte; use only `a-z`, `0-9` and `-`",
        ));
    }
    if s == "." || s == ".." || s.contains('/') || s.contains('\\') {
        return Err(invalid(
            "it is a path and could escape the groups folder; a group name is one plain word of `a-z`, `0-9` and `-`",
        ));
    }
    let name = Name::parse(s).map_err(|e| invalid(&e.to_string()))?;
    let reserved = RESERVED
        .iter()
        .find(|(r, _)| *r == s)
        .map(|(_, why)| *why)
        .or_else(|| s.starts_with("cli-").then_some(CLI_CLIENTS));
    if let Some(why) = reserved {
        return Err(GroupError::Reserved {
            name: s.to_owned(),
            why,
        });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let got = match validate_name(input) {
            Ok(name) => format!("ok {name}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expected, "for {input:?}");
    }

    #[test]
    fn the_name_table() {
        check("family", "ok family");
        check("main", "ok main");
        check("team-2", "ok team-2");
        check("0day", "ok 0day");
        check("client", "ok client");
        check("clix", "ok clix");
        check(&"a".repeat(63), &format!("ok {}", "a".repeat(63)));
        check(
            "",
            "group name `` is not valid: it is empty; use 1 to 63 of `a-z`, `0-9` and `-`",
        );
        check(".", "group name `.` is not valid: it is a path and could escape the groups folder; a group name is one plain word of `a-z`, `0-9` and `-`");
        check("..", "group name `..` is not valid: it is a path and could escape the groups folder; a group name is one plain word of `a-z`, `0-9` and `-`");
        check("../etc", "group name `../etc` is not valid: it is a path and could escape the groups folder; a group name is one plain word of `a-z`, `0-9` and `-`");
        check("/etc", "group name `/etc` is not valid: it is a path and could escape the groups folder; a group name is one plain word of `a-z`, `0-9` and `-`");
        check("a/b", "group name `a/b` is not valid: it is a path and could escape the groups folder; a group name is one plain word of `a-z`, `0-9` and `-`");
        check("a\\b", "group name `a\\\\b` is not valid: it is a path and could escape the groups folder; a group name is one plain word of `a-z`, `0-9` and `-`");
        check(
            "a\0b",
            "group name `a\\0b` is not valid: it holds a NUL byte; use only `a-z`, `0-9` and `-`",
        );
        check(".hidden", "group name `.hidden` is not valid: name `.hidden` must start with a lowercase letter or a digit");
        check(
            "-x",
            "group name `-x` is not valid: name `-x` must start with a lowercase letter or a digit",
        );
        check("Family", "group name `Family` is not valid: name `Family` must start with a lowercase letter or a digit");
        check("my_group", "group name `my_group` is not valid: name `my_group` has `_`: only lowercase letters, digits and `-` are allowed");
        check("a.b", "group name `a.b` is not valid: name `a.b` has `.`: only lowercase letters, digits and `-` are allowed");
        check("a+", "group name `a+` is not valid: name `a+` has `+`: only lowercase letters, digits and `-` are allowed");
        check(
            &"a".repeat(64),
            &format!(
                "group name `{0}` is not valid: name `{0}` is longer than 63 characters",
                "a".repeat(64)
            ),
        );
        check("global", "group name `global` is reserved: `groups/global` is the folder every group shares; pick another name");
        check("runtime", "group name `runtime` is reserved: `runtime` is the built-in runtime agent; pick another name");
        check("installer", "group name `installer` is reserved: `installer` is the built-in installer agent; pick another name");
        check(
            "echo",
            "group name `echo` is reserved: `echo` is the built-in echo agent; pick another name",
        );
        check("scheduler", "group name `scheduler` is reserved: `scheduler` is the built-in scheduler agent; pick another name");
        check("cli", "group name `cli` is reserved: `cli` and `cli-…` are the names of command-line clients on the bus; pick another name");
        check("cli-7f3a", "group name `cli-7f3a` is reserved: `cli` and `cli-…` are the names of command-line clients on the bus; pick another name");
    }
}
