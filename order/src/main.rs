//! The order service binary: configuration, telemetry, run.

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    Ok(order::run().await?)
}
