//! The cluster page (`/_miroir/ui/`) driven in a real headless Chromium through WebDriver
//! (`chromedriver`): sign in, see three healthy nodes, kill one and see it turn down and its
//! replicas stale, start it again and see it recover, drain it and see the rebalance's progress
//! bar part-way, then full. Screenshots go to `target/cluster-page-*.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them and sets
//! `MIROIR_REQUIRE_BROWSER`, which turns their absence into a failure); without them, and
//! without that variable, the test says it is skipped.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::{free_port, Backend, MiroirProcess, Node, MASTER_KEY};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the page may take to show a change (it polls every second).
const PATIENCE: Duration = Duration::from_secs(60);

/// A `chromedriver` process on an ephemeral port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(answer) = http.get(format!("{}/status", driver.url)).send().await {
                if answer.status().is_success() {
                    return driver;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn browser(&self) -> Browser {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1360,1100",
                ],
            }),
        );
        ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the browser is here; `None` when the test must be skipped.
fn browser_available() -> bool {
    let present = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !present {
        assert!(
            std::env::var_os("MIROIR_REQUIRE_BROWSER").is_none(),
            "MIROIR_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!("skipped: chromium and chromium-driver are not installed");
    }
    present
}

/// How many elements match `css` now.
async fn count(browser: &Browser, css: &str) -> usize {
    browser
        .find_all(Locator::Css(css))
        .await
        .map_or(0, |found| found.len())
}

/// Polls the page until `ready` holds (at most [`PATIENCE`]).
async fn until<F, Fut>(browser: &Browser, what: &str, ready: F)
where
    F: Fn(Browser) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !ready(browser.clone()).await {
        if Instant::now() >= deadline {
            let page = browser
                .find(Locator::Css("main"))
                .await
                .expect("main")
                .text()
                .await
                .unwrap_or_default();
            panic!("timed out waiting for {what}; the page shows:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The progress bar's value and maximum (its attributes, which the script's `value` and `max`
/// reflect to).
async fn progress(browser: &Browser) -> (f64, f64) {
    let bar = browser
        .find(Locator::Css("#rebalance-progress"))
        .await
        .expect("a progress bar");
    let read = |name: &'static str| {
        let bar = bar.clone();
        async move {
            bar.attr(name)
                .await
                .ok()
                .flatten()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        }
    };
    (read("value").await, read("max").await)
}

fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join(format!("cluster-page-{name}.png"))
}

async fn save_screenshot(browser: &Browser, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = screenshot_path(name);
    std::fs::write(&path, png).expect("screenshot written");
    eprintln!("screenshot: {}", path.display());
}

async fn the_page_follows_a_failure_a_recovery_and_a_drain(backend: Backend) {
    if !browser_available() {
        return;
    }
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start_process(&backend).await);
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    // Copies are slowed so that the drain lasts long enough for the page to show it half done.
    let miroir = MiroirProcess::start_with(
        &refs,
        2,
        8,
        &[
            "--replica-timeout-ms=300",
            "--rebalance-concurrency=1",
            "--rebalance-max-documents-per-second=40",
        ],
    )
    .await;
    let client = miroir.client();
    let documents: Vec<Value> = (0..300)
        .map(|i| json!({"id": i, "title": format!("document {i}")}))
        .collect();
    client.seed_index("docs", Value::Null, documents).await;

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser
        .goto(&format!("{}/_miroir/ui/", miroir.url()))
        .await
        .expect("the page loads");

    // A wrong key is refused and the form stays.
    let key = browser.find(Locator::Css("#key")).await.expect("key field");
    key.send_keys("not-the-key").await.expect("typed");
    browser
        .find(Locator::Css("#sign-in"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("clicked");
    until(&browser, "the refusal", |b| async move {
        b.find(Locator::Css("#login-error"))
            .await
            .expect("error line")
            .text()
            .await
            .is_ok_and(|text| text.contains("refused"))
    })
    .await;

    // Signed in: three healthy nodes, every replica in sync.
    let key = browser.find(Locator::Css("#key")).await.expect("key field");
    key.send_keys(MASTER_KEY).await.expect("typed");
    key.send_keys("\u{E007}").await.expect("Enter pressed");
    until(&browser, "three healthy nodes", |b| async move {
        count(&b, "#nodes tbody tr[data-health=healthy]").await == 3
    })
    .await;
    until(&browser, "the shard map of docs", |b| async move {
        count(&b, "[data-index=docs] td[data-state=inSync]").await == 8 * 2
    })
    .await;

    // n2 killed: down, and the replicas that miss a write turn stale.
    nodes[2].kill();
    let (status, accepted) = client
        .send(
            Method::POST,
            "/indexes/docs/documents",
            json!((1000..1040)
                .map(|i| json!({"id": i, "title": "written while n2 is down"}))
                .collect::<Vec<_>>()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    until(&browser, "n2 down with stale replicas", |b| async move {
        count(&b, "#nodes tr[data-node=n2][data-health=down]").await == 1
            && count(&b, "[data-index=docs] td[data-node=n2][data-state=stale]").await > 0
    })
    .await;
    assert_eq!(
        count(&browser, "#nodes tbody tr[data-health=healthy]").await,
        2
    );
    save_screenshot(&browser, "node-down").await;

    // n2 back: healthy, caught up, nothing stale.
    nodes[2].restart().await;
    until(&browser, "n2 healthy and caught up", |b| async move {
        count(&b, "#nodes tbody tr[data-health=healthy]").await == 3
            && count(&b, "td[data-state=stale]").await == 0
            && count(&b, "td[data-state=unavailable]").await == 0
    })
    .await;

    // Drain n2 through its button and the confirmation: the progress bar fills.
    assert_eq!(progress(&browser).await.0, 0.0, "no rebalance yet");
    browser
        .find(Locator::Css(
            "#nodes tr[data-node=n2] button[data-action=drain]",
        ))
        .await
        .expect("a drain button")
        .click()
        .await
        .expect("clicked");
    browser
        .find(Locator::Css("#confirm-ok"))
        .await
        .expect("a confirmation")
        .click()
        .await
        .expect("confirmed");
    until(&browser, "the drain half done", |b| async move {
        let (value, max) = progress(&b).await;
        0.0 < value && value < max
    })
    .await;
    save_screenshot(&browser, "draining").await;
    until(&browser, "the drain to finish", |b| async move {
        let (value, max) = progress(&b).await;
        max > 1.0
            && value == max
            && count(&b, "#rebalance-progress[data-state=done]").await == 1
            && count(&b, "#nodes tr[data-node=n2][data-state=draining]").await == 1
            && b.find(Locator::Css("#nodes tr[data-node=n2] td.shards"))
                .await
                .expect("shards cell")
                .text()
                .await
                .is_ok_and(|shards| shards == "0")
    })
    .await;
    assert_eq!(
        count(&browser, "[data-index=docs] td[data-node=n2]").await,
        0,
        "n2 holds no replica after the drain"
    );
    save_screenshot(&browser, "drained").await;
    browser.close().await.expect("browser closed");
}
dual_test!(the_page_follows_a_failure_a_recovery_and_a_drain);
