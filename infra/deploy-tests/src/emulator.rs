//! A built Lambda artifact run as Lambda runs it: the `bootstrap` from its zip, started with the
//! Lambda environment and polling a Runtime API — cargo-lambda's emulator
//! (`cargo lambda watch --only-lambda-apis`), since AWS's own RIE cannot be fetched here —
//! and invoked through the emulator's Invoke API.
//!
//! Between the function and the emulator sits a small TCP relay that notes when the first
//! request arrives: the runtime's first `GET …/invocation/next`, which it sends once its
//! `main` has built its clients. Process start to that moment is the cold start's init
//! duration, measured the same way for every artifact and for the do-nothing baseline.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use crate::DeployTestError;

/// Where `cargo lambda build` left the artifacts: `$BILLING_LAMBDA_DIR/<bin>/bootstrap{,.zip}`.
pub const LAMBDA_DIR_VAR: &str = "BILLING_LAMBDA_DIR";
/// The function name the emulator serves when none is given.
const FUNCTION_NAME: &str = "_";
const STARTUP_WAIT: Duration = Duration::from_secs(30);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// One function's built artifact.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub bootstrap: PathBuf,
    pub zip: PathBuf,
}

impl Artifact {
    /// The artifact of cargo bin `name` in `$BILLING_LAMBDA_DIR`; an error says how to build it.
    pub fn find(name: &str) -> Result<Self, DeployTestError> {
        let dir = std::env::var(LAMBDA_DIR_VAR).map_err(|_| {
            DeployTestError::Emulator(format!(
                "{LAMBDA_DIR_VAR} is not set: run infra/deploy-check.sh, which builds the \
                 artifacts with `cargo lambda build --release` and points it at them"
            ))
        })?;
        let folder = Path::new(&dir).join(name);
        let artifact = Self {
            name: name.to_owned(),
            bootstrap: folder.join("bootstrap"),
            zip: folder.join("bootstrap.zip"),
        };
        for path in [&artifact.bootstrap, &artifact.zip] {
            if !path.is_file() {
                return Err(DeployTestError::Emulator(format!(
                    "{} is missing: build it with `cargo lambda build --release --bin {name}` \
                     (and again with `--output-format zip`)",
                    path.display()
                )));
            }
        }
        Ok(artifact)
    }

    pub fn zip_bytes(&self) -> u64 {
        std::fs::metadata(&self.zip).map(|m| m.len()).unwrap_or(0)
    }
}

/// What one cold start cost.
#[derive(Debug, Clone)]
pub struct Figures {
    pub name: String,
    pub zip_bytes: u64,
    /// Process start to the runtime's first `/next` call.
    pub init: Duration,
    /// Peak resident memory (VmHWM) after the invocations.
    pub peak_rss_kib: u64,
}

/// A running function: the emulator, the relay and the `bootstrap` process.
pub struct RunningFunction {
    artifact: Artifact,
    emulator: Child,
    function: Child,
    invoke_url: String,
    started: Instant,
    first_next: Arc<OnceLock<Instant>>,
    logs: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

impl RunningFunction {
    /// Starts the emulator, then `artifact`'s bootstrap with the Lambda environment plus `env`
    /// (the process inherits the rest of this environment: AWS endpoints and credentials).
    pub async fn start(
        artifact: &Artifact,
        memory_mb: u32,
        env: &[(&str, String)],
    ) -> Result<Self, DeployTestError> {
        let emulator_port = free_port().await?;
        let mut emulator = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(emulator_port.to_string())
            .current_dir(crate::repo_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| DeployTestError::Process {
                what: "cannot start `cargo lambda watch` (is cargo-lambda on PATH? \
                       infra/deploy-tools.sh installs it)"
                    .into(),
                source,
            })?;
        wait_for_port(emulator_port, &mut emulator).await?;

        let first_next = Arc::new(OnceLock::new());
        let relay_port = start_relay(emulator_port, first_next.clone()).await?;

        let started = Instant::now();
        let mut function = Command::new(&artifact.bootstrap)
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{relay_port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/billing/{}", artifact.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "emulator")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| DeployTestError::Process {
                what: format!("cannot start {}", artifact.bootstrap.display()),
                source,
            })?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = function.stdout.take() {
            collect_lines(stdout, logs.clone());
        }
        if let Some(stderr) = function.stderr.take() {
            collect_lines(stderr, logs.clone());
        }
        Ok(Self {
            artifact: artifact.clone(),
            emulator,
            function,
            invoke_url: format!(
                "http://127.0.0.1:{emulator_port}/2015-03-31/functions/{FUNCTION_NAME}/invocations"
            ),
            started,
            first_next,
            logs,
            client: reqwest::Client::builder()
                .timeout(INVOKE_TIMEOUT)
                .build()
                .map_err(|e| DeployTestError::Emulator(format!("http client: {e}")))?,
        })
    }

