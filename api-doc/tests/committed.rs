//! The committed document (`order/openapi.json`, embedded by the order service)
//! against the one generated from the handlers now, and against what the order
//! service makes of it.

/// Where two texts first differ: the 1-based line number and both lines.
fn first_difference<'a>(a: &'a str, b: &'a str) -> Option<(usize, &'a str, &'a str)> {
    let (mut a_lines, mut b_lines) = (a.lines(), b.lines());
    for n in 1.. {
        match (a_lines.next(), b_lines.next()) {
            (None, None) => return None,
            (x, y) if x != y => return Some((n, x.unwrap_or("<end>"), y.unwrap_or("<end>"))),
            _ => {}
        }
    }
    None
}

/// The first difference of the committed text and another, in words.
fn difference(committed: &str, other: &str, other_name: &str) -> String {
    match first_difference(committed, other) {
        Some((n, c, o)) => format!("line {n}:\n  committed: {c}\n  {other_name}: {o}"),
        None => "in line endings only".into(),
    }
}

#[test]
fn the_committed_document_is_the_one_the_handlers_generate() {
    let generated = api_doc::file_text().expect("the document serializes");
    let committed = order::docs::DOCUMENT;
    assert!(
        committed == generated,
        "{} is stale: regenerate it with {} and commit it.\nFirst difference at {}",
        api_doc::COMMITTED_FILE,
        api_doc::REGENERATE,
        difference(committed, &generated, "generated"),
    );
}

#[test]
fn the_order_service_reads_the_committed_document_without_losing_anything() {
    // The order service reads the embedded file into utoipa's types and serves their compact
    // JSON. Written back, they must give the file again: then what is served is the file
    // without its whitespace, which (with the test above) is the generated document as it was
    // served when the order service generated it itself.
    let read = order::docs::document().expect("the committed document parses");
    let written = read.to_pretty_json().expect("serializes") + "\n";
    let committed = order::docs::DOCUMENT;
    assert!(
        committed == written,
        "reading {} into utoipa's types changes it; first difference at {}",
        api_doc::COMMITTED_FILE,
        difference(committed, &written, "read back"),
    );
}
