//! `POST /v5/spans/search`: filters, sorting and keyset pagination.
//!
//! Filters the database can answer from columns are turned into SQL; the others
//! (`extra_metadata`, `search_texts`) are applied to the rows as they stream in
//! sort order, until a page is full.

use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::model::parse_timestamp;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page a search answers.
pub const MAX_LIMIT: usize = 1000;

/// A parsed search request.
#[derive(Debug, Clone, Default)]
pub(crate) struct SearchQuery {
    pub trace_ids: Vec<String>,
    pub span_ids: Vec<String>,
    pub parent_ids: Vec<String>,
    pub excluded_span_ids: Vec<String>,
    pub excluded_trace_ids: Vec<String>,
    /// `spans`: exact (trace_id, span_id) pairs.
    pub pairs: Vec<(String, String)>,
    /// `excluded_spans`: (trace_id, span_id) pairs to leave out.
    pub excluded_pairs: Vec<(String, String)>,
    pub parents_only: bool,
    pub names: Vec<String>,
    pub statuses: Vec<String>,
    pub types: Vec<String>,
    pub group_id: Option<String>,
    pub extra_metadata: Map<String, Value>,
    pub search_texts: Vec<String>,
    pub min_duration_ms: Option<f64>,
    pub max_duration_ms: Option<f64>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    pub application_variant_ids: Vec<String>,
    pub obs_trace_ids: Vec<String>,
    pub obs_span_ids: Vec<String>,
    /// `assessment_types`: the collector keeps no assessments, so a non-empty
    /// list matches no span.
    pub assessment_types: Vec<String>,
}

/// Filters of the official client that name data this collector does not
/// keep (Agentex agents): a search using one is a 422, never silently ignored.
const UNSUPPORTED_FILTERS: &[&str] = &["acp_types", "agentex_agent_ids", "agentex_agent_names"];

/// Checks that each id is `len` lowercase hex characters.
fn hex_ids(obj: &Map<String, Value>, field: &str, len: usize) -> Result<Vec<String>, ApiError> {
    let ids = strings(obj, field)?;
    if let Some(bad) = ids
        .iter()
        .find(|i| i.len() != len || !i.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err(ApiError::validation(format!(
            "each of {field} must be {len} lowercase hex characters: {bad:?}"
        ))
        .field(field));
    }
    Ok(ids)
}

/// What a search is ordered by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SortKey {
    #[default]
    Start,
    End,
    Duration,
    Name,
}

impl SortKey {
    fn expr(self) -> &'static str {
        match self {
            SortKey::Start => "start_us",
            SortKey::End => "IFNULL(end_us, 9223372036854775807)",
            SortKey::Duration => "IFNULL(end_us - start_us, -1)",
            SortKey::Name => "name",
        }
    }
}

/// One page of search results.
#[derive(Debug, Clone)]
pub(crate) struct SearchPage {
    pub items: Vec<String>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
    pub prev_cursor: Option<String>,
    pub limit: usize,
}

fn strings(obj: &Map<String, Value>, field: &str) -> Result<Vec<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(
                    ApiError::validation(format!("{field} must be a list of strings")).field(field),
                ),
            })
            .collect(),
        Some(_) => {
            Err(ApiError::validation(format!("{field} must be a list of strings")).field(field))
        }
    }
}

/// A list of `{"trace_id", "span_id"}` objects.
fn pairs(obj: &Map<String, Value>, field: &str) -> Result<Vec<(String, String)>, ApiError> {
    let bad = || {
        ApiError::validation(format!(
            "{field} must be a list of {{\"trace_id\", \"span_id\"}}"
        ))
        .field(field)
    };
    match obj.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| match (p.get("trace_id"), p.get("span_id")) {
                (Some(Value::String(t)), Some(Value::String(s))) => Ok((t.clone(), s.clone())),
                _ => Err(bad()),
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn opt_str(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ Value::Number(_)) => Ok(Some(v.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(ApiError::validation(format!("{field} must be a string")).field(field)),
    }
}

fn opt_num(obj: &Map<String, Value>, field: &str) -> Result<Option<f64>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .parse::<f64>()
            .map(Some)
            .map_err(|_| ApiError::validation(format!("{field} must be a number")).field(field)),
        Some(_) => Err(ApiError::validation(format!("{field} must be a number")).field(field)),
    }
}

