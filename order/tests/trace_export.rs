//! One checkout is one distributed trace across the three services.
//!
//! Each service runs in a process of its own, as in production (this test binary
//! runs itself again with `WDM_TEST_SERVICE` set, see [`service_process`]), with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a small OTLP/HTTP receiver on
//! loopback that decodes the protobuf bodies. The batch exporter's delay is a
//! minute, so the spans can only arrive through the flush on SIGTERM.

mod otlp;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use common::testing::{free_port, RedisServer};
use otlp::{ExportedSpan, Receiver};
use serde_json::Value;

const ROLE: &str = "WDM_TEST_SERVICE";

/// The body of the child processes; does nothing when run by hand.
#[test]
#[ignore = "the service processes of one_checkout_is_one_trace_across_the_three_services"]
fn service_process() {
    let Ok(service) = std::env::var(ROLE) else {
        return;
    };
    let ran = actix_web::rt::System::new().block_on(async {
        match service.as_str() {
            "stock" => stock::run().await,
            "payment" => payment::run().await,
            "order" => order::run().await,
            other => panic!("{ROLE}={other:?} names no service"),
        }
    });
    ran.expect("the service ran and stopped cleanly");
}

#[tokio::test]
async fn one_checkout_is_one_trace_across_the_three_services() {
    let receiver = Receiver::start();
    let logs = tempfile::tempdir().expect("a log folder");
    let redis = [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ];
    let (stock_port, stock_internal) = (free_port(), free_port());
    let (payment_port, payment_internal) = (free_port(), free_port());
    let order_port = free_port();
    let mut services = vec![
        Service::spawn(
            "stock",
            &receiver,
            logs.path(),
            &[
                ("LISTEN_ADDR", format!("127.0.0.1:{stock_port}")),
                (
                    "INTERNAL_LISTEN_ADDR",
                    format!("127.0.0.1:{stock_internal}"),
                ),
                ("REDIS_URL", redis[0].url()),
            ],
        ),
        Service::spawn(
            "payment",
            &receiver,
            logs.path(),
            &[
                ("LISTEN_ADDR", format!("127.0.0.1:{payment_port}")),
                (
                    "INTERNAL_LISTEN_ADDR",
                    format!("127.0.0.1:{payment_internal}"),
                ),
                ("REDIS_URL", redis[1].url()),
            ],
        ),
        Service::spawn(
            "order",
            &receiver,
            logs.path(),
            &[
                ("LISTEN_ADDR", format!("127.0.0.1:{order_port}")),
                ("INTERNAL_LISTEN_ADDR", format!("127.0.0.1:{}", free_port())),
                ("REDIS_URL", redis[2].url()),
                ("STOCK_URL", format!("http://127.0.0.1:{stock_internal}")),
                (
                    "PAYMENT_URL",
                    format!("http://127.0.0.1:{payment_internal}"),
                ),
                ("REPLICA_ID", "trace-test".into()),
            ],
        ),
    ];
    let http = reqwest::Client::new();
    for (service, port) in services
        .iter_mut()
        .zip([stock_port, payment_port, order_port])
    {
        service.wait_ready(&http, port).await;
    }

    let stock = format!("http://127.0.0.1:{stock_port}");
    let payment = format!("http://127.0.0.1:{payment_port}");
    let orders = format!("http://127.0.0.1:{order_port}");
    let item = post(&http, format!("{stock}/item/create/3")).await["item_id"].clone();
    let item = item.as_str().expect("item_id");
    post(&http, format!("{stock}/add/{item}/5")).await;
    let user = post(&http, format!("{payment}/create_user")).await["user_id"].clone();
    let user = user.as_str().expect("user_id");
    post(&http, format!("{payment}/add_funds/{user}/10")).await;
    let order = post(&http, format!("{orders}/create/{user}")).await["order_id"].clone();
    let order = order.as_str().expect("order_id");
    post(&http, format!("{orders}/addItem/{order}/{item}/2")).await;
    post(&http, format!("{orders}/checkout/{order}")).await;

    for service in &mut services {
        let status = service.terminate().await;
        assert!(status.success(), "{} exited with {status}", service.name);
    }

    let spans = receiver.spans();
    let logs = |name: &str| std::fs::read_to_string(logs.path().join(name)).unwrap_or_default();
    let checkout = spans
        .iter()
        .find(|s| s.service == "order" && s.name == "POST /checkout/{order_id}")
        .unwrap_or_else(|| {
            panic!(
                "no checkout span among {spans:#?}\norder log:\n{}",
                logs("order")
            )
        });
    assert_eq!(checkout.attributes["http.route"], "/checkout/{order_id}");
    assert_eq!(checkout.attributes["http.response.status_code"], "200");
    assert!(
        checkout.parent.is_empty(),
        "the checkout request starts the trace"
    );
    assert_eq!(
        checkout.instance, "trace-test",
        "the order replica is named"
    );
    let trace: Vec<&ExportedSpan> = spans.iter().filter(|s| s.trace == checkout.trace).collect();
    let named = |service: &str, name: &str| -> Vec<&ExportedSpan> {
        trace
            .iter()
            .copied()
            .filter(|s| s.service == service && s.name == name)
            .collect()
    };
    let one = |service: &str, name: &str| -> &ExportedSpan {
        let found = named(service, name);
        assert_eq!(
            found.len(),
            1,
            "one {service} span {name:?} in the trace: {trace:#?}"
        );
        found[0]
    };

    // The order service: the checkout, its saga and every step as child spans.
    let saga = one("order", "checkout");
    assert_eq!(saga.parent, checkout.id);
    assert_eq!(saga.attributes["order_id"], order);
    let saga_id = saga.attributes["saga_id"].clone();
    assert!(!saga_id.is_empty(), "{saga:#?}");
    let drive = one("order", "drive");
    assert_eq!(drive.attributes["saga_id"], saga_id);
    assert_eq!(one("order", "saga begin").attributes["order_id"], order);
    let advances = named("order", "saga advance");
    let moves: Vec<(&str, &str)> = advances
        .iter()
        .map(|s| (s.attributes["from"].as_str(), s.attributes["to"].as_str()))
        .collect();
    // `reserved` is not logged: one write after the charge commits.
    assert_eq!(moves, [("started", "committed")]);
    assert!(advances.iter().all(|s| s.parent == drive.id));
    let reserve = one("order", "stock reserve");
    let charge = one("order", "payment charge");
    assert_eq!(
        (reserve.parent.as_str(), charge.parent.as_str()),
        (drive.id.as_str(), drive.id.as_str())
    );

    // The participants run each saga's step of a batch in a span that continues the
    // trace from the traceparent the saga's entry in the batch carried.
    let reserved = one("stock", "reserve");
    assert_eq!(
        reserved.parent, reserve.id,
        "stock's span is a child of the call"
    );
    assert_eq!(reserved.attributes["saga_id"], saga_id);
    let charged = one("payment", "charge");
    assert_eq!(
        charged.parent, charge.id,
        "payment's span is a child of the call"
    );
    assert_eq!(charged.attributes["saga_id"], saga_id);

    // Requests outside the checkout are traces of their own.
    let add = spans
        .iter()
        .find(|s| s.service == "order" && s.name == "POST /addItem/{order_id}/{item_id}/{quantity}")
        .expect("an addItem span");
    assert_ne!(add.trace, checkout.trace);
    assert!(
        spans
            .iter()
            .any(|s| s.service == "stock" && s.trace == add.trace),
        "the price look-up joins addItem's trace"
    );

    // Log lines written inside the checkout carry its trace id.
    let order_log = logs("order");
    let started: Vec<Value> = order_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "saga started")
        .collect();
    assert_eq!(started.len(), 1, "{order_log}");
    assert_eq!(
        started[0]["trace_id"],
        checkout.trace.as_str(),
        "{order_log}"
    );
}

