//! `groups/<name>/group.toml`: a group's own settings, all optional. Unknown keys are
//! errors that name the file and the key.

use std::path::Path;

use serde::Deserialize;

use crate::error::GroupError;

/// The file name of a group's settings.
pub const CONFIG_FILE: &str = "group.toml";

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
    /// Reads `path`; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<GroupConfig, GroupError> {
        match std::fs::read_to_string(path) {
            Ok(text) => GroupConfig::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GroupConfig::default()),
            Err(e) => Err(GroupError::io("read", path, e)),
        }
    }

    /// Parses and checks the text of a `group.toml` read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<GroupConfig, GroupError> {
        let fail = |message: String| GroupError::Config {
            path: path.to_owned(),
            message,
        };
        let config: GroupConfig = toml::from_str(text)
            .map_err(|e| fail(e.to_string().trim_end().replace('\n', "\n  ")))?;
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

    #[test]
    fn a_missing_file_is_the_defaults() {
        assert_eq!(
            GroupConfig::load(Path::new("/no/such/group.toml")).unwrap(),
            GroupConfig::default()
        );
    }
}
