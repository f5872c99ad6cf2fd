//! `groups/<name>/group.toml`: a group's own settings, all optional. Unknown keys are
//! errors that name the file and the key. The group's container can write the file, so it
//! is read only as a small regular file, never through a symlink, and an error says where
//! and what is wrong without quoting the file's lines.

use std::path::Path;

use serde::Deserialize;

use crate::error::GroupError;

/// The file name of a group's settings.
pub const CONFIG_FILE: &str = "group.toml";

/// The most a `group.toml` may hold.
pub(crate) const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// What `group.toml` may say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The skills (folder names under the home's `skills/`) synced into this group;
    /// all of them when absent. A name that is not a skill is warned about, not fatal.
    pub skills: Option<Vec<String>>,
    /// The Ollama model for this group, instead of `OLLAMA_MODEL` / `[assistant] model`.
    pub model: Option<String>,
}

/// The commented `group.toml` that `b00t group add` writes.
pub(crate) fn starter(name: &str) -> String {
    format!(
        "# group.toml: settings of the group `{name}`. Every key is optional; unknown keys are errors.\n\
         \n\
         # The skills (folders of the home's skills/) synced into this group's .skills/.\n\
         # Default: all of them.\n\
         # skills = [\"b00t-bus\", \"install\"]\n\
         \n\
         # The Ollama model that answers this group, instead of OLLAMA_MODEL.\n\
         # model = \"llama3.2\"\n"
    )
}

