#[tappass::governed]
struct Chat;

fn main() {}
