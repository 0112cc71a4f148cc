//! The traces page at `/` and the JSON it reads (`/ui/api/...`).
//!
//! The page is static HTML, JavaScript and CSS compiled into the binary; it
//! loads no external resource. Its data endpoints take the account as a query
//! parameter. They need no credentials unless the collector requires an API
//! key: then they take it as `key` in the query (the page passes on the `key`
//! of its own URL) or as `x-api-key`.

use std::sync::Arc;

use axum::extract::{Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::query::query_pairs;
use crate::server::Shared;
use crate::trace_list::TraceList;

/// The page's files, served from the binary: path, content type, body. The
/// scripts share one scope and load in this order (see `index.html`).
const STATIC_FILES: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../static/index.html"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../static/style.css"),
    ),
    ("/common.js", JS, include_str!("../static/common.js")),
    ("/list.js", JS, include_str!("../static/list.js")),
    ("/span.js", JS, include_str!("../static/span.js")),
    ("/trace.js", JS, include_str!("../static/trace.js")),
    ("/app.js", JS, include_str!("../static/app.js")),
];

const JS: &str = "text/javascript; charset=utf-8";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    let mut router = Router::new();
    for &(path, content_type, body) in STATIC_FILES {
        router = router.route(
            path,
            get(move || async move { static_file(content_type, body) }),
        );
    }
    router
        .route("/ui/api/accounts", get(accounts))
        .route("/ui/api/traces", get(traces))
        .route("/ui/api/trace", get(trace))
        .route("/ui/api/find", get(find))
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

async fn traces(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let key = pairs
        .iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.as_str());
    if let Err(e) = ui_auth(&shared, &headers, key) {
        return e.into_response();
    }
    let result = tokio::task::spawn_blocking(move || {
        let list = TraceList::parse(&pairs)?;
        shared.store.read(|c| Ok(list.run(c)))?
    })
    .await;
    let page = match result {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    let mut out = String::from("{\"items\":[");
    for (i, (body, count, running, errors)) in page.rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"root\":{body},\"span_count\":{count},\"running_count\":{running},\"error_count\":{errors}}}"
        ));
    }
    out.push_str(&format!(
        "],\"has_more\":{},\"next_cursor\":{},\"prev_cursor\":{}}}",
        page.has_more,
        serde_json::to_string(&page.next_cursor).expect("strings serialize"),
        serde_json::to_string(&page.prev_cursor).expect("strings serialize"),
    ));
    json(out)
}

#[derive(Debug, Deserialize)]
struct FindQuery {
    account: String,
    id: String,
    #[serde(default)]
    key: Option<String>,
}

/// Opens a trace or span by id: `{"trace_id", "span_id"}` (`span_id` null
/// for a trace id), or 404.
async fn find(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<FindQuery>,
) -> Response {
    if let Err(e) = ui_auth(&shared, &headers, q.key.as_deref()) {
        return e.into_response();
    }
    let id = q.id.trim().to_owned();
    let result = tokio::task::spawn_blocking(move || -> Result<Option<Value>, ApiError> {
        if shared.store.has_trace(&q.account, &id)? {
            return Ok(Some(json!({"trace_id": id, "span_id": null})));
        }
        Ok(shared.store.get(&q.account, &id)?.map(|body| {
            let span: Value = serde_json::from_str(&body).expect("stored bodies are JSON");
            json!({"trace_id": span["trace_id"], "span_id": id})
        }))
    })
    .await;
    match result {
        Ok(Ok(Some(found))) => json(found.to_string()),
        Ok(Ok(None)) => ApiError::not_found("no trace or span with this id in this account")
            .field("id")
            .into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
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
