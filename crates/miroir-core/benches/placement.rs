//! Primary-key hashing and placement: what routing one document costs, and building a
//! placement table (done once per index layout, then cached).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use miroir_core::hash::{shard_of_id, ShardCount};
use miroir_core::placement::{NodeSpec, PlacementTable};

fn specs(nodes: usize) -> Vec<NodeSpec> {
    (0..nodes)
        .map(|i| NodeSpec {
            id: format!("node-{i}"),
            weight: 1.0,
            zone: Some(format!("zone-{}", i % 3)),
        })
        .collect()
}

fn hashing(c: &mut Criterion) {
    let ids: Vec<String> = (0..10_000).map(|i| format!("pkg-{i}")).collect();
    let shards = ShardCount::new(64).unwrap_or_else(|_| unreachable!("64 is a power of two"));
    let table = PlacementTable::new(&specs(6), shards, 2).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("route_ids");
    group.throughput(Throughput::Elements(ids.len() as u64));
    group.bench_function("hash_to_shard", |b| {
        b.iter(|| ids.iter().map(|id| shard_of_id(id, shards)).sum::<u32>())
    });
    group.bench_function("hash_to_replicas", |b| {
        b.iter(|| {
            ids.iter()
                .map(|id| table.replicas(shard_of_id(id, shards)).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn tables(c: &mut Criterion) {
    let mut group = c.benchmark_group("placement_table");
    for (nodes, shards) in [(3usize, 64u32), (12, 256), (48, 1024)] {
        let count = ShardCount::new(shards).unwrap_or_else(|_| unreachable!("a power of two"));
        let specs = specs(nodes);
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{nodes}nodes_{shards}shards_rf2")),
            &specs,
            |b, specs| b.iter(|| PlacementTable::new(specs, count, 2).map(|t| t.replicas(0).len())),
        );
    }
    group.finish();
}

criterion_group!(benches, hashing, tables);
criterion_main!(benches);
