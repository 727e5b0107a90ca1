//! `miroir serve` refuses an invalid configuration with one line naming the setting.

use std::process::Command;

fn serve(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_miroir"));
    command.arg("serve").args(args).env_remove("MIROIR_NODES");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("miroir runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `miroir serve` and checks that it stops with one error line starting with `expected`.
fn refused_with_one_line(args: &[&str], env: &[(&str, &str)], expected: &str) {
    let (code, stderr) = serve(args, env);
    assert_eq!(code, 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// Flags, environment variables, and the start of the expected error line.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn invalid_configurations_stop_with_one_line() {
    let cases: [Case; 5] = [
        (
            &[
                "--node",
                "a=http://127.0.0.1:1",
                "--replication-factor",
                "2",
            ],
            &[],
            "error: replication_factor:",
        ),
        (
            &[
                "--node",
                "a=http://127.0.0.1:1",
                "--node",
                "a=http://127.0.0.1:2",
            ],
            &[],
            "error: nodes: duplicate node id `a`",
        ),
        (&["--node", "a=not a url"], &[], "error: nodes.url:"),
        (&[], &[], "error: nodes: at least one node is required"),
        (
            &[],
            &[
                ("MIROIR_NODES", "a=http://127.0.0.1:1"),
                ("MIROIR_SHARDS", "12"),
            ],
            "error: shards:",
        ),
    ];
    for (args, env, expected) in cases {
        refused_with_one_line(args, env, expected);
    }
}

/// A state directory written by a newer Miroir (a higher schema version) is refused at start
/// with one line, and left as it was.
#[test]
fn a_store_from_a_newer_miroir_is_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("miroir.sqlite");
    let newer = miroir_store::SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&file)
        .and_then(|db| db.pragma_update(None, "user_version", newer))
        .expect("a store file");
    let path = dir.path().to_string_lossy().into_owned();
    refused_with_one_line(
        &[
            "--node",
            "a=http://127.0.0.1:1",
            "--db-path",
            &path,
            "--http-addr",
            "127.0.0.1:0",
        ],
        &[],
        "error: store: written by a newer Miroir",
    );
    let version: u32 = rusqlite::Connection::open(&file)
        .and_then(|db| db.pragma_query_value(None, "user_version", |row| row.get(0)))
        .expect("the store file is still readable");
    assert_eq!(version, newer, "left as it was");
}

/// A Redis store written by a newer Miroir is refused at start with one line, and an
/// unknown `task_store` scheme too.
#[test]
fn a_redis_store_from_a_newer_miroir_is_refused_with_one_line() {
    use std::io::{Read, Write};

    refused_with_one_line(
        &[
            "--node",
            "a=http://127.0.0.1:1",
            "--task-store",
            "mysql://127.0.0.1/x",
        ],
        &[],
        "error: store: task_store",
    );

    let Some(redis) = miroir_testnode::redis_server::RedisServer::start() else {
        return;
    };
    let newer = miroir_store::SCHEMA_VERSION + 1;
    let address = redis
        .url(0)
        .trim_start_matches("redis://")
        .trim_end_matches("/0")
        .to_string();
    let mut connection = std::net::TcpStream::connect(&address).expect("redis answers");
    connection
        .write_all(format!("SET miroir:schema_version {newer}\r\n").as_bytes())
        .expect("command sent");
    let mut reply = [0u8; 5];
    connection.read_exact(&mut reply).expect("reply");
    assert_eq!(&reply, b"+OK\r\n");
    refused_with_one_line(
        &[
            "--node",
            "a=http://127.0.0.1:1",
            "--task-store",
            &redis.url(0),
            "--http-addr",
            "127.0.0.1:0",
        ],
        &[],
        "error: store: written by a newer Miroir",
    );
}

/// Without the `otlp` feature, asking for span export is refused with one line that says how
/// to build a binary that has it.
#[cfg(not(feature = "otlp"))]
#[test]
fn span_export_needs_the_otlp_feature() {
    let (code, stderr) = serve(
        &[
            "--node",
            "a=http://127.0.0.1:1",
            "--otlp-endpoint",
            "http://127.0.0.1:4318/v1/traces",
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("error: otlp_endpoint:") && stderr.contains("--features otlp"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// An unknown log format is refused by the flag's parser, naming the accepted values.
#[test]
fn log_formats_are_human_or_json() {
    let (code, stderr) = serve(&["--log-format", "xml"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("human") && stderr.contains("json"),
        "{stderr}"
    );
}
