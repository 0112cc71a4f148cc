//! The traces page in headless Chromium, driven over the DevTools protocol
//! (`tests/browser`): stored traces are loaded and what the page shows is
//! asserted from its DOM and layout boxes. Screenshots are kept under
//! `artifacts/` at the workspace root (gitignored).
//!
//! Needs Debian's `chromium` on PATH (or `CHROMIUM=/path/to/chrome`); CI
//! installs it (`apt-get install -y chromium`). Without it the test fails.

mod browser;

use browser::Browser;
use serde_json::{json, Value};
use sgp_trace_collector::{Collector, CollectorConfig};

/// The element whose `data-span-id` is `id`, as the opening tag's text.
fn row<'a>(dom: &'a str, id: &str) -> &'a str {
    let needle = format!("data-span-id=\"{id}\"");
    let at = dom
        .find(&needle)
        .unwrap_or_else(|| panic!("no tree row for span {id}"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

fn put(collector: &Collector, account: &str, items: Vec<Value>) {
    ureq::put(format!("{}/v5/spans/batch", collector.base_url()))
        .header("x-api-key", "k")
        .header("x-selected-account-id", account)
        .send_json(json!({ "items": items }))
        .unwrap();
}

fn span(id: &str, parent: Option<&str>, name: &str, start: u32, end: Option<u32>) -> Value {
    let ts = |ms: u32| format!("2024-05-01T10:00:{:02}.{:03}Z", ms / 1000, ms % 1000);
    let mut v =
        json!({"trace_id": "trace-page-1", "id": id, "name": name, "start_timestamp": ts(start)});
    if let Some(p) = parent {
        v["parent_id"] = json!(p);
    }
    if let Some(e) = end {
        v["end_timestamp"] = json!(ts(e));
        v["status"] = json!("SUCCESS");
    }
    v
}

#[test]
fn the_traces_page_renders_a_stored_trace() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let mut retrieve = span(
        "retrieve",
        Some("root"),
        "retrieve documents",
        300,
        Some(900),
    );
    retrieve["status"] = json!("ERROR");
    retrieve["type"] = json!("KB_RETRIEVAL");
    retrieve["metadata"] = json!({"error": true, "error_type": "TimeoutError", "error_message": "the index did not answer", "error_category": "platform"});
    let mut root = span("root", None, "agent run", 0, Some(2000));
    root["input"] = json!({"question": "What is the capital of France?"});
    root["output"] = json!({"answer": "Paris"});
    let items = vec![
        root,
        span("plan", Some("root"), "plan", 50, Some(250)),
        span("tool", Some("plan"), "tool call", 100, Some(200)),
        retrieve,
        span("generate", Some("root"), "generate answer", 1000, None),
    ];
    let mut other = span("other-root", None, "second trace", 5000, Some(5100));
    other["trace_id"] = json!("trace-page-2");
    for batch in [items, vec![other]] {
        put(&collector, "page-account", batch);
    }
    let mut browser = Browser::launch(1400, 900);
    let base = format!("{}/?account=page-account", collector.base_url());

    // The trace view: the tree with its nesting, the running span and the span view.
    let url = format!(
        "{}/?account=page-account#/trace/trace-page-1",
        collector.base_url()
    );
    browser.open(&url, "trace");
    let dom = browser.dom();
    assert!(row(&dom, "root").contains("data-depth=\"0\""));
    assert!(row(&dom, "plan").contains("data-depth=\"1\""));
    assert!(row(&dom, "tool").contains("data-depth=\"2\""));
    assert!(row(&dom, "retrieve").contains("data-depth=\"1\""));
    assert!(row(&dom, "generate").contains("data-running=\"true\""));
    assert!(row(&dom, "root").contains("data-running=\"false\""));
    let order: Vec<usize> = ["root", "plan", "tool", "retrieve", "generate"]
        .iter()
        .map(|id| dom.find(&format!("data-span-id=\"{id}\"")).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "rows are in tree order"
    );
    assert!(
        dom.contains(">running<"),
        "the running span is marked running"
    );
    assert!(dom.contains("agent run (5 spans)"));
    assert!(
        dom.contains("What is the capital of France?"),
        "the root's input is shown"
    );
    let shot = browser.screenshot("traces-page-trace.png");
    println!("screenshot: {}", shot.display());

    // A collapsed span (kept in the URL) hides its subtree, and only that.
    let url = format!(
        "{}/?account=page-account#/trace/trace-page-1?collapsed=plan",
        collector.base_url()
    );
    browser.open(&url, "trace");
    let dom = browser.dom();
    assert!(row(&dom, "plan").contains("aria-expanded=\"false\""));
    assert!(
        row(&dom, "tool").contains("hidden"),
        "the collapsed span's child is hidden"
    );
    assert!(!row(&dom, "retrieve").contains("hidden"));
    assert!(row(&dom, "root").contains("aria-expanded=\"true\""));

    // The span view of the failed span shows its error.
    let url = format!(
        "{}/?account=page-account#/trace/trace-page-1/retrieve",
        collector.base_url()
    );
    browser.open(&url, "trace");
    let dom = browser.dom();
    assert!(
        dom.contains("TimeoutError: the index did not answer"),
        "the error is shown:\n{dom}"
    );
    assert!(row(&dom, "retrieve").contains("selected"));
    browser.screenshot("traces-page-span.png");

    // Keyboard navigation: up/down through the visible rows, left folds then
    // goes to the parent, right unfolds then enters.
    browser.open(&format!("{base}#/trace/trace-page-1/root"), "trace");
    let selected = |b: &mut Browser| {
        b.eval("[document.querySelector('.span-row.selected').dataset.spanId, document.querySelector('#span-view h2').innerText, location.hash]")
    };
    for (key, id, name, hash) in [
        ("ArrowDown", "plan", "plan", "#/trace/trace-page-1/plan"),
        (
            "ArrowDown",
            "tool",
            "tool call",
            "#/trace/trace-page-1/tool",
        ),
        (
            "ArrowDown",
            "retrieve",
            "retrieve documents",
            "#/trace/trace-page-1/retrieve",
        ),
        ("ArrowUp", "tool", "tool call", "#/trace/trace-page-1/tool"),
        ("ArrowLeft", "plan", "plan", "#/trace/trace-page-1/plan"),
        (
            "ArrowLeft",
            "plan",
            "plan",
            "#/trace/trace-page-1/plan?collapsed=plan",
        ),
        (
            "ArrowDown",
            "retrieve",
            "retrieve documents",
            "#/trace/trace-page-1/retrieve?collapsed=plan",
        ),
        (
            "ArrowUp",
            "plan",
            "plan",
            "#/trace/trace-page-1/plan?collapsed=plan",
        ),
        ("ArrowRight", "plan", "plan", "#/trace/trace-page-1/plan"),
        (
            "ArrowRight",
            "tool",
            "tool call",
            "#/trace/trace-page-1/tool",
        ),
        ("ArrowLeft", "plan", "plan", "#/trace/trace-page-1/plan"),
        (
            "ArrowLeft",
            "plan",
            "plan",
            "#/trace/trace-page-1/plan?collapsed=plan",
        ),
    ] {
        browser.press(key);
        assert_eq!(
            selected(&mut browser),
            json!([id, name, hash]),
            "after {key}"
        );
    }
    assert_eq!(
        browser.eval("document.querySelector('[data-span-id=tool]').classList.contains('hidden')"),
        true,
        "the folded span's child is hidden"
    );

    // Search within the trace: matches are marked, what hides them unfolds,
    // Enter selects the next one; the term is kept in the URL.
    browser.eval(
        "{ const box = document.querySelector('#trace-search'); box.value = 'TOOL';
           box.dispatchEvent(new Event('input')) }",
    );
    let matched = browser.eval(
        "({ rows: [...document.querySelectorAll('.span-row.match')].map((r) => r.dataset.spanId),
            hidden: document.querySelector('[data-span-id=tool]').classList.contains('hidden'),
            count: document.querySelector('#search-count').innerText })",
    );
    assert_eq!(
        matched,
        json!({"rows": ["tool"], "hidden": false, "count": "1 match"})
    );
    browser.eval(
        "{ const box = document.querySelector('#trace-search'); box.value = 'capital';
           box.dispatchEvent(new Event('input'));
           box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' })) }",
    );
    assert_eq!(
        selected(&mut browser),
        json!(["root", "agent run", "#/trace/trace-page-1/root?q=capital"]),
        "a match in the input; Enter selects it"
    );
    browser.screenshot("traces-page-search.png");
    browser.blank();
    browser.open(
        &format!("{base}#/trace/trace-page-1/root?q=capital"),
        "trace",
    );
    assert_eq!(
        browser.eval("document.querySelector('#trace-search').value"),
        "capital"
    );
    assert_eq!(
        browser.eval("document.querySelector('#search-count').innerText"),
        "1 match"
    );

    // The traces list: both traces, newest first, the running one not marked failed.
    let url = format!("{}/?account=page-account#/", collector.base_url());
    browser.open(&url, "list");
    let dom = browser.dom();
    let first = dom
        .find("data-trace-id=\"trace-page-2\"")
        .expect("second trace listed");
    let second = dom
        .find("data-trace-id=\"trace-page-1\"")
        .expect("first trace listed");
    assert!(first < second, "newest trace first");
    assert!(dom.contains("5 (1 running)"));
    browser.screenshot("traces-page-list.png");
}

