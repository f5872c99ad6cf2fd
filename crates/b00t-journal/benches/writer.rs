//! The journal's cost per task, as the runtime pays it: the watcher records the task, its
//! ack and its result, the agent its execution, and waits for the commit. `b00t bench`
//! measures the whole bus; this isolates the SQLite part of it.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use b00t_journal::{Final, Journal};

const TASKS: usize = 2_000;

fn tasks(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let journal = Journal::open(&dir.path().join("bench.db")).expect("the journal");
    let handle = journal.handle();
    let payload = br#"{"id":"bench-00000000-p12345","from":"bench","reply_to":"b00t.bench-00000000.reply","body":{"n":12345}}"#;
    let reply = br#"{"type":"result","id":"bench-00000000-p12345","agent":"echo","skill":"echo","ok":true,"body":{"echo":{"n":12345},"seq":12346},"ms":0,"ts":"2026-11-20T10:00:00.000Z"}"#;
    let mut round = 0u64;
    let mut group = c.benchmark_group("journal");
    group.throughput(Throughput::Elements(TASKS as u64));
    group.sample_size(20);
    group.bench_function("task_ack_result_execution", |b| {
        b.iter_batched(
            || {
                round += 1;
                (0..TASKS)
                    .map(|n| format!("r{round}-t{n}"))
                    .collect::<Vec<_>>()
            },
            |ids| {
                runtime.block_on(async {
                    let mut committed = Vec::with_capacity(ids.len());
                    for id in &ids {
                        handle.task("b00t.echo.echo", id, payload, Some("b00t.bench.reply"));
                        handle.ack("b00t.echo.echo", id);
                        handle.finish("b00t.echo.echo", id, Final::Result, None);
                        committed.push(handle.execution("echo", "b00t.echo.echo", id, reply));
                    }
                    for done in committed {
                        done.await.expect("the writer runs");
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // What one task waits on the path: its own commit, alone, as a round trip through the
    // writer thread (the front door holds a task for this; the agent its reply).
    let mut one = c.benchmark_group("journal_one");
    one.sample_size(20);
    let mut n = 0u64;
    one.bench_function("task_durable_round_trip", |b| {
        b.iter(|| {
            n += 1;
            let id = format!("one-{n}");
            runtime
                .block_on(handle.task_durable("b00t.echo.echo", &id, payload, None))
                .expect("the commit");
        })
    });
    one.finish();
}

criterion_group!(benches, tasks);
criterion_main!(benches);
