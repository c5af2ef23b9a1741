//! Encode and decode of the three FD messages (`mcdata::codec`), each with the optional
//! IEs a real FD request or report carries.
//!
//! `cargo bench --features bench --bench codec`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

use mcdata::codec::{
    self, Disposition, DispositionRequest, FdNetworkNotification, FdNotification, FdSignalling,
    FileMetadata, NetworkNotificationKind,
};
use uuid::Uuid;

const URL: &str = "http://cs.a.example:8080/files/1b1ddd46-ddda-4f23-837b-6dd2bbe7950d";

fn signalling() -> FdSignalling {
    let mut m = FdSignalling::new(1_795_786_701, Uuid::from_u128(1), Uuid::from_u128(2));
    m.application_id = Some(1);
    m.disposition_request = Some(DispositionRequest::FileDownloadCompletedUpdate);
    m.mandatory_download = true;
    m.set_file_url(URL);
    m.metadata = Some(FileMetadata {
        name: Some("incident-report-42.pdf".into()),
        size: Some(67_108_864),
        content_type: Some("application/pdf".into()),
        sha256: Some("295616f8d60efb472c7aa51a02d60b77aeae6cb1d2ba891c0720ea23d17625be".into()),
        file_date: Some("2026-11-27T13:38:21Z".into()),
        file_availability: Some("86400".into()),
        file_description: Some("road closed at junction 7".into()),
    });
    m.sender = Some("sip:alice@a.example".into());
    m
}

fn notification() -> FdNotification {
    let mut m = FdNotification::new(
        Disposition::FileDownloadCompleted,
        1_795_786_701,
        Uuid::from_u128(1),
        Uuid::from_u128(2),
    );
    m.sender = Some("sip:bob@b.example".into());
    m
}

fn network() -> FdNetworkNotification {
    let mut m = FdNetworkNotification::new(
        NetworkNotificationKind::FileDeleted,
        1_795_786_701,
        Uuid::from_u128(1),
        Uuid::from_u128(2),
    );
    m.set_file_url(URL);
    m.sender = Some("sip:server@a.example".into());
    m
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    let s = signalling();
    let n = notification();
    let w = network();
    let (sb, nb, wb) = (
        s.encode().unwrap(),
        n.encode().unwrap(),
        w.encode().unwrap(),
    );

    g.throughput(Throughput::Bytes(sb.len() as u64));
    g.bench_function("encode/fd_signalling", |b| {
        b.iter(|| black_box(&s).encode().unwrap())
    });
    g.bench_function("decode/fd_signalling", |b| {
        b.iter(|| FdSignalling::decode(black_box(&sb)).unwrap())
    });
    g.throughput(Throughput::Bytes(nb.len() as u64));
    g.bench_function("encode/fd_notification", |b| {
        b.iter(|| black_box(&n).encode().unwrap())
    });
    g.bench_function("decode/fd_notification", |b| {
        b.iter(|| FdNotification::decode(black_box(&nb)).unwrap())
    });
    g.throughput(Throughput::Bytes(wb.len() as u64));
    g.bench_function("encode/fd_network_notification", |b| {
        b.iter(|| black_box(&w).encode().unwrap())
    });
    g.bench_function("decode/fd_network_notification", |b| {
        b.iter(|| FdNetworkNotification::decode(black_box(&wb)).unwrap())
    });
    g.throughput(Throughput::Bytes(sb.len() as u64));
    g.bench_function("decode/any_message", |b| {
        b.iter(|| codec::decode(black_box(&sb)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
