//! `b00t acl export --mosquitto DIR`: the bus's identities and topic rules for an
//! external Mosquitto. Writes `DIR/password_file` (every identity's password, Mosquitto's
//! salted SHA-512 format, mode 0600) and `DIR/acl_file`, prints the `mosquitto.conf`
//! lines that use them, and says on stderr what Mosquitto's format cannot express.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use b00t_acl::{mosquitto, Acl, Who};
use b00t_broker::Credentials;
use b00t_config::{AclFile, CredentialFiles, Home};
use b00t_runtime::launch::AgentPasswords;

use crate::cli::AclExportArgs;

pub(super) fn export(args: AclExportArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let dir = &args.mosquitto;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make `{}`", dir.display()))?;
    let state = home.state_dir()?;
    let files = CredentialFiles::open(&state)?;
    let mut users = vec![
        (
            b00t_acl::RUNTIME.to_owned(),
            files.get_or_make(b00t_acl::RUNTIME)?,
        ),
        (
            b00t_acl::OPERATOR.to_owned(),
            files.get_or_make(b00t_acl::OPERATOR)?,
        ),
    ];
    let acl = Acl::new(home.config().broker.anonymous);
    let mut skills: BTreeMap<String, Vec<String>> = BTreeMap::new();
    skills.insert(
        b00t_installer::AGENT.to_owned(),
        b00t_installer::SKILLS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    );
    skills.insert(
        "scheduler".to_owned(),
        ["add", "list", "remove"].map(str::to_owned).to_vec(),
    );
    // Each group's password, made now for a group that never started.
    let mut passwords = AgentPasswords::load(&home, Credentials::default())?;
    let groups = b00t_groups::Groups::new(home.groups_dir()).list()?;
    for group in &groups.groups {
        let name = group.name.to_string();
        users.push((name.clone(), passwords.password(&name)?));
        acl.claim(&name, Who::Agent(name.clone()));
        let mut own = vec!["chat".to_owned()];
        if let Ok(entries) = std::fs::read_dir(group.dir.join(".skills")) {
            for entry in entries.flatten() {
                if let Some(skill) = entry.file_name().to_str() {
                    if b00t_proto::Name::parse(skill).is_ok() && skill != "chat" {
                        own.push(skill.to_owned());
                    }
                }
            }
        }
        own.sort();
        skills.insert(name, own);
    }
    for (agent, sends) in AclFile::load(home.root())?.sends {
        acl.allow_sends(&agent, sends);
    }

    let mut password_file = String::new();
    for (user, password) in &users {
        let mut salt = [0u8; 12];
        getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness for a salt: {e}"))?;
        password_file.push_str(&mosquitto::password_line(user, password, &salt));
        password_file.push('\n');
    }
    write_private(&dir.join("password_file"), &password_file)?;
    write_private(&dir.join("acl_file"), &mosquitto::acl_file(&acl, &skills))?;

    let shown = |name: &str| dir.join(name).display().to_string();
    outln!("password_file {}", shown("password_file"))?;
    outln!("acl_file {}", shown("acl_file"))?;
    outln!(
        "allow_anonymous {}",
        if home.config().broker.anonymous {
            "true"
        } else {
            "false"
        }
    )?;
    errln!(
        "wrote the rules for {} identities; the files are mode 0600: give them to the user Mosquitto runs as (`chown mosquitto {}/*`), put the lines above in mosquitto.conf, then run `b00t up --broker mqtt://runtime@HOST:PORT` (b00t fills in the passwords from state/credentials)",
        users.len(),
        dir.display()
    );
    errln!("what Mosquitto's format cannot express:");
    for limit in mosquitto::LIMITS {
        errln!("  - {limit}");
    }
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("cannot write `{}`", temp.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write `{}`", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}
