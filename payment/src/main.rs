//! Runs the payment service with its configuration from the environment.

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    Ok(payment::run().await?)
}
