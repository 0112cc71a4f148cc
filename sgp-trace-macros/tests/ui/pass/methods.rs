// Methods taking `self`, `&self`, `&mut self`, returning `Self`, in inherent and trait
// impls, sync and async.

#[path = "../capture.rs"]
mod capture;

use sgp_trace::{create_trace, traced};

#[derive(Debug, Default)]
struct Counter {
    count: u32,
}

impl Counter {
    #[traced]
    fn new(start: u32) -> Self {
        Counter { count: start }
    }

    #[traced]
    fn bump(&mut self, by: u32) -> u32 {
        self.count += by;
        self.count
    }

    #[traced]
    fn get(&self) -> u32 {
        self.count
    }

    #[traced]
    async fn get_async(&self) -> u32 {
        self.count
    }

    #[traced]
    async fn bump_async(&mut self) {
        self.count += 1;
    }

    #[traced]
    fn into_count(self) -> u32 {
        self.count
    }
}

trait Describe {
    fn describe(&self, verbose: bool) -> String;
}

impl Describe for Counter {
    #[traced]
    fn describe(&self, verbose: bool) -> String {
        if verbose {
            format!("{self:?}")
        } else {
            self.count.to_string()
        }
    }
}

fn main() {
    let _guard = capture::start();
    let trace = create_trace("request").start();
    let mut counter = Counter::new(1);
    assert_eq!(counter.bump(2), 3);
    assert_eq!(counter.get(), 3);
    assert_eq!(capture::block_on(counter.get_async()), 3);
    capture::block_on(counter.bump_async());
    assert_eq!(counter.describe(false), "4");
    assert_eq!(counter.into_count(), 4);
    drop(trace);

    let spans = capture::ended();
    assert_eq!(spans.len(), 1 + 7, "{spans:#?}");
    let module = module_path!();
    let describe = capture::named(&spans, "::describe");
    assert_eq!(
        describe.name,
        format!("<{module}::Counter as {module}::Describe>::describe")
    );
    // `self` is left out of the input unless `record_self` asks for it.
    assert_eq!(capture::input(describe), r#"{"verbose":false}"#);
    assert_eq!(
        capture::input(capture::named(&spans, "::bump")),
        r#"{"by":2}"#
    );
    assert_eq!(capture::input(capture::named(&spans, "::get")), "");
    assert_eq!(
        capture::output(capture::named(&spans, "::into_count")),
        r#"{"value":4}"#
    );
    assert_eq!(
        capture::output(capture::named(&spans, "::new")),
        r#"{"value":"Counter { count: 1 }"}"#
    );
}
