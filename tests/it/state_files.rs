//! The state folder as `b00t up` leaves it: 0700, and every file in it 0600 (journal,
//! WAL and shared memory, lock, broker URL, operator key, audit log), even when an
//! earlier version had made them readable by everyone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Bus, Home, Mode};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every folder and file under `dir` (itself included), with its mode.
fn walk(dir: &Path, found: &mut Vec<(String, bool, u32)>) {
    found.push((dir.display().to_string(), true, mode(dir)));
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, found);
        } else {
            found.push((path.display().to_string(), false, mode(&path)));
        }
    }
}

#[test]
fn up_keeps_the_state_folder_and_every_file_in_it_private() {
    let home = Home::new("[agents]\necho = false\n");
    let state = home.path().join("state");
    // As an earlier version left them: a 0755 folder, 0644 files.
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in ["broker.url", "audit.jsonl"] {
        std::fs::write(state.join(file), "").unwrap();
        std::fs::set_permissions(state.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    let bus = Bus::start(Mode::Embedded, &home);
    // An audited decision: the installer refuses a datum it does not know.
    let out = bus.cli(&[
        "send",
        "b00t.installer.cli",
        r#"{"datum":"nope","dry_run":true}"#,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit = std::fs::read_to_string(state.join("audit.jsonl")).unwrap();
    assert!(audit.contains("nope"), "{audit}");

    let mut found = Vec::new();
    walk(&state, &mut found);
    let names: Vec<&str> = found
        .iter()
        .map(|(path, _, _)| path.rsplit('/').next().unwrap())
        .collect();
    for expected in [
        "journal.db",
        "journal.db-wal",
        "journal.db-shm",
        "up.lock",
        "broker.url",
        "operator.key",
        "audit.jsonl",
    ] {
        assert!(names.contains(&expected), "no {expected} in {found:?}");
    }
    for (path, is_dir, mode) in &found {
        let wanted = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, wanted, "{path} is {mode:o}");
    }
}