fn opt_bool(obj: &Map<String, Value>, field: &str) -> Result<bool, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(_) => Err(ApiError::validation(format!("{field} must be a boolean")).field(field)),
    }
}

fn opt_ts(obj: &Map<String, Value>, field: &str) -> Result<Option<i64>, ApiError> {
    match opt_str(obj, field)? {
        None => Ok(None),
        Some(s) => parse_timestamp(&s).map(Some).ok_or_else(|| {
            ApiError::validation(format!("{field} is not an ISO 8601 timestamp")).field(field)
        }),
    }
}

impl SearchQuery {
    /// Builds a query from the JSON body merged with the query string (the
    /// official client sends filters in the body and paging in the query string;
    /// the query string wins).
    pub fn parse(body: &Value, query: &[(String, String)]) -> Result<SearchQuery, ApiError> {
        let mut obj = match body {
            Value::Object(m) => m.clone(),
            Value::Null => Map::new(),
            _ => {
                return Err(
                    ApiError::validation("the search body must be a JSON object").field("body"),
                )
            }
        };
        for (k, v) in query {
            obj.insert(k.clone(), Value::String(v.clone()));
        }
        let sort = match opt_str(&obj, "sort_by")?.as_deref() {
            None | Some("start_timestamp") | Some("created_at") | Some("start") => SortKey::Start,
            Some("end_timestamp") | Some("end") => SortKey::End,
            Some("duration") | Some("duration_ms") | Some("latency") => SortKey::Duration,
            Some("name") => SortKey::Name,
            Some(other) => {
                return Err(ApiError::validation(format!(
                    "sort_by must be start_timestamp, end_timestamp, duration_ms or name: {other:?}"
                ))
                .field("sort_by"))
            }
        };
        let descending = match opt_str(&obj, "sort_order")?.as_deref() {
            None => true,
            Some(s) if s.eq_ignore_ascii_case("desc") => true,
            Some(s) if s.eq_ignore_ascii_case("asc") => false,
            Some(other) => {
                return Err(ApiError::validation(format!(
                    "sort_order must be asc or desc: {other:?}"
                ))
                .field("sort_order"))
            }
        };
        let limit = match opt_num(&obj, "limit")? {
            None => DEFAULT_LIMIT,
            Some(n) if n >= 1.0 && n <= MAX_LIMIT as f64 => n as usize,
            Some(_) => {
                return Err(ApiError::validation(format!(
                    "limit must be between 1 and {MAX_LIMIT}"
                ))
                .field("limit"))
            }
        };
        let extra_metadata = match obj.get("extra_metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(ApiError::validation("extra_metadata must be an object")
                    .field("extra_metadata"))
            }
        };
        let search_texts = strings(&obj, "search_texts")?;
        if search_texts.len() > 10 {
            return Err(
                ApiError::validation("at most 10 search_texts are supported").field("search_texts"),
            );
        }
        for t in &search_texts {
            if t.trim().trim_matches('"').chars().count() < 2 {
                return Err(
                    ApiError::validation("each search text must be at least 2 characters")
                        .field("search_texts"),
                );
            }
        }
        for field in UNSUPPORTED_FILTERS {
            if !strings(&obj, field)?.is_empty() {
                return Err(ApiError::validation(format!(
                    "{field} is not supported by this collector: it keeps no Agentex agent data"
                ))
                .field(*field));
            }
        }
        // Pages are counted in items, never cut by a byte budget, so a partial
        // page cannot happen; the flag is still checked.
        opt_bool(&obj, "allow_partial_results")?;
        let q = SearchQuery {
            trace_ids: strings(&obj, "trace_ids")?,
            span_ids: strings(&obj, "span_ids")?,
            parent_ids: strings(&obj, "parent_ids")?,
            excluded_span_ids: strings(&obj, "excluded_span_ids")?,
            excluded_trace_ids: strings(&obj, "excluded_trace_ids")?,
            pairs: pairs(&obj, "spans")?,
            excluded_pairs: pairs(&obj, "excluded_spans")?,
            parents_only: opt_bool(&obj, "parents_only")?,
            names: strings(&obj, "names")?,
            statuses: strings(&obj, "statuses")?,
            types: strings(&obj, "types")?,
            group_id: opt_str(&obj, "group_id")?,
            extra_metadata,
            search_texts,
            min_duration_ms: opt_num(&obj, "min_duration_ms")?,
            max_duration_ms: opt_num(&obj, "max_duration_ms")?,
            from_us: opt_ts(&obj, "from_ts")?,
            to_us: opt_ts(&obj, "to_ts")?,
            sort,
            descending,
            limit,
            starting_after: opt_str(&obj, "starting_after")?,
            ending_before: opt_str(&obj, "ending_before")?,
            application_variant_ids: strings(&obj, "application_variant_ids")?,
            obs_trace_ids: hex_ids(&obj, "obs_trace_ids", 32)?,
            obs_span_ids: hex_ids(&obj, "obs_span_ids", 16)?,
            assessment_types: strings(&obj, "assessment_types")?,
        };
        if let (Some(from), Some(to)) = (q.from_us, q.to_us) {
            if from > to {
                return Err(ApiError::validation("from_ts is after to_ts").field("from_ts"));
            }
        }
        let listed = q.trace_ids.len()
            + q.span_ids.len()
            + q.parent_ids.len()
            + q.excluded_span_ids.len()
            + q.excluded_trace_ids.len()
            + 2 * (q.pairs.len() + q.excluded_pairs.len());
        if listed > 10_000 {
            return Err(
                ApiError::validation("at most 10000 ids may be listed in one search")
                    .field("trace_ids"),
            );
        }
        Ok(q)
    }
}

