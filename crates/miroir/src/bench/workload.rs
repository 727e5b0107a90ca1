//! What a benchmark replays: the dataset (JSON array, NDJSON or CSV, optionally gzipped), cut
//! into NDJSON batches, and the queries (a JSONL file, or a default set drawn from the dataset).

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use miroir_core::document::{infer_primary_key, parse_payload, Document, PayloadFormat};

/// Bytes of NDJSON per document batch sent to each side.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// A parsed dataset, ready to send.
pub struct Dataset {
    /// Every document, in file order.
    pub documents: Vec<Document>,
    /// The primary key, inferred as Meilisearch infers it.
    pub primary_key: String,
    /// Size of the file's uncompressed content.
    pub bytes: usize,
}

impl Dataset {
    /// Reads and parses `path`; the format comes from its extension (`.gz` is stripped first).
    pub fn load(path: &Path) -> anyhow::Result<Dataset> {
        let raw = std::fs::read(path)
            .with_context(|| format!("dataset: cannot read {}", path.display()))?;
        let name = path.to_string_lossy().to_ascii_lowercase();
        let (name, content) = match name.strip_suffix(".gz") {
            Some(inner) => {
                let mut content = Vec::new();
                flate2::read::GzDecoder::new(raw.as_slice())
                    .read_to_end(&mut content)
                    .with_context(|| format!("dataset: {} is not valid gzip", path.display()))?;
                (inner.to_string(), content)
            }
            None => (name, raw),
        };
        let format = if name.ends_with(".ndjson") || name.ends_with(".jsonl") {
            PayloadFormat::Ndjson
        } else if name.ends_with(".csv") {
            PayloadFormat::Csv { delimiter: b',' }
        } else if name.ends_with(".json") {
            PayloadFormat::Json
        } else {
            bail!(
                "dataset: {} must end in .json, .ndjson, .jsonl or .csv (optionally .gz)",
                path.display()
            )
        };
        let documents = parse_payload(&content, format)
            .map_err(|e| anyhow::anyhow!("dataset: {}: {e}", path.display()))?;
        let Some(first) = documents.first() else {
            bail!("dataset: {} holds no document", path.display())
        };
        let primary_key = infer_primary_key(first)
            .map_err(|e| anyhow::anyhow!("dataset: {}: {e}", path.display()))?;
        Ok(Dataset {
            documents,
            primary_key,
            bytes: content.len(),
        })
    }

    /// The documents as NDJSON batches of about [`BATCH_BYTES`], with their document counts.
    pub fn batches(&self) -> Vec<(Vec<u8>, usize)> {
        let mut batches = Vec::new();
        let mut current = Vec::new();
        let mut count = 0;
        for document in &self.documents {
            if serde_json::to_writer(&mut current, document).is_ok() {
                current.push(b'\n');
                count += 1;
            }
            if current.len() >= BATCH_BYTES {
                batches.push((std::mem::take(&mut current), count));
                count = 0;
            }
        }
        if !current.is_empty() {
            batches.push((current, count));
        }
        batches
    }
}

impl Dataset {
    /// One NDJSON payload of at most `max_bytes`: the dataset's documents over and over, each
    /// copy with a fresh primary-key value (`upload-{n}`), with its document count.
    pub fn upload(&self, max_bytes: usize) -> (Vec<u8>, usize) {
        let mut payload = Vec::with_capacity(max_bytes);
        let mut count = 0usize;
        for document in self.documents.iter().cycle() {
            let mut copy = document.clone();
            copy.insert(
                self.primary_key.clone(),
                Value::String(format!("upload-{count}")),
            );
            let Ok(mut line) = serde_json::to_vec(&copy) else {
                continue;
            };
            line.push(b'\n');
            if payload.len() + line.len() > max_bytes {
                break;
            }
            payload.extend_from_slice(&line);
            count += 1;
        }
        (payload, count)
    }
}

/// Reads one JSON search body per non-empty line.
pub fn read_queries(path: &Path) -> anyhow::Result<Vec<Map<String, Value>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("queries: cannot read {}", path.display()))?;
    let mut queries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(query)) => queries.push(query),
            Ok(_) => bail!(
                "queries: {} line {}: not a JSON object",
                path.display(),
                n + 1
            ),
            Err(e) => bail!("queries: {} line {}: {e}", path.display(), n + 1),
        }
    }
    if queries.is_empty() {
        bail!("queries: {} holds no query", path.display());
    }
    Ok(queries)
}

/// Words of at least four letters in the document's string values (top level and arrays).
fn words(document: &Document) -> Vec<String> {
    let mut words = Vec::new();
    let mut add = |text: &str| {
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            if word.chars().count() >= 4 && !word.chars().all(|c| c.is_ascii_digit()) {
                words.push(word.to_lowercase());
            }
        }
    };
    for value in document.values() {
        match value {
            Value::String(text) => add(text),
            Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(&mut add),
            _ => {}
        }
    }
    words
}

/// A default query set drawn evenly from the dataset: the placeholder search, single words,
/// word pairs and word prefixes (each distinct).
pub fn default_queries(dataset: &Dataset, count: usize) -> Vec<Map<String, Value>> {
    let mut texts: Vec<String> = vec![String::new()];
    let stride = (dataset.documents.len() / count.max(1)).max(1);
    for (n, document) in dataset.documents.iter().step_by(stride).enumerate() {
        if texts.len() >= count {
            break;
        }
        let words = words(document);
        let Some(first) = words.first() else { continue };
        let text = match n % 3 {
            1 if words.len() > 1 => format!("{first} {}", words[words.len() / 2]),
            2 => first.chars().take(4).collect(),
            _ => first.clone(),
        };
        if !texts.contains(&text) {
            texts.push(text);
        }
    }
    texts
        .into_iter()
        .map(|q| json!({ "q": q }).as_object().cloned().unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_queries_are_distinct_and_start_with_the_placeholder() {
        let documents: Vec<Document> = (0..50)
            .map(|i| {
                json!({"id": i, "title": format!("Ocean voyage number{i}"), "tags": ["blue whale"]})
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let dataset = Dataset {
            documents,
            primary_key: "id".into(),
            bytes: 0,
        };
        let queries = default_queries(&dataset, 10);
        assert_eq!(queries[0]["q"], "");
        assert!(queries.len() > 2 && queries.len() <= 10);
        let mut texts: Vec<&Value> = queries.iter().map(|q| &q["q"]).collect();
        texts.dedup();
        assert_eq!(texts.len(), queries.len());
    }
}
