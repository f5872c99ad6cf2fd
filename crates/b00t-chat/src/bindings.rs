//! Which chat reaches which group: `[bridges.<name>.chats]` in the home's b00t.toml
//! (`"<chat id>" = "<group>"`), read afresh for every message so that `b00t bridge allow`
//! and `deny` take effect without a restart, and edited with toml_edit so the file keeps
//! its comments and layout. An edit is checked as a whole configuration before it is
//! written (to a temporary file, then renamed).

use std::path::{Path, PathBuf};

use b00t_config::Config;
use toml_edit::{DocumentMut, Item, Table};

use crate::ChatError;

/// `telegram:<chat id>`, as the operator writes a chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatRef {
    pub platform: String,
    pub chat_id: String,
}

impl ChatRef {
    /// Reads `<platform>:<chat id>`; a Telegram id is an integer (negative for groups), a
    /// WhatsApp id the person's number in digits (a leading `+` is dropped).
    pub fn parse(text: &str) -> Result<ChatRef, ChatError> {
        let bad = || ChatError::BadChat {
            chat: text.to_owned(),
        };
        let (platform, chat_id) = text.split_once(':').ok_or_else(bad)?;
        let chat_id = chat_id.trim();
        if !b00t_config::BRIDGE_KINDS.contains(&platform) || chat_id.is_empty() {
            return Err(bad());
        }
        if platform == "telegram" && chat_id.parse::<i64>().is_err() {
            return Err(bad());
        }
        // A WhatsApp id is the number in international form without `+`, which is dropped.
        let chat_id = match platform {
            "whatsapp" => chat_id.strip_prefix('+').unwrap_or(chat_id),
            _ => chat_id,
        };
        if platform == "whatsapp"
            && (chat_id.is_empty() || !chat_id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(ChatRef {
            platform: platform.to_owned(),
            chat_id: chat_id.to_owned(),
        })
    }
}

impl std::fmt::Display for ChatRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.platform, self.chat_id)
    }
}

/// The group `chat_id` of bridge `bridge` reaches, read now from `<home>/b00t.toml`.
pub fn bound_group(home: &Path, bridge: &str, chat_id: &str) -> Result<Option<String>, ChatError> {
    Ok(binding(home, bridge, chat_id)?.map(|b| b.group))
}

/// What a bound chat reaches: its group, and the only senders let through (`None`:
/// everyone in the chat).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub group: String,
    pub senders: Option<Vec<String>>,
}

impl Binding {
    /// Whether `sender`'s messages reach the group.
    pub fn admits(&self, sender: &str) -> bool {
        self.senders
            .as_ref()
            .is_none_or(|senders| senders.iter().any(|s| s == sender))
    }
}

/// The binding of `chat_id` of bridge `bridge`, read now from `<home>/b00t.toml`.
pub fn binding(home: &Path, bridge: &str, chat_id: &str) -> Result<Option<Binding>, ChatError> {
    let config = Config::load(home)?;
    let Some(bridge) = config.bridges.get(bridge) else {
        return Ok(None);
    };
    Ok(bridge.chats.get(chat_id).map(|group| Binding {
        group: group.clone(),
        senders: bridge.senders.get(chat_id).cloned(),
    }))
}

/// The bridge of `platform` an `allow` or `deny` edits: `explicit` when given, else the
/// only bridge of that kind, else (none configured) one named after the platform.
pub fn bridge_for(
    config: &Config,
    path: &Path,
    platform: &str,
    explicit: Option<&str>,
) -> Result<String, ChatError> {
    if let Some(name) = explicit {
        return Ok(name.to_owned());
    }
    let mut of_kind = config
        .bridges
        .iter()
        .filter(|(name, bridge)| bridge.kind_or(name) == platform)
        .map(|(name, _)| name.clone());
    match (of_kind.next(), of_kind.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Ok(platform.to_owned()),
        (Some(_), Some(_)) => Err(ChatError::WhichBridge {
            platform: platform.to_owned(),
            path: path.to_owned(),
        }),
    }
}

