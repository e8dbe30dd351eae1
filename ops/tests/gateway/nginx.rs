//! The real gateway, started the way the local stack starts it (`env/local/stack.sh start
//! gateway`: gateway.conf, routes.conf and upstreams-local.conf rendered into a temporary
//! RUN_DIR, every port moved by PORT_OFFSET), and a raw HTTP/1.1 client for it.
//!
//! The client sends the request target exactly as written: the paths under test
//! (`/stock/find/../metrics`, `/stock/%6Detrics`) must reach nginx unnormalised, which a URL
//! library would not allow. The ports are read from the gateway's own configuration files,
//! so the fakes sit where the gateway looks for the replicas.

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The repository root: the folder above the ops crate.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the ops crate lives in the repository")
        .to_path_buf()
}

/// A file of `env/nginx/`.
pub fn nginx_file(name: &str) -> String {
    let path = repo().join("env/nginx").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The port the gateway listens on before PORT_OFFSET (gateway.conf's `listen`).
pub fn gateway_base_port() -> u16 {
    let listen = Regex::new(r"(?m)^\s*listen 127\.0\.0\.1:(\d+)").expect("listen pattern");
    let conf = nginx_file("gateway.conf");
    let port = listen
        .captures(&conf)
        .expect("gateway.conf listens on 127.0.0.1");
    port[1].parse().expect("a port number")
}

/// The replicas' ports before PORT_OFFSET, per upstream (`order`, `stock`, `payment`), in the
/// order upstreams-local.conf lists them.
pub fn upstream_base_ports() -> BTreeMap<String, Vec<u16>> {
    let upstream = Regex::new(r"^\s*upstream (\w+) \{").expect("upstream pattern");
    let server = Regex::new(r"^\s*server 127\.0\.0\.1:(\d+)").expect("server pattern");
    let mut ports: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let mut current = None;
    for line in nginx_file("upstreams-local.conf").lines() {
        if let Some(c) = upstream.captures(line) {
            current = Some(c[1].to_owned());
        } else if let (Some(c), Some(name)) = (server.captures(line), &current) {
            let port = c[1].parse().expect("a port number");
            ports.entry(name.clone()).or_default().push(port);
        }
    }
    ports
}

fn free(port: u16) -> bool {
    // std sets SO_REUSEADDR: a port whose last connections are in TIME_WAIT counts as free.
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A PORT_OFFSET (a multiple of 10 from 20 000) at which every one of `ports` is free.
pub fn pick_offset(ports: &[u16]) -> u16 {
    (0..200)
        .map(|_| rand::random_range(2000..5000u16) * 10)
        .find(|offset| ports.iter().all(|p| free(p + offset)))
        .expect("no PORT_OFFSET with every gateway and replica port free")
}

/// nginx from `make tools`, or a failure saying so: this test never skips.
pub fn require_nginx() {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("nginx").is_file()));
    assert!(
        on_path,
        "the gateway test needs nginx with its echo module, and nginx is not on PATH: \
         `make tools` installs them (Debian: nginx-light, libnginx-mod-http-echo)"
    );
}

/// The gateway started by stack.sh in its own RUN_DIR; stopped (`stack.sh down`) on drop.
/// The RUN_DIR is kept unless [`Gateway::remove_run_dir_on_drop`] was called.
pub struct Gateway {
    pub port: u16,
    offset: u16,
    run_dir: TempDir,
}

impl Gateway {
    /// `stack.sh start gateway` with two replicas of each service at PORT_OFFSET `offset`;
    /// the error is what stack.sh said.
    pub async fn start(offset: u16) -> Result<Self, String> {
        let gateway = Self {
            port: gateway_base_port() + offset,
            offset,
            run_dir: tempfile::Builder::new()
                .prefix("gateway-test-")
                .disable_cleanup(true)
                .tempdir()
                .expect("a temporary RUN_DIR"),
        };
        let started = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::from(gateway.stack(&["start", "gateway"])).output(),
        )
        .await
        .map_err(|_| "stack.sh start gateway took over 60 s".to_owned())?
        .map_err(|e| format!("stack.sh: {e}"))?;
        if started.status.success() {
            Ok(gateway)
        } else {
            Err(String::from_utf8_lossy(&started.stderr).trim().to_owned())
        }
    }

    fn stack(&self, args: &[&str]) -> Command {
        let mut command = Command::new(repo().join("env/local/stack.sh"));
        command
            .args(args)
            .env("RUN_DIR", self.run_dir.path())
            .env("PORT_OFFSET", self.offset.to_string())
            .env("ORDER_REPLICAS", "2")
            .env("STOCK_REPLICAS", "2")
            .env("PAYMENT_REPLICAS", "2")
            .env("WAIT_TIMEOUT", "20");
        command
    }

    pub fn run_dir(&self) -> &Path {
        self.run_dir.path()
    }

    /// The gateway's log (nginx's error log: connect timeouts, redirection cycles).
    pub fn log(&self) -> String {
        let path = self.run_dir.path().join("logs/gateway.log");
        std::fs::read(&path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The RUN_DIR (the gateway's log and configuration) stays for a look after a failure,
    /// a panic included, unless this is called once every check passed.
    pub fn remove_run_dir_on_drop(&mut self) {
        self.run_dir.disable_cleanup(false);
    }

    /// Sends one request (POST with an empty body) on a new connection and reads the whole
    /// answer; panics when the gateway does not answer within 30 s.
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let started = Instant::now();
        let raw = tokio::time::timeout(
            Duration::from_secs(30),
            self.exchange(method, path, headers),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within 30 s"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        Reply::parse(&raw, started.elapsed())
            .unwrap_or_else(|| panic!("{method} {path}: not an HTTP answer: {raw:?}"))
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        if method == "POST" {
            head.push_str("Content-Length: 0\r\n");
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok(raw)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        match self.stack(&["down"]).output() {
            Ok(Output { status, .. }) if status.success() => {}
            Ok(Output { stderr, .. }) => {
                eprintln!("stack.sh down: {}", String::from_utf8_lossy(&stderr));
            }
            Err(e) => eprintln!("stack.sh down: {e}"),
        }
    }
}

/// The gateway's answer to one request.
pub struct Reply {
    pub status: u16,
    pub text: String,
    /// The body as JSON, when it is.
    pub json: Option<Value>,
    pub elapsed: Duration,
}

impl Reply {
    /// Head and body of a whole answer read up to the connection's close.
    fn parse(raw: &[u8], elapsed: Duration) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head_len) = parsed.parse(raw).ok()? else {
            return None;
        };
        // Every answer under test has a known length; a chunked one would need decoding.
        let chunked = parsed
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("Transfer-Encoding"));
        assert!(!chunked, "the test's client reads no chunked answer");
        let text = String::from_utf8_lossy(&raw[head_len..]).into_owned();
        Some(Self {
            status: parsed.code?,
            json: serde_json::from_str(&text).ok(),
            text,
            elapsed,
        })
    }

    /// A string field of a JSON object body.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.json.as_ref()?.get(name)?.as_str()
    }

    pub fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "answer {} {} after {:.2} s",
            self.status,
            self.text,
            self.secs()
        )
    }
}
