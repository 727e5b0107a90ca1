//! `miroir dev --processes 2 --task-store redis://…` starts two Miroirs over one Redis and
//! test nodes: both answer, one holds the lease, a task created through one is pollable
//! through the other; `--processes 2` without a task store is refused with one line.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Two consecutive free ports on 127.0.0.1 (the processes listen on consecutive ports).
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = first.local_addr().expect("addr").port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no two consecutive free ports");
}

/// `GET path` with the dev master key; `None` while nothing answers.
async fn get(http: &reqwest::Client, url: &str) -> Option<Value> {
    let response = http.get(url).bearer_auth("masterKey").send().await.ok()?;
    response.json().await.ok()
}

/// Polls `url` until `ready` holds for its answer, for at most 30 s.
async fn wait_for(http: &reqwest::Client, url: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(answer) = get(http, url).await {
            if ready(&answer) {
                return answer;
            }
        }
        assert!(Instant::now() < deadline, "{url} never got ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn several_processes_need_a_task_store() {
    let output = Command::new(env!("CARGO_BIN_EXE_miroir"))
        .args(["dev", "--processes", "2", "--http-addr", "127.0.0.1:0"])
        .env_remove("MIROIR_TASK_STORE")
        .env_remove("MEILI_BIN")
        .output()
        .expect("miroir runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: processes: 2 Miroir processes share"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_over_one_redis() {
    let Some(redis) = miroir_testnode::redis_server::RedisServer::start() else {
        return;
    };
    let port = free_port_pair();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_miroir"))
        .args(["dev", "--processes", "2", "--task-store"])
        .arg(redis.url(0))
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("MEILI_BIN")
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("miroir dev starts");
    let http = reqwest::Client::new();
    let urls = [
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port + 1),
    ];
    let mut holders = Vec::new();
    let mut leading = 0;
    for url in &urls {
        let lease = wait_for(&http, &format!("{url}/_miroir/lease"), |lease| {
            lease["holder"].is_string()
        })
        .await;
        assert_eq!(lease["store"], "redis", "{lease}");
        holders.push(lease["holder"].clone());
        leading += usize::from(lease["leading"] == true);
    }
    assert_eq!(holders[0], holders[1], "both see the same holder");
    assert_eq!(leading, 1, "exactly one process leads");

    let created: Value = http
        .post(format!("{}/indexes", urls[0]))
        .bearer_auth("masterKey")
        .json(&serde_json::json!({"uid": "movies"}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    let uid = created["taskUid"].as_u64().expect("a task");
    let task = wait_for(&http, &format!("{}/tasks/{uid}", urls[1]), |task| {
        task["status"] == "succeeded"
    })
    .await;
    assert_eq!(task["type"], "indexCreation", "{task}");

    let stopped = Command::new("kill")
        .args(["-TERM", &dev.id().to_string()])
        .status();
    assert!(stopped.is_ok_and(|s| s.success()), "SIGTERM sent");
    let deadline = Instant::now() + Duration::from_secs(20);
    while dev.try_wait().expect("dev polled").is_none() {
        assert!(Instant::now() < deadline, "miroir dev did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for url in &urls {
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(&http, &format!("{url}/health")).await.is_some() {
            assert!(
                Instant::now() < deadline,
                "{url} still answers after the stop"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
