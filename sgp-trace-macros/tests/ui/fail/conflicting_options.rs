use sgp_trace::traced;

#[traced(skip_all, skip(query))]
fn search(query: &str) {}

struct Index;

impl Index {
    #[traced(skip_all, record_self)]
    fn count(&self) {}

    #[traced(skip(self), record_self)]
    fn size(&self) {}
}

fn main() {}
