//! Routing a client's document payload to the nodes of each document's shard without holding
//! its documents in memory.
//!
//! A 100 MB upload must not cost Miroir several times its size, so a JSON or NDJSON payload is
//! read in place: each document is located in the client's bytes, only its primary-key field
//! is parsed (to hash its id), and its routed NDJSON line is the client's bytes with the shard
//! marker appended before the closing brace — the line [`crate::marker::inject`] followed by
//! serialization gives, minus the re-formatting (the node parses the client's own text, as one
//! Meilisearch would). A line is built in memory only for CSV records (typed cells become
//! JSON) and for objects that carry the reserved marker field themselves (it is replaced, as
//! `inject` does). What stays in memory per document is its location, its shard and its group.
//!
//! Lines are grouped by their shard's group (`group_of_shard`, e.g. the shard's replica set),
//! in the client's order within a group; [`RoutedPayload::write_to`] writes the groups one
//! after the other, and [`RoutedPayload::calls`] cuts the byte ranges a node receives into
//! calls of bounded size, at line boundaries.
//!
//! Errors come in two kinds, as on Meilisearch: a payload that is not valid JSON, NDJSON or
//! CSV is refused at once ([`route_payload`] returns the error), whichever document comes
//! first; a document without a valid id, or a primary key that cannot be inferred, fails the
//! task — the first such error is kept in [`RoutedPayload::failure`] while the rest of the
//! payload is still checked for syntax.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::document::{
    csv_documents, document_id, infer_primary_key, infer_primary_key_of, malformed,
    validate_document_id, Document, PayloadFormat,
};
use crate::error::Error;
use crate::hash::{shard_of_id, ShardCount};
use crate::marker::{inject, marker_member, MARKER_FIELD};

/// Where a routed line's bytes come from.
#[derive(Debug)]
enum Source {
    /// Bytes `[start, end)` of the client's payload: one JSON object, written with the marker
    /// appended before its closing brace (`empty` when it has no member, so no comma).
    Raw {
        start: usize,
        end: usize,
        empty: bool,
    },
    /// The whole line, marker and newline included.
    Built(Box<[u8]>),
}

#[derive(Debug)]
struct Line {
    group: u32,
    shard: u32,
    source: Source,
}

/// A payload routed by shard: where each document's line comes from, grouped, and the byte
/// layout of the concatenated groups. It borrows nothing: [`RoutedPayload::write_to`] takes the
/// client's payload again.
#[derive(Debug)]
pub struct RoutedPayload {
    primary_key: Option<String>,
    documents: usize,
    failure: Option<Error>,
    /// Sorted by group, the client's order kept within a group.
    lines: Vec<Line>,
    /// Per group, the range of `lines` it holds.
    group_lines: Vec<(usize, usize)>,
    /// Per group, its `[start, end)` bytes in the written payload.
    group_ranges: Vec<(u64, u64)>,
    /// Per shard, its marker member (`"_miroir":{"s3":null}`).
    markers: Vec<String>,
}

impl RoutedPayload {
    /// The primary key the documents were routed by: the one given, or the one inferred from
    /// the first document; `None` when it could not be inferred or there is no document.
    pub fn primary_key(&self) -> Option<&str> {
        self.primary_key.as_deref()
    }

    /// How many documents the payload holds.
    pub fn documents(&self) -> usize {
        self.documents
    }

