//! The order service binary: configuration, telemetry, run.

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init("order");
    let config = order::config::OrderConfig::from_env()?;
    tracing::info!(listen = %config.base.listen_addr, replica = %config.replica_id, "order service starting");
    order::build(&config)?.run_until_stopped().await?;
    Ok(())
}
