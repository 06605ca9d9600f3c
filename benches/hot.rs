//! Criterion benchmarks of the hot functions, on the Helm 3 capture with a
//! claim + replicas config: splitting (event scan and one-pass trees), the
//! inventory, the plan, patching (edits and verification) and the whole run.
//!
//!     cargo bench --bench hot

use criterion::{Criterion, criterion_group, criterion_main};
use polyrepo_render::Strategy;
use polyrepo_render::config::{AccessMode, Settings, Source};
use polyrepo_render::report::Report;
use polyrepo_render::stages::Stages;
use polyrepo_render::yaml as stream;
use std::hint::black_box;

fn settings() -> Settings {
    Settings {
        configured: true,
        source: Some(Source::Claim("polyaxon-repos".into())),
        access_mode: Some(AccessMode::ReadWriteOnce),
        mount_into: vec!["*-scheduler".into()],
        ..Settings::default()
    }
}

fn hot(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/polyaxon-0.6.1/helm3-replicas.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let s = settings();
    let stages = Stages::new(&text, &s).unwrap();

    c.bench_function("split: event scan", |b| {
        b.iter(|| stream::scan(black_box(&text)).unwrap())
    });
    c.bench_function("split: one-pass trees", |b| {
        b.iter(|| stream::parse(black_box(&text)).unwrap())
    });
    c.bench_function("inventory", |b| b.iter(|| black_box(&stages).inventory()));
    c.bench_function("plan", |b| b.iter(|| black_box(&stages).plan()));
    c.bench_function("patch (edits + verify)", |b| {
        b.iter(|| black_box(&stages).patch())
    });
    for (name, strategy) in [
        ("render: one pass", Strategy::OnePass),
        ("render: on demand", Strategy::OnDemand),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                polyrepo_render::render_with(
                    black_box(text.as_bytes()),
                    &s,
                    &mut Report::default(),
                    strategy,
                )
                .unwrap()
                .to_vec()
            })
        });
    }
}

criterion_group!(benches, hot);
criterion_main!(benches);
