// What only the types can tell: a parameter that is no JSON, a constraint
// that is no constraint, an error type that cannot carry a refusal.

struct Secret;

#[tappass::guard]
async fn not_serialize(secret: Secret) -> Result<(), tappass::Error> {
    let _ = secret;
    Ok(())
}

#[tappass::guard]
async fn not_a_constraint(#[constraint(42)] limit: u32) -> Result<u32, tappass::Error> {
    Ok(limit)
}

#[tappass::guard]
async fn io_error(path: &str) -> Result<String, std::io::Error> {
    Ok(path.to_owned())
}

fn main() {}
