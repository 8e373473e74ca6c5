//! This machine's ed25519 verification rates: ed25519-dalek's
//! `verify_strict` (the yardstick), and the node's rule (ZIP-215, PROTOCOL.md
//! §9) one by one and in batches, on one thread and on every core. Prints
//! one JSON object.
//!
//! `cargo run --release -p examples --example verify_rate`

use std::time::Duration;

fn main() -> Result<(), String> {
    let rates = examples::verify_rates(Duration::from_secs(2))?;
    println!("{}", serde_json::to_string(&rates).map_err(|e| e.to_string())?);
    Ok(())
}
