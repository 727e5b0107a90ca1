//! The core crate's error type. Messages follow Meilisearch's wording; the server maps each
//! variant once to Meilisearch's `code`, `type` and HTTP status.

/// Everything the pure logic can reject.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The request body was empty.
    #[error("A {0} payload is missing.")]
    MissingPayload(&'static str),
    /// The request body could not be parsed in its declared format.
    #[error("{}", malformed_message(.format, .detail))]
    MalformedPayload {
        /// `json`, `ndjson` or `csv`.
        format: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// No field of the first document looks like a primary key.
    #[error("The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.")]
    NoPrimaryKeyCandidate,
    /// Several fields of the first document look like a primary key.
    #[error("The primary key inference failed as the engine found {} fields ending with `id` in their names: {}. Please specify the primary key manually using the `primaryKey` query parameter.", .0.len(), first_two(.0))]
    MultiplePrimaryKeyCandidates(Vec<String>),
    /// A document lacks the primary key.
    #[error("Document doesn't have a `{primary_key}` attribute: `{document}`.")]
    MissingDocumentId {
        /// The index's primary key.
        primary_key: String,
        /// The offending document, as JSON.
        document: String,
    },
    /// A document id is not an integer or a string of allowed characters.
    #[error("Document identifier `{0}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.")]
    InvalidDocumentId(String),
    /// A replication factor of 0 or above the node count.
    #[error("replication factor {rf} is invalid with {nodes} node(s)")]
    ReplicationFactor {
        /// The replication factor.
        rf: usize,
        /// How many nodes there are.
        nodes: usize,
    },
    /// Two nodes share an id.
    #[error("duplicate node id `{0}`")]
    DuplicateNode(String),
    /// A node weight that is not a positive finite number.
    #[error("node `{0}` has an invalid weight")]
    InvalidWeight(String),
    /// A document, setting or query names the attribute Miroir reserves for its shard marker.
    #[error("The attribute `{0}` is reserved by Miroir (it marks each document's shard) and cannot be written, set or queried.")]
    ReservedAttribute(String),
    /// A shard count that is not a power of two in range.
    #[error("invalid shard count {0}: expected a power of two between 1 and 65536")]
    InvalidShardCount(u64),
}

fn malformed_message(format: &str, detail: &str) -> String {
    // Meilisearch words the CSV case slightly differently from JSON and NDJSON.
    if format == "csv" {
        format!("The `csv` payload provided is malformed: `{detail}`.")
    } else {
        format!("The `{format}` payload provided is malformed. `Couldn't serialize document value: {detail}`.")
    }
}

/// Meilisearch names the first two candidates (in lexicographic order) only.
fn first_two(names: &[String]) -> String {
    match names {
        [first, second, ..] => format!("'{first}' and '{second}'"),
        [only] => format!("'{only}'"),
        [] => String::new(),
    }
}
