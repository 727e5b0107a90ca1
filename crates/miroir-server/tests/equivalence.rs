//! The promise, as a test: for a generated corpus and several hundred generated queries,
//! Miroir over 3 nodes (RF 2, 16 shards) answers like one node holding every document — same
//! hit ids in the same order (hits with equal scores may swap among themselves), same totals,
//! same facet distribution and stats.

#[macro_use]
mod common;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Map, Value};

use common::{task_uid, Backend, Client, Cluster, Node};

const DOCS: usize = 5000;
const WORDS: [&str; 40] = [
    "amber", "breeze", "canyon", "delta", "ember", "falcon", "glacier", "harbor", "island",
    "jungle", "kernel", "lantern", "meadow", "nebula", "orchid", "prairie", "quartz", "river",
    "summit", "thunder", "umbra", "valley", "willow", "xenon", "yonder", "zephyr", "anchor",
    "beacon", "cobalt", "dune", "echo", "fjord", "grove", "horizon", "ivory", "jasper", "koala",
    "lotus", "marble", "nova",
];
const GENRES: [&str; 8] = [
    "drama",
    "comedy",
    "horror",
    "action",
    "sci-fi",
    "romance",
    "documentary",
    "animation",
];
const COUNTRIES: [&str; 6] = ["fr", "de", "us", "jp", "br", "in"];
const COLORS: [&str; 5] = ["red", "green", "blue", "black", "white"];

/// A small deterministic generator (xorshift), so the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn corpus() -> Vec<Value> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    (0..DOCS)
        .map(|id| {
            let title_len = 1 + rng.below(4);
            let title: Vec<&str> = (0..title_len).map(|_| rng.pick(&WORDS)).collect();
            let overview: Vec<&str> = (0..(5 + rng.below(12))).map(|_| rng.pick(&WORDS)).collect();
            let genres: Vec<&str> = (0..(1 + rng.below(3))).map(|_| rng.pick(&GENRES)).collect();
            let mut doc = json!({
                "id": id,
                "title": title.join(" "),
                "overview": overview.join(" "),
                "genres": genres,
                "year": 1950 + rng.below(75),
                "rating": (rng.below(101) as f64) / 10.0,
                "author": {"name": format!("{} {}", rng.pick(&WORDS), rng.pick(&WORDS)), "country": rng.pick(&COUNTRIES)},
                "color": rng.pick(&COLORS),
                // A high-cardinality facet: more values than maxValuesPerFacet.
                "tag": format!("t{:03}", rng.below(400)),
                "_geo": {"lat": 40.0 + (rng.below(2000) as f64) / 100.0, "lng": -5.0 + (rng.below(2000) as f64) / 100.0},
            });
            if rng.below(10) == 0 {
                doc["note"] = Value::Null;
            }
            doc
        })
        .collect()
}

fn settings() -> Value {
    json!({
        "filterableAttributes": ["genres", "year", "rating", "author.country", "color", "tag", "_geo", "id"],
        "sortableAttributes": ["year", "rating", "title", "_geo"],
    })
}

