//! The traces page at `/` and the JSON it reads (`/ui/api/...`).
//!
//! The page is static HTML, JavaScript and CSS compiled into the binary; it
//! loads no external resource. Its data endpoints take the account as a query
//! parameter. They need no credentials unless the collector requires an API
//! key: then they take it as `key` in the query (the page passes on the `key`
//! of its own URL) or as `x-api-key`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rusqlite::types::Value as SqlValue;
use serde::Deserialize;

use crate::error::ApiError;
use crate::server::Shared;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE_CSS: &str = include_str!("../static/style.css");

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/",
            get(|| async { static_file("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { static_file("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { static_file("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/ui/api/accounts", get(accounts))
        .route("/ui/api/traces", get(traces))
        .route("/ui/api/trace", get(trace))
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn json(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Checks the API key, when the collector requires one.
fn ui_auth(shared: &Shared, headers: &HeaderMap, key: Option<&str>) -> Result<(), ApiError> {
    let Some(required) = &shared.api_key else {
        return Ok(());
    };
    let given = key.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    if given == Some(required.as_str()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "this collector requires its API key: open the page with ?key=KEY",
        )
        .field("key"))
    }
}

#[derive(Debug, Default, Deserialize)]
struct KeyQuery {
    #[serde(default)]
    key: Option<String>,
}

async fn accounts(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(k): Query<KeyQuery>,
) -> Response {
    if let Err(e) = ui_auth(&shared, &headers, k.key.as_deref()) {
        return e.into_response();
    }
    match tokio::task::spawn_blocking(move || shared.store.accounts()).await {
        Ok(Ok(a)) => json(serde_json::to_string(&a).expect("strings serialize")),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

/// Filters of the traces list. Each matches when any span of the trace matches
/// (`name` and `group_id` look at the root span).
#[derive(Debug, Default, Deserialize)]
struct TraceFilter {
    account: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    span_type: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    group_id: String,
    /// `key=value` on metadata.
    #[serde(default)]
    meta: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    limit: Option<u32>,
}

fn traces_sql(f: &TraceFilter) -> (String, Vec<SqlValue>) {
    let mut sql = String::from(
        "SELECT r.body,
            (SELECT COUNT(*) FROM spans c WHERE c.account_id = r.account_id AND c.trace_id = r.trace_id),
            (SELECT COUNT(*) FROM spans c WHERE c.account_id = r.account_id AND c.trace_id = r.trace_id AND c.end_us IS NULL),
            (SELECT COUNT(*) FROM spans c WHERE c.account_id = r.account_id AND c.trace_id = r.trace_id AND c.status = 'ERROR')
         FROM spans r WHERE r.account_id = ? AND r.parent_id IS NULL",
    );
    let mut args = vec![SqlValue::Text(f.account.clone())];
    let mut any_span = |cond: &str, vals: Vec<SqlValue>, sql: &mut String| {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM spans s WHERE s.account_id = r.account_id AND s.trace_id = r.trace_id AND {cond})"
        ));
        args.extend(vals);
    };
    if !f.span_type.is_empty() {
        any_span(
            "s.type = ?",
            vec![SqlValue::Text(f.span_type.clone())],
            &mut sql,
        );
    }
    if !f.status.is_empty() {
        any_span(
            "s.status = ?",
            vec![SqlValue::Text(f.status.clone())],
            &mut sql,
        );
    }
    if let Some((k, v)) = f.meta.split_once('=') {
        let path = format!("$.metadata.\"{}\"", k.trim().replace('"', "\\\""));
        any_span(
            "CAST(json_extract(s.body, ?) AS TEXT) = ?",
            vec![SqlValue::Text(path), SqlValue::Text(v.trim().to_owned())],
            &mut sql,
        );
    }
    if !f.text.is_empty() {
        any_span(
            "instr(lower(s.body), lower(?)) > 0",
            vec![SqlValue::Text(f.text.clone())],
            &mut sql,
        );
    }
    if !f.name.is_empty() {
        sql.push_str(" AND instr(lower(r.name), lower(?)) > 0");
        args.push(SqlValue::Text(f.name.clone()));
    }
    if !f.group_id.is_empty() {
        sql.push_str(" AND r.group_id = ?");
        args.push(SqlValue::Text(f.group_id.clone()));
    }
    let limit = f.limit.unwrap_or(200).clamp(1, 2000);
    sql.push_str(&format!(" ORDER BY r.start_us DESC LIMIT {limit}"));
    (sql, args)
}

async fn traces(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(f): Query<TraceFilter>,
) -> Response {
    if let Err(e) = ui_auth(&shared, &headers, f.key.as_deref()) {
        return e.into_response();
    }
    let result = tokio::task::spawn_blocking(move || {
        let (sql, args) = traces_sql(&f);
        shared.store.query_strings(&sql, args)
    })
    .await;
    let rows = match result {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        let (
            SqlValue::Text(body),
            SqlValue::Integer(count),
            SqlValue::Integer(running),
            SqlValue::Integer(errors),
        ) = (&row[0], &row[1], &row[2], &row[3])
        else {
            continue;
        };
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"root\":{body},\"span_count\":{count},\"running_count\":{running},\"error_count\":{errors}}}"
        ));
    }
    out.push(']');
    json(out)
}

#[derive(Debug, Deserialize)]
struct TraceQuery {
    account: String,
    trace_id: String,
    #[serde(default)]
    key: Option<String>,
}

async fn trace(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<TraceQuery>,
) -> Response {
    if let Err(e) = ui_auth(&shared, &headers, q.key.as_deref()) {
        return e.into_response();
    }
    match tokio::task::spawn_blocking(move || shared.store.trace_spans(&q.account, &q.trace_id))
        .await
    {
        Ok(Ok(spans)) => json(format!("[{}]", spans.join(","))),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
