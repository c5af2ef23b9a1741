//! The partner's URL handling on every request: `parse_prefixed` (the original URL out of
//! the request path, with its smuggling checks), the allowlist lookup and the cache key.
//!
//! `cargo bench --features bench --bench target`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

use mcdata::cache::CacheKey;
use mcdata::partner::target::{parse_prefixed, Allowlist};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("target");
    let short = "/http://127.0.0.1:18080/files/1k";
    let long = "/http://cs.a.example:8080/files/1b1ddd46-ddda-4f23-837b-6dd2bbe7950d";
    let query = Some("version=3&part=all");
    g.bench_function("parse_prefixed/short", |b| {
        b.iter(|| parse_prefixed(black_box(short), None).unwrap())
    });
    g.bench_function("parse_prefixed/uuid_path", |b| {
        b.iter(|| parse_prefixed(black_box(long), None).unwrap())
    });
    g.bench_function("parse_prefixed/with_query", |b| {
        b.iter(|| parse_prefixed(black_box(long), black_box(query)).unwrap())
    });
    g.bench_function("parse_prefixed/refused_dot_segment", |b| {
        b.iter(|| parse_prefixed(black_box("/http://h:1/files/../etc/passwd"), None).unwrap_err())
    });
    let url = parse_prefixed(long, None).unwrap();
    let allow = Allowlist::new(
        (0..8)
            .map(|i| {
                (
                    format!("S{i}"),
                    url::Url::parse(&format!("http://cs{i}.example:8080")).unwrap(),
                )
            })
            .chain([(
                "A".to_string(),
                url::Url::parse("http://cs.a.example:8080").unwrap(),
            )]),
    );
    g.bench_function("allowlist/system_for", |b| {
        b.iter(|| allow.system_for(black_box(&url)).unwrap().len())
    });
    g.bench_function("cache_key", |b| b.iter(|| CacheKey::of(black_box(&url))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
