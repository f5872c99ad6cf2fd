//! Resolver benchmark: a deterministic layered DAG of 10,000 datums (each depends on up to 3
//! datums of lower index, chosen by an LCG), ordered whole (`resolve_all`) and from a root
//! that depends on the top layer (`resolve`).

use std::hint::black_box;
use std::path::Path;

use b00t_datums::{resolve, resolve_all, Catalog, Datum, DatumId};
use criterion::{criterion_group, criterion_main, Criterion};

const DATUMS: usize = 10_000;
const LAYER: usize = 100;

fn id(index: usize) -> String {
    format!("d{index:05}.cli")
}

fn datum(id: &str, depends_on: &[String]) -> Datum {
    let (name, kind) = id.rsplit_once('.').unwrap_or((id, "cli"));
    let quoted: Vec<String> = depends_on.iter().map(|dep| format!("\"{dep}\"")).collect();
    let text = format!(
        "[b00t]\nname = \"{name}\"\ntype = \"{kind}\"\nhint = \"bench\"\ndepends_on = [{}]\n",
        quoted.join(", ")
    );
    match Datum::from_toml(
        &Path::new("bench").join(format!("{id}.toml")),
        Path::new("bench"),
        &text,
    ) {
        Ok(datum) => datum,
        Err(error) => panic!("bench datum {id}: {error}"),
    }
}

/// 100 layers of 100; a datum depends on up to 3 datums in lower layers.
fn catalog() -> Catalog {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let mut datums = Vec::with_capacity(DATUMS + 1);
    for index in 0..DATUMS {
        let below = index - index % LAYER;
        let count = if below == 0 { 0 } else { next() % 4 };
        let deps: Vec<String> = (0..count).map(|_| id(next() % below)).collect();
        datums.push(datum(&id(index), &deps));
    }
    let top: Vec<String> = (DATUMS - LAYER..DATUMS).map(id).collect();
    datums.push(datum("root.stack", &top));
    Catalog::from_datums(datums)
}

fn bench(c: &mut Criterion) {
    let catalog = catalog();
    let root = DatumId::parse("root.stack").unwrap_or_else(|| panic!("root id"));
    let all = resolve_all(&catalog).map(|order| order.len());
    let from_root = resolve(&catalog, &root, true).map(|order| order.len());
    eprintln!("resolve_all: {all:?} datums; resolve(root.stack): {from_root:?} datums");
    c.bench_function("resolve_all 10k", |b| {
        b.iter(|| resolve_all(black_box(&catalog)).map(|order| order.len()))
    });
    c.bench_function("resolve root of 10k", |b| {
        b.iter(|| resolve(black_box(&catalog), &root, true).map(|order| order.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