/// An opaque cursor naming one stored span: `c1.<hex trace_id>.<hex id>`.
pub(crate) fn encode_cursor(trace_id: &str, id: &str) -> String {
    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }
    format!("c1.{}.{}", hex(trace_id), hex(id))
}

/// The (trace id, span id) a cursor names, if it is one.
pub(crate) fn decode_cursor(c: &str) -> Option<(String, String)> {
    fn unhex(s: &str) -> Option<String> {
        if s.len() % 2 != 0 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect();
        String::from_utf8(bytes?).ok()
    }
    let rest = c.strip_prefix("c1.")?;
    let (t, i) = rest.split_once('.')?;
    Some((unhex(t)?, unhex(i)?))
}

fn in_list(
    sql: &mut String,
    args: &mut Vec<SqlValue>,
    column: &str,
    values: &[String],
    negate: bool,
) {
    if values.is_empty() {
        return;
    }
    sql.push_str(&format!(
        " AND {column} {}IN (",
        if negate { "NOT " } else { "" }
    ));
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push('?');
        args.push(SqlValue::Text(v.clone()));
    }
    sql.push(')');
}

fn row_list(sql: &mut String, args: &mut Vec<SqlValue>, rows: &[i64], negate: bool) {
    sql.push_str(&format!(
        " AND rowid {}IN (",
        if negate { "NOT " } else { "" }
    ));
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push('?');
        args.push(SqlValue::Integer(*r));
    }
    sql.push(')');
}

fn pair_list(sql: &mut String, args: &mut Vec<SqlValue>, pairs: &[(String, String)], negate: bool) {
    if pairs.is_empty() {
        return;
    }
    sql.push_str(if negate { " AND NOT (" } else { " AND (" });
    for (i, (t, s)) in pairs.iter().enumerate() {
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str("(trace_id = ? AND id = ?)");
        args.push(SqlValue::Text(t.clone()));
        args.push(SqlValue::Text(s.clone()));
    }
    sql.push(')');
}

/// Whether a metadata value matches a wanted one: equal, or (for an array) any
/// element equal.
fn metadata_matches(actual: Option<&Value>, wanted: &Value) -> bool {
    let eq = |a: &Value, b: &Value| match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    };
    match actual {
        None => wanted.is_null(),
        Some(a) if eq(a, wanted) => true,
        Some(Value::Array(items)) => match wanted {
            Value::Array(ws) => ws.iter().all(|w| items.iter().any(|i| eq(i, w))),
            w => items.iter().any(|i| eq(i, w)),
        },
        Some(_) => false,
    }
}

