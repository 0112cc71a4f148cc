//! The `/v5/spans` handlers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::Value;

use crate::error::ApiError;
use crate::model::{parse_batch, parse_single};
use crate::patch::{apply_update, parse_update};
use crate::query::query_pairs;
use crate::search::SearchQuery;
use crate::server::{ItemCount, Shared};
use crate::store::WriteMode;

/// The router of the whole collector: the API, the traces page and its data.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v5/spans/batch", put(upsert_batch).post(insert_batch))
        .route("/v5/spans", post(create_span))
        .route("/v5/spans/search", post(search))
        .route("/v5/spans/{span_id}", get(get_span).patch(update_span))
        .merge(crate::ui::routes())
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// Checks the credentials and returns the account id.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if key.is_empty() {
        return Err(ApiError::unauthorized("missing x-api-key header").field("x-api-key"));
    }
    if let Some(required) = &shared.api_key {
        if key != required {
            return Err(ApiError::unauthorized("invalid API key").field("x-api-key"));
        }
    }
    let account = headers
        .get("x-selected-account-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if account.is_empty() {
        return Err(
            ApiError::unauthorized("missing x-selected-account-id header")
                .field("x-selected-account-id"),
        );
    }
    Ok(account.to_owned())
}

/// Parses a request body as JSON: a body that is not UTF-8 is a 400, other
/// malformed JSON a 422.
fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::bad_request("the request body is not valid UTF-8").field("body"));
    }
    serde_json::from_slice::<Value>(body).map_err(|e| {
        ApiError::validation(format!("the request body is not valid JSON: {e}")).field("body")
    })
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn list_body(items: &[String]) -> String {
    let mut out = String::with_capacity(items.iter().map(|s| s.len() + 1).sum::<usize>() + 32);
    out.push_str("{\"items\":[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(s);
    }
    out.push_str("],\"object\":\"list\"}");
    out
}

async fn write_batch(
    shared: Arc<Shared>,
    headers: HeaderMap,
    body: Bytes,
    mode: WriteMode,
) -> Response {
    let account = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let worker = shared.clone();
    let result = tokio::task::spawn_blocking(
        move || -> Result<(usize, String), (Option<usize>, ApiError)> {
            let spans = parse_batch(&body, &account)?;
            let n = spans.len();
            let stored = worker
                .store
                .write_batch(&account, spans, mode)
                .map_err(|e| (Some(n), e))?;
            Ok((n, list_body(&stored)))
        },
    )
    .await;
    let (mut resp, count) = match result {
        Ok(Ok((n, body))) => (json_response(StatusCode::OK, body), Some(n)),
        Ok(Err((n, e))) => (e.into_response(), n),
        Err(e) => (
            ApiError::internal(format!("the write task failed: {e}")).into_response(),
            None,
        ),
    };
    if let Some(n) = count {
        resp.extensions_mut().insert(ItemCount(n));
    }
    resp
}

async fn upsert_batch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write_batch(shared, headers, body, WriteMode::Upsert).await
}

async fn insert_batch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write_batch(shared, headers, body, WriteMode::Insert).await
}

async fn create_span(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let worker = shared.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
        let span = parse_single(&body, &account)?;
        let mut stored = worker
            .store
            .write_batch(&account, vec![span], WriteMode::Insert)?;
        Ok(stored.remove(0))
    })
    .await;
    match result {
        Ok(Ok(body)) => json_response(StatusCode::OK, body),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format!("the write task failed: {e}")).into_response(),
    }
}

async fn get_span(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(span_id): Path<String>,
) -> Response {
    let account = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let worker = shared.clone();
    let id = span_id.clone();
    match tokio::task::spawn_blocking(move || worker.store.get(&account, &id)).await {
        Ok(Ok(Some(body))) => json_response(StatusCode::OK, body),
        Ok(Ok(None)) => ApiError::not_found(format!("no span with id {span_id:?}"))
            .field("span_id")
            .span(None, None, Some(&span_id))
            .into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format!("the read task failed: {e}")).into_response(),
    }
}

async fn update_span(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(span_id): Path<String>,
    body: Bytes,
) -> Response {
    let account = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let worker = shared.clone();
    let id = span_id.clone();
    let result = tokio::task::spawn_blocking(move || {
        let update = parse_update(&body)?;
        worker.store.update(&account, &id, |stored| {
            apply_update(stored, &update, &account)
        })
    })
    .await;
    match result {
        Ok(Ok(Some(body))) => json_response(StatusCode::OK, body),
        Ok(Ok(None)) => ApiError::not_found(format!("no span with id {span_id:?}"))
            .field("span_id")
            .span(None, None, Some(&span_id))
            .into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format!("the update task failed: {e}")).into_response(),
    }
}

async fn search(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let account = match authenticate(&shared, &headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let worker = shared.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<String, ApiError> {
        let value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            parse_json(&body)?
        };
        let q = SearchQuery::parse(&value, &query_pairs(raw.as_deref()))?;
        let page = worker.store.search(&account, &q)?;
        let mut out = list_body(&page.items);
        out.truncate(out.len() - 1);
        out.push_str(&format!(
            ",\"has_more\":{},\"limit\":{},\"next_cursor\":{},\"prev_cursor\":{}}}",
            page.has_more,
            page.limit,
            serde_json::to_string(&page.next_cursor).expect("string"),
            serde_json::to_string(&page.prev_cursor).expect("string"),
        ));
        Ok(out)
    })
    .await;
    match result {
        Ok(Ok(body)) => json_response(StatusCode::OK, body),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format!("the search task failed: {e}")).into_response(),
    }
}
