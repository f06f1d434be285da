//! The `billing-local` process under test: started as an operator starts it (its environment,
//! a data directory, a port on 127.0.0.1), SIGKILLed without warning, and started again on the
//! same data directory or DynamoDB table.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bootstrap admin token the driver gives billing-local.
pub const ADMIN_TOKEN: &str = "soak-admin-token";
/// How long a restart may take before the run is declared broken (DynamoDB Local included).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which store billing-local runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Embedded,
    Dynamodb,
}

impl Store {
    pub fn name(self) -> &'static str {
        match self {
            Store::Embedded => "embedded",
            Store::Dynamodb => "dynamodb",
        }
    }
}

pub struct Server {
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    pub base: String,
    child: Option<Child>,
    /// Processes started, the first included.
    pub starts: u64,
}

impl Server {
    /// `extra` is added to the environment every start (timers, rate limit, store).
    pub fn new(
        binary: PathBuf,
        data_dir: &Path,
        store: Store,
        table: &str,
        extra: &[(&str, String)],
    ) -> Result<Self, String> {
        if !binary.is_file() {
            return Err(format!(
                "{} does not exist: build it with `cargo build -p billing-local` (or pass --binary)",
                binary.display()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?
            .port();
        let mut env: Vec<(String, String)> = vec![
            ("BILLING_ADDR".into(), format!("127.0.0.1:{port}")),
            ("BILLING_DATA_DIR".into(), data_dir.display().to_string()),
            ("BILLING_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            ("BILLING_TEST_CLOCK".into(), "true".into()),
            ("BILLING_STORE".into(), store.name().into()),
            ("BILLING_TABLE".into(), table.into()),
        ];
        if store == Store::Dynamodb
            && std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
                .unwrap_or_default()
                .is_empty()
        {
            return Err(
                "--store dynamodb needs AWS_ENDPOINT_URL_DYNAMODB: run under \
                 `BILLING_SERVICES=dynamodb infra/with-services.sh …`"
                    .into(),
            );
        }
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        Ok(Self {
            binary,
            env,
            log: data_dir.join("billing-local.log"),
            base: format!("http://127.0.0.1:{port}"),
            child: None,
            starts: 0,
        })
    }

    /// Where every start's output is appended (shown when a run fails).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Starts the process and waits until `/healthz` answers 200.
    pub async fn start(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", self.log.display()))?;
        let child = Command::new(&self.binary)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        self.starts += 1;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "billing-local exited at start with {status}; see {}",
                    self.log.display()
                ));
            }
            if client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(format!(
            "billing-local did not answer /healthz within {START_TIMEOUT:?}; see {}",
            self.log.display()
        ))
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An already exited child is reported by the next start's health wait.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
