//! The same rules for Mosquitto: an `acl_file` and a `password_file` (`b00t acl export
//! --mosquitto DIR`), for users of an external broker. Mosquitto's ACL names topics
//! per user; it reads no payload and knows no task, so some rules cannot be said in
//! it: [`LIMITS`] lists them, and the export prints them.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha512};

use crate::{Acl, Who};

/// What Mosquitto's format cannot express, printed by the export.
pub const LIMITS: [&str; 5] = [
    "`from` is not checked: Mosquitto reads no payload, so a task's sender is not verified (agents still key de-duplication on it)",
    "a reply's `agent` is not checked, and replies on a `reply_to` are not tied to the task that named it: group agents may write under `b00t.operator/reply/#` so that the operator hears them",
    "client ids are not bound to identities: Mosquitto's ACL is by username (set `use_username_as_clientid` only if every agent connects with one client id)",
    "a card's `marked_by` is not checked: only the runtime may write another agent's card (the offline card it publishes when heartbeats stop), but Mosquitto reads no payload, so the operator (`readwrite #`) and anonymous clients (`topic write #`) are held to it only on b00t's own broker; each agent user writes only its own `b00t.<name>/status`",
    "anonymous clients get read access to everything and may send tasks; turn `allow_anonymous false` on in mosquitto.conf to refuse them",
];

/// The `acl_file`: the runtime and the operator read and write everything (the runtime
/// writes every agent's `b00t.<name>/status`: it marks silent agents offline); each agent
/// identity its own topics, the presence cards, and tasks where it may send them;
/// anonymous clients (the lines before any `user`) read everything and send tasks.
/// MQTT wildcards are whole levels and an address is one level, so each address is
/// written out: `skills` gives every agent's skills (a group's, the installer's, the
/// scheduler's) at the time of the export.
pub fn acl_file(acl: &Acl, skills: &BTreeMap<String, Vec<String>>) -> String {
    let addresses = |agent: &str| -> Vec<String> {
        skills
            .get(agent)
            .map(|s| {
                s.iter()
                    .map(|skill| format!("b00t.{agent}.{skill}"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = String::from(
        "# Written by `b00t acl export --mosquitto`: the b00t bus's topic rules for\n\
         # Mosquitto (acl_file). Re-export after adding or removing a group.\n\n",
    );
    if acl.anonymous() {
        out.push_str("# anonymous local scripts: read everything, send tasks anywhere\ntopic read #\ntopic write #\n\n");
    }
    out.push_str(&format!(
        "# the runtime: everything, and every agent's card: it marks an agent offline when\n\
         # its heartbeats stop (a card with `marked_by`)\nuser {}\ntopic readwrite #\ntopic readwrite +/status\n\n",
        Who::Runtime
    ));
    out.push_str(&format!("user {}\ntopic readwrite #\n\n", Who::Operator));
    let mut agents: Vec<String> = acl
        .claims()
        .into_iter()
        .filter_map(|(_, who)| match who {
            Who::Agent(name) => Some(name),
            _ => None,
        })
        .collect();
    agents.dedup();
    for name in agents {
        out.push_str(&format!("user {name}\n"));
        let own = addresses(&name);
        let mut reads: Vec<String> = own.iter().map(|a| format!("{a}/#")).collect();
        reads.push(format!("b00t.{name}/#"));
        reads.push("+/status".to_owned());
        for read in reads {
            out.push_str(&format!("topic read {read}\n"));
        }
        let mut writes = vec![
            format!("b00t.{name}/status"),
            format!("b00t.{name}/heartbeat"),
            format!("b00t.{name}/reply/#"),
            "b00t.operator/reply/#".to_owned(),
        ];
        for address in &own {
            writes.push(format!("{address}/task"));
            for channel in ["ack", "progress", "result", "error"] {
                writes.push(format!("{address}/{channel}"));
            }
        }
        for shared in ["installer", "scheduler"] {
            writes.extend(addresses(shared).into_iter().map(|a| format!("{a}/task")));
        }
        for entry in acl.sends_of(&name) {
            match entry.strip_suffix(".*") {
                Some(agent) => writes.extend(
                    addresses(agent.trim_start_matches("b00t."))
                        .into_iter()
                        .map(|a| format!("{a}/task")),
                ),
                None => writes.push(format!("{entry}/task")),
            }
        }
        for write in writes {
            out.push_str(&format!("topic write {write}\n"));
        }
        out.push('\n');
    }
    out
}

/// One `password_file` line in Mosquitto's salted SHA-512 format (`$6$`), which
/// `mosquitto_passwd` wrote before 2.0 and Mosquitto 2 still reads.
pub fn password_line(user: &str, password: &str, salt: &[u8; 12]) -> String {
    let mut hash = Sha512::new();
    hash.update(password.as_bytes());
    hash.update(salt);
    format!(
        "{user}:$6${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(hash.finalize())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_per_identity() {
        let acl = Acl::new(true);
        acl.claim("family", Who::Agent("family".into()));
        acl.claim("echo", Who::Runtime);
        acl.allow_sends("family", vec!["b00t.main.chat".into()]);
        let skills = BTreeMap::from([
            ("family".to_owned(), vec!["chat".to_owned()]),
            ("installer".to_owned(), vec!["apt".to_owned()]),
        ]);
        let text = acl_file(&acl, &skills);
        assert!(text.contains("user runtime\ntopic readwrite #\ntopic readwrite +/status\n"));
        assert!(text.contains("user operator\ntopic readwrite #\n"));
        // An agent user writes its own card only, never another's.
        let family = text.split("user family\n").nth(1).unwrap();
        let family = family.split("\n\n").next().unwrap();
        assert!(
            family.contains("topic write b00t.family/status\n"),
            "{family}"
        );
        assert!(!family.contains("topic write +/status"), "{family}");
        assert_eq!(family.matches("/status").count(), 2, "{family}");
        assert!(text.contains("user family\ntopic read b00t.family.chat/#\n"));
        assert!(text.contains("topic write b00t.installer.apt/task\n"));
        assert!(text.contains("topic write b00t.family.chat/result\n"));
        assert!(text.contains("topic write b00t.main.chat/task\n"));
        assert!(!text.contains("user echo"));
        let anonymous = text.split("user ").next().unwrap();
        assert!(anonymous.contains("topic read #"));
    }

    #[test]
    fn password_lines_are_mosquittos_sha512_format() {
        let line = password_line("family", "s3cret", &[7; 12]);
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "family");
        let parts: Vec<&str> = hash.split('$').collect();
        assert_eq!(parts[1], "6");
        assert_eq!(STANDARD.decode(parts[2]).unwrap(), [7; 12]);
        assert_eq!(STANDARD.decode(parts[3]).unwrap().len(), 64);
    }
}
