//! Runs the stock service with its configuration from the environment.

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init("stock");
    let config = common::Config::from_env(8200)?;
    stock::build(&config)?.run_until_stopped().await?;
    Ok(())
}
