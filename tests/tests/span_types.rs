//! The 26 span type names are written in three crates: the macro (what `type = "..."`
//! accepts), the runtime (`SpanType`) and the collector (what the API accepts). A name added,
//! removed or misspelt in one of them fails here rather than as a span the server refuses.

use std::collections::BTreeSet;

use sgp_trace::SpanType;

const SPAN_TYPE_COUNT: usize = 26;

/// The list as a set, after checking it has the 26 names, each once.
fn distinct<'a>(who: &str, names: &[&'a str]) -> BTreeSet<&'a str> {
    let set: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        set.len(),
        names.len(),
        "the {who} lists a name twice: {names:?}"
    );
    assert_eq!(
        set.len(),
        SPAN_TYPE_COUNT,
        "the {who} lists {} span types",
        set.len()
    );
    set
}

fn assert_same(left: (&str, &BTreeSet<&str>), right: (&str, &BTreeSet<&str>)) {
    let only_left: Vec<_> = left.1.difference(right.1).collect();
    let only_right: Vec<_> = right.1.difference(left.1).collect();
    assert!(
        only_left.is_empty() && only_right.is_empty(),
        "span types only in the {}: {only_left:?}; only in the {}: {only_right:?}",
        left.0,
        right.0,
    );
}

#[test]
fn the_macro_runtime_and_collector_know_the_same_26_span_types() {
    let runtime: Vec<&str> = SpanType::ALL.iter().map(|kind| kind.as_str()).collect();
    let macros = distinct("macro", &sgp_trace_macros::__span_type_names!());
    let runtime = distinct("runtime", &runtime);
    let collector = distinct("collector", sgp_trace_collector::SPAN_TYPES);
    assert_same(("macro", &macros), ("runtime", &runtime));
    assert_same(("runtime", &runtime), ("collector", &collector));
}
