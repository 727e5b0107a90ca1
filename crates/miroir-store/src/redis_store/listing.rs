//! `GET /tasks` over the secondary indexes: each list filter is the union of its values' sorted
//! sets, the filters are intersected, and a page is read by score from the result. The
//! intermediate sets live in scratch keys that expire on their own should the process die
//! between building and deleting them.

use ::redis::Pipeline;
use time::OffsetDateTime;

use super::{keys, nanos, RedisStore};
use crate::{Result, TaskFilter, TaskPage, TaskRecord};

/// How long scratch keys live at most.
const SCRATCH_TTL_SECONDS: i64 = 60;

/// The sorted set of the uids a filter's list conditions match.
struct Candidates {
    /// The set's key (`None`: nothing can match, such as an empty `statuses` list).
    key: Option<String>,
    /// Scratch keys to delete once read.
    scratch: Vec<String>,
}

impl RedisStore {
    /// Builds the set of uids matching the filter's list conditions.
    fn candidates(&self, filter: &TaskFilter) -> Result<Candidates> {
        let none = Candidates {
            key: None,
            scratch: Vec::new(),
        };
        let mut dimensions: Vec<Vec<String>> = Vec::new();
        if let Some(statuses) = &filter.statuses {
            dimensions.push(
                statuses
                    .iter()
                    .map(|s| keys::tasks_by_status(s.as_str()))
                    .collect(),
            );
        }
        if let Some(types) = &filter.types {
            dimensions.push(types.iter().map(|t| keys::tasks_by_type(t)).collect());
        }
        if let Some(indexes) = &filter.index_uids {
            dimensions.push(indexes.iter().map(|i| keys::tasks_by_index(i)).collect());
        }
        if let Some(patterns) = &filter.index_patterns {
            let indexes: Vec<String> =
                self.query(::redis::cmd("SMEMBERS").arg(keys::TASK_INDEXES))?;
            dimensions.push(
                indexes
                    .iter()
                    .filter(|index| patterns.iter().any(|p| pattern_matches(p, index)))
                    .map(|index| keys::tasks_by_index(index))
                    .collect(),
            );
        }
        if let Some(cancelers) = &filter.canceled_by {
            dimensions.push(
                cancelers
                    .iter()
                    .map(|c| keys::tasks_by_canceler(*c))
                    .collect(),
            );
        }
        if dimensions.iter().any(Vec::is_empty) || filter.uids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(none);
        }
        if filter.uids.is_none() {
            match dimensions.as_slice() {
                [] => {
                    return Ok(Candidates {
                        key: Some(keys::TASKS.to_string()),
                        scratch: Vec::new(),
                    })
                }
                [only] if only.len() == 1 => {
                    return Ok(Candidates {
                        key: Some(only[0].clone()),
                        scratch: Vec::new(),
                    })
                }
                _ => {}
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut scratch = Vec::new();
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        let mut intersected = Vec::new();
        for (position, dimension) in dimensions.iter().enumerate() {
            if let [only] = dimension.as_slice() {
                intersected.push(only.clone());
                continue;
            }
            let key = keys::scratch(&id, position + 1);
            pipe.cmd("ZUNIONSTORE")
                .arg(&key)
                .arg(dimension.len())
                .arg(dimension)
                .ignore();
            expire(&mut pipe, &key);
            intersected.push(key.clone());
            scratch.push(key);
        }
        if let Some(uids) = &filter.uids {
            let key = keys::scratch(&id, dimensions.len() + 1);
            pipe.cmd("ZADD").arg(&key);
            for uid in uids {
                pipe.arg(*uid).arg(*uid);
            }
            pipe.ignore();
            expire(&mut pipe, &key);
            intersected.push(key.clone());
            intersected.push(keys::TASKS.to_string());
            scratch.push(key);
        }
        let result = keys::scratch(&id, 0);
        pipe.cmd("ZINTERSTORE")
            .arg(&result)
            .arg(intersected.len())
            .arg(&intersected)
            .ignore();
        expire(&mut pipe, &result);
        scratch.push(result.clone());
        pipe.query::<()>(&mut *self.connection()?)?;
        Ok(Candidates {
            key: Some(result),
            scratch,
        })
    }

    fn drop_scratch(&self, candidates: &Candidates) -> Result<()> {
        if !candidates.scratch.is_empty() {
            self.query::<()>(::redis::cmd("DEL").arg(&candidates.scratch))?;
        }
        Ok(())
    }

    /// Every uid of the candidates that passes the filter's date conditions, ascending.
    fn dated(&self, key: &str, filter: &TaskFilter) -> Result<Vec<u64>> {
        let uids: Vec<u64> = self.members(key)?;
        if !has_dates(filter) || uids.is_empty() {
            return Ok(uids);
        }
        let mut pipe = ::redis::pipe();
        for uid in &uids {
            pipe.cmd("HMGET")
                .arg(keys::task(*uid))
                .arg("enqueued_at")
                .arg("started_at")
                .arg("finished_at");
        }
        let times: Vec<(Option<i64>, Option<i64>, Option<i64>)> =
            pipe.query(&mut *self.connection()?)?;
        Ok(uids
            .into_iter()
            .zip(times)
            .filter(|(_, (enqueued, started, finished))| {
                within(
                    *enqueued,
                    filter.after_enqueued_at,
                    filter.before_enqueued_at,
                ) && within(*started, filter.after_started_at, filter.before_started_at)
                    && within(
                        *finished,
                        filter.after_finished_at,
                        filter.before_finished_at,
                    )
            })
            .map(|(uid, _)| uid)
            .collect())
    }

    /// A page of tasks and how many match in all.
    pub(super) fn page_of_tasks(&self, page: &TaskPage) -> Result<(Vec<TaskRecord>, u64)> {
        let candidates = self.candidates(&page.filter)?;
        let Some(key) = &candidates.key else {
            return Ok((Vec::new(), 0));
        };
        let listed = if has_dates(&page.filter) {
            self.dated(key, &page.filter).map(|uids| {
                let total = uids.len() as u64;
                let ordered: Box<dyn Iterator<Item = u64>> = if page.reverse {
                    Box::new(uids.into_iter())
                } else {
                    Box::new(uids.into_iter().rev())
                };
                let page_uids: Vec<u64> = ordered
                    .filter(|uid| match (page.from, page.reverse) {
                        (Some(from), false) => *uid <= from,
                        (Some(from), true) => *uid >= from,
                        (None, _) => true,
                    })
                    .take(page.limit)
                    .collect();
                (page_uids, total)
            })
        } else {
            self.scored_page(key, page)
        };
        self.drop_scratch(&candidates)?;
        let (uids, total) = listed?;
        Ok((self.read_tasks(&uids)?, total))
    }

    /// A page read by score, with the set's cardinality.
    fn scored_page(&self, key: &str, page: &TaskPage) -> Result<(Vec<u64>, u64)> {
        let from = page.from.map(|from| from.to_string());
        let mut pipe = ::redis::pipe();
        pipe.cmd("ZCARD").arg(key);
        if page.reverse {
            pipe.cmd("ZRANGEBYSCORE")
                .arg(key)
                .arg(from.as_deref().unwrap_or("-inf"))
                .arg("+inf");
        } else {
            pipe.cmd("ZREVRANGEBYSCORE")
                .arg(key)
                .arg(from.as_deref().unwrap_or("+inf"))
                .arg("-inf");
        }
        pipe.arg("LIMIT").arg(0).arg(page.limit);
        let (total, uids): (u64, Vec<u64>) = pipe.query(&mut *self.connection()?)?;
        Ok((uids, total))
    }

    /// Every uid matching a filter, ascending.
    pub(super) fn matching_uids(&self, filter: &TaskFilter) -> Result<Vec<u64>> {
        let candidates = self.candidates(filter)?;
        let Some(key) = &candidates.key else {
            return Ok(Vec::new());
        };
        let uids = self.dated(key, filter);
        self.drop_scratch(&candidates)?;
        uids
    }
}

fn expire(pipe: &mut Pipeline, key: &str) {
    pipe.cmd("EXPIRE")
        .arg(key)
        .arg(SCRATCH_TTL_SECONDS)
        .ignore();
}

/// `movies*` matches indexes starting with `movies`; anything else matches itself.
fn pattern_matches(pattern: &str, index: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => index.starts_with(prefix),
        None => pattern == index,
    }
}

fn has_dates(filter: &TaskFilter) -> bool {
    [
        filter.before_enqueued_at,
        filter.after_enqueued_at,
        filter.before_started_at,
        filter.after_started_at,
        filter.before_finished_at,
        filter.after_finished_at,
    ]
    .iter()
    .any(Option::is_some)
}

/// Whether a time is strictly inside the bounds; a missing time passes only without bounds
/// (as SQL's comparisons with NULL).
fn within(at: Option<i64>, after: Option<OffsetDateTime>, before: Option<OffsetDateTime>) -> bool {
    if after.is_none() && before.is_none() {
        return true;
    }
    let Some(at) = at else {
        return false;
    };
    after.is_none_or(|after| at > nanos(after)) && before.is_none_or(|before| at < nanos(before))
}