/// A layout box: left, top, right, bottom in CSS pixels.
type Rect = [f64; 4];

fn rect(v: &Value) -> Option<Rect> {
    let a = v.as_array()?;
    Some([0, 1, 2, 3].map(|i| a[i].as_f64().unwrap()))
}

fn intersects(a: Rect, b: Rect) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// Whether `inner` lies within `outer`, give or take the half pixel that
/// layout rounds to.
fn within(inner: Rect, outer: Rect) -> bool {
    inner[0] >= outer[0] - 0.5
        && inner[1] >= outer[1] - 0.5
        && inner[2] <= outer[2] + 0.5
        && inner[3] <= outer[3] + 0.5
}

/// The bar and duration label boxes of every visible waterfall row.
const WATERFALL_BOXES: &str = "[...document.querySelectorAll('#tree .span-row:not(.hidden)')].map((r) => {
  const box = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const d = r.querySelector('.dur');
  return { id: r.dataset.spanId, bar: box(r.querySelector('.bar')), track: box(r.querySelector('.track')),
    label: d && !d.hidden ? box(d) : null, place: d ? d.dataset.place : null };
})";

#[test]
fn waterfall_labels_overlap_no_bar_and_no_other_label() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let ts = |us: u64| {
        format!(
            "2024-05-01T10:00:{:02}.{:06}Z",
            us / 1_000_000,
            us % 1_000_000
        )
    };
    let item = |id: &str, parent: Option<&str>, start: u64, end: u64| {
        let mut v = json!({"trace_id": "waterfall", "id": id, "name": id,
            "start_timestamp": ts(start), "end_timestamp": ts(end), "status": "SUCCESS"});
        if let Some(p) = parent {
            v["parent_id"] = json!(p);
        }
        v
    };
    // A root over the whole trace, short spans crowding its right edge, long
    // spans ending there, and short ones at its start.
    let mut items = vec![item("root", None, 0, 1_000_000)];
    for i in 0..20u64 {
        items.push(item(
            &format!("edge{i}"),
            Some("root"),
            990_000 + i * 450,
            990_400 + i * 450,
        ));
        items.push(item(
            &format!("long{i}"),
            Some("root"),
            i * 20_000,
            1_000_000,
        ));
        items.push(item(&format!("early{i}"), Some("root"), i * 10, i * 10 + 3));
    }
    let n = items.len();
    put(&collector, "waterfall-account", items);

    let mut browser = Browser::launch(1400, 900);
    let url = format!(
        "{}/?account=waterfall-account#/trace/waterfall",
        collector.base_url()
    );
    browser.open(&url, "trace");
    browser.screenshot("traces-page-waterfall.png");
    let rows = browser.eval(WATERFALL_BOXES);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), n);
    let boxes: Vec<(&str, Rect, Rect, Rect, &str)> = rows
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap();
            let label = rect(&r["label"]).unwrap_or_else(|| panic!("span {id} shows no duration"));
            (
                id,
                rect(&r["bar"]).unwrap(),
                rect(&r["track"]).unwrap(),
                label,
                r["place"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for (i, &(id, bar, track, label, place)) in boxes.iter().enumerate() {
        assert!(
            within(label, track),
            "the label of {id} leaves its track: {label:?} outside {track:?}"
        );
        // A label inside its bar must lie wholly in the bar's box: then the
        // checks below show it covers no other bar and no other label.
        if place == "inside" {
            assert!(
                within(label, bar),
                "the label of {id}, inside its bar, leaves it: {label:?} outside {bar:?}"
            );
        } else {
            assert!(
                !intersects(label, bar),
                "the label of {id} ({place}) overlaps its own bar"
            );
        }
        for (j, &(other, other_bar, _, other_label, _)) in boxes.iter().enumerate() {
            if i == j {
                continue;
            }
            assert!(
                !intersects(label, other_label),
                "the labels of {id} and {other} overlap: {label:?} {other_label:?}"
            );
            assert!(
                !intersects(label, other_bar),
                "the label of {id} overlaps the bar of {other}"
            );
        }
    }
    // Durations keep their microseconds.
    assert!(
        browser.dom().contains(">3 µs<"),
        "a 3 µs span shows as such"
    );
    // Each placement is exercised by this trace.
    for place in ["right", "left", "inside"] {
        assert!(
            boxes.iter().any(|b| b.4 == place),
            "no label is placed {place}"
        );
    }
}

/// The ids of the listed traces, in order.
const LISTED: &str =
    "[...document.querySelectorAll('#traces tbody tr')].map((r) => r.dataset.traceId)";

fn listed(browser: &mut Browser) -> Vec<String> {
    serde_json::from_value(browser.eval(LISTED)).unwrap()
}

/// Sets controls of the list's filter form, by name, as a user would.
fn set_filters(browser: &mut Browser, controls: &[(&str, &str)]) {
    for (name, value) in controls {
        browser.eval(&format!(
            "document.querySelector('#filters').elements[{name:?}].value = {value:?}"
        ));
    }
}

/// Clicks what `selector` finds and waits for the page to load `view` again.
fn click(browser: &mut Browser, selector: &str, view: &str) {
    browser.eval(&format!(
        "document.body.dataset.loaded = ''; document.querySelector({selector:?}).click()"
    ));
    browser.wait_for(&format!("document.body.dataset.loaded === '{view}'"));
}

#[test]
fn the_traces_list_filters_pages_sorts_and_keeps_its_state_in_the_url() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let ts = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let now = chrono::Utc::now();
    let ago = |secs: i64| now - chrono::Duration::seconds(secs);
    let root = |trace: &str, start: chrono::DateTime<chrono::Utc>, ms: i64, meta: Value| {
        json!({"trace_id": trace, "id": format!("{trace}-root"), "name": trace,
            "start_timestamp": ts(start), "end_timestamp": ts(start + chrono::Duration::milliseconds(ms)),
            "status": "SUCCESS", "metadata": meta})
    };
    // 230 old traces, one a second, with two metadata keys; two are long.
    let old = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
        .unwrap()
        .to_utc();
    let mut items: Vec<Value> = (0..230)
        .map(|i| {
            let team = if i % 2 == 0 { "a" } else { "b" };
            let tier = if i % 3 == 0 { "gold" } else { "plain" };
            let ms = match i {
                17 => 60_000,
                12 => 30_000,
                _ => 100,
            };
            root(
                &format!("old{i:03}"),
                old + chrono::Duration::seconds(i),
                ms,
                json!({"team": team, "tier": tier}),
            )
        })
        .collect();
    for (name, secs) in [
        ("in5m", 300),
        ("in30m", 1800),
        ("in5h", 18_000),
        ("in3d", 259_200),
    ] {
        items.push(root(name, ago(secs), 10, json!({})));
    }
    items.push(
        json!({"trace_id": "in5m", "id": "in5m-child", "parent_id": "in5m-root",
        "name": "child", "start_timestamp": ts(ago(299))}),
    );
    // For the type, status and text filters, which match any span of a
    // trace: model calls under two old traces, one failed, and a span under a
    // third whose input holds a word no other span has.
    let child = |i: i64, name: &str, fields: Value| {
        let at = old + chrono::Duration::seconds(i);
        let mut span = json!({"trace_id": format!("old{i:03}"), "id": format!("old{i:03}-{name}"),
            "parent_id": format!("old{i:03}-root"), "name": name, "start_timestamp": ts(at),
            "end_timestamp": ts(at + chrono::Duration::milliseconds(50)), "status": "SUCCESS"});
        span.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        span
    };
    items.push(child(40, "llm", json!({"type": "COMPLETION"})));
    items.push(child(
        41,
        "llm",
        json!({"type": "COMPLETION", "status": "ERROR"}),
    ));
    items.push(child(
        60,
        "lookup",
        json!({"input": {"query": "where does the Kraken sleep?"}}),
    ));
    // The group id filter matches the root's (the old traces come first).
    for i in [50, 51] {
        items[i]["group_id"] = json!("batch-7");
    }
    put(&collector, "list-account", items);

    let mut browser = Browser::launch(1400, 900);
    let base = format!("{}/?account=list-account", collector.base_url());

    // Paging: 200 rows, then the 34 older ones, then back.
    browser.open(&format!("{base}#/"), "list");
    let first = listed(&mut browser);
    assert_eq!(first.len(), 200);
    assert_eq!(first[..4], ["in5m", "in30m", "in5h", "in3d"]);
    assert_eq!(
        browser.eval("document.querySelector('#newer').disabled"),
        true
    );
    browser.screenshot("traces-page-list-paged.png");
    click(&mut browser, "#older", "list");
    let second = listed(&mut browser);
    assert_eq!(second.len(), 34);
    assert_eq!(second[0], "old033");
    assert_eq!(second[33], "old000");
    assert_eq!(
        browser.eval("document.querySelector('#older').disabled"),
        true
    );
    assert_eq!(browser.eval("location.hash.includes('after=c1.')"), true);
    click(&mut browser, "#newer", "list");
    assert_eq!(listed(&mut browser), first);

    // Time ranges relative to now, and a custom one.
    for (range, want) in [
        ("15m", &["in5m"][..]),
        ("1h", &["in5m", "in30m"]),
        ("24h", &["in5m", "in30m", "in5h"]),
        ("7d", &["in5m", "in30m", "in5h", "in3d"]),
    ] {
        browser.open(&format!("{base}#/?range={range}"), "list");
        assert_eq!(listed(&mut browser), want, "range {range}");
    }
    browser.open(
        &format!("{base}#/?range=custom&from=2024-05-01T10:00:02Z&to=2024-05-01T10:00:04Z"),
        "list",
    );
    assert_eq!(listed(&mut browser), ["old004", "old003", "old002"]);

    // Each filter set in the form lists what it matches, and the URL keeps it.
    let olds = |ids: &[u32]| -> Vec<String> { ids.iter().map(|i| format!("old{i:03}")).collect() };
    for (controls, hash, want) in [
        (
            &[("name", "OLD22")][..],
            "#/?name=OLD22",
            olds(&[229, 228, 227, 226, 225, 224, 223, 222, 221, 220]),
        ),
        (
            &[("type", "COMPLETION")],
            "#/?type=COMPLETION",
            olds(&[41, 40]),
        ),
        (&[("status", "ERROR")], "#/?status=ERROR", olds(&[41])),
        (
            &[("group_id", "batch-7")],
            "#/?group_id=batch-7",
            olds(&[51, 50]),
        ),
        (&[("text", "kraken")], "#/?text=kraken", olds(&[60])),
        (
            &[("order", "asc")],
            "#/?order=asc",
            olds(&(0..200).collect::<Vec<_>>()),
        ),
        // By duration, shortest first: the equal ones oldest first, then
        // the two long ones.
        (
            &[("name", "old01"), ("sort", "duration"), ("order", "asc")],
            "#/?name=old01&sort=duration&order=asc",
            olds(&[10, 11, 13, 14, 15, 16, 18, 19, 12, 17]),
        ),
    ] {
        browser.open(&format!("{base}#/"), "list");
        set_filters(&mut browser, controls);
        click(&mut browser, "#filters [type=submit]", "list");
        assert_eq!(listed(&mut browser), want, "{controls:?}");
        assert_eq!(browser.eval("location.hash"), hash, "{controls:?}");
    }
    browser.screenshot("traces-page-list-filtered.png");

    // Two metadata filters from the form: both must match, and the URL keeps them.
    browser.open(&format!("{base}#/"), "list");
    browser.eval(
        "document.querySelector('#meta-filters input').value = 'team=a';
         document.querySelector('#add-meta').click();
         document.querySelectorAll('#meta-filters input')[1].value = 'tier=gold';
         document.querySelector('#filters [name=sort]').value = 'duration'",
    );
    click(&mut browser, "#filters [type=submit]", "list");
    // By duration: the long one first, then the equal ones newest first.
    let mut want: Vec<String> = (0..230)
        .rev()
        .filter(|i| i % 6 == 0 && *i != 12)
        .map(|i| format!("old{i:03}"))
        .collect();
    want.insert(0, "old012".to_owned());
    let got = listed(&mut browser);
    assert_eq!(got, want);
    let hash = browser.eval("location.hash");
    assert_eq!(hash, "#/?meta=team%3Da&meta=tier%3Dgold&sort=duration");
    // The link reproduces the view, form included.
    browser.blank();
    browser.open(&format!("{base}{}", hash.as_str().unwrap()), "list");
    assert_eq!(listed(&mut browser), got);
    assert_eq!(
        browser.eval("[...document.querySelectorAll('#meta-filters input')].map((i) => i.value)"),
        json!(["team=a", "tier=gold"])
    );
    browser.open(&format!("{base}#/?sort=duration"), "list");
    assert_eq!(listed(&mut browser)[0], "old017", "the longest trace first");

    // A malformed filter: an error line above the form, not a blank page.
    browser.open(&format!("{base}#/?meta=novalue"), "error");
    let error = browser.eval("document.querySelector('#error').innerText");
    assert!(error.as_str().unwrap().contains("key=value"), "{error}");
    assert_eq!(browser.eval("!document.querySelector('#error').hidden && !document.querySelector('#list-view').hidden"), true);
    assert_eq!(
        browser.eval("document.querySelector('#filters [name=meta]').value"),
        "novalue"
    );
    browser.screenshot("traces-page-list-error.png");

    // The id box opens a span in its trace.
    browser.open(&format!("{base}#/"), "list");
    browser.eval("document.querySelector('#open-id [name=id]').value = 'in5m-child'");
    click(&mut browser, "#open-id [type=submit]", "trace");
    assert_eq!(browser.eval("location.hash"), "#/trace/in5m/in5m-child");
    assert_eq!(
        browser.eval("document.querySelector('.span-row.selected').dataset.spanId"),
        "in5m-child"
    );

    // Live: a trace that starts now appears without a reload.
    browser.open(&format!("{base}#/?range=15m&live=1"), "list");
    put(
        &collector,
        "list-account",
        vec![root("live-one", chrono::Utc::now(), 5, json!({}))],
    );
    browser.eval("document.querySelector('#filters [name=name]').value = 'being typed'");
    browser.wait_for("document.querySelector('#traces tbody tr').dataset.traceId === 'live-one'");
    assert_eq!(
        browser.eval("document.querySelector('#filters [name=name]').value"),
        "being typed",
        "a reload keeps what the user is typing"
    );

    // While a listed trace runs, the list reloads by itself: the end of its
    // running span, sent with the API's PATCH, shows.
    let spans = "document.querySelector('[data-trace-id=in5m] td:nth-child(5)').innerText";
    browser.open(&format!("{base}#/?range=1h"), "list");
    assert_eq!(browser.eval(spans), "2 (1 running)");
    ureq::patch(format!("{}/v5/spans/in5m-child", collector.base_url()))
        .header("x-api-key", "k")
        .header("x-selected-account-id", "list-account")
        .send_json(json!({"end_timestamp": ts(ago(298)), "status": "SUCCESS"}))
        .unwrap();
    browser.wait_for(&format!("{spans} === '2'"));
}

