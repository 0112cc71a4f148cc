use sgp_trace::traced;

// The user's own mistakes are reported in the user's code, as without the macro.
#[traced]
fn count(items: &[u8]) -> usize {
    if items.is_empty() {
        return "none";
    }
    items.len()
}

#[traced]
async fn parse(text: &str) -> Result<u8, std::num::ParseIntError> {
    let value: u8 = text.parse()?;
    value
}

fn main() {}
