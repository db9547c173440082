//! The `hookgate` command: sign and verify webhook deliveries from the shell.
//!
//! `main` only parses the command line and dispatches; each subcommand lives
//! in its own module under `cmd/`, and exit codes are decided in one place
//! ([`cmd::Failure`]): 0 success, 1 refused delivery or failed operation,
//! 2 usage or configuration error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod action;
mod backend;
mod cmd;
mod config;
mod duration;
mod input;

/// Receive webhooks safely: sign and verify deliveries, run a receiver,
/// inspect and replay its queue.
#[derive(Debug, Parser)]
#[command(
    name = "hookgate",
    version,
    about,
    propagate_version = true,
    after_help = "Examples:\n  \
        hookgate sign --scheme github --secret s3cret --body payload.json\n  \
        hookgate verify --scheme clarife --secret whsec_sample \\\n    \
        -H 'X-Clarife-Signature: t=1774699200,v1=9c710756f7069d313542208bc0003147b1b1b7a6aa18bca44d4a4f3b585b2a74' \\\n    \
        --now 1774699230 --body samples/clarife.json\n  \
        hookgate init && hookgate serve --config hookgate.toml\n  \
        hookgate send --scheme clarife --secret whsec_sample --url http://127.0.0.1:8080/hooks/clarife\n  \
        hookgate queue stats\n\n\
        `hookgate COMMAND --help` shows each command's own example.\n\
        Exit codes: 0 success, 1 delivery refused or the operation failed (receiver unreachable,\n\
        not that sender's payload, no such dead letter), 2 usage or configuration error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the headers a sender would set for a body.
    Sign(cmd::sign::SignArgs),
    /// Check a delivery's signature; prints one JSON line on success.
    Verify(cmd::verify::VerifyArgs),
    /// Read a verified body as its sender's typed event; prints one JSON line.
    Inspect(cmd::inspect::InspectArgs),
    /// Write a commented sample hookgate.toml.
    Init(cmd::init::InitArgs),
    /// Run a receiver from hookgate.toml: verify, queue durably, forward or run a command.
    Serve(cmd::serve::ServeArgs),
    /// Send a signed sample delivery (the senders' "send test event") and print the answer.
    Send(cmd::send::SendArgs),
    /// Inspect the queue of `hookgate serve` and replay dead letters.
    Queue(cmd::queue::QueueArgs),
    /// Follow a running receiver's deliveries as they happen (its admin listener).
    Tail(cmd::tail::TailArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sign(args) => cmd::sign::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Send(args) => cmd::send::run(args),
        Command::Queue(args) => cmd::queue::run(args),
        Command::Tail(args) => cmd::tail::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
