use sgp_trace::traced;

trait Model {
    #[traced]
    fn complete(&self, prompt: &str) -> String;
}

fn main() {}