fn is_uuid_shaped(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

fn text_matches(span: &Value, terms: &[String]) -> bool {
    if terms.is_empty() {
        return true;
    }
    let trace_id = span["trace_id"].as_str().unwrap_or("");
    let (uuids, words): (Vec<&String>, Vec<&String>) =
        terms.iter().partition(|t| is_uuid_shaped(t.trim()));
    let uuid_hit = uuids
        .iter()
        .any(|u| u.trim().eq_ignore_ascii_case(trace_id));
    if !words.is_empty() {
        let mut hay = span["name"].as_str().unwrap_or("").to_lowercase();
        for f in ["input", "output", "metadata"] {
            if let Some(v) = span.get(f) {
                hay.push('\n');
                hay.push_str(&v.to_string().to_lowercase());
            }
        }
        let all = words.iter().all(|t| {
            let t = t.trim();
            let t = t
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(t);
            hay.contains(&t.to_lowercase())
        });
        all || uuid_hit
    } else {
        uuid_hit
    }
}

/// Runs a search for `account` on a reader connection; `rows_of(id)` gives
/// the rows that may hold a span id (see [`crate::ids`]).
pub(crate) fn run(
    conn: &Connection,
    account: &str,
    q: &SearchQuery,
    rows_of: &dyn Fn(&str) -> Vec<i64>,
) -> Result<SearchPage, ApiError> {
    let key = q.sort.expr();
    let mut sql = format!("SELECT body, {key}, trace_id, id FROM spans WHERE account_id = ?");
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(account.to_owned())];
    in_list(&mut sql, &mut args, "trace_id", &q.trace_ids, false);
    if !q.span_ids.is_empty() {
        let rows: Vec<i64> = q.span_ids.iter().flat_map(|i| rows_of(i)).collect();
        row_list(&mut sql, &mut args, &rows, false);
        in_list(&mut sql, &mut args, "id", &q.span_ids, false);
    }
    in_list(&mut sql, &mut args, "parent_id", &q.parent_ids, false);
    in_list(&mut sql, &mut args, "id", &q.excluded_span_ids, true);
    in_list(&mut sql, &mut args, "trace_id", &q.excluded_trace_ids, true);
    pair_list(&mut sql, &mut args, &q.pairs, false);
    pair_list(&mut sql, &mut args, &q.excluded_pairs, true);
    in_list(&mut sql, &mut args, "name", &q.names, false);
    in_list(&mut sql, &mut args, "status", &q.statuses, false);
    in_list(&mut sql, &mut args, "type", &q.types, false);
    for (field, values) in [
        ("application_variant_id", &q.application_variant_ids),
        ("obs_trace_id", &q.obs_trace_ids),
        ("obs_span_id", &q.obs_span_ids),
    ] {
        let column = format!("json_extract(body, '$.{field}')");
        in_list(&mut sql, &mut args, &column, values, false);
    }
    if !q.assessment_types.is_empty() {
        sql.push_str(" AND 0");
    }
    if q.parents_only {
        sql.push_str(" AND parent_id IS NULL");
    }
    if let Some(g) = &q.group_id {
        sql.push_str(" AND group_id = ?");
        args.push(SqlValue::Text(g.clone()));
    }
    if let Some(ms) = q.min_duration_ms {
        sql.push_str(" AND end_us IS NOT NULL AND end_us - start_us >= ?");
        args.push(SqlValue::Real(ms * 1000.0));
    }
    if let Some(ms) = q.max_duration_ms {
        sql.push_str(" AND end_us IS NOT NULL AND end_us - start_us <= ?");
        args.push(SqlValue::Real(ms * 1000.0));
    }
    if let Some(from) = q.from_us {
        sql.push_str(" AND start_us >= ?");
        args.push(SqlValue::Integer(from));
    }
    if let Some(to) = q.to_us {
        sql.push_str(" AND start_us <= ?");
        args.push(SqlValue::Integer(to));
    }

    // Keyset pagination: `starting_after` continues after a span in the current
    // order, `ending_before` pages back before one.
    let backwards = q.starting_after.is_none() && q.ending_before.is_some();
    let cursor = if backwards {
        q.ending_before.as_deref()
    } else {
        q.starting_after.as_deref()
    };
    let mut scan_desc = q.descending;
    if let Some(c) = cursor {
        let row: Option<(SqlValue, String, String)> = {
            let (lookup, largs): (String, Vec<SqlValue>) = match decode_cursor(c) {
                Some((t, i)) => (
                    format!("SELECT {key}, trace_id, id FROM spans WHERE account_id = ? AND trace_id = ? AND id = ?"),
                    vec![SqlValue::Text(account.to_owned()), SqlValue::Text(t), SqlValue::Text(i)],
                ),
                None => {
                    // A plain span id (how the official client pages): its newest row.
                    let rows = rows_of(c);
                    let mut lookup = format!(
                        "SELECT {key}, trace_id, id FROM spans WHERE account_id = ? AND id = ? AND rowid IN ("
                    );
                    let mut largs = vec![SqlValue::Text(account.to_owned()), SqlValue::Text(c.to_owned())];
                    for (n, r) in rows.iter().enumerate() {
                        lookup.push_str(if n == 0 { "?" } else { ",?" });
                        largs.push(SqlValue::Integer(*r));
                    }
                    lookup.push_str(") ORDER BY start_us DESC LIMIT 1");
                    (lookup, largs)
                }
            };
            let mut st = conn.prepare(&lookup).map_err(ApiError::storage)?;
            let mut rows = st
                .query_map(rusqlite::params_from_iter(largs), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(ApiError::storage)?;
            rows.next().transpose().map_err(ApiError::storage)?
        };
        let Some((k, t, i)) = row else {
            let field = if backwards {
                "ending_before"
            } else {
                "starting_after"
            };
            return Err(ApiError::validation(format!("{field} names no span: {c:?}")).field(field));
        };
        if backwards {
            scan_desc = !scan_desc;
        }
        let op = if scan_desc { "<" } else { ">" };
        sql.push_str(&format!(" AND ({key}, trace_id, id) {op} (?, ?, ?)"));
        args.extend([k, SqlValue::Text(t), SqlValue::Text(i)]);
    } else if backwards {
        scan_desc = !scan_desc;
    }
    let dir = if scan_desc { "DESC" } else { "ASC" };
    sql.push_str(&format!(" ORDER BY {key} {dir}, trace_id {dir}, id {dir}"));
    let post_filter = !q.extra_metadata.is_empty() || !q.search_texts.is_empty();
    if !post_filter {
        sql.push_str(&format!(" LIMIT {}", q.limit + 1));
    }

    let mut st = conn.prepare(&sql).map_err(ApiError::storage)?;
    let mut rows = st
        .query(rusqlite::params_from_iter(args))
        .map_err(ApiError::storage)?;
    let mut items: Vec<(String, String, String)> = Vec::new();
    let mut has_more = false;
    while let Some(row) = rows.next().map_err(ApiError::storage)? {
        let body: String = row.get(0).map_err(ApiError::storage)?;
        if post_filter {
            let v: Value =
                serde_json::from_str(&body).map_err(|e| ApiError::internal(e.to_string()))?;
            let meta = v.get("metadata");
            let meta_ok = q
                .extra_metadata
                .iter()
                .all(|(k, want)| metadata_matches(meta.and_then(|m| m.get(k)), want));
            if !meta_ok || !text_matches(&v, &q.search_texts) {
                continue;
            }
        }
        if items.len() == q.limit {
            has_more = true;
            break;
        }
        items.push((
            body,
            row.get(2).map_err(ApiError::storage)?,
            row.get(3).map_err(ApiError::storage)?,
        ));
    }
    if backwards {
        items.reverse();
    }
    let next_cursor = items.last().map(|(_, t, i)| encode_cursor(t, i));
    let prev_cursor = items.first().map(|(_, t, i)| encode_cursor(t, i));
    Ok(SearchPage {
        items: items.into_iter().map(|(b, _, _)| b).collect(),
        has_more,
        next_cursor,
        prev_cursor,
        limit: q.limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip() {
        let c = encode_cursor("trace.1", "span/é");
        assert_eq!(decode_cursor(&c), Some(("trace.1".into(), "span/é".into())));
        assert_eq!(decode_cursor("plain-id"), None);
    }

    #[test]
    fn metadata_matches_values_and_array_elements() {
        assert!(metadata_matches(Some(&json!("a")), &json!("a")));
        assert!(metadata_matches(Some(&json!(1.0)), &json!(1)));
        assert!(metadata_matches(Some(&json!(["a", "b"])), &json!("b")));
        assert!(!metadata_matches(Some(&json!("a")), &json!("b")));
        assert!(!metadata_matches(None, &json!("b")));
    }

    #[test]
    fn text_terms_are_anded_and_uuids_match_trace_ids() {
        let span = json!({"name": "Retrieve docs", "trace_id": "0b5c6a0e-8a7f-4c7e-9a65-3b3f7f0b7c11", "input": {"q": "Hello World"}});
        assert!(text_matches(&span, &["hello".into(), "RETRIEVE".into()]));
        assert!(!text_matches(&span, &["hello".into(), "absent".into()]));
        assert!(text_matches(
            &span,
            &["0B5C6A0E-8A7F-4C7E-9A65-3B3F7F0B7C11".into()]
        ));
    }
}
