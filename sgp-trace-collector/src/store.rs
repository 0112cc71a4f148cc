//! SQLite storage of spans: one file, WAL, one transaction per batch.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::error::ApiError;
use crate::ids::IdIndex;
use crate::model::NewSpan;
use crate::search::{SearchPage, SearchQuery};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spans (
    account_id TEXT NOT NULL,
    trace_id   TEXT NOT NULL,
    id         TEXT NOT NULL,
    parent_id  TEXT,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,
    status     TEXT,
    group_id   TEXT,
    start_us   INTEGER NOT NULL,
    end_us     INTEGER,
    body       TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS spans_key ON spans (account_id, trace_id, id);
CREATE INDEX IF NOT EXISTS spans_by_start  ON spans (account_id, start_us);
DROP INDEX IF EXISTS spans_by_id;
CREATE INDEX IF NOT EXISTS spans_by_parent ON spans (account_id, parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS spans_by_group  ON spans (account_id, group_id) WHERE group_id IS NOT NULL;
";

/// Whether a batch replaces existing spans or must only add new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// `PUT /v5/spans/batch`: replace, keeping a completed span over an in-progress one.
    Upsert,
    /// `POST /v5/spans/batch` and `POST /v5/spans`: an existing span is a 409.
    Insert,
}

/// The span store: one writer connection and a few reader connections to one
/// SQLite file in WAL mode.
///
/// A background thread checkpoints the WAL into the database file every 200 ms
/// (a passive checkpoint, beside the writer), so the writer rarely pays for a
/// checkpoint and its fsync itself.
///
/// Lookups by span id alone go through an in-memory [`IdIndex`].
pub(crate) struct Store {
    path: PathBuf,
    ids: RwLock<IdIndex>,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    checkpointer: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.checkpointer.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

fn checkpoint_loop(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        match stop.recv_timeout(std::time::Duration::from_millis(200)) {
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    log::warn!("sgp-trace-collector: WAL checkpoint failed: {e}; the writer checkpoints instead");
                }
            }
            _ => return,
        }
    }
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Store> {
        let writer = open_conn(path)?;
        writer.execute_batch(SCHEMA)?;
        let ids = IdIndex::load(&writer)?;
        // The writer checkpoints only if the background thread falls far behind.
        writer.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        let ckpt_conn = open_conn(path)?;
        let (stop, stop_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sgp-collector-checkpoint".into())
            .spawn(move || checkpoint_loop(ckpt_conn, stop_rx))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Store {
            path: path.to_owned(),
            ids: RwLock::new(ids),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            checkpointer: Some((stop, thread)),
        })
    }

    /// Runs `f` with a reader connection from the pool (opening one if none is free).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ApiError> {
        let conn = self.readers.lock().expect("reader pool lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path).map_err(ApiError::storage)?,
        };
        let out = f(&conn).map_err(ApiError::storage);
        let mut pool = self.readers.lock().expect("reader pool lock");
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    /// Writes one batch in one transaction and returns, for each input span in
    /// order, the Span JSON now stored under its key.
    pub fn write_batch(
        &self,
        account: &str,
        spans: Vec<NewSpan>,
        mode: WriteMode,
    ) -> Result<Vec<String>, ApiError> {
        let mut conn = self.writer.lock().expect("writer lock");
        let tx = conn.transaction().map_err(ApiError::storage)?;

        // Merge duplicates of one key inside the batch by the upsert rule.
        let mut slot_of: HashMap<(&str, &str), usize> = HashMap::with_capacity(spans.len());
        let mut winners: Vec<usize> = Vec::with_capacity(spans.len());
        let mut position: Vec<usize> = Vec::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            match slot_of.get(&(s.trace_id.as_str(), s.id.as_str())) {
                Some(&slot) => {
                    if mode == WriteMode::Insert {
                        return Err(ApiError::conflict(
                            "duplicate_span",
                            "the batch holds the same span twice",
                        )
                        .field("id")
                        .span(Some(i), Some(&s.trace_id), Some(&s.id)));
                    }
                    let prev = &spans[winners[slot]];
                    if s.end_us.is_some() || prev.end_us.is_none() {
                        winners[slot] = i;
                    }
                    position.push(slot);
                }
                None => {
                    slot_of.insert((&s.trace_id, &s.id), winners.len());
                    position.push(winners.len());
                    winners.push(i);
                }
            }
        }

        check_relations(
            &tx,
            account,
            &spans,
            &winners,
            &slot_of,
            &self.ids.read().expect("id index lock"),
        )?;

        let mut results: Vec<Option<String>> = vec![None; winners.len()];
        let mut inserted: Vec<(i64, usize)> = Vec::with_capacity(winners.len());
        {
            // One probe per span tells whether it exists, whether the stored
            // version is complete, and whether an indexed column changes; then
            // one plain INSERT or UPDATE (touching the indexes only if needed).
            let mut probe = tx
                .prepare_cached(
                    "SELECT rowid, end_us IS NOT NULL, parent_id IS ?4 AND group_id IS ?5 AND start_us = ?6, body
                     FROM spans WHERE account_id = ?1 AND trace_id = ?2 AND id = ?3",
                )
                .map_err(ApiError::storage)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO spans (account_id, trace_id, id, parent_id, name, type, status, group_id, start_us, end_us, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(ApiError::storage)?;
            let mut update_plain = tx
                .prepare_cached(
                    "UPDATE spans SET name = ?2, type = ?3, status = ?4, end_us = ?5, body = ?6 WHERE rowid = ?1",
                )
                .map_err(ApiError::storage)?;
            let mut update_all = tx
                .prepare_cached(
                    "UPDATE spans SET name = ?2, type = ?3, status = ?4, end_us = ?5, body = ?6,
                        parent_id = ?7, group_id = ?8, start_us = ?9 WHERE rowid = ?1",
                )
                .map_err(ApiError::storage)?;
            let ids = self.ids.read().expect("id index lock");
            for (slot, &i) in winners.iter().enumerate() {
                let s = &spans[i];
                // An id the index has never seen is a new span: no probe needed.
                let known = ids.may_contain(account, &s.id);
                let found = if !known {
                    None
                } else {
                    probe
                        .query_row(
                            params![
                                account,
                                s.trace_id,
                                s.id,
                                s.parent_id,
                                s.group_id,
                                s.start_us
                            ],
                            |r| {
                                Ok((
                                    r.get::<_, i64>(0)?,
                                    r.get::<_, bool>(1)?,
                                    r.get::<_, bool>(2)?,
                                    r.get::<_, String>(3)?,
                                ))
                            },
                        )
                        .optional()
                        .map_err(ApiError::storage)?
                };
                match found {
                    None => {
                        insert
                            .execute(params![
                                account,
                                s.trace_id,
                                s.id,
                                s.parent_id,
                                s.name,
                                s.span_type,
                                s.status,
                                s.group_id,
                                s.start_us,
                                s.end_us,
                                s.body
                            ])
                            .map_err(ApiError::storage)?;
                        inserted.push((tx.last_insert_rowid(), i));
                    }
                    Some(_) if mode == WriteMode::Insert => {
                        return Err(ApiError::conflict(
                            "span_exists",
                            "a span with this id already exists in this trace",
                        )
                        .field("id")
                        .span(Some(i), Some(&s.trace_id), Some(&s.id)));
                    }
                    Some((_, true, _, body)) if s.end_us.is_none() => {
                        // A completed span is kept over an in-progress one.
                        results[slot] = Some(body);
                    }
                    Some((rowid, _, same_keys, _)) => {
                        if same_keys {
                            update_plain
                                .execute(params![
                                    rowid,
                                    s.name,
                                    s.span_type,
                                    s.status,
                                    s.end_us,
                                    s.body
                                ])
                                .map_err(ApiError::storage)?;
                        } else {
                            update_all
                                .execute(params![
                                    rowid,
                                    s.name,
                                    s.span_type,
                                    s.status,
                                    s.end_us,
                                    s.body,
                                    s.parent_id,
                                    s.group_id,
                                    s.start_us
                                ])
                                .map_err(ApiError::storage)?;
                        }
                    }
                }
            }
        }
        tx.commit().map_err(ApiError::storage)?;
        {
            let mut ids = self.ids.write().expect("id index lock");
            for (rowid, i) in inserted {
                ids.add(account, &spans[i].id, rowid);
            }
        }
        Ok(position
            .into_iter()
            .map(|slot| {
                results[slot]
                    .clone()
                    .unwrap_or_else(|| spans[winners[slot]].body.clone())
            })
            .collect())
    }

    /// Replaces the newest stored span with this id in the account by what
    /// `change` makes of its Span JSON, in one transaction; `None` when the
    /// account has no such span. The change keeps the span's keys (trace id,
    /// id, parent, group, start), so no index changes.
    pub fn update(
        &self,
        account: &str,
        id: &str,
        change: impl FnOnce(&str) -> Result<NewSpan, ApiError>,
    ) -> Result<Option<String>, ApiError> {
        let rows = self.candidates(account, id);
        let mut conn = self.writer.lock().expect("writer lock");
        let tx = conn.transaction().map_err(ApiError::storage)?;
        let mut newest: Option<(i64, i64, String)> = None;
        {
            let mut st = tx
                .prepare_cached(
                    "SELECT start_us, body FROM spans WHERE rowid = ?1 AND account_id = ?2 AND id = ?3",
                )
                .map_err(ApiError::storage)?;
            for rowid in rows {
                let found = st
                    .query_row(params![rowid, account, id], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .optional()
                    .map_err(ApiError::storage)?;
                if let Some((start, body)) = found {
                    if newest.as_ref().is_none_or(|(_, s, _)| start > *s) {
                        newest = Some((rowid, start, body));
                    }
                }
            }
        }
        let Some((rowid, _, body)) = newest else {
            return Ok(None);
        };
        let span = change(&body)?;
        tx.execute(
            "UPDATE spans SET name = ?2, type = ?3, status = ?4, end_us = ?5, body = ?6 WHERE rowid = ?1",
            params![rowid, span.name, span.span_type, span.status, span.end_us, span.body],
        )
        .map_err(ApiError::storage)?;
        tx.commit().map_err(ApiError::storage)?;
        Ok(Some(span.body))
    }

    /// Rows that may hold a span with this id in the account (check them in SQL).
    pub fn candidates(&self, account: &str, id: &str) -> Vec<i64> {
        self.ids
            .read()
            .expect("id index lock")
            .candidates(account, id)
    }

    /// The newest stored span with this id in the account.
    pub fn get(&self, account: &str, id: &str) -> Result<Option<String>, ApiError> {
        let rows = self.candidates(account, id);
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT body, start_us FROM spans WHERE rowid = ?1 AND account_id = ?2 AND id = ?3",
            )?;
            let mut best: Option<(i64, String)> = None;
            for rowid in rows {
                let found = st
                    .query_row(params![rowid, account, id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                    })
                    .optional()?;
                if let Some((body, start)) = found {
                    if best.as_ref().is_none_or(|(s, _)| start > *s) {
                        best = Some((start, body));
                    }
                }
            }
            Ok(best.map(|(_, b)| b))
        })
    }

    /// All spans of an account ordered by start time (then trace id and id).
    pub fn all_spans(&self, account: &str) -> Result<Vec<Value>, ApiError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT body FROM spans WHERE account_id = ?1 ORDER BY start_us, trace_id, id",
            )?;
            let rows = st.query_map([account], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for body in rows {
                out.push(serde_json::from_str(&body?).expect("stored bodies are JSON"));
            }
            Ok(out)
        })
    }

    /// All spans of one trace ordered by start time.
    pub fn trace_spans(&self, account: &str, trace_id: &str) -> Result<Vec<String>, ApiError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT body FROM spans WHERE account_id = ?1 AND trace_id = ?2 ORDER BY start_us, id",
            )?;
            let rows = st.query_map([account, trace_id], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
    }

    /// Whether the account has a span in this trace.
    pub fn has_trace(&self, account: &str, trace_id: &str) -> Result<bool, ApiError> {
        self.read(|c| {
            c.prepare_cached("SELECT 1 FROM spans WHERE account_id = ?1 AND trace_id = ?2 LIMIT 1")?
                .exists([account, trace_id])
        })
    }

    /// The accounts that have spans.
    pub fn accounts(&self) -> Result<Vec<String>, ApiError> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT DISTINCT account_id FROM spans ORDER BY account_id")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
    }

    /// Runs a search (see [`crate::search`]).
    pub fn search(&self, account: &str, q: &SearchQuery) -> Result<SearchPage, ApiError> {
        let resolve = |id: &str| self.candidates(account, id);
        self.read(|c| Ok(crate::search::run(c, account, q, &resolve)))?
    }
}

