//! Wires the environment to the local runner, prints where it listens, stops on Ctrl-C or SIGTERM.

use billing_local::config::LocalConfig;
use billing_local::runner;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_target(false)
        .compact()
        .init();
    let config = match LocalConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("billing-local: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let running = match runner::start(config).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("billing-local: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("billing-local listening on http://{}", running.addr);
    if running.admin_token_generated {
        println!(
            "admin token (generated; set BILLING_ADMIN_TOKEN to choose one): {}",
            running.admin_token
        );
    }
    wait_for_stop().await;
    println!("billing-local stopping");
    running.shutdown().await;
    std::process::ExitCode::SUCCESS
}

async fn wait_for_stop() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
