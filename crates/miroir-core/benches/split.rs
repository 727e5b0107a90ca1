//! Routing a client payload by shard: locate each document (JSON array, NDJSON, CSV), hash its
//! id, and write the routed NDJSON with markers. Throughput is in payload bytes.
//! Targets (issue #5), one core: NDJSON ≥ 200 MB/s, JSON array ≥ 150 MB/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

use miroir_core::document::{parse_payload, PayloadFormat};
use miroir_core::hash::ShardCount;
use miroir_core::route::{route_payload, Route};

/// About 4 MB of package-like documents (the shape of the Debian packages dataset).
fn documents() -> Vec<serde_json::Value> {
    const SECTIONS: [&str; 4] = ["libs", "utils", "net", "devel"];
    (0..8_000)
        .map(|i| {
            json!({
                "id": format!("pkg-{i}"),
                "name": format!("libexample{i}"),
                "version": format!("1.{}.{}", i % 17, i % 5),
                "section": SECTIONS[i % 4],
                "installedSize": 1024 + i * 3,
                "maintainer": "Debian Example Maintainers <pkg-example@lists.example.org>",
                "description": "an example library with a fairly long description, as packages have, describing what it does and why someone would install it on a system",
                "depends": ["libc6", "libgcc-s1", "zlib1g"],
            })
        })
        .collect()
}

fn payloads() -> Vec<(&'static str, PayloadFormat, Vec<u8>)> {
    let documents = documents();
    let json_array = serde_json::to_vec(&documents).unwrap_or_default();
    let mut ndjson = Vec::new();
    for document in &documents {
        ndjson.extend(serde_json::to_vec(document).unwrap_or_default());
        ndjson.push(b'\n');
    }
    let mut csv = b"id,name,version,section,installedSize:number,maintainer,description\n".to_vec();
    for document in &documents {
        let line = format!(
            "{},{},{},{},{},\"{}\",\"{}\"\n",
            document["id"].as_str().unwrap_or_default(),
            document["name"].as_str().unwrap_or_default(),
            document["version"].as_str().unwrap_or_default(),
            document["section"].as_str().unwrap_or_default(),
            document["installedSize"],
            document["maintainer"].as_str().unwrap_or_default(),
            document["description"].as_str().unwrap_or_default(),
        );
        csv.extend(line.as_bytes());
    }
    vec![
        ("ndjson", PayloadFormat::Ndjson, ndjson),
        ("json", PayloadFormat::Json, json_array),
        ("csv", PayloadFormat::Csv { delimiter: b',' }, csv),
    ]
}

fn split(c: &mut Criterion) {
    let shards = ShardCount::new(64).unwrap_or_else(|_| unreachable!("64 is a power of two"));
    let groups = [0usize, 1, 2, 0, 1, 2, 0, 1].repeat(8);
    let mut group = c.benchmark_group("route_payload");
    group.sample_size(20);
    for (name, format, payload) in payloads() {
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &payload, |b, payload| {
            b.iter(|| {
                let route = Route {
                    primary_key: Some("id"),
                    count: shards,
                    group_of_shard: &groups,
                };
                let routed = route_payload(payload, format, route).ok()?;
                let mut out = Vec::with_capacity(routed.len() as usize);
                routed.write_to(payload, &mut out).ok()?;
                Some(out.len())
            })
        });
        group.bench_with_input(
            BenchmarkId::new("parse_only", name),
            &payload,
            |b, payload| b.iter(|| parse_payload(payload, format).map(|documents| documents.len())),
        );
    }
    group.finish();
}

criterion_group!(benches, split);
criterion_main!(benches);