/// Rejects a batch whose spans name a parent in another trace, or that forms a
/// parent cycle, within the batch or together with stored spans (409).
fn check_relations(
    tx: &rusqlite::Transaction<'_>,
    account: &str,
    spans: &[NewSpan],
    winners: &[usize],
    slot_of: &HashMap<(&str, &str), usize>,
    ids: &IdIndex,
) -> Result<(), ApiError> {
    let mut traces_of_id: HashMap<&str, Vec<&str>> = HashMap::new();
    for &i in winners {
        traces_of_id
            .entry(&spans[i].id)
            .or_default()
            .push(&spans[i].trace_id);
    }
    let mut stored_parent = tx
        .prepare_cached(
            "SELECT parent_id FROM spans WHERE account_id = ?1 AND trace_id = ?2 AND id = ?3",
        )
        .map_err(ApiError::storage)?;
    let mut trace_of_row = tx
        .prepare_cached(
            "SELECT trace_id FROM spans WHERE rowid = ?1 AND account_id = ?2 AND id = ?3",
        )
        .map_err(ApiError::storage)?;

    // 1. A parent id must not name a span of another trace.
    for &i in winners {
        let s = &spans[i];
        let Some(p) = s.parent_id.as_deref() else {
            continue;
        };
        if p == s.id {
            return Err(
                ApiError::conflict("parent_cycle", "the span is its own parent")
                    .field("parent_id")
                    .span(Some(i), Some(&s.trace_id), Some(&s.id)),
            );
        }
        if slot_of.contains_key(&(s.trace_id.as_str(), p)) {
            continue;
        }
        let stored = ids.may_contain(account, p);
        if !stored && !traces_of_id.contains_key(p) {
            // The parent was never stored nor sent in this batch: not yet known.
            continue;
        }
        let here = stored
            && stored_parent
                .query_row(params![account, s.trace_id, p], |_| Ok(()))
                .optional()
                .map_err(ApiError::storage)?
                .is_some();
        if here {
            continue;
        }
        let elsewhere = match traces_of_id
            .get(p)
            .and_then(|ts| ts.iter().find(|t| **t != s.trace_id))
        {
            Some(t) => Some((*t).to_owned()),
            None => {
                let mut found = None;
                for rowid in ids.candidates(account, p) {
                    let t = trace_of_row
                        .query_row(params![rowid, account, p], |r| r.get::<_, String>(0))
                        .optional()
                        .map_err(ApiError::storage)?;
                    if t.as_deref().is_some_and(|t| t != s.trace_id) {
                        found = t;
                        break;
                    }
                }
                found
            }
        };
        if let Some(t) = elsewhere {
            return Err(ApiError::conflict(
                "parent_in_other_trace",
                format!("parent span {p:?} belongs to another trace ({t:?})"),
            )
            .field("parent_id")
            .span(Some(i), Some(&s.trace_id), Some(&s.id)));
        }
    }

    // 2. No cycles: walk up from each batch span through batch and stored
    // parents. Ids stay borrowed from the batch; only stored parents are owned.
    // Every walk stays in the span's own trace, so nodes are keyed by id.
    let mut acyclic: HashSet<(&str, Cow<'_, str>)> = HashSet::new();
    let mut path: Vec<Cow<'_, str>> = Vec::new();
    for &i in winners {
        let s = &spans[i];
        let trace = s.trace_id.as_str();
        path.clear();
        path.push(Cow::Borrowed(s.id.as_str()));
        let mut cur_parent: Option<Cow<'_, str>> = s.parent_id.as_deref().map(Cow::Borrowed);
        while let Some(p) = cur_parent {
            if acyclic.contains(&(trace, p.clone())) {
                break;
            }
            if path.contains(&p) {
                let via = path.last().map(|c| c.to_string()).unwrap_or_default();
                return Err(ApiError::conflict(
                    "parent_cycle",
                    format!("the parent chain of this span loops back through span {via:?}"),
                )
                .field("parent_id")
                .span(Some(i), Some(&s.trace_id), Some(&s.id)));
            }
            cur_parent = match slot_of.get(&(trace, p.as_ref())) {
                Some(&slot) => spans[winners[slot]].parent_id.as_deref().map(Cow::Borrowed),
                None if !ids.may_contain(account, &p) => None,
                None => stored_parent
                    .query_row(params![account, trace, p.as_ref()], |r| {
                        r.get::<_, Option<String>>(0)
                    })
                    .optional()
                    .map_err(ApiError::storage)?
                    .flatten()
                    .map(Cow::Owned),
            };
            path.push(p);
        }
        acyclic.extend(path.drain(..).map(|p| (trace, p)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_batch;

    fn thread_cpu_secs() -> f64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 13 {
            return 0.0;
        }
        (f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0)) as f64 / 100.0
    }

    /// Writes 20 batches of 500 fresh spans straight to the store, checks they
    /// are all found by id, and prints the CPU cost per span (run it with
    /// `--release --nocapture` for a figure; no speed is asserted).
    #[test]
    fn writer_cost_per_span() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        // SGP_STORE_BATCHES=200 for a steadier figure.
        let count: usize = std::env::var("SGP_STORE_BATCHES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        let batches: Vec<Vec<u8>> = (0..count)
            .map(|t| {
                let items: Vec<serde_json::Value> = (0..500)
                    .map(|i| {
                        let mut v = serde_json::json!({
                            "trace_id": format!("{t:08x}-0000-4000-8000-000000000000"),
                            "id": uuid::Uuid::new_v4().to_string(),
                            "name": "step", "type": "COMPLETION",
                            "start_timestamp": crate::model::format_timestamp(1_700_000_000_000_000 + (t * 1_000_000 + i * 1000) as i64),
                            "input": {"prompt": "What is the capital of France?"}, "metadata": {"model": "x"},
                        });
                        if i > 0 {
                            v["parent_id"] = serde_json::json!(format!("root{t}"));
                        } else {
                            v["id"] = serde_json::json!(format!("root{t}"));
                        }
                        v
                    })
                    .collect();
                serde_json::to_vec(&serde_json::json!({ "items": items })).unwrap()
            })
            .collect();
        let (mut parse, mut write) = (0.0, 0.0);
        for b in &batches {
            let c0 = thread_cpu_secs();
            let spans = parse_batch(b, "acct").unwrap();
            let c1 = thread_cpu_secs();
            store.write_batch("acct", spans, WriteMode::Upsert).unwrap();
            let c2 = thread_cpu_secs();
            parse += c1 - c0;
            write += c2 - c1;
        }
        let n = (batches.len() * 500) as f64;
        println!(
            "parse {:.2} µs/span, write {:.2} µs/span",
            parse / n * 1e6,
            write / n * 1e6
        );
        assert_eq!(store.all_spans("acct").unwrap().len(), count * 500);
        for t in 0..count {
            let root = store
                .get("acct", &format!("root{t}"))
                .unwrap()
                .expect("root found by id");
            assert!(root.contains(&format!("{t:08x}-0000-4000-8000-000000000000")));
        }
        assert_eq!(store.get("other", "root0").unwrap(), None);
    }
}
