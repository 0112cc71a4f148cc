use sgp_trace::traced;

#[traced]
const fn answer() -> u32 {
    42
}

fn main() {}
