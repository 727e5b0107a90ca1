//! `miroir bench --spawn` end to end on a small generated dataset with test nodes: the JSON
//! result has every field, Miroir answers every query as the reference does, and the replay
//! with a search key answers every search; over a Redis store too, with task creation measured.

use std::io::Write;
use std::process::Command;

use serde_json::Value;

/// Runs `miroir bench --spawn` on 400 generated documents with `extra` arguments; returns the
/// JSON result.
fn bench(extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let dataset = dir.path().join("animals.ndjson");
    let animals = [
        "otter", "heron", "badger", "falcon", "walrus", "lynx", "marten", "puffin",
    ];
    let colours = ["amber", "slate", "crimson", "olive", "ivory"];
    let mut file = std::fs::File::create(&dataset).expect("dataset file");
    for i in 0..400 {
        let line = serde_json::json!({
            "id": i,
            "name": format!("{} {}", colours[i % colours.len()], animals[i % animals.len()]),
            "story": format!("The {} met a {} near river{}", animals[(i * 7) % animals.len()], animals[(i * 3) % animals.len()], i % 13),
            "rank": i % 17,
        });
        writeln!(file, "{line}").expect("dataset line");
    }
    drop(file);
    let out = dir.path().join("result.json");
    let output = Command::new(env!("CARGO_BIN_EXE_miroir"))
        .args(["bench", "--spawn", "--dataset"])
        .arg(&dataset)
        .args([
            "--requests",
            "40",
            "--concurrency",
            "1,8",
            "--query-count",
            "60",
            "--out",
        ])
        .arg(&out)
        .args(extra)
        .env_remove("MEILI_BIN")
        .output()
        .expect("miroir bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("parity:"), "{stdout}");

    serde_json::from_slice(&std::fs::read(&out).expect("result written")).expect("JSON")
}

#[test]
fn bench_runs_end_to_end_with_full_parity() {
    let report = bench(&["--search-key"]);
    for pointer in [
        "/date",
        "/setup/backend",
        "/setup/documents",
        "/indexing/miroir/documentsPerSecond",
        "/indexing/miroir/seconds",
        "/indexing/reference/documentsPerSecond",
        "/parity/exactOrderRate",
        "/parity/meanTop10Overlap",
        "/parity/meanNdcg10",
        "/parity/totalsMismatches",
        "/parity/facetsMismatches",
        "/parity/differing",
        "/memory/miroirPeakRssMb",
        "/memory/nodes/2/stats/numberOfDocuments",
        "/memory/reference/numberOfDocuments",
    ] {
        assert!(
            report.pointer(pointer).is_some_and(|v| !v.is_null()),
            "no {pointer} in {report}"
        );
    }
    assert_eq!(report["setup"]["documents"], 400);
    assert_eq!(
        report["parity"]["exactOrderRate"], 1.0,
        "{}",
        report["parity"]
    );
    assert_eq!(report["parity"]["totalsMismatches"], 0);
    // The same replay with a search-only key, every search answered.
    let key_levels = report["searchKey"].as_array().expect("search key levels");
    assert_eq!(key_levels.len(), 2);
    for level in key_levels {
        assert_eq!(level["errors"], 0, "{level}");
        assert!(
            level["throughputRatio"].as_f64().is_some_and(|r| r > 0.0),
            "{level}"
        );
    }
    let levels = report["latency"].as_array().expect("latency levels");
    assert_eq!(levels.len(), 2);
    for level in levels {
        for side in ["miroir", "reference"] {
            for key in ["p50Ms", "p95Ms", "p99Ms", "requestsPerSecond"] {
                assert!(
                    level[side][key].as_f64().is_some_and(|v| v > 0.0),
                    "{level}"
                );
            }
            assert_eq!(level[side]["requests"], 40, "{level}");
            assert_eq!(level[side]["errors"], 0, "{level}");
        }
        assert!(level["throughputRatio"].as_f64().is_some(), "{level}");
        assert!(
            level["miroirPeakRssMb"].as_f64().is_some_and(|mb| mb > 1.0),
            "{level}"
        );
    }
    let on_nodes: u64 = (0..3)
        .map(|i| {
            report["memory"]["nodes"][i]["stats"]["numberOfDocuments"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(on_nodes, 800, "RF 2: every document on two nodes");
}

#[test]
fn bench_over_a_redis_store_measures_task_creation() {
    let Some(redis) = miroir_testnode::redis_server::RedisServer::start() else {
        return;
    };
    let store = redis.url(0);
    let report = bench(&["--task-store", &store, "--task-creations", "60"]);
    assert_eq!(report["setup"]["taskStore"], store.as_str());
    assert_eq!(
        report["parity"]["exactOrderRate"], 1.0,
        "{}",
        report["parity"]
    );
    let created = &report["taskCreation"];
    assert_eq!(created["tasks"], 60, "{created}");
    assert_eq!(created["errors"], 0, "{created}");
    assert!(
        created["tasksPerSecond"].as_f64().is_some_and(|v| v > 0.0),
        "{created}"
    );
}
