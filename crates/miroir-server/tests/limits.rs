//! A slow client cannot hold a connection forever: one that trickles its request headers is
//! disconnected after the header read limit (10 s), and one whose body stops arriving gets a
//! `408 miroir_request_timeout` after the body idle limit (30 s). Both are measured at once,
//! bounded by generous deadlines.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{Backend, Cluster, MASTER_KEY};

/// Reads what the server sends until it closes the connection (or `bound` passes).
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = bound.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
    (received, started.elapsed())
}

async fn slow_clients_are_cut_off(backend: Backend) {
    let cluster = Cluster::start(&backend, 1, 1, 1).await;
    let addr = cluster.url().trim_start_matches("http://").to_string();

    let mut headers = TcpStream::connect(&addr).await.expect("connects");
    headers
        .write_all(b"GET /health HTTP/1.1\r\nHost: miroir\r\n")
        .await
        .expect("sends part of the headers");

    let mut body = TcpStream::connect(&addr).await.expect("connects");
    let request = format!(
        "POST /indexes/slow/documents HTTP/1.1\r\nHost: miroir\r\nAuthorization: Bearer {MASTER_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{\"id\": 1"
    );
    body.write_all(request.as_bytes())
        .await
        .expect("sends the headers and part of the body");

    let (cut_headers, cut_body) = tokio::join!(
        read_until_closed(&mut headers, Duration::from_secs(25)),
        read_until_closed(&mut body, Duration::from_secs(50)),
    );
    let (_, after) = cut_headers;
    assert!(
        after >= Duration::from_secs(8) && after < Duration::from_secs(20),
        "trickled headers were cut off after {after:?}"
    );
    let (answer, after) = cut_body;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a stalled body ends its request with 408: {answer}"
    );
    assert!(answer.contains("miroir_request_timeout"), "{answer}");
    assert!(
        after >= Duration::from_secs(25) && after < Duration::from_secs(45),
        "after {after:?}"
    );
}

dual_test!(slow_clients_are_cut_off);
