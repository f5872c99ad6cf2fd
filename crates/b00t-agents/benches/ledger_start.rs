//! What a journaled ledger costs at start: `Ledger::journaled` reads every `(address,
//! id)` its agent ever executed into the Bloom filter (`seen.rs`), so that a new id never
//! waits on the journal. Measured on journals of 10,000 and 200,000 executions, against
//! opening the same journal alone, in the same run.

use criterion::{criterion_group, criterion_main, Criterion};

use b00t_agents::Ledger;
use b00t_journal::Journal;

/// Executions written for `agent`, in batches that wait for their commits.
fn journal_with(dir: &std::path::Path, executions: usize) -> std::path::PathBuf {
    let path = dir.join(format!("journal-{executions}.db"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let journal = Journal::open(&path).expect("the journal");
    let handle = journal.handle();
    let reply = br#"{"type":"result","id":"x","agent":"echo","skill":"echo","ok":true,"body":{"echo":"x","seq":1},"ms":0,"ts":"2026-12-03T10:00:00.000Z"}"#;
    runtime.block_on(async {
        for batch in 0..executions.div_ceil(5_000) {
            let mut committed = Vec::new();
            for n in batch * 5_000..((batch + 1) * 5_000).min(executions) {
                let id = format!("bench-{n:08}");
                committed.push(handle.execution("echo", "b00t.echo.echo", &id, reply));
            }
            for done in committed {
                done.await.expect("the writer commits");
            }
        }
        journal.close().await;
    });
    path
}

fn start(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut group = c.benchmark_group("ledger_start");
    group.sample_size(10);
    for executions in [10_000, 200_000] {
        let path = journal_with(dir.path(), executions);
        group.bench_function(format!("open_journal/{executions}"), |b| {
            b.iter(|| Journal::open(&path).expect("the journal"))
        });
        let journal = Journal::open(&path).expect("the journal");
        group.bench_function(format!("journaled_ledger/{executions}"), |b| {
            b.iter(|| Ledger::journaled("echo", &journal).expect("the ledger"))
        });
    }
    group.finish();
}

criterion_group!(benches, start);
criterion_main!(benches);