    /// The first document error (missing or invalid id, failed inference): the task fails
    /// with it and nothing is written.
    pub fn failure(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// The byte length of the written payload.
    pub fn len(&self) -> u64 {
        self.group_ranges.last().map_or(0, |range| range.1)
    }

    /// Whether the written payload is empty (no routed document).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Per group, its `[start, end)` bytes in the written payload.
    pub fn group_ranges(&self) -> &[(u64, u64)] {
        &self.group_ranges
    }

    fn line_len(&self, line: &Line) -> u64 {
        match &line.source {
            Source::Raw { start, end, empty } => {
                let marker = self.markers[line.shard as usize].len();
                ((end - start) + usize::from(!empty) + marker + 1) as u64
            }
            Source::Built(bytes) => bytes.len() as u64,
        }
    }

    /// The calls a node holding `groups` receives: its groups' bytes in group order, cut at
    /// line boundaries into calls of at most `max_bytes` each (a single longer line is a call
    /// of its own), each call as `[start, end)` ranges with adjacent ranges merged, with the
    /// shards its documents belong to. Empty when the node's groups hold no document.
    pub fn calls(&self, groups: &[u32], max_bytes: u64) -> Vec<RoutedCall> {
        let mut wanted: Vec<u32> = groups.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let mut calls: Vec<RoutedCall> = Vec::new();
        let mut current = RoutedCall::default();
        let mut current_len = 0u64;
        for group in wanted {
            let (Some(&(first, last)), Some(&(mut offset, _))) = (
                self.group_lines.get(group as usize),
                self.group_ranges.get(group as usize),
            ) else {
                continue;
            };
            for line in &self.lines[first..last] {
                let len = self.line_len(line);
                if current_len > 0 && current_len + len > max_bytes {
                    calls.push(std::mem::take(&mut current).finished());
                    current_len = 0;
                }
                match current.ranges.last_mut() {
                    Some(range) if range.1 == offset => range.1 += len,
                    _ => current.ranges.push((offset, offset + len)),
                }
                current.shards.push(line.shard);
                current_len += len;
                offset += len;
            }
        }
        if !current.ranges.is_empty() {
            calls.push(current.finished());
        }
        calls
    }

    /// Writes the routed payload (every group's lines, groups in order) to `out`. `payload` is
    /// the client's payload this was routed from.
    pub fn write_to(&self, payload: &[u8], out: &mut dyn Write) -> io::Result<()> {
        for line in &self.lines {
            match &line.source {
                Source::Raw { start, end, empty } => {
                    let object = payload.get(*start..end.saturating_sub(1)).ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "the payload is not the one that was routed",
                        )
                    })?;
                    out.write_all(object)?;
                    if !empty {
                        out.write_all(b",")?;
                    }
                    out.write_all(self.markers[line.shard as usize].as_bytes())?;
                    out.write_all(b"}\n")?;
                }
                Source::Built(bytes) => out.write_all(bytes)?,
            }
        }
        Ok(())
    }
}

/// One call of a routed payload toward one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutedCall {
    /// `[start, end)` ranges of the written payload, in order.
    pub ranges: Vec<(u64, u64)>,
    /// The shards of its documents, ascending.
    pub shards: Vec<u32>,
}

impl RoutedCall {
    fn finished(mut self) -> RoutedCall {
        self.shards.sort_unstable();
        self.shards.dedup();
        self
    }
}

/// How to route a payload.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// The index's primary key; `None` infers it from the first document.
    pub primary_key: Option<&'a str>,
    /// The index's shard count.
    pub count: ShardCount,
    /// The group of each shard (index = shard).
    pub group_of_shard: &'a [usize],
}

/// Routes a whole payload (see the module docs). Returns the payload's syntax error, if any.
pub fn route_payload(
    payload: &[u8],
    format: PayloadFormat,
    route: Route<'_>,
) -> Result<RoutedPayload, Error> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::MissingPayload(format.name()));
    }
    let mut router = Router::new(route, payload.as_ptr() as usize);
    match format {
        PayloadFormat::Ndjson => {
            for raw in serde_json::Deserializer::from_slice(payload).into_iter::<&RawValue>() {
                let raw = raw.map_err(|e| malformed(format, e))?;
                router.raw_document(raw, format)?;
            }
        }
        PayloadFormat::Json => route_json(payload, &mut router)?,
        PayloadFormat::Csv { delimiter } => {
            for document in csv_documents(payload, delimiter)? {
                router.built_document(document?);
            }
        }
    }
    Ok(router.finish())
}

fn route_json(payload: &[u8], router: &mut Router<'_>) -> Result<(), Error> {
    let format = PayloadFormat::Json;
    let first = payload.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        Some(b'[') => {
            let mut refusal = None;
            let mut deserializer = serde_json::Deserializer::from_slice(payload);
            let streamed = deserializer.deserialize_seq(Elements {
                router: &mut *router,
                refusal: &mut refusal,
            });
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
            streamed.map_err(|e| malformed(format, e))?;
            deserializer.end().map_err(|e| malformed(format, e))
        }
        Some(b'{') => {
            let raw: &RawValue =
                serde_json::from_slice(payload).map_err(|e| malformed(format, e))?;
            router.raw_document(raw, format)
        }
        _ => match serde_json::from_slice::<Value>(payload) {
            Err(e) => Err(malformed(format, e)),
            Ok(other) => Err(malformed(
                format,
                format!("expected an object or an array of objects, found `{other}`"),
            )),
        },
    }
}