async fn post(http: &reqwest::Client, url: String) -> Value {
    let resp = http.post(&url).send().await.expect("answered");
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {url}: {status} {body}");
    body
}

/// A service in a child process, SIGKILLed if the test ends before stopping it.
struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Service {
    fn spawn(name: &'static str, receiver: &Receiver, logs: &Path, env: &[(&str, String)]) -> Self {
        let log = logs.join(name);
        let stdout = File::create(&log).expect("a log file");
        let stderr = stdout.try_clone().expect("a second handle");
        let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
        cmd.args(["--exact", "service_process", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(ROLE, name)
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{}", receiver.port),
            )
            // Only the flush at shutdown sends spans: it is what this test checks.
            .env("OTEL_BSP_SCHEDULE_DELAY", "60000")
            .env("RUST_LOG", "info,order=debug")
            .env("WORKERS", "1")
            .env("SHUTDOWN_TIMEOUT_SECS", "5")
            .stdout(stdout)
            .stderr(stderr);
        for var in [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_SERVICE_NAME",
            "OTEL_TRACES_SAMPLER",
            "OTEL_SDK_DISABLED",
            "LOG_FORMAT",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().expect("the test binary runs again");
        Service { name, child, log }
    }

    async fn wait_ready(&mut self, http: &reqwest::Client, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("http://127.0.0.1:{port}/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}: {}", self.name, self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "{} is not ready: {}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait (bounded) for the graceful stop and the flush.
    async fn terminate(&mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) on the pid of our own child, which we have not reaped yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop: {}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
