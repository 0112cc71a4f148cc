//! The traces list of the page: root spans filtered, sorted by start or
//! duration, and paged with keyset cursors (those of the search API), so a
//! page of 100 000 traces reads one page of rows.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension};

use crate::error::ApiError;
use crate::model::parse_timestamp;
use crate::search::{decode_cursor, encode_cursor};

/// Rows of one page unless the page asks for another count.
pub(crate) const DEFAULT_PAGE: usize = 200;

/// What the list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Start,
    Duration,
}

impl Sort {
    /// The sort key of a root span `r`; a running root sorts as shortest.
    fn expr(self) -> &'static str {
        match self {
            Sort::Start => "r.start_us",
            Sort::Duration => "IFNULL(r.end_us - r.start_us, -1)",
        }
    }
}

/// The list's filters, sort and page, from the page's query string.
#[derive(Debug)]
pub(crate) struct TraceList {
    account: String,
    name: String,
    span_type: String,
    status: String,
    group_id: String,
    /// `key=value` pairs on metadata, all required (of any span of the trace).
    meta: Vec<(String, String)>,
    text: String,
    from_us: Option<i64>,
    to_us: Option<i64>,
    sort: Sort,
    descending: bool,
    limit: usize,
    /// `after` (the next page) or `before` (the previous one): a root's cursor.
    after: Option<String>,
    before: Option<String>,
}

/// One page of the list.
pub(crate) struct TracePage {
    /// Each row: the root Span JSON, span count, running count, error count.
    pub rows: Vec<(String, i64, i64, i64)>,
    /// Whether more rows follow in the direction paged.
    pub has_more: bool,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::validation(message).field(field)
}

fn timestamp(field: &str, value: &str) -> Result<Option<i64>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    parse_timestamp(value).map(Some).ok_or_else(|| {
        invalid(
            field,
            format!("{field} is not an ISO 8601 timestamp: {value:?}"),
        )
    })
}

