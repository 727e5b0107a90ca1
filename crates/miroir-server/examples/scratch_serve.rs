use miroir_server::*;
#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let nodes = args[2..]
        .iter()
        .enumerate()
        .map(|(i, u)| NodeConfig {
            id: format!("n{i}"),
            url: u.clone(),
            api_key: Some("nodeKey-for-tests-0123456789".into()),
            zone: None,
            weight: 1.0,
        })
        .collect();
    let config = ServerConfig {
        master_key: Some("masterKey".into()),
        db_path: args[1].clone().into(),
        replication_factor: 2,
        shards: 16,
        nodes,
        http_payload_size_limit: DEFAULT_PAYLOAD_LIMIT,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:7790")
        .await
        .unwrap();
    serve(listener, config).await.unwrap();
}
