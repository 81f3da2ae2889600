//! `arca`: parses arguments, calls the libraries, renders results. No
//! business logic lives here.

mod cli;
mod commands;
mod context;
mod exit;
mod kube_opts;
mod output;
mod password;
mod progress;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    // Object storage and Kubernetes clients must agree on one TLS provider.
    arca_kube::connect::install_crypto();
    init_logging(cli.global.verbose);
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", exit::render(&err));
            exit::code_for(&err)
        }
    };
    std::process::exit(code);
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "debug,arca_repo=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARCA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
