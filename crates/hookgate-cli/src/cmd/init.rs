//! `hookgate init`: write a commented `hookgate.toml`: a minimal one, or the
//! tour of every option with `--full`.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::Failure;
use crate::config;

/// Write a commented configuration for `hookgate serve`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    hookgate init                       # writes ./hookgate.toml: one clarife source\n  \
    hookgate init --full --output - | less   # prints the tour of every option\n  \
    hookgate serve --config hookgate.toml --check\n\n\
    An existing file is never overwritten unless --force is given.")]
pub(crate) struct InitArgs {
    /// Where to write the sample, or `-` for stdout.
    #[arg(long, short, value_name = "FILE|-", default_value = "hookgate.toml")]
    output: PathBuf,

    /// Overwrite the file if it exists.
    #[arg(long)]
    force: bool,

    /// Write the tour of every option (five sources, every section, the
    /// alternatives commented) instead of the minimal configuration.
    #[arg(long)]
    full: bool,
}

pub(crate) fn run(args: InitArgs) -> Result<(), Failure> {
    let text = if args.full {
        config::SAMPLE
    } else {
        config::MINIMAL_SAMPLE
    };
    if args.output.as_os_str() == "-" {
        return std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Failure::usage(format!("cannot write to stdout: {e}")));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        // create_new: refuse atomically rather than check-then-write.
        options.create_new(true);
    }
    let path = args.output.display();
    let mut file = options.open(&args.output).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Failure::usage(format!(
            "{path} already exists; use --force to overwrite it"
        )),
        _ => Failure::usage(format!("cannot write {path}: {e}")),
    })?;
    file.write_all(text.as_bytes())
        .map_err(|e| Failure::usage(format!("cannot write {path}: {e}")))?;
    eprintln!(
        "wrote {path}; set the secrets' environment variables it names (`secret_env`), then run: hookgate serve --config {path}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_sample_once_and_only_overwrites_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("hookgate.toml");
        run(InitArgs {
            output: output.clone(),
            force: false,
            full: false,
        })
        .unwrap();
        let written = std::fs::read_to_string(&output).unwrap();
        assert_eq!(written, config::MINIMAL_SAMPLE);
        config::Config::load(&output).unwrap();

        std::fs::write(&output, "mine").unwrap();
        let refused = run(InitArgs {
            output: output.clone(),
            force: false,
            full: false,
        })
        .unwrap_err();
        assert!(matches!(refused, Failure::Usage(m) if m.contains("already exists")));
        assert_eq!(std::fs::read_to_string(&output).unwrap(), "mine");

        run(InitArgs {
            output: output.clone(),
            force: true,
            full: true,
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&output).unwrap(), config::SAMPLE);
        config::Config::load(&output).unwrap();
    }
}
