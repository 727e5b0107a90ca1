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
        let (code, stderr) = serve(args, env);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}
