//! Runs the payment service with its configuration from the environment.

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    common::telemetry::init("payment");
    let config = common::Config::from_env(8300)?;
    payment::build(&config)?.run_until_stopped().await?;
    Ok(())
}