/// Visits a JSON array, routing each element as it is read.
struct Elements<'r, 'a> {
    router: &'r mut Router<'a>,
    refusal: &'r mut Option<Error>,
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if let Err(refusal) = self.router.raw_document(raw, PayloadFormat::Json) {
                *self.refusal = Some(refusal);
                return Err(de::Error::custom("refused"));
            }
        }
        Ok(())
    }
}

/// The routing state while a payload is read.
struct Router<'a> {
    route: Route<'a>,
    /// The primary key once known (given, or inferred from the first document).
    primary_key: Option<String>,
    payload_start: usize,
    documents: usize,
    failure: Option<Error>,
    lines: Vec<Line>,
}

impl<'a> Router<'a> {
    fn new(route: Route<'a>, payload_start: usize) -> Router<'a> {
        Router {
            route,
            primary_key: route.primary_key.map(str::to_string),
            payload_start,
            documents: 0,
            failure: None,
            lines: Vec::new(),
        }
    }

    fn fail(&mut self, error: Error) {
        self.failure.get_or_insert(error);
    }

    fn group_of(&self, shard: u32) -> u32 {
        self.route
            .group_of_shard
            .get(shard as usize)
            .map_or(0, |group| *group as u32)
    }

    /// Routes one JSON document found in the client's payload.
    fn raw_document(&mut self, raw: &RawValue, format: PayloadFormat) -> Result<(), Error> {
        let text = raw.get();
        if !text.starts_with('{') {
            return Err(malformed(
                format,
                format!("expected an object, found `{text}`"),
            ));
        }
        self.documents += 1;
        if self.failure.is_some() {
            return Ok(());
        }
        let primary_key = match self.primary_key.take() {
            Some(key) => key,
            None => {
                let scanned = scan(text, None, true).map_err(|e| malformed(format, e))?;
                match infer_primary_key_of(scanned.names.iter().map(|name| name.as_ref())) {
                    Ok(key) => key,
                    Err(error) => {
                        self.fail(error);
                        return Ok(());
                    }
                }
            }
        };
        let scanned = scan(text, Some(&primary_key), false);
        let routed = match scanned {
            Err(e) => Err(malformed(format, e)),
            Ok(scanned) if scanned.marked => {
                self.fail(Error::ReservedAttribute(MARKER_FIELD.to_string()));
                Ok(())
            }
            Ok(scanned) => {
                let id = match scanned.key_value(&primary_key) {
                    Some(value) => validate_document_id(&value),
                    None => Err(Error::MissingDocumentId {
                        primary_key: primary_key.clone(),
                        document: serde_json::from_str::<Value>(text)
                            .map(|document| document.to_string())
                            .unwrap_or_else(|_| text.to_string()),
                    }),
                };
                match id {
                    Ok(id) => {
                        let shard = shard_of_id(&id, self.route.count);
                        let start = text.as_ptr() as usize - self.payload_start;
                        self.lines.push(Line {
                            group: self.group_of(shard),
                            shard,
                            source: Source::Raw {
                                start,
                                end: start + text.len(),
                                empty: scanned.fields == 0,
                            },
                        });
                    }
                    Err(error) => self.fail(error),
                }
                Ok(())
            }
        };
        self.primary_key = Some(primary_key);
        routed
    }

    /// Routes one document parsed in full (a CSV record).
    fn built_document(&mut self, document: Document) {
        self.documents += 1;
        if self.failure.is_some() {
            return;
        }
        let primary_key = match self.primary_key.take() {
            Some(key) => key,
            None => match infer_primary_key(&document) {
                Ok(key) => key,
                Err(error) => return self.fail(error),
            },
        };
        self.route_built(document, &primary_key);
        self.primary_key = Some(primary_key);
    }

    /// Marks and serializes one parsed document into its line.
    fn route_built(&mut self, mut document: Document, primary_key: &str) {
        if document.contains_key(MARKER_FIELD) {
            return self.fail(Error::ReservedAttribute(MARKER_FIELD.to_string()));
        }
        match document_id(&document, primary_key) {
            Ok(id) => {
                let shard = shard_of_id(&id, self.route.count);
                inject(&mut document, shard);
                let mut line = Value::Object(document).to_string().into_bytes();
                line.push(b'\n');
                self.lines.push(Line {
                    group: self.group_of(shard),
                    shard,
                    source: Source::Built(line.into_boxed_slice()),
                });
            }
            Err(error) => self.fail(error),
        }
    }

    fn finish(self) -> RoutedPayload {
        let Router {
            route,
            primary_key,
            documents,
            failure,
            mut lines,
            ..
        } = self;
        if failure.is_some() {
            lines = Vec::new();
        }
        // Stable: the client's order stays within each group.
        lines.sort_by_key(|line| line.group);
        let groups = route.group_of_shard.iter().max().map_or(0, |g| g + 1);
        let mut routed = RoutedPayload {
            primary_key,
            documents,
            failure,
            lines: Vec::new(),
            group_lines: vec![(0, 0); groups],
            group_ranges: vec![(0, 0); groups],
            markers: route.count.shards().map(marker_member).collect(),
        };
        let mut offset = 0u64;
        let mut at = 0usize;
        for group in 0..groups {
            let first = at;
            let start = offset;
            while let Some(line) = lines.get(at).filter(|l| l.group as usize == group) {
                offset += routed.line_len(line);
                at += 1;
            }
            routed.group_lines[group] = (first, at);
            routed.group_ranges[group] = (start, offset);
        }
        routed.lines = lines;
        routed
    }
}

/// What reading one object's members found.
struct Scanned<'t> {
    /// How many members it has.
    fields: usize,
    /// Whether it carries the reserved marker field.
    marked: bool,
    /// The primary key's value, when the key is a member.
    exact: Option<Value>,
    /// For a dotted primary key (`a.b`), the value of its first segment (`a`).
    head: Option<Value>,
    /// The member names, when asked for (primary-key inference).
    names: Vec<Cow<'t, str>>,
}

