//! `kill -9` in the middle of batch commits: a child process (this test binary again,
//! told so by an environment variable) writes big batches of tasks and prints each id
//! once its commit is confirmed; the parent kills it with SIGKILL while it writes, reopens
//! the journal, and finds every confirmed task, whole.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use b00t_journal::Journal;

/// Set in the child: the journal it writes to.
const CHILD_JOURNAL: &str = "B00T_JOURNAL_KILL9_CHILD";
/// Tasks per batch the child sends before waiting for their commits.
const PER_BATCH: usize = 64;
/// Payload of each task: big enough that a commit takes a while.
const PAYLOAD: usize = 16 * 1024;

fn payload(id: &str) -> Vec<u8> {
    let mut bytes = id.as_bytes().to_vec();
    bytes.resize(PAYLOAD, b'.');
    bytes
}

#[test]
fn every_confirmed_task_survives_kill_9_in_the_middle_of_a_commit() {
    if let Ok(path) = std::env::var(CHILD_JOURNAL) {
        write_until_killed(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let mut confirmed = HashSet::new();
    // Three runs over the same journal, killed after different amounts of work.
    for (run, kill_after) in [(0, 300), (1, 700), (2, 1100)] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "every_confirmed_task_survives_kill_9_in_the_middle_of_a_commit",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_JOURNAL, &path)
            .env("B00T_KILL9_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut this_run = 0;
        while this_run < kill_after {
            let line = lines
                .next()
                .expect("the child writes until killed")
                .unwrap();
            if let Some(id) = line.strip_prefix("committed ") {
                confirmed.insert(id.to_owned());
                this_run += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Lines the child printed before it died were confirmed too.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("committed ") {
                confirmed.insert(id.to_owned());
            }
        }
    }

    let wal = dir.path().join("journal.db-wal");
    assert!(
        wal.metadata().map(|m| m.len()).unwrap_or(0) > 0,
        "the child died with its WAL unfinished"
    );
    let journal = Journal::open(&path).expect("the journal reopens after kill -9");
    let open = journal.open_tasks().unwrap();
    let stored: std::collections::HashMap<_, _> =
        open.iter().map(|t| (t.id.clone(), &t.payload)).collect();
    let missing: Vec<_> = confirmed
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} confirmed tasks are missing, e.g. {:?}",
        missing.len(),
        confirmed.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    for id in &confirmed {
        assert_eq!(stored[id], &payload(id), "task `{id}` is whole");
    }
}

/// The child: batches of tasks, each id printed once its commit is confirmed.
fn write_until_killed(path: &Path) {
    let run = std::env::var("B00T_KILL9_RUN").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let journal = Journal::open(path).unwrap();
    let handle = journal.handle();
    let mut out = std::io::stdout().lock();
    runtime.block_on(async {
        // Two batches in flight, so that the writer is always in the middle of one.
        let mut in_flight = std::collections::VecDeque::new();
        for batch in 0.. {
            for n in 0..PER_BATCH {
                let id = format!("r{run}-b{batch}-t{n}");
                let commit = handle.task_durable("b00t.kill.s", &id, &payload(&id), None);
                in_flight.push_back((id, commit));
            }
            while in_flight.len() > PER_BATCH {
                let (id, commit) = in_flight.pop_front().unwrap();
                commit.await.unwrap();
                writeln!(out, "committed {id}").unwrap();
            }
            out.flush().unwrap();
        }
    });
}