    /// Invokes the function with `event` through the Invoke API and answers its output.
    pub async fn invoke(&mut self, event: &Value) -> Result<Value, DeployTestError> {
        if let Ok(Some(status)) = self.function.try_wait() {
            return Err(self.failure(&format!("exited ({status}) before the invocation")));
        }
        let response = self
            .client
            .post(&self.invoke_url)
            .json(event)
            .send()
            .await
            .map_err(|e| self.failure(&format!("the invocation failed: {e}")))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| self.failure(&format!("cannot read the answer: {e}")))?;
        if !status.is_success() {
            return Err(self.failure(&format!("the emulator answered {status}: {body}")));
        }
        serde_json::from_str(&body)
            .map_err(|e| self.failure(&format!("the answer is not JSON ({e}): {body}")))
    }

    /// The function's log lines so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default()
    }

    /// Zip size, init duration and peak memory, read now (call after the invocations).
    pub fn figures(&self) -> Result<Figures, DeployTestError> {
        let init = self
            .first_next
            .get()
            .map(|at| at.duration_since(self.started))
            .ok_or_else(|| self.failure("never called the Runtime API"))?;
        let pid = self
            .function
            .id()
            .ok_or_else(|| self.failure("has exited"))?;
        Ok(Figures {
            name: self.artifact.name.clone(),
            zip_bytes: self.artifact.zip_bytes(),
            init,
            peak_rss_kib: peak_rss_kib(pid)?,
        })
    }

    fn failure(&self, what: &str) -> DeployTestError {
        DeployTestError::Emulator(format!(
            "{} {what}; its output:\n{}",
            self.artifact.name,
            self.logs().join("\n")
        ))
    }

    /// Stops the function and the emulator.
    pub async fn stop(mut self) {
        let _ = self.function.kill().await;
        let _ = self.emulator.kill().await;
    }
}

async fn free_port() -> Result<u16, DeployTestError> {
    let listener =
        TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| DeployTestError::Process {
                what: "cannot bind a local port".into(),
                source,
            })?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|source| DeployTestError::Process {
            what: "cannot read a local port".into(),
            source,
        })
}

async fn wait_for_port(port: u16, process: &mut Child) -> Result<(), DeployTestError> {
    let deadline = Instant::now() + STARTUP_WAIT;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = process.try_wait() {
            return Err(DeployTestError::Emulator(format!(
                "`cargo lambda watch` exited ({status}) before listening on {port}"
            )));
        }
        if Instant::now() > deadline {
            return Err(DeployTestError::Emulator(format!(
                "`cargo lambda watch` did not listen on {port} within {STARTUP_WAIT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Relays every connection to the emulator, noting when the first request arrives.
async fn start_relay(
    upstream_port: u16,
    first_request: Arc<OnceLock<Instant>>,
) -> Result<u16, DeployTestError> {
    let listener =
        TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| DeployTestError::Process {
                what: "cannot bind the relay".into(),
                source,
            })?;
    let port = listener
        .local_addr()
        .map_err(|source| DeployTestError::Process {
            what: "cannot read the relay's port".into(),
            source,
        })?
        .port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let first_request = first_request.clone();
            tokio::spawn(async move {
                let mut head = vec![0_u8; 8192];
                let Ok(read) = client.read(&mut head).await else {
                    return;
                };
                if read > 0 {
                    let _ = first_request.set(Instant::now());
                }
                let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await
                else {
                    return;
                };
                if upstream.write_all(&head[..read]).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    Ok(port)
}

fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut logs) = logs.lock() {
                logs.push(line);
            }
        }
    });
}

/// The process's peak resident set (VmHWM of /proc/PID/status), in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64, DeployTestError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let status =
        std::fs::read_to_string(&path).map_err(|source| DeployTestError::Read { path, source })?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| DeployTestError::Emulator(format!("no VmHWM for process {pid}")))
}

/// The figures as the Markdown table BENCHMARKS.md quotes.
pub fn figures_table(figures: &[Figures]) -> String {
    let mut table = String::from(
        "| artifact | zip | init (start → first /next) | peak RSS |\n| --- | ---: | ---: | ---: |\n",
    );
    for f in figures {
        // Tenths, in integers (the workspace forbids float arithmetic).
        let init_tenths_ms = f.init.as_micros() / 100;
        let rss_tenths_mib = f.peak_rss_kib * 10 / 1024;
        table.push_str(&format!(
            "| {} | {} KiB | {}.{} ms | {}.{} MiB |\n",
            f.name,
            f.zip_bytes.div_ceil(1024),
            init_tenths_ms / 10,
            init_tenths_ms % 10,
            rss_tenths_mib / 10,
            rss_tenths_mib % 10,
        ));
    }
    table
}
