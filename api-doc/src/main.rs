//! Prints the gateway's OpenAPI document (`cargo run -p api-doc`), or rewrites
//! the committed copy that the order service serves, `order/openapi.json`
//! (`cargo run -p api-doc -- --write`, which `make openapi` runs).

use std::io::Write as _;

use anyhow::{bail, Context as _};

fn main() -> anyhow::Result<()> {
    let text = api_doc::file_text()?;
    match std::env::args().nth(1).as_deref() {
        None => std::io::stdout().write_all(text.as_bytes())?,
        Some("--write") => {
            let path = api_doc::committed_path();
            std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", api_doc::COMMITTED_FILE);
        }
        Some(other) => bail!("unknown argument {other:?}: no argument prints the document, --write rewrites order/openapi.json"),
    }
    Ok(())
}
