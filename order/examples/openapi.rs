//! Prints the gateway's OpenAPI document (the one served at `/docs/openapi.json`):
//! `cargo run -p order --example openapi > openapi.json`.

fn main() -> anyhow::Result<()> {
    let document = order::docs::gateway_api().to_pretty_json()?;
    std::io::Write::write_all(&mut std::io::stdout(), document.as_bytes())?;
    Ok(())
}
