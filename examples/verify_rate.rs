//! This machine's ed25519 verification rate: strict (`verify_strict`, the
//! definition of validity) and the exact batch path, on one thread and on
//! every core. Prints one JSON object.
//!
//! `cargo run --release -p examples --example verify_rate`

use std::time::Duration;

fn main() -> Result<(), String> {
    let rates = examples::verify_rates(Duration::from_secs(2))?;
    println!("{}", serde_json::to_string(&rates).map_err(|e| e.to_string())?);
    Ok(())
}