/// Several hundred search bodies covering the read path.
fn queries() -> Vec<Value> {
    let mut rng = Rng(0x0bad_cafe_0000_0042);
    let mut queries = Vec::new();
    let text = |rng: &mut Rng, kind: usize| -> String {
        match kind {
            0 => rng.pick(&WORDS).to_string(),
            1 => format!("{} {}", rng.pick(&WORDS), rng.pick(&WORDS)),
            2 => {
                // A typo: swap two inner letters of a long word.
                let word = rng.pick(&WORDS);
                let mut chars: Vec<char> = word.chars().collect();
                if chars.len() > 4 {
                    chars.swap(1, 2);
                }
                chars.into_iter().collect()
            }
            3 => format!("{}", 1950 + rng.below(75)),
            4 => ((b'a' + rng.below(26) as u8) as char).to_string(),
            5 => format!("\"{} {}\"", rng.pick(&WORDS), rng.pick(&WORDS)),
            6 => {
                let word = rng.pick(&WORDS);
                word[..3].to_string()
            }
            _ => String::new(),
        }
    };
    for i in 0..360 {
        let q = text(&mut rng, i % 8);
        let mut body = Map::new();
        body.insert("q".into(), json!(q));
        body.insert("showRankingScore".into(), json!(true));
        match i % 12 {
            0 => {}
            1 => {
                body.insert(
                    "filter".into(),
                    json!(format!("year >= {}", 1950 + rng.below(70))),
                );
            }
            2 => {
                body.insert(
                    "filter".into(),
                    json!(format!("genres = {}", rng.pick(&GENRES))),
                );
                body.insert(
                    "facets".into(),
                    json!(["genres", "color", "year", "rating"]),
                );
            }
            3 => {
                body.insert("sort".into(), json!(["year:asc"]));
            }
            4 => {
                body.insert("sort".into(), json!(["rating:desc", "title:asc"]));
                body.insert(
                    "filter".into(),
                    json!([
                        format!("author.country = {}", rng.pick(&COUNTRIES)),
                        ["color = red", "color = blue"]
                    ]),
                );
            }
            5 => {
                body.insert(
                    "sort".into(),
                    json!([format!(
                        "_geoPoint({}, {}):asc",
                        45 + rng.below(10),
                        rng.below(10)
                    )]),
                );
            }
            6 => {
                body.insert("facets".into(), json!(["tag", "genres", "author.country"]));
            }
            7 => {
                body.insert("distinct".into(), json!("color"));
            }
            8 => {
                body.insert("page".into(), json!(1 + rng.below(4)));
                body.insert("hitsPerPage".into(), json!(5 + rng.below(20)));
            }
            9 => {
                body.insert("offset".into(), json!(rng.below(300)));
                body.insert("limit".into(), json!(1 + rng.below(50)));
            }
            10 => {
                body.insert("rankingScoreThreshold".into(), json!(0.5));
                body.insert("limit".into(), json!(100));
            }
            _ => {
                body.insert(
                    "filter".into(),
                    json!(format!(
                        "_geoRadius({}, {}, {})",
                        45 + rng.below(10),
                        rng.below(10),
                        100_000 + rng.below(400_000)
                    )),
                );
                body.insert("facets".into(), json!(["color"]));
                body.insert("showRankingScore".into(), json!(false));
                body.insert("attributesToRetrieve".into(), json!(["id", "title"]));
            }
        }
        queries.push(Value::Object(body));
    }
    queries
}

/// Ids of hits, grouped into runs of equal rank (same score, same sort values), so that hits
/// tied in rank may appear in any order within their run.
fn ranked_runs(hits: &[Value]) -> Vec<(String, BTreeSet<String>)> {
    let mut runs: Vec<(String, BTreeSet<String>)> = Vec::new();
    for hit in hits {
        let rank = format!(
            "{:.6}|{}|{}",
            hit["_rankingScore"].as_f64().unwrap_or(-1.0),
            hit.get("_geoDistance")
                .map(Value::to_string)
                .unwrap_or_default(),
            hit.get("_sortKey")
                .map(Value::to_string)
                .unwrap_or_default()
        );
        let id = hit["id"].to_string();
        match runs.last_mut() {
            Some((last, ids)) if *last == rank => {
                ids.insert(id);
            }
            _ => runs.push((rank, BTreeSet::from([id]))),
        }
    }
    runs
}

/// Compares two search answers under the equivalence rules; returns a difference, if any.
fn differs(query: &Value, miroir: &Value, single: &Value) -> Option<String> {
    for field in [
        "estimatedTotalHits",
        "totalHits",
        "totalPages",
        "page",
        "hitsPerPage",
        "limit",
        "offset",
        "facetDistribution",
        "facetStats",
        "query",
    ] {
        if miroir.get(field) != single.get(field) {
            return Some(format!(
                "{field}: {:?} vs {:?}",
                miroir.get(field),
                single.get(field)
            ));
        }
    }
    let empty = Vec::new();
    let mut ours = miroir["hits"].as_array().unwrap_or(&empty).clone();
    let mut theirs = single["hits"].as_array().unwrap_or(&empty).clone();
    if ours.len() != theirs.len() {
        return Some(format!("{} hits vs {}", ours.len(), theirs.len()));
    }
    let has_scores = query["showRankingScore"] == json!(true);
    if !has_scores {
        // Without scores only the multiset of returned documents can be compared loosely:
        // same length is checked above; ids must match exactly when there are no ties.
        return None;
    }
    // Sort values decide ties too: attach them as a tie key.
    if let Some(sort) = query.get("sort").and_then(Value::as_array) {
        for hit in ours.iter_mut().chain(theirs.iter_mut()) {
            let key: Vec<Value> = sort
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|s| s.split(':').next())
                .map(|field| hit.get(field).cloned().unwrap_or(Value::Null))
                .collect();
            hit["_sortKey"] = Value::Array(key);
        }
    }
    let a = ranked_runs(&ours);
    let b = ranked_runs(&theirs);
    if a.len() != b.len() {
        return Some(format!("rank runs differ: {a:?} vs {b:?}"));
    }
    let last = a.len().saturating_sub(1);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x.0 != y.0 || x.1.len() != y.1.len() {
            return Some(format!("run {i}: {x:?} vs {y:?}"));
        }
        // The first and last runs may be cut by the window (offset, limit): their members can
        // legitimately differ among tied hits.
        if i != 0 && i != last && x.1 != y.1 {
            return Some(format!("run {i}: {x:?} vs {y:?}"));
        }
    }
    None
}

