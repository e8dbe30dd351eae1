//! The ceilings: a tiny nginx (`stress-test/bench/ceiling.conf`) on two loopback ports of
//! its own, configured like the gateway, answering by itself (the gateway alone) or through
//! one proxied hop. A child process of the benchmark, stopped when dropped.

use super::error::{Error, Result};
use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The ports of ceiling.conf, moved by the stack's `PORT_OFFSET`.
const PORT: u16 = 8900;
const UPSTREAM_PORT: u16 = 8901;

pub struct Ceiling {
    child: Child,
    pub url: String,
}

impl Ceiling {
    /// Starts the nginx in `run_dir/bench-ceiling` and waits until its hop answers.
    pub async fn start(run_dir: &Path, scripts: &Path, port_offset: u16) -> Result<Ceiling> {
        let (port, up) = (PORT + port_offset, UPSTREAM_PORT + port_offset);
        for p in [port, up] {
            TcpListener::bind(("127.0.0.1", p))
                .map_err(|_| Error::Setup(format!("port {p} is in use (ceiling nginx)")))?;
        }
        let dir = run_dir.join("bench-ceiling");
        for sub in ["conf", "temp", "logs"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(Error::io(format!("creating {}", d.display())))?;
        }
        let src = scripts.join("ceiling.conf");
        let conf = std::fs::read_to_string(&src)
            .map_err(Error::io(format!("reading {}", src.display())))?
            .replace("127.0.0.1:8900", &format!("127.0.0.1:{port}"))
            .replace("127.0.0.1:8901", &format!("127.0.0.1:{up}"));
        let conf_file = dir.join("conf/ceiling.conf");
        std::fs::write(&conf_file, conf)
            .map_err(Error::io(format!("writing {}", conf_file.display())))?;
        let prefix = format!("{}/", dir.display());
        let nginx = |extra: &[&str]| {
            let mut cmd = Command::new("nginx");
            cmd.args(["-p", &prefix, "-c", "conf/ceiling.conf", "-e", "stderr"])
                .args(extra);
            cmd
        };
        let test = nginx(&["-t"])
            .output()
            .map_err(Error::io("running nginx -t"))?;
        if !test.status.success() {
            return Err(Error::Setup(format!(
                "ceiling nginx config: {}",
                String::from_utf8_lossy(&test.stderr)
            )));
        }
        let log_path = dir.join("ceiling.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(Error::io(format!("opening {}", log_path.display())))?;
        let log2 = log
            .try_clone()
            .map_err(Error::io("duplicating the log file"))?;
        let child = nginx(&["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(Error::io("starting the ceiling nginx"))?;
        let ceiling = Ceiling {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..50 {
            let hop = http
                .post(format!("{}/hop/1", ceiling.url))
                .timeout(Duration::from_secs(1));
            if hop.send().await.is_ok_and(|a| a.status().is_success()) {
                eprintln!(
                    "[bench] ceiling nginx pid {} on 127.0.0.1:{port} (upstream :{up})",
                    ceiling.child.id()
                );
                return Ok(ceiling);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Setup(format!(
            "ceiling nginx did not start (see {})",
            log_path.display()
        )))
    }
}

impl Drop for Ceiling {
    /// SIGTERM, which stops nginx's workers too (a SIGKILL would leave them behind).
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child, not yet reaped (wait below).
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let _ = self.child.wait();
    }
}