/// Binds `chat_id` to `group` in `[bridges.<bridge>.chats]` of `<home>/b00t.toml`
/// (making the tables when missing). Returns the group it was bound to before.
pub fn allow(
    home: &Path,
    bridge: &str,
    chat_id: &str,
    group: &str,
) -> Result<Option<String>, ChatError> {
    if let Err(e) = b00t_proto::Name::parse(group) {
        return Err(ChatError::BadGroup {
            group: group.to_owned(),
            problem: e.to_string(),
        });
    }
    edit(home, |doc| {
        let chats = table(doc, bridge, "chats", true).expect("made when missing");
        let before = chats.get(chat_id).and_then(Item::as_str).map(str::to_owned);
        chats.insert(chat_id, toml_edit::value(group));
        before
    })
}

/// Lets only `senders` of `chat_id` through (`[bridges.<bridge>.senders]`); an empty
/// list lets everyone in the chat through again.
pub fn set_senders(
    home: &Path,
    bridge: &str,
    chat_id: &str,
    senders: &[String],
) -> Result<(), ChatError> {
    edit(home, |doc| {
        if senders.is_empty() {
            if let Some(table) = table(doc, bridge, "senders", false) {
                table.remove(chat_id);
            }
            return;
        }
        let table = table(doc, bridge, "senders", true).expect("made when missing");
        let list: toml_edit::Array = senders.iter().map(String::as_str).collect();
        table.insert(chat_id, toml_edit::value(list));
    })
}

/// Removes `chat_id` from `[bridges.<bridge>.chats]`. Returns the group it reached.
pub fn deny(home: &Path, bridge: &str, chat_id: &str) -> Result<Option<String>, ChatError> {
    edit(home, |doc| {
        if let Some(senders) = table(doc, bridge, "senders", false) {
            senders.remove(chat_id);
        }
        let chats = table(doc, bridge, "chats", false)?;
        chats
            .remove(chat_id)
            .and_then(|item| item.as_str().map(str::to_owned))
    })
}

/// The path of `<home>/b00t.toml`.
pub fn config_path(home: &Path) -> PathBuf {
    home.join(Config::FILE_NAME)
}

/// `[bridges.<bridge>.<name>]`, made when `make` and missing.
fn table<'a>(
    doc: &'a mut DocumentMut,
    bridge: &str,
    name: &str,
    make: bool,
) -> Option<&'a mut Table> {
    let mut table = doc.as_table_mut();
    for key in ["bridges", bridge, name] {
        if !table.contains_key(key) {
            if !make {
                return None;
            }
            let mut new = Table::new();
            // `[bridges]` itself is never written as a header of its own.
            new.set_implicit(key == "bridges");
            table.insert(key, Item::Table(new));
        }
        table = table.get_mut(key)?.as_table_mut()?;
    }
    Some(table)
}

