//! Every relative link of the repository's Markdown files resolves: the file (or folder) it
//! names exists, and its `#anchor`, in the same file or another Markdown file, matches a
//! heading there the way GitHub names headings. Moving a section of the docs therefore
//! fails here, naming each file, line and link it broke, until every link follows it.
//!
//! Links and headings are read with a CommonMark parser (pulldown-cmark), so a link shown
//! inside a code block is no link and a `#` line inside one is no heading. External links
//! (any scheme: http, https, mailto) are never fetched. Anchors into files that are not
//! Markdown (a line of a source file) are not checked.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root: the folder above this crate.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the ops crate lives in the workspace")
        .to_path_buf()
}

/// Folders never walked: build output, the stack's run folders, and hidden folders
/// (`.git`, the Python venvs, whose packages carry Markdown of their own).
fn skipped(dir_name: &str) -> bool {
    dir_name == "target"
        || dir_name == "run"
        || dir_name.starts_with("run-")
        || dir_name.starts_with('.')
}

/// Every `*.md` file under `root`, tracked or not, sorted.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().expect("a file type");
            if kind.is_dir() {
                if !skipped(&name) {
                    dirs.push(path);
                }
            } else if name.ends_with(".md") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The anchor GitHub gives a heading with this text: lowercase, each space a `-`, and
/// every character that is not a letter, a digit, `-` or `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// One link of a Markdown file: its target as written, and the line it is on.
struct Link {
    dest: String,
    line: usize,
}

/// What one Markdown file holds: its headings' anchors and its links.
struct Document {
    anchors: HashSet<String>,
    links: Vec<Link>,
}

fn parse(text: &str) -> Document {
    let mut anchors = HashSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut links = Vec::new();
    let mut heading: Option<String> = None;
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let base = slug(&heading.take().unwrap_or_default());
                // GitHub numbers repeated headings: `x`, `x-1`, `x-2`, ...
                let n = seen.entry(base.clone()).or_insert(0);
                let anchor = if *n == 0 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                };
                *n += 1;
                anchors.insert(anchor);
            }
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => links.push(Link {
                dest: dest_url.into_string(),
                line: text[..range.start].matches('\n').count() + 1,
            }),
            _ => {}
        }
    }
    Document { anchors, links }
}

/// `http:`, `mailto:` and any other scheme: not a file of the repository.
fn is_external(dest: &str) -> bool {
    match dest.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// `%20` and friends back to the bytes they stand for.
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every broken relative link and anchor of the Markdown files under `root`, one line
/// each: `file:line: link "dest": what is wrong`.
fn broken_links(root: &Path) -> Vec<String> {
    let files = markdown_files(root);
    let mut documents: HashMap<PathBuf, Document> = HashMap::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        documents.insert(file.canonicalize().expect("a listed file"), parse(&text));
    }
    let mut problems = Vec::new();
    for file in &files {
        let shown = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        let document = &documents[&file.canonicalize().expect("a listed file")];
        for link in &document.links {
            if let Err(what) = resolve(root, file, &link.dest, &documents) {
                problems.push(format!(
                    "{shown}:{}: link \"{}\": {what}",
                    link.line, link.dest
                ));
            }
        }
    }
    problems
}

/// Whether the link `dest` written in `file` resolves: an external link always does, a
/// relative one when its file exists and its anchor, if any, names a heading there.
fn resolve(
    root: &Path,
    file: &Path,
    dest: &str,
    documents: &HashMap<PathBuf, Document>,
) -> Result<(), String> {
    if dest.is_empty() || is_external(dest) {
        return Ok(());
    }
    let (path, anchor) = match dest.split_once('#') {
        Some((path, anchor)) => (path, anchor),
        None => (dest, ""),
    };
    let path = percent_decoded(path.split('?').next().unwrap_or_default());
    let target = if path.is_empty() {
        file.to_path_buf()
    } else if let Some(from_root) = path.strip_prefix('/') {
        root.join(from_root)
    } else {
        file.parent().expect("a file has a folder").join(&path)
    };
    let Ok(target) = target.canonicalize() else {
        return Err(format!("no file {}", target.display()));
    };
    if anchor.is_empty() || target.extension().is_none_or(|e| e != "md") {
        return Ok(());
    }
    let parsed;
    let anchors = match documents.get(&target) {
        Some(d) => &d.anchors,
        None => {
            // A Markdown file outside the walk (in a skipped folder): read it now.
            parsed = parse(&fs::read_to_string(&target).unwrap_or_default());
            &parsed.anchors
        }
    };
    let anchor = percent_decoded(anchor).to_lowercase();
    if anchors.contains(&anchor) {
        Ok(())
    } else {
        Err(format!("no heading with anchor #{anchor} there"))
    }
}

#[test]
fn every_relative_link_and_anchor_of_the_docs_resolves() {
    let root = workspace_root();
    assert!(
        markdown_files(&root).len() >= 5,
        "README.md and docs/ not found under {}",
        root.display()
    );
    let problems = broken_links(&root);
    assert!(
        problems.is_empty(),
        "{} broken link(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn a_missing_file_or_heading_is_reported_with_file_line_and_link() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    fs::create_dir_all(root.join("docs")).expect("docs/");
    fs::create_dir_all(root.join("target")).expect("target/");
    fs::write(
        root.join("README.md"),
        "# Top\n\nSee [design](docs/design.md#the-saga), [gone](docs/gone.md), \
         [missing](docs/design.md#nowhere), [self](#top), [web](https://example.org/x.md).\n\n\
         ```text\n[not a link](nowhere.md)\n```\n",
    )
    .expect("README.md");
    fs::write(
        root.join("docs/design.md"),
        "# Design\n\n## The saga\n\nBack to [the top](../README.md#top) and [twice](#design-1).\n",
    )
    .expect("design.md");
    // Never read: build output.
    fs::write(root.join("target/notes.md"), "[broken](nowhere.md)\n").expect("notes.md");

    let problems = broken_links(root);
    assert_eq!(
        problems,
        vec![
            format!(
                "README.md:3: link \"docs/gone.md\": no file {}",
                root.join("docs/gone.md").display()
            ),
            "README.md:3: link \"docs/design.md#nowhere\": no heading with anchor #nowhere there"
                .to_string(),
            "docs/design.md:5: link \"#design-1\": no heading with anchor #design-1 there"
                .to_string(),
        ]
    );
}

#[test]
fn anchors_follow_githubs_rule() {
    assert_eq!(slug("Exactly-once writes"), "exactly-once-writes");
    assert_eq!(
        slug("Storage: a Redis Cluster per service"),
        "storage-a-redis-cluster-per-service"
    );
    assert_eq!(slug("What make test runs"), "what-make-test-runs");
    assert_eq!(
        slug("Comparing two builds: ab.sh"),
        "comparing-two-builds-absh"
    );
    assert_eq!(slug("snake_case & more"), "snake_case--more");
    let doc = parse("# A `code` heading\n\n## Twice\n\n## Twice\n\n```sh\n# not a heading\n```\n");
    let mut anchors: Vec<_> = doc.anchors.into_iter().collect();
    anchors.sort();
    assert_eq!(anchors, ["a-code-heading", "twice", "twice-1"]);
}
