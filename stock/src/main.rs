//! Runs the stock service with its configuration from the environment.

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    Ok(stock::run().await?)
}