/// Applies `change` to `<home>/b00t.toml`, checks the result as a configuration, and
/// writes it back (temporary file, then rename).
fn edit<T>(home: &Path, change: impl FnOnce(&mut DocumentMut) -> T) -> Result<T, ChatError> {
    let path = config_path(home);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(b00t_config::ConfigError::Read { path, source }.into()),
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| ChatError::Edit {
            path: path.clone(),
            problem: e.to_string().trim_end().to_owned(),
        })?;
    let outcome = change(&mut doc);
    let new_text = doc.to_string();
    Config::parse(&new_text, &path)?;
    let temporary = path.with_extension("toml.b00t-edit");
    let write = |source| ChatError::Write {
        path: path.clone(),
        source,
    };
    std::fs::write(&temporary, new_text.as_bytes()).map_err(write)?;
    std::fs::rename(&temporary, &path).map_err(write)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_are_platform_and_id() {
        assert_eq!(
            ChatRef::parse("telegram:-1001234").unwrap(),
            ChatRef {
                platform: "telegram".into(),
                chat_id: "-1001234".into()
            }
        );
        // A Matrix room id holds `:` itself (`!<id>:<server>` before room version 12).
        let room = ChatRef::parse("matrix:!AbC-d_e:example.org").unwrap();
        assert_eq!(room.platform, "matrix");
        assert_eq!(room.chat_id, "!AbC-d_e:example.org");
        assert_eq!(room.to_string(), "matrix:!AbC-d_e:example.org");
        let phone = ChatRef::parse("whatsapp:+16505551234").unwrap();
        assert_eq!(phone.to_string(), "whatsapp:16505551234");
        for bad in [
            "telegram",
            "telegram:",
            "telegram:abc",
            "signal:1",
            "-100",
            "whatsapp:+",
            "whatsapp:1 650 555",
        ] {
            let error = ChatRef::parse(bad).unwrap_err().to_string();
            assert!(error.contains("telegram:-1001234567890"), "{bad}: {error}");
        }
    }

    #[test]
    fn allow_and_deny_keep_comments_and_take_effect() {
        let home = tempfile::tempdir().unwrap();
        let path = config_path(home.path());
        std::fs::write(
            &path,
            "# my settings\n[agents]\necho = false # no echo\n\n[bridges.telegram]\ntrigger = \"@Andy\" # the word\n",
        )
        .unwrap();
        assert_eq!(bound_group(home.path(), "telegram", "42").unwrap(), None);
        assert_eq!(
            allow(home.path(), "telegram", "42", "family").unwrap(),
            None
        );
        assert_eq!(allow(home.path(), "telegram", "-7", "main").unwrap(), None);
        assert_eq!(
            allow(home.path(), "telegram", "42", "work")
                .unwrap()
                .as_deref(),
            Some("family")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        for kept in [
            "# my settings",
            "echo = false # no echo",
            "trigger = \"@Andy\" # the word",
        ] {
            assert!(text.contains(kept), "{text}");
        }
        assert!(text.contains("[bridges.telegram.chats]"), "{text}");
        assert!(!text.contains("[bridges]\n"), "{text}");
        assert_eq!(
            bound_group(home.path(), "telegram", "42")
                .unwrap()
                .as_deref(),
            Some("work")
        );
        assert_eq!(
            deny(home.path(), "telegram", "42").unwrap().as_deref(),
            Some("work")
        );
        assert_eq!(deny(home.path(), "telegram", "42").unwrap(), None);
        // Senders: only those listed, until the list is emptied; deny removes it too.
        allow(home.path(), "telegram", "42", "family").unwrap();
        set_senders(home.path(), "telegram", "42", &["7".into(), "8".into()]).unwrap();
        let bound = binding(home.path(), "telegram", "42").unwrap().unwrap();
        assert!(bound.admits("7") && bound.admits("8") && !bound.admits("9"));
        set_senders(home.path(), "telegram", "42", &[]).unwrap();
        assert!(binding(home.path(), "telegram", "42")
            .unwrap()
            .unwrap()
            .admits("9"));
        set_senders(home.path(), "telegram", "42", &["7".into()]).unwrap();
        deny(home.path(), "telegram", "42").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"42\""), "{text}");
        assert_eq!(deny(home.path(), "other", "42").unwrap(), None);
        assert_eq!(bound_group(home.path(), "telegram", "42").unwrap(), None);
        assert_eq!(
            bound_group(home.path(), "telegram", "-7")
                .unwrap()
                .as_deref(),
            Some("main")
        );
    }

    #[test]
    fn allow_in_a_home_without_a_config_makes_the_bridge() {
        let home = tempfile::tempdir().unwrap();
        allow(home.path(), "telegram", "5", "family").unwrap();
        let config = Config::load(home.path()).unwrap();
        assert_eq!(config.bridges["telegram"].chats["5"], "family");
        let error = allow(home.path(), "telegram", "5", "No Good").unwrap_err();
        assert!(error.to_string().contains("not a group name"), "{error}");
        let path = config_path(home.path());
        assert_eq!(
            bridge_for(&config, &path, "telegram", None).unwrap(),
            "telegram"
        );
        assert_eq!(
            bridge_for(&config, &path, "telegram", Some("tg2")).unwrap(),
            "tg2"
        );
    }
}