impl TraceList {
    /// Reads the list's parameters; a malformed one is a 422 naming it.
    pub fn parse(pairs: &[(String, String)]) -> Result<TraceList, ApiError> {
        let mut list = TraceList {
            account: String::new(),
            name: String::new(),
            span_type: String::new(),
            status: String::new(),
            group_id: String::new(),
            meta: Vec::new(),
            text: String::new(),
            from_us: None,
            to_us: None,
            sort: Sort::Start,
            descending: true,
            limit: DEFAULT_PAGE,
            after: None,
            before: None,
        };
        for (k, v) in pairs {
            let v = v.trim();
            match k.as_str() {
                "account" => list.account = v.to_owned(),
                "name" => list.name = v.to_owned(),
                "type" => list.span_type = v.to_owned(),
                "status" => list.status = v.to_owned(),
                "group_id" => list.group_id = v.to_owned(),
                "text" => list.text = v.to_owned(),
                "meta" if v.is_empty() => {}
                "meta" => match v.split_once('=') {
                    Some((key, value)) if !key.trim().is_empty() => list
                        .meta
                        .push((key.trim().to_owned(), value.trim().to_owned())),
                    _ => {
                        return Err(invalid(
                            "meta",
                            format!("a metadata filter is key=value: {v:?}"),
                        ))
                    }
                },
                "from" => list.from_us = timestamp("from", v)?,
                "to" => list.to_us = timestamp("to", v)?,
                "sort" => {
                    list.sort = match v {
                        "" | "start" => Sort::Start,
                        "duration" => Sort::Duration,
                        _ => {
                            return Err(invalid(
                                "sort",
                                format!("sort is start or duration: {v:?}"),
                            ))
                        }
                    }
                }
                "order" => {
                    list.descending = match v {
                        "" | "desc" => true,
                        "asc" => false,
                        _ => return Err(invalid("order", format!("order is asc or desc: {v:?}"))),
                    }
                }
                "limit" => {
                    list.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| invalid("limit", format!("limit is 1 to 1000: {v:?}")))?
                }
                "after" if !v.is_empty() => list.after = Some(v.to_owned()),
                "before" if !v.is_empty() => list.before = Some(v.to_owned()),
                _ => {}
            }
        }
        if list.account.is_empty() {
            return Err(invalid("account", "account is required".to_owned()));
        }
        if let (Some(from), Some(to)) = (list.from_us, list.to_us) {
            if from > to {
                return Err(invalid("from", "from is after to".to_owned()));
            }
        }
        Ok(list)
    }

    /// Whether the page is the one before a cursor.
    fn backwards(&self) -> bool {
        self.after.is_none() && self.before.is_some()
    }

    /// The SQL of the page and its arguments; `cursor_key` is the sort key and
    /// ids of the root the page starts after (or before).
    fn sql(&self, cursor_key: Option<(SqlValue, String, String)>) -> (String, Vec<SqlValue>) {
        let mut sql = String::from(
            "SELECT r.body,
            (SELECT COUNT(*) FROM spans c WHERE c.account_id = r.account_id AND c.trace_id = r.trace_id),
            (SELECT COUNT(*) FROM spans c WHERE c.account_id = r.account_id AND c.trace_id = r.trace_id AND c.end_us IS NULL),
            (SELECT COUNT(*) FROM spans c WHERE c.account_id = r.account_id AND c.trace_id = r.trace_id AND c.status = 'ERROR'),
            r.trace_id, r.id
         FROM spans r WHERE r.account_id = ? AND r.parent_id IS NULL"
        );
        let mut args = vec![SqlValue::Text(self.account.clone())];
        let mut any_span = |cond: &str, vals: Vec<SqlValue>, sql: &mut String| {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM spans s WHERE s.account_id = r.account_id AND s.trace_id = r.trace_id AND {cond})"
            ));
            args.extend(vals);
        };
        let text = |s: &str| SqlValue::Text(s.to_owned());
        if !self.span_type.is_empty() {
            any_span("s.type = ?", vec![text(&self.span_type)], &mut sql);
        }
        if !self.status.is_empty() {
            any_span("s.status = ?", vec![text(&self.status)], &mut sql);
        }
        for (k, v) in &self.meta {
            let path = format!("$.metadata.\"{}\"", k.replace('"', "\\\""));
            any_span(
                "CAST(json_extract(s.body, ?) AS TEXT) = ?",
                vec![SqlValue::Text(path), text(v)],
                &mut sql,
            );
        }
        if !self.text.is_empty() {
            any_span(
                "instr(lower(s.body), lower(?)) > 0",
                vec![text(&self.text)],
                &mut sql,
            );
        }
        if !self.name.is_empty() {
            sql.push_str(" AND instr(lower(r.name), lower(?)) > 0");
            args.push(text(&self.name));
        }
        if !self.group_id.is_empty() {
            sql.push_str(" AND r.group_id = ?");
            args.push(text(&self.group_id));
        }
        if let Some(from) = self.from_us {
            sql.push_str(" AND r.start_us >= ?");
            args.push(SqlValue::Integer(from));
        }
        if let Some(to) = self.to_us {
            sql.push_str(" AND r.start_us <= ?");
            args.push(SqlValue::Integer(to));
        }
        let key = self.sort.expr();
        let scan_desc = self.descending != self.backwards();
        if let Some((k, t, i)) = cursor_key {
            let op = if scan_desc { "<" } else { ">" };
            sql.push_str(&format!(" AND ({key}, r.trace_id, r.id) {op} (?, ?, ?)"));
            args.extend([k, SqlValue::Text(t), SqlValue::Text(i)]);
        }
        let dir = if scan_desc { "DESC" } else { "ASC" };
        sql.push_str(&format!(
            " ORDER BY {key} {dir}, r.trace_id {dir}, r.id {dir} LIMIT {}",
            self.limit + 1
        ));
        (sql, args)
    }

    /// Runs the list on a reader connection.
    pub fn run(&self, conn: &Connection) -> Result<TracePage, ApiError> {
        let cursor = self.after.as_deref().or(self.before.as_deref());
        let cursor_key = match cursor {
            None => None,
            Some(c) => Some(self.cursor_key(conn, c)?),
        };
        let (sql, args) = self.sql(cursor_key);
        let mut st = conn.prepare(&sql).map_err(ApiError::storage)?;
        let mut rows = st
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                    (r.get::<_, String>(4)?, r.get::<_, String>(5)?),
                ))
            })
            .map_err(ApiError::storage)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ApiError::storage)?;
        let has_more = rows.len() > self.limit;
        rows.truncate(self.limit);
        if self.backwards() {
            rows.reverse();
        }
        let next_cursor = rows.last().map(|(_, (t, i))| encode_cursor(t, i));
        let prev_cursor = rows.first().map(|(_, (t, i))| encode_cursor(t, i));
        Ok(TracePage {
            rows: rows.into_iter().map(|(row, _)| row).collect(),
            has_more,
            next_cursor,
            prev_cursor,
        })
    }

    fn cursor_key(
        &self,
        conn: &Connection,
        cursor: &str,
    ) -> Result<(SqlValue, String, String), ApiError> {
        let field = if self.backwards() { "before" } else { "after" };
        let bad = || invalid(field, format!("{field} names no trace here: {cursor:?}"));
        let (trace, id) = decode_cursor(cursor).ok_or_else(bad)?;
        let key = self.sort.expr();
        conn.query_row(
            &format!("SELECT {key} FROM spans r WHERE r.account_id = ?1 AND r.trace_id = ?2 AND r.id = ?3"),
            [&self.account, &trace, &id],
            |r| r.get::<_, SqlValue>(0),
        )
        .optional()
        .map_err(ApiError::storage)?
        .map(|k| (k, trace, id))
        .ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        crate::query::query_pairs(Some(q))
    }

    #[test]
    fn malformed_parameters_name_themselves() {
        for (q, field) in [
            ("account=a&meta=novalue", "meta"),
            ("account=a&meta=%3Dv", "meta"),
            ("account=a&from=yesterday", "from"),
            (
                "account=a&from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z",
                "from",
            ),
            ("account=a&sort=name", "sort"),
            ("account=a&order=up", "order"),
            ("account=a&limit=0", "limit"),
            ("name=x", "account"),
        ] {
            let e = TraceList::parse(&pairs(q)).unwrap_err();
            assert_eq!((e.status(), e.field.as_deref()), (422, Some(field)), "{q}");
        }
        let ok = TraceList::parse(&pairs("account=a&meta=k%3Dv&meta=x%3D1%3D2&meta=")).unwrap();
        assert_eq!(
            ok.meta,
            [("k".into(), "v".into()), ("x".into(), "1=2".into())]
        );
    }
}