impl Scanned<'_> {
    /// The primary key's value: the member named after it, or the nested field a dotted key
    /// names (as `document::primary_key_value`).
    fn key_value(&self, primary_key: &str) -> Option<Value> {
        if let Some(value) = &self.exact {
            return Some(value.clone());
        }
        let mut current = self.head.as_ref()?;
        for part in primary_key.split('.').skip(1) {
            current = current.as_object()?.get(part)?;
        }
        Some(current.clone())
    }
}

/// Reads one object's members, parsing only the primary key's value.
fn scan<'t>(
    text: &'t str,
    primary_key: Option<&str>,
    names: bool,
) -> Result<Scanned<'t>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.deserialize_map(Members {
        primary_key,
        head: primary_key
            .filter(|key| key.contains('.'))
            .and_then(|key| key.split('.').next()),
        names,
    })
}

struct Members<'k> {
    primary_key: Option<&'k str>,
    head: Option<&'k str>,
    names: bool,
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = Scanned<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scanned<'de>, A::Error> {
        let mut scanned = Scanned {
            fields: 0,
            marked: false,
            exact: None,
            head: None,
            names: Vec::new(),
        };
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            scanned.fields += 1;
            scanned.marked |= name == MARKER_FIELD;
            if Some(name.as_ref()) == self.primary_key {
                scanned.exact = Some(map.next_value()?);
            } else if Some(name.as_ref()) == self.head {
                scanned.head = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            if self.names {
                scanned.names.push(name);
            }
        }
        Ok(scanned)
    }
}