impl GroupConfig {
    /// Reads `path`, a file of a group folder (which the group's container can write); a
    /// missing file or folder means the defaults. Only a regular file of at most
    /// [`MAX_CONFIG_BYTES`] is read, opened relative to its folder without following a
    /// symlink, so a planted link, FIFO or huge file is an error naming the file, never
    /// one holding its contents.
    pub fn load(path: &Path) -> Result<GroupConfig, GroupError> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return Err(GroupError::io(
                "read",
                path,
                std::io::ErrorKind::InvalidInput.into(),
            ));
        };
        let folder = match b00t_skills::Folder::open(dir) {
            Ok(folder) => folder,
            Err(e) if e.is_not_found() => return Ok(GroupConfig::default()),
            Err(e) => return Err(GroupError::File(e)),
        };
        let Some(bytes) = folder
            .read(name, MAX_CONFIG_BYTES)
            .map_err(GroupError::File)?
        else {
            return Ok(GroupConfig::default());
        };
        let text = String::from_utf8(bytes).map_err(|e| GroupError::Config {
            path: path.to_owned(),
            message: format!(
                "it is not UTF-8 (a bad byte at offset {}): save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        })?;
        GroupConfig::parse(&text, path)
    }

    /// Parses and checks the text of a `group.toml` read from `path`. A syntax or type
    /// error says where (line and column) and what, without quoting the file's lines.
    pub fn parse(text: &str, path: &Path) -> Result<GroupConfig, GroupError> {
        let fail = |message: String| GroupError::Config {
            path: path.to_owned(),
            message,
        };
        let config: GroupConfig =
            toml::from_str(text).map_err(|e| fail(describe_toml_error(&e, text)))?;
        if let Some(skills) = &config.skills {
            for skill in skills {
                if let Err(e) = b00t_proto::Name::parse(skill) {
                    return Err(fail(format!(
                        "`skills` lists `{skill}`, which cannot be a skill name ({e}): use the skill's folder name"
                    )));
                }
            }
        }
        if let Some(model) = &config.model {
            if model.trim().is_empty() || model.chars().any(char::is_control) {
                return Err(fail(
                    "`model` is empty or holds control characters: give an Ollama model name such as \"llama3.2\", or remove the line".to_owned(),
                ));
            }
        }
        Ok(config)
    }

    /// The skills this group gets.
    pub fn selection(&self) -> b00t_skills::Selection {
        match &self.skills {
            None => b00t_skills::Selection::All,
            Some(names) => b00t_skills::Selection::Only(names.clone()),
        }
    }
}

/// Where and what a TOML error is: the line, the column, the key when the line sets one
/// of ours, and toml's message. Not the error's `Display`, which quotes the offending line
/// of the file: a `group.toml` error is logged and sent on the bus, and the file's lines
/// are not ours to publish (the message itself names at most a key or a value).
fn describe_toml_error(error: &toml::de::Error, text: &str) -> String {
    let what = error.message().trim().replace('\n', "; ");
    let Some(span) = error.span() else {
        return what;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let rest_of_line = text[line_start..].lines().next().unwrap_or("");
    let key = KEYS.iter().find(|key| {
        rest_of_line
            .trim_start()
            .strip_prefix(**key)
            .is_some_and(|after| after.trim_start().starts_with('='))
    });
    match key {
        Some(key) => format!("line {line}, column {column} (`{key}`): {what}"),
        None => format!("line {line}, column {column}: {what}"),
    }
}

/// The keys of [`GroupConfig`], to name in an error.
const KEYS: &[&str] = &["skills", "model"];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GroupConfig, String> {
        GroupConfig::parse(text, Path::new("/h/groups/family/group.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn parses_every_key_and_defaults() {
        assert_eq!(parse("").unwrap(), GroupConfig::default());
        assert_eq!(parse(&starter("family")).unwrap(), GroupConfig::default());
        let config = parse("skills = [\"b00t-bus\"]\nmodel = \"qwen3:8b\"\n").unwrap();
        assert_eq!(config.skills.as_deref(), Some(&["b00t-bus".to_owned()][..]));
        assert_eq!(config.model.as_deref(), Some("qwen3:8b"));
        assert_eq!(
            config.selection(),
            b00t_skills::Selection::Only(vec!["b00t-bus".into()])
        );
        assert_eq!(
            GroupConfig::default().selection(),
            b00t_skills::Selection::All
        );
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let err = parse("skils = []\n").unwrap_err();
        assert!(err.starts_with("`/h/groups/family/group.toml`: "), "{err}");
        assert!(
            err.contains("unknown field `skils`") && err.contains("`skills`"),
            "{err}"
        );
        let err = parse("skills = \"all\"\n").unwrap_err();
        assert!(
            err.contains("group.toml") && err.contains("skills") && err.contains("sequence"),
            "{err}"
        );
        let err = parse("skills = [\"../x\"]\n").unwrap_err();
        assert!(
            err.contains("group.toml") && err.contains("`skills` lists `../x`"),
            "{err}"
        );
        let err = parse("model = \"\"\n").unwrap_err();
        assert!(
            err.contains("group.toml") && err.contains("`model` is empty"),
            "{err}"
        );
        let err = parse("model = [\n").unwrap_err();
        assert!(
            err.contains("group.toml") && err.contains("line 1"),
            "{err}"
        );
    }

    /// A secret of the host, as an attacker would like the runtime to print it.
    const SECRET: &str =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n";

    fn assert_no_secret(error: &str) {
        for line in SECRET.lines() {
            assert!(!error.contains(line), "the error quotes the file: {error}");
        }
    }

    #[test]
    fn a_symlinked_group_toml_is_not_followed() {
        let home = tempfile::tempdir().unwrap();
        let secret = home.path().join("operator.key");
        std::fs::write(&secret, SECRET).unwrap();
        let group = home.path().join("family");
        std::fs::create_dir(&group).unwrap();
        std::os::unix::fs::symlink(&secret, group.join(CONFIG_FILE)).unwrap();
        let error = GroupConfig::load(&group.join(CONFIG_FILE))
            .unwrap_err()
            .to_string();
        assert_no_secret(&error);
        assert!(
            error.contains("family/group.toml` is a symlink") && error.contains("not followed"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_group_toml_is_not_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, SECRET).unwrap();
        let error = GroupConfig::load(&path).unwrap_err().to_string();
        assert_no_secret(&error);
        assert!(error.contains("group.toml`: line 1, column "), "{error}");
        std::fs::write(
            &path,
            "model = \"llama3.2\"\nskills = [\"a\", \"b\"\n# hunter2\n",
        )
        .unwrap();
        let error = GroupConfig::load(&path).unwrap_err().to_string();
        assert!(
            !error.contains("hunter2") && !error.contains("llama3.2"),
            "{error}"
        );
        assert!(
            error.contains("line 2") || error.contains("line 3"),
            "{error}"
        );
    }

    #[test]
    fn a_fifo_or_a_huge_group_toml_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let (done, loaded) = std::sync::mpsc::channel();
        let load_path = path.clone();
        std::thread::spawn(move || {
            done.send(GroupConfig::load(&load_path).map_err(|e| e.to_string()))
        });
        let outcome = loaded.recv_timeout(std::time::Duration::from_secs(10));
        if outcome.is_err() {
            // Let the stuck reader go before failing.
            drop(std::fs::OpenOptions::new().write(true).open(&path));
        }
        let error = outcome.expect("loading a FIFO hangs").unwrap_err();
        assert!(error.contains("is not a regular file"), "{error}");

        std::fs::remove_file(&path).unwrap();
        let huge = format!("# {}\n", "x".repeat(MAX_CONFIG_BYTES as usize));
        std::fs::write(&path, huge).unwrap();
        let error = GroupConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("larger than 65536 bytes"), "{error}");
    }

    #[test]
    fn a_missing_file_is_the_defaults() {
        assert_eq!(
            GroupConfig::load(Path::new("/no/such/group.toml")).unwrap(),
            GroupConfig::default()
        );
    }
}