#[test]
fn an_llm_span_reads_as_a_conversation_with_its_error_on_top() {
    let collector = Collector::start(CollectorConfig::default()).unwrap();
    let at = |s: u32| format!("2024-05-01T10:00:0{s}.000000Z");
    put(
        &collector,
        "llm-account",
        vec![
            json!({"trace_id": "chat", "id": "agent", "name": "agent", "start_timestamp": at(0), "end_timestamp": at(9)}),
            // The SDK's shape (sgp-trace-otel's LLM helpers): flat `llm.*` metadata.
            json!({"trace_id": "chat", "id": "sdk-call", "parent_id": "agent", "name": "chat gpt-4o",
                "type": "COMPLETION", "start_timestamp": at(1), "end_timestamp": at(2), "status": "SUCCESS",
                "input": {"prompt": "What is SGP?"}, "output": {"response": "Scale's GenAI platform."},
                "metadata": {"llm.operation": "chat", "llm.model": "gpt-4o", "llm.provider": "openai",
                    "llm.usage.prompt": 12, "llm.usage.completion": 7, "llm.usage.total": 19,
                    "llm.finish_reason": "stop"}}),
            // Chat messages with roles, nested `llm` metadata, and an error.
            json!({"trace_id": "chat", "id": "failed-call", "parent_id": "agent", "name": "retry",
                "type": "CUSTOM", "start_timestamp": at(3), "end_timestamp": at(4), "status": "ERROR",
                "input": {"messages": [
                    {"role": "system", "content": "Answer briefly."},
                    {"role": "user", "content": [{"type": "text", "text": "And Temporal?"}]}]},
                "metadata": {"llm": {"model": "claude", "usage": {"prompt": 30}, "finish_reason": "length"},
                    "error": true, "error_type": "RateLimitError", "error_message": "429 from the provider",
                    "error_category": "platform"}}),
        ],
    );
    let mut browser = Browser::launch(1400, 900);
    let base = format!("{}/?account=llm-account#/trace/chat", collector.base_url());

    browser.open(&format!("{base}/sdk-call"), "trace");
    let chat = browser.eval(
        "({ roles: [...document.querySelectorAll('#chat .msg')].map((m) => m.dataset.role),
            texts: [...document.querySelectorAll('#chat .msg .content')].map((m) => m.innerText),
            facts: Object.fromEntries([...document.querySelectorAll('#chat [data-fact]')].map((d) => [d.dataset.fact, d.innerText])),
            rawShown: document.querySelector('#raw-json pre').checkVisibility() })",
    );
    assert_eq!(chat["roles"], json!(["user", "assistant"]));
    assert_eq!(
        chat["texts"],
        json!(["What is SGP?", "Scale's GenAI platform."])
    );
    assert_eq!(
        chat["facts"],
        json!({"model": "gpt-4o", "provider": "openai", "prompt tokens": "12",
            "completion tokens": "7", "total tokens": "19", "finish reason": "stop"})
    );
    assert_eq!(chat["rawShown"], false, "the raw JSON is folded");
    browser.eval("document.querySelector('#raw-json summary').click()");
    assert_eq!(
        browser.eval("document.querySelector('#raw-json pre').checkVisibility()"),
        true,
        "one click shows the raw JSON"
    );
    assert!(browser
        .eval("document.querySelector('#raw-json').innerText")
        .as_str()
        .unwrap()
        .contains("\"llm.usage.total\": 19"));
    browser.screenshot("traces-page-chat.png");

    // Copy buttons put the ids on the clipboard.
    browser.call(
        "Browser.grantPermissions",
        json!({"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('#span-view .copy').length"),
        3,
        "id, trace id and parent id"
    );
    browser.eval("document.querySelector('#span-view .copy[data-copy=\"sdk-call\"]').click()");
    browser.wait_for(
        "document.querySelector('#span-view .copy[data-copy=\"sdk-call\"]').innerText === 'copied'",
    );
    assert_eq!(browser.eval("navigator.clipboard.readText()"), "sdk-call");

    // Messages with roles and content parts, and the error above everything else.
    browser.open(&format!("{base}/failed-call"), "trace");
    let failed = browser.eval(
        "({ roles: [...document.querySelectorAll('#chat .msg')].map((m) => m.dataset.role),
            texts: [...document.querySelectorAll('#chat .msg .content')].map((m) => m.innerText),
            model: document.querySelector('#chat [data-fact=model]').innerText,
            finish: document.querySelector('#chat [data-fact=\"finish reason\"]').innerText,
            error: document.querySelector('#span-error').innerText,
            errorFirst: !!(document.querySelector('#span-error').compareDocumentPosition(document.querySelector('#span-view dl')) & Node.DOCUMENT_POSITION_FOLLOWING) })",
    );
    assert_eq!(failed["roles"], json!(["system", "user"]));
    assert_eq!(failed["texts"], json!(["Answer briefly.", "And Temporal?"]));
    assert_eq!(
        (failed["model"].as_str(), failed["finish"].as_str()),
        (Some("claude"), Some("length"))
    );
    assert_eq!(
        failed["error"],
        "RateLimitError: 429 from the provider\ncategory: platform"
    );
    assert_eq!(
        failed["errorFirst"], true,
        "the error comes before the span's facts"
    );
    browser.screenshot("traces-page-chat-error.png");

    // A span that is no LLM call keeps its plain JSON view.
    browser.open(&format!("{base}/agent"), "trace");
    assert_eq!(
        browser.eval("document.querySelector('#chat') === null"),
        true
    );
}