async fn load(client: &Client) {
    client
        .write_ok(
            Method::POST,
            "/indexes",
            json!({"uid": "corpus", "primaryKey": "id"}),
        )
        .await;
    client
        .write_ok(Method::PATCH, "/indexes/corpus/settings", settings())
        .await;
    client
        .write_ok(
            Method::POST,
            "/indexes/corpus/documents",
            Value::Array(corpus()),
        )
        .await;
}

async fn search_equivalence(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 16).await;
    let reference = Node::start(&backend).await;
    let miroir = cluster.client();
    let single = reference.client();
    load(&miroir).await;
    load(&single).await;

    let queries = queries();
    let mut mismatches = Vec::new();
    for query in &queries {
        let (status_a, a) = miroir.post("/indexes/corpus/search", query.clone()).await;
        let (status_b, b) = single.post("/indexes/corpus/search", query.clone()).await;
        assert_eq!(status_a, status_b, "{query}: {a} vs {b}");
        if let Some(difference) = differs(query, &a, &b) {
            mismatches.push(format!("{query}\n    {difference}"));
        }
    }

    // Facet search over shards.
    for (facet, facet_query) in [
        ("genres", "d"),
        ("tag", "t1"),
        ("color", ""),
        ("author.country", "f"),
    ] {
        let body = json!({"facetName": facet, "facetQuery": facet_query});
        let (_, a) = miroir
            .post("/indexes/corpus/facet-search", body.clone())
            .await;
        let (_, b) = single
            .post("/indexes/corpus/facet-search", body.clone())
            .await;
        if a["facetHits"] != b["facetHits"] {
            mismatches.push(format!("facet search {body}\n    {a} vs {b}"));
        }
    }

    // Multi-search, plain and federated.
    let multi = json!({"queries": [
        {"indexUid": "corpus", "q": "amber", "showRankingScore": true},
        {"indexUid": "corpus", "q": "river", "filter": "year > 2000", "showRankingScore": true},
    ]});
    let (_, a) = miroir.post("/multi-search", multi.clone()).await;
    let (_, b) = single.post("/multi-search", multi.clone()).await;
    for i in 0..2 {
        if let Some(d) = differs(&multi["queries"][i], &a["results"][i], &b["results"][i]) {
            mismatches.push(format!("multi-search query {i}: {d}"));
        }
    }
    let federated = json!({"federation": {"limit": 30}, "queries": [
        {"indexUid": "corpus", "q": "amber", "showRankingScore": true},
        {"indexUid": "corpus", "q": "glacier summit", "showRankingScore": true},
    ]});
    let (_, a) = miroir.post("/multi-search", federated.clone()).await;
    let (_, b) = single.post("/multi-search", federated.clone()).await;
    let federated_query = json!({"showRankingScore": true});
    if let Some(d) = differs(&federated_query, &a, &b) {
        mismatches.push(format!("federated: {d}"));
    }

    // Federated facets, per index and merged.
    for federation in [
        json!({"limit": 5, "facetsByIndex": {"corpus": ["genres", "color", "tag"]}}),
        json!({"limit": 5, "facetsByIndex": {"corpus": ["genres", "year"]}, "mergeFacets": {}}),
    ] {
        let body = json!({"federation": federation, "queries": [
            {"indexUid": "corpus", "q": "amber"},
            {"indexUid": "corpus", "q": "nova", "filter": "year < 1990"},
        ]});
        let (_, a) = miroir.post("/multi-search", body.clone()).await;
        let (_, b) = single.post("/multi-search", body.clone()).await;
        for field in [
            "facetsByIndex",
            "facetDistribution",
            "facetStats",
            "estimatedTotalHits",
        ] {
            if a.get(field) != b.get(field) {
                mismatches.push(format!(
                    "federated facets {federation}: {field}: {:?} vs {:?}",
                    a.get(field),
                    b.get(field)
                ));
            }
        }
    }

    // Whole hits (formatting, match positions, hidden marker) for queries pinned to one id.
    for id in [3, 444, 4999] {
        let body = json!({
            "q": "amber river", "filter": format!("id = {id}"),
            "attributesToHighlight": ["title", "overview"], "attributesToCrop": ["overview"],
            "cropLength": 4, "showMatchesPosition": true, "showRankingScore": true,
        });
        let (_, a) = miroir.post("/indexes/corpus/search", body.clone()).await;
        let (_, b) = single.post("/indexes/corpus/search", body.clone()).await;
        if a["hits"] != b["hits"] || a["estimatedTotalHits"] != b["estimatedTotalHits"] {
            mismatches.push(format!("whole hits {body}\n    {a} vs {b}"));
        }
    }

    // GET search answers like POST.
    for query in [
        "q=glacier&limit=7&offset=3",
        "q=d&filter=year%20%3E%202000&sort=rating:desc&facets=color,genres&showRankingScore=true",
    ] {
        let (_, a) = miroir.get(&format!("/indexes/corpus/search?{query}")).await;
        let (_, b) = single.get(&format!("/indexes/corpus/search?{query}")).await;
        let as_query = json!({"showRankingScore": true});
        if let Some(d) = differs(&as_query, &a, &b) {
            mismatches.push(format!("GET {query}: {d}"));
        }
    }

    // `pagination.maxTotalHits` caps the reachable window over all shards, not per shard.
    for client in [&miroir, &single] {
        client
            .write_ok(
                Method::PATCH,
                "/indexes/corpus/settings",
                json!({"pagination": {"maxTotalHits": 30}}),
            )
            .await;
    }
    let capped = json!({"q": "", "offset": 20, "limit": 20, "showRankingScore": true});
    let (_, a) = miroir.post("/indexes/corpus/search", capped.clone()).await;
    let (_, b) = single.post("/indexes/corpus/search", capped.clone()).await;
    assert_eq!(a["hits"].as_array().map(Vec::len), Some(10), "{a}");
    if let Some(d) = differs(&capped, &a, &b) {
        mismatches.push(format!("maxTotalHits: {d}"));
    }

    let total = queries.len() + 4 + 3 + 2 + 3 + 2 + 1;
    eprintln!(
        "equivalence: {} of {total} requests matched exactly",
        total - mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {total} differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
dual_test!(search_equivalence);

/// Facet values cut at `maxValuesPerFacet` are the same values, in the same order, as on one
/// node: strings by their normalized (lowercased) form, so `works-with::text` comes before
/// `works-with::TODO`, numbers before strings in numeric order; in facet search too.
async fn facet_values_order_as_one_node(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let reference = Node::start(&backend).await;
    const SIZES: [u64; 5] = [3, 10, 9, 100, 25];
    let tags = [
        "works-with::TODO",
        "works-with::text",
        "Sci Fi",
        "action",
        "Zebra",
        "apple",
        "Banana",
        "cherry",
    ];
    let documents: Vec<Value> = (0..64)
        .map(|id| {
            json!({
                "id": id,
                "tag": tags[id % tags.len()],
                "size": SIZES[id % SIZES.len()],
            })
        })
        .collect();
    let settings = json!({
        "filterableAttributes": ["tag", "size"],
        "faceting": {"maxValuesPerFacet": 5},
    });
    for client in [cluster.client(), reference.client()] {
        client
            .seed_index("docs", settings.clone(), documents.clone())
            .await;
    }
    let ordered = |answer: &Value, facet: &str| -> Vec<(String, Value)> {
        answer["facetDistribution"][facet]
            .as_object()
            .map(|values| values.iter().map(|(v, c)| (v.clone(), c.clone())).collect())
            .unwrap_or_default()
    };
    let search = json!({"q": "", "facets": ["tag", "size"], "limit": 0});
    let (_, through) = cluster
        .client()
        .post("/indexes/docs/search", search.clone())
        .await;
    let (_, direct) = reference
        .client()
        .post("/indexes/docs/search", search)
        .await;
    for facet in ["tag", "size"] {
        assert_eq!(
            ordered(&through, facet),
            ordered(&direct, facet),
            "{facet}: {through} vs {direct}"
        );
        assert_eq!(ordered(&through, facet).len(), 5);
    }
    let facet_search = json!({"facetName": "tag", "facetQuery": ""});
    let (_, through) = cluster
        .client()
        .post("/indexes/docs/facet-search", facet_search.clone())
        .await;
    let (_, direct) = reference
        .client()
        .post("/indexes/docs/facet-search", facet_search)
        .await;
    assert_eq!(through["facetHits"], direct["facetHits"], "facet search");
}

dual_test!(facet_values_order_as_one_node);

/// `showInternalDatabaseSizes` and `sizeFormat=human` on the stats routes: one node's fields,
/// sizes formatted as Meilisearch formats them (summed over the nodes, so their values differ
/// from one node's), counts exact.
async fn stats_sizes_as_one_node(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let reference = Node::start(&backend).await;
    let documents: Vec<Value> = (0..50)
        .map(|id| json!({"id": id, "title": format!("title {id}")}))
        .collect();
    for client in [cluster.client(), reference.client()] {
        client
            .seed_index("docs", Value::Null, documents.clone())
            .await;
    }
    let human = |value: &Value| {
        value.as_str().is_some_and(|text| {
            let (number, unit) = text.split_once(' ').unwrap_or(("", ""));
            number.parse::<f64>().is_ok() && ["B", "KiB", "MiB", "GiB"].contains(&unit)
        })
    };
    for path in [
        "/indexes/docs/stats?showInternalDatabaseSizes=true&sizeFormat=human",
        "/stats?showInternalDatabaseSizes=true&sizeFormat=human",
    ] {
        let (_, through) = cluster.client().get(path).await;
        let (_, direct) = reference.client().get(path).await;
        let (through, direct) = if path.starts_with("/stats") {
            (&through["indexes"]["docs"], &direct["indexes"]["docs"])
        } else {
            (&through, &direct)
        };
        assert_eq!(through["numberOfDocuments"], 50, "{path}: {through}");
        assert_eq!(through["numberOfDocuments"], direct["numberOfDocuments"]);
        assert!(human(&through["rawDocumentDbSize"]), "{path}: {through}");
        assert!(human(&through["avgDocumentSize"]), "{path}: {through}");
        let names = |stats: &Value| -> Vec<String> {
            stats["internalDatabaseSizes"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        // Every database one node lists (the nodes have a few more: the shard marker is
        // filterable there); the test node lists none.
        let listed = names(through);
        assert!(
            names(direct).iter().all(|name| listed.contains(name)),
            "{path}: {listed:?} vs {:?}",
            names(direct)
        );
        assert!(through["internalDatabaseSizes"]
            .as_object()
            .is_none_or(|sizes| sizes.values().all(human)));
    }
}

dual_test!(stats_sizes_as_one_node);

/// `Meili-Include-Metadata: true` adds one node's `metadata` object (a query uid, the index, its
/// primary key) right after `requestUid`, to a search and to each result of a multi-search, and
/// a list of them (one per query) to a federated search; without the header there is none.
async fn search_metadata_as_one_node(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let reference = Node::start(&backend).await;
    let documents: Vec<Value> = (0..10).map(|id| json!({"id": id})).collect();
    for client in [cluster.client(), reference.client()] {
        client
            .seed_index("docs", Value::Null, documents.clone())
            .await;
    }
    let header = ("Meili-Include-Metadata", "true");
    let shape = |answer: &Value| -> (Vec<String>, Value, Value, bool) {
        let keys: Vec<String> = answer
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let metadata = &answer["metadata"];
        let uid_like = metadata["queryUid"]
            .as_str()
            .is_some_and(|uid| uid.len() == 36 && uid.chars().filter(|c| *c == '-').count() == 4);
        (
            keys,
            metadata["indexUid"].clone(),
            metadata["primaryKey"].clone(),
            uid_like,
        )
    };
    let search = json!({"q": "", "limit": 2});
    let (_, through) = cluster
        .client()
        .post_with_header("/indexes/docs/search", header, search.clone())
        .await;
    let (_, direct) = reference
        .client()
        .post_with_header("/indexes/docs/search", header, search.clone())
        .await;
    assert_eq!(shape(&through), shape(&direct), "{through} vs {direct}");
    assert!(shape(&through).3, "{through}");
    assert_ne!(
        through["metadata"]["queryUid"], through["requestUid"],
        "a query's uid is not the request's"
    );
    let (_, plain) = cluster.client().post("/indexes/docs/search", search).await;
    assert!(plain.get("metadata").is_none(), "{plain}");

    let multi = json!({"queries": [{"indexUid": "docs", "q": ""}, {"indexUid": "docs", "q": "1"}]});
    let (_, through) = cluster
        .client()
        .post_with_header("/multi-search", header, multi.clone())
        .await;
    let (_, direct) = reference
        .client()
        .post_with_header("/multi-search", header, multi)
        .await;
    for position in 0..2 {
        assert_eq!(
            shape(&through["results"][position]),
            shape(&direct["results"][position]),
            "{through} vs {direct}"
        );
    }
    assert_ne!(
        through["results"][0]["metadata"]["queryUid"],
        through["results"][1]["metadata"]["queryUid"],
        "each query has its own uid: {through}"
    );

    // Federated: one metadata object per query, in query order, after `requestUid`, naming
    // the query when it has one.
    let federated = json!({
        "federation": {},
        "queries": [{"indexUid": "docs", "q": ""}, {"indexUid": "docs", "q": "1"}, {"indexUid": "docs"}]
    });
    let (_, through) = cluster
        .client()
        .post_with_header("/multi-search", header, federated.clone())
        .await;
    let (_, direct) = reference
        .client()
        .post_with_header("/multi-search", header, federated)
        .await;
    // Where `metadata` stands (when right after `requestUid`), and each entry's query, index,
    // primary key and whether its query uid looks like one.
    type Entry = (Value, Value, Value, bool);
    let federated_shape = |answer: &Value| -> (Option<usize>, Vec<Entry>) {
        let keys: Vec<&String> = answer
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        let after_request_uid = keys.iter().position(|k| *k == "requestUid").map(|p| p + 1);
        let metadata_at = keys.iter().position(|k| *k == "metadata");
        let entries = answer["metadata"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                let uid_like = m["queryUid"].as_str().is_some_and(|uid| uid.len() == 36);
                (
                    m["query"].clone(),
                    m["indexUid"].clone(),
                    m["primaryKey"].clone(),
                    uid_like,
                )
            })
            .collect();
        (
            metadata_at.filter(|at| Some(*at) == after_request_uid),
            entries,
        )
    };
    assert_eq!(
        federated_shape(&through),
        federated_shape(&direct),
        "{through} vs {direct}"
    );
    let (at, entries) = federated_shape(&through);
    assert!(at.is_some(), "{through}");
    assert_eq!(entries.len(), 3, "{through}");
    assert_eq!(entries[0].0, json!(""));
    assert_eq!(entries[1].0, json!("1"));
    assert_eq!(
        entries[2].0,
        Value::Null,
        "a query without `q` is not named"
    );
}

dual_test!(search_metadata_as_one_node);

/// `POST /indexes/{uid}/compact` answers as one node does: a `202` `indexCompaction` task that
/// succeeds with its sizes before and after (the nodes' summed), and fails with
/// `index_not_found` for an index that does not exist.
async fn compaction_as_one_node(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let reference = Node::start(&backend).await;
    let documents: Vec<Value> = (0..50)
        .map(|id| json!({"id": id, "title": format!("title {id}")}))
        .collect();
    let mut finished = Vec::new();
    for client in [cluster.client(), reference.client()] {
        client
            .seed_index("docs", Value::Null, documents.clone())
            .await;
        let mut tasks = Vec::new();
        for uid in ["docs", "missing"] {
            let (status, summary) = client
                .post(&format!("/indexes/{uid}/compact"), Value::Null)
                .await;
            assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{summary}");
            assert_eq!(summary["type"], "indexCompaction", "{summary}");
            assert_eq!(summary["indexUid"], uid, "{summary}");
            tasks.push(client.wait_task(task_uid(&summary)).await);
        }
        finished.push(tasks);
    }
    let sized = |text: &Value| {
        text.as_str().is_some_and(|text| {
            let (number, unit) = text.split_once(' ').unwrap_or(("", ""));
            number.parse::<f64>().is_ok() && unit.ends_with('B')
        })
    };
    for tasks in &finished {
        let (done, missing) = (&tasks[0], &tasks[1]);
        assert_eq!(done["status"], "succeeded", "{done}");
        assert!(sized(&done["details"]["preCompactionSize"]), "{done}");
        assert!(sized(&done["details"]["postCompactionSize"]), "{done}");
        assert_eq!(missing["status"], "failed", "{missing}");
        assert_eq!(missing["error"]["code"], "index_not_found", "{missing}");
    }
    let keys = |task: &Value| -> Vec<String> {
        task["details"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&finished[0][0]), keys(&finished[1][0]));
}
dual_test!(compaction_as_one_node);

/// The hits a dynamic search rule pinned: `(place in the hits, id)`.
fn pinned_hits(answer: &Value) -> Vec<(usize, String)> {
    answer["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, hit)| hit["_rankingScoreDetails"].get("pin").is_some())
        .map(|(place, hit)| (place, hit["id"].to_string()))
        .collect()
}

/// The answer without its pinned hits, for the organic comparison of [`differs`].
fn organic_only(answer: &Value) -> Value {
    let mut answer = answer.clone();
    if let Some(hits) = answer["hits"].as_array_mut() {
        hits.retain(|hit| hit["_rankingScoreDetails"].get("pin").is_none());
    }
    answer
}

/// Dynamic search rules answer as on one node: refused while the experimental feature is off;
/// then created, read, listed and removed through Miroir as `dsrUpdate`/`dsrClear` tasks; and a
/// search pins the rules' documents at their positions over the merged ranking — keyword and
/// placeholder queries, a page past the pins, a filter that leaves a pinned document out,
/// `distinct` (pins bypass it), page mode, a position past the last hit, a rule for another
/// index, an inactive rule and a rule whose words the query lacks. (Every rule sets `active`:
/// Meilisearch 1.50 stops applying the rules without it once one rule sets it; and one rule
/// only has a `precedence`: with two, it applied only one of them.)
async fn search_rules_as_one_node(backend: Backend) {
    let cluster = Cluster::start(&backend, 3, 2, 8).await;
    let reference = Node::start(&backend).await;
    let genres = ["drama", "comedy", "horror"];
    let documents: Vec<Value> = (0..60)
        .map(|id| {
            let title = format!("{} {}", WORDS[id % 7], WORDS[(id * 3) % 11]);
            json!({"id": id, "title": title, "genre": genres[id % 3]})
        })
        .collect();
    let rules = [
        (
            "everywhere",
            json!({"active": true, "actions": [
                {"selector": {"id": "41"}, "action": {"type": "pin", "position": 0}},
                {"selector": {"indexUid": "docs", "id": "7"}, "action": {"type": "pin", "position": 3}},
                {"selector": {"id": "55"}, "action": {"type": "pin", "position": 500}},
            ]}),
        ),
        (
            "amber",
            json!({"description": "amber promo", "precedence": 2, "active": true, "conditions": {"query": {"words": "amber"}},
                "actions": [{"selector": {"id": "12"}, "action": {"type": "pin", "position": 1}}]}),
        ),
        (
            "asleep",
            json!({"active": false, "actions": [{"selector": {"id": "5"}, "action": {"type": "pin", "position": 0}}]}),
        ),
        (
            "elsewhere",
            json!({"active": true, "actions": [{"selector": {"indexUid": "other", "id": "3"}, "action": {"type": "pin", "position": 0}}]}),
        ),
    ];
    let queries = [
        json!({"q": "amber", "limit": 10}),
        json!({"q": "amber", "offset": 2, "limit": 5}),
        json!({"q": "breeze"}),
        json!({"q": "", "limit": 100}),
        json!({"q": "", "filter": "genre = horror", "limit": 10}),
        json!({"q": "amber", "distinct": "genre"}),
        json!({"q": "", "hitsPerPage": 5, "page": 1}),
    ];
    let mut answers: Vec<Vec<Value>> = Vec::new();
    let mut tasks: Vec<Vec<Value>> = Vec::new();
    for client in [cluster.client(), reference.client()] {
        client
            .seed_index(
                "docs",
                json!({"filterableAttributes": ["genre"]}),
                documents.clone(),
            )
            .await;
        let (status, refusal) = client
            .send(
                Method::PATCH,
                "/dynamic-search-rules/early",
                rules[0].1.clone(),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{refusal}");
        assert_eq!(refusal["code"], "feature_not_enabled", "{refusal}");
        let (status, features) = client
            .send(
                Method::PATCH,
                "/experimental-features",
                json!({"dynamicSearchRules": true}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{features}");
        let mut finished = Vec::new();
        for (uid, rule) in &rules {
            let (status, summary) = client
                .send(
                    Method::PATCH,
                    &format!("/dynamic-search-rules/{uid}"),
                    rule.clone(),
                )
                .await;
            assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{summary}");
            finished.push(client.wait_task(task_uid(&summary)).await);
        }
        let mut seen = Vec::new();
        for query in &queries {
            let mut query = query.clone();
            query["showRankingScore"] = json!(true);
            query["showRankingScoreDetails"] = json!(true);
            let (status, answer) = client.post("/indexes/docs/search", query.clone()).await;
            assert_eq!(status, reqwest::StatusCode::OK, "{query}: {answer}");
            seen.push(answer);
        }
        let (_, rule) = client.get("/dynamic-search-rules/amber").await;
        seen.push(rule);
        let (_, listing) = client
            .post("/dynamic-search-rules", json!({"filter": {"active": true}}))
            .await;
        seen.push(listing);
        let (_, missing) = client.get("/dynamic-search-rules/nope").await;
        seen.push(missing);
        // Removed: its pins are gone.
        let (_, summary) = client.delete("/dynamic-search-rules/everywhere").await;
        finished.push(client.wait_task(task_uid(&summary)).await);
        let (_, answer) = client
            .post(
                "/indexes/docs/search",
                json!({"q": "", "showRankingScoreDetails": true}),
            )
            .await;
        seen.push(json!(pinned_hits(&answer)));
        let (_, summary) = client.delete("/dynamic-search-rules").await;
        finished.push(client.wait_task(task_uid(&summary)).await);
        let (_, listing) = client.post("/dynamic-search-rules", json!({})).await;
        seen.push(listing);
        answers.push(seen);
        tasks.push(finished);
    }

    let (through, direct) = (&answers[0], &answers[1]);
    for (i, query) in queries.iter().enumerate() {
        assert_eq!(
            pinned_hits(&through[i]),
            pinned_hits(&direct[i]),
            "{query}: {} vs {}",
            through[i],
            direct[i]
        );
        let mut compared = query.clone();
        compared["showRankingScore"] = json!(true);
        assert_eq!(
            differs(
                &compared,
                &organic_only(&through[i]),
                &organic_only(&direct[i])
            ),
            None,
            "{query}"
        );
    }
    // The pins did take their places: the test would pass vacuously otherwise.
    assert_eq!(
        pinned_hits(&direct[0]),
        vec![
            (0, "41".to_string()),
            (1, "12".to_string()),
            (3, "7".to_string())
        ],
        "{}",
        direct[0]
    );
    assert_eq!(
        pinned_hits(&direct[3]).last(),
        Some(&(59, "55".to_string())),
        "{}",
        direct[3]
    );
    let rest = queries.len();
    assert_eq!(through[rest], direct[rest], "GET of a rule");
    assert_eq!(through[rest]["description"], "amber promo");
    let uids = |listing: &Value| -> Vec<String> {
        let mut uids: Vec<String> = listing["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|rule| rule["uid"].as_str().unwrap_or_default().to_string())
            .collect();
        uids.sort();
        uids
    };
    assert_eq!(
        uids(&through[rest + 1]),
        ["amber", "elsewhere", "everywhere"]
    );
    assert_eq!(uids(&through[rest + 1]), uids(&direct[rest + 1]));
    assert_eq!(through[rest + 1]["total"], direct[rest + 1]["total"]);
    assert_eq!(through[rest + 2]["code"], "dynamic_search_rule_not_found");
    assert_eq!(through[rest + 2], direct[rest + 2]);
    assert_eq!(
        through[rest + 3],
        json!([]),
        "pins after the rule's removal"
    );
    assert_eq!(through[rest + 3], direct[rest + 3]);
    assert_eq!(through[rest + 4]["total"], 0, "{}", through[rest + 4]);
    assert_eq!(through[rest + 4]["total"], direct[rest + 4]["total"]);

    let shape = |task: &Value| {
        let keys: Vec<String> = task["details"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        json!([task["status"], task["type"], task["indexUid"], keys])
    };
    for (ours, theirs) in tasks[0].iter().zip(&tasks[1]) {
        assert_eq!(ours["status"], "succeeded", "{ours}");
        assert_eq!(shape(ours), shape(theirs), "{ours} vs {theirs}");
    }
}
dual_test!(search_rules_as_one_node);
