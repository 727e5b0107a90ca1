//! A real `redis-server` (Debian's package) for the tests of Miroir's Redis store: started on
//! 127.0.0.1 and a free port with persistence off and its own working directory, killed and
//! removed when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set (by `.ci/run`) to make a missing `redis-server` fail the tests instead of skipping them.
pub const REQUIRE_VAR: &str = "MIROIR_REQUIRE_REDIS";

/// How long `redis-server` gets to answer `PING` after it is spawned.
const STARTUP: Duration = Duration::from_secs(10);

/// A running `redis-server`.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts one, or returns `None` (after saying so on stderr) when `redis-server` is not
    /// installed and [`REQUIRE_VAR`] is not set.
    ///
    /// # Panics
    /// When it is required but missing, or does not come up.
    pub fn start() -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var_os(REQUIRE_VAR).is_none(),
                "{REQUIRE_VAR} is set but redis-server is not installed"
            );
            eprintln!("redis-server is not installed: the Redis store's tests are skipped");
            return None;
        }
        // The port is found free and then given to Redis: another process may take it in
        // between, so a start that does not come up is tried again on another port.
        let mut last_error = String::new();
        for _ in 0..3 {
            match RedisServer::spawn() {
                Ok(server) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    fn spawn() -> Result<RedisServer, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = std::env::temp_dir().join(format!("miroir-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut server = RedisServer { child, port, dir };
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if server.ping() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server exited with {status}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "no PONG on port {} within {STARTUP:?}",
            server.port
        ))
    }

    /// Whether it answers `PING`.
    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// The URL of one of its databases (`redis://127.0.0.1:port/db`).
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Its process id, to pause or kill it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
