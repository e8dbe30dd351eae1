//! `consistency-test`: parses the command line and runs the rounds (see README.md).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match consistency_test::config::Config::from_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{}", consistency_test::config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e:#}\n\n{}", consistency_test::config::USAGE);
            return ExitCode::from(2);
        }
    };
    match consistency_test::run(config).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