/// A JSON member name, borrowed from the text when it has no escape (the payload's member
/// names here, a hit's ranking rule names in `merge`).
pub(crate) struct Name<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(name)))
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(name.to_string())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::parse_payload;
    use proptest::prelude::*;

    fn count(shards: u32) -> ShardCount {
        ShardCount::new(shards).unwrap()
    }

    fn written(routed: &RoutedPayload, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        routed.write_to(payload, &mut out).unwrap();
        out
    }

    /// What the payload routes to when every document is parsed, marked and serialized.
    fn reference(payload: &[u8], format: PayloadFormat, key: &str, groups: &[usize]) -> Vec<u8> {
        let documents = parse_payload(payload, format).unwrap();
        let shards = count(groups.len() as u32);
        let mut bodies = vec![Vec::new(); groups.iter().max().map_or(0, |g| g + 1)];
        for mut document in documents {
            let shard = shard_of_id(&document_id(&document, key).unwrap(), shards);
            inject(&mut document, shard);
            serde_json::to_writer(&mut bodies[groups[shard as usize]], &document).unwrap();
            bodies[groups[shard as usize]].push(b'\n');
        }
        bodies.concat()
    }

    fn lines_as_values(bytes: &[u8]) -> Vec<Value> {
        serde_json::Deserializer::from_slice(bytes)
            .into_iter::<Value>()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn compact_documents_route_to_the_same_bytes_as_parsing_them() {
        let payload = b"{\"id\":3,\"t\":\"a\"}\n{\"id\":\"x-1\"}\n{}\n";
        let groups = [0, 1, 0, 1];
        let route = Route {
            primary_key: Some("id"),
            count: count(4),
            group_of_shard: &groups,
        };
        let routed = route_payload(payload, PayloadFormat::Ndjson, route).unwrap();
        assert_eq!(routed.documents(), 3);
        assert!(matches!(
            routed.failure(),
            Some(Error::MissingDocumentId { document, .. }) if document == "{}"
        ));
        assert_eq!(written(&routed, payload), b"");

        let payload = b"{\"id\":3,\"t\":\"a\"}\n{\"id\":\"x-1\"}\n{\"id\":9,\"n\":[1,2]}\n";
        let routed = route_payload(payload, PayloadFormat::Ndjson, route).unwrap();
        assert!(routed.failure().is_none());
        let out = written(&routed, payload);
        assert_eq!(
            out,
            reference(payload, PayloadFormat::Ndjson, "id", &groups)
        );
        assert_eq!(routed.len(), out.len() as u64);
    }

    #[test]
    fn a_json_array_is_routed_element_by_element() {
        let payload = b"[ {\"id\": 1, \"a\": {\"b\": 2}} ,\n {\"id\": 2}, {\"id\":5} ]";
        let groups = [0, 0];
        let route = Route {
            primary_key: None,
            count: count(2),
            group_of_shard: &groups,
        };
        let routed = route_payload(payload, PayloadFormat::Json, route).unwrap();
        assert_eq!(routed.primary_key(), Some("id"));
        assert_eq!(routed.documents(), 3);
        let out = written(&routed, payload);
        assert_eq!(
            lines_as_values(&out),
            lines_as_values(&reference(payload, PayloadFormat::Json, "id", &groups))
        );
        assert_eq!(routed.len(), out.len() as u64);
    }

    #[test]
    fn syntax_errors_win_over_document_errors_and_keep_their_messages() {
        let route = Route {
            primary_key: Some("id"),
            count: count(2),
            group_of_shard: &[0, 0],
        };
        for (payload, format) in [
            (&b"[{\"id\": \"a b\"}, 1]"[..], PayloadFormat::Json),
            (b"[{\"id\": \"a b\"}, {\"id\": 1}", PayloadFormat::Json),
            (b"{\"id\": \"a b\"}\n[2]\n", PayloadFormat::Ndjson),
            (b"{\"id\": 1}\n{\"id\":", PayloadFormat::Ndjson),
            (b"7", PayloadFormat::Json),
        ] {
            let error = route_payload(payload, format, route).unwrap_err();
            assert_eq!(error, parse_payload(payload, format).unwrap_err());
        }
        assert_eq!(
            route_payload(b" \n", PayloadFormat::Ndjson, route).unwrap_err(),
            Error::MissingPayload("ndjson")
        );
        let routed = route_payload(b"[{\"id\": \"a b\"}]", PayloadFormat::Json, route).unwrap();
        assert!(matches!(
            routed.failure(),
            Some(Error::InvalidDocumentId(_))
        ));
    }

    #[test]
    fn inference_nested_keys_and_the_reserved_field() {
        let groups = [0; 4];
        let inferred = Route {
            primary_key: None,
            count: count(4),
            group_of_shard: &groups,
        };
        let routed = route_payload(b"{\"a\":1,\"b\":2}", PayloadFormat::Ndjson, inferred).unwrap();
        assert_eq!(routed.failure(), Some(&Error::NoPrimaryKeyCandidate));
        assert_eq!(routed.primary_key(), None);

        let nested = Route {
            primary_key: Some("a.b"),
            ..inferred
        };
        let payload = b"{\"a\":{\"b\":\"x\"}}\n{\"a.b\":7}\n";
        let routed = route_payload(payload, PayloadFormat::Ndjson, nested).unwrap();
        assert!(routed.failure().is_none());
        assert_eq!(routed.documents(), 2);
        let out = written(&routed, payload);
        let mut expected = Vec::new();
        for (id, mut document) in [
            ("x", json_doc(r#"{"a":{"b":"x"}}"#)),
            ("7", json_doc(r#"{"a.b":7}"#)),
        ] {
            inject(&mut document, shard_of_id(id, count(4)));
            expected.push(Value::Object(document));
        }
        assert_eq!(lines_as_values(&out), expected);

        // The reserved marker field, in any format, fails the task.
        let id = Route {
            primary_key: Some("id"),
            ..inferred
        };
        for (payload, format) in [
            (
                &b"{\"id\":1}\n{\"id\":2,\"_miroir\":{\"s0\":null}}\n"[..],
                PayloadFormat::Ndjson,
            ),
            (b"[{\"id\":1,\"_miroir\":5}]", PayloadFormat::Json),
            (b"id,_miroir\n1,x\n", PayloadFormat::Csv { delimiter: b',' }),
        ] {
            let routed = route_payload(payload, format, id).unwrap();
            assert_eq!(
                routed.failure(),
                Some(&Error::ReservedAttribute(MARKER_FIELD.into()))
            );
            assert!(routed.is_empty());
        }
    }

    fn json_doc(text: &str) -> Document {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn csv_records_are_typed_and_routed() {
        let payload = b"id,price:number,name\n1,2.5,a\n2,3,b\n";
        let groups = [0, 1];
        let route = Route {
            primary_key: None,
            count: count(2),
            group_of_shard: &groups,
        };
        let format = PayloadFormat::Csv { delimiter: b',' };
        let routed = route_payload(payload, format, route).unwrap();
        assert_eq!(routed.primary_key(), Some("id"));
        assert_eq!(
            written(&routed, payload),
            reference(payload, format, "id", &groups)
        );
    }

    #[test]
    fn calls_are_cut_at_line_boundaries() {
        let payload: String = (0..40).map(|i| format!("{{\"id\":{i}}}\n")).collect();
        let groups = [0, 1, 2, 0];
        let route = Route {
            primary_key: Some("id"),
            count: count(4),
            group_of_shard: &groups,
        };
        let routed = route_payload(payload.as_bytes(), PayloadFormat::Ndjson, route).unwrap();
        let out = written(&routed, payload.as_bytes());
        let whole = routed.calls(&[0, 2], u64::MAX);
        assert_eq!(whole.len(), 1);
        let cut = routed.calls(&[2, 0], 100);
        assert!(cut.len() > 1);
        let bytes = |calls: &[RoutedCall]| -> Vec<u8> {
            calls
                .iter()
                .flat_map(|call| call.ranges.iter())
                .flat_map(|(s, e)| out[*s as usize..*e as usize].to_vec())
                .collect()
        };
        assert_eq!(bytes(&cut), bytes(&whole));
        assert_eq!(
            whole[0].shards,
            vec![0, 2, 3],
            "the shards of groups 0 and 2"
        );
        for call in &cut {
            let len: u64 = call.ranges.iter().map(|(s, e)| e - s).sum();
            assert!(len <= 100);
            for (start, end) in &call.ranges {
                assert!(*start == 0 || out[*start as usize - 1] == b'\n');
                assert_eq!(out[*end as usize - 1], b'\n');
                for line in lines_as_values(&out[*start as usize..*end as usize]) {
                    let shard: u32 = line[MARKER_FIELD]
                        .as_object()
                        .unwrap()
                        .keys()
                        .next()
                        .unwrap()[1..]
                        .parse()
                        .unwrap();
                    assert!(call.shards.contains(&shard));
                }
            }
        }
        assert!(routed.calls(&[7], 100).is_empty());
    }

    fn document_strategy() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                (0u64..10_000).prop_map(|n| n.to_string()),
                "[a-z0-9_-]{1,12}".prop_map(|s| format!("\"{s}\"")),
            ],
            proptest::collection::vec(("[a-z]{1,6}", "[ a-z\\\\\"é]{0,8}"), 0..4),
            any::<bool>(),
        )
            .prop_map(|(id, fields, spaced)| {
                let sep = if spaced { " , " } else { "," };
                let mut members = vec![format!("\"id\":{id}")];
                for (name, text) in fields {
                    members.push(format!("\"f{name}\":{}", Value::String(text)));
                }
                format!("{{{}}}", members.join(sep))
            })
    }

    proptest! {
        /// Whatever the documents and groups, each group holds exactly its documents, in the
        /// client's order, equal (as JSON) to parsing, marking and serializing them.
        #[test]
        fn routing_matches_parsing_every_document(
            documents in proptest::collection::vec(document_strategy(), 1..30),
            groups in proptest::collection::vec(0usize..3, 8),
            array in any::<bool>(),
        ) {
            let payload = if array {
                format!("[{}]", documents.join(",\n"))
            } else {
                documents.iter().map(|d| format!("{d}\n")).collect::<String>() + " "
            };
            let format = if array { PayloadFormat::Json } else { PayloadFormat::Ndjson };
            let route = Route { primary_key: Some("id"), count: count(8), group_of_shard: &groups };
            let routed = route_payload(payload.as_bytes(), format, route).unwrap();
            prop_assert!(routed.failure().is_none());
            prop_assert_eq!(routed.documents(), documents.len());
            let out = written(&routed, payload.as_bytes());
            prop_assert_eq!(routed.len(), out.len() as u64);
            prop_assert_eq!(
                lines_as_values(&out),
                lines_as_values(&reference(payload.as_bytes(), format, "id", &groups))
            );
            for (group, (start, end)) in routed.group_ranges().iter().enumerate() {
                for line in lines_as_values(&out[*start as usize..*end as usize]) {
                    let shard = line[MARKER_FIELD].as_object().unwrap().keys().next().unwrap()[1..].parse::<usize>().unwrap();
                    prop_assert_eq!(groups[shard], group);
                }
            }
        }
    }

    /// Noise around and inside valid payloads: bytes inserted, removed or replaced.
    fn mangled() -> impl Strategy<Value = (Vec<u8>, u8)> {
        let valid = prop_oneof![
            Just(b"{\"id\":1,\"t\":\"a\"}\n{\"id\":\"x\"}\n".to_vec()),
            Just(b"[{\"id\": 1, \"n\": [1, {\"a\": null}]}, {\"id\": 2}]".to_vec()),
            Just(b"id,price:number,ok:boolean\n1,2.5,true\n2,,false\n".to_vec()),
        ];
        (
            valid,
            proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..6),
            0u8..3,
        )
            .prop_map(|(mut bytes, edits, format)| {
                for (at, byte, kind) in edits {
                    let at = at % (bytes.len() + 1);
                    match kind {
                        0 => bytes.insert(at, byte),
                        1 if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        _ if at < bytes.len() => bytes[at] = byte,
                        _ => bytes.push(byte),
                    }
                }
                (bytes, format)
            })
    }

    fn format_of(format: u8) -> PayloadFormat {
        match format {
            0 => PayloadFormat::Ndjson,
            1 => PayloadFormat::Json,
            _ => PayloadFormat::Csv { delimiter: b',' },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever bytes a client sends, routing answers (a payload or an error) and never
        /// panics; what it writes is exactly its announced length, and every line it writes is
        /// a JSON object carrying its shard marker.
        #[test]
        fn any_bytes_route_or_fail_cleanly(
            (payload, format) in prop_oneof![
                mangled(),
                (proptest::collection::vec(any::<u8>(), 0..200), 0u8..3),
            ],
            key in proptest::option::of(Just("id")),
        ) {
            let groups = [0, 1, 0, 1];
            let route = Route { primary_key: key, count: count(4), group_of_shard: &groups };
            if let Ok(routed) = route_payload(&payload, format_of(format), route) {
                let out = written(&routed, &payload);
                prop_assert_eq!(out.len() as u64, routed.len());
                for line in lines_as_values(&out) {
                    prop_assert!(line[MARKER_FIELD].is_object(), "{}", line);
                }
                for call in routed.calls(&[0, 1], 64) {
                    prop_assert!(!call.ranges.is_empty());
                }
            }
        }
    }
}
