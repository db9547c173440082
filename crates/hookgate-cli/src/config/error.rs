//! Configuration errors and where in the file they are.

use std::ops::Range;
use std::path::PathBuf;

/// A configuration problem, with the place in the file when there is one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// Something in the file is wrong.
    #[error("{file}:{line}:{column}: {message}")]
    At {
        /// The file name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Something is wrong that has no single place in the file.
    #[error("{file}: {message}")]
    File {
        /// The file name as given.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// Every problem found in a configuration, one per line, in the file's order.
#[derive(Debug)]
pub(crate) struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// `errors`, in the file's order (those without a place first); `Ok` when there are none.
    pub(crate) fn check(mut errors: Vec<ConfigError>) -> Result<(), Self> {
        if errors.is_empty() {
            return Ok(());
        }
        errors.sort_by_key(|e| match e {
            ConfigError::At { line, column, .. } => (*line, *column),
            _ => (0, 0),
        });
        Err(Self(errors))
    }

    /// The problems.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// The first problem in the file's order.
    #[cfg(test)]
    pub(crate) fn into_first(self) -> ConfigError {
        self.0.into_iter().next().expect("at least one problem")
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Where a value sits in the file, kept for errors found after parsing
/// (secrets are read from the environment only when serving).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    file: String,
    line: usize,
    column: usize,
}

impl Location {
    pub(super) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

pub(super) struct Ctx<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a str,
}

impl Ctx<'_> {
    pub(super) fn location(&self, span: Range<usize>) -> Location {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location {
            file: self.file.to_owned(),
            line,
            column,
        }
    }

    /// toml's `error`, at its place when it has one.
    pub(super) fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        let message = error.message().trim_end();
        match error.span() {
            Some(span) => self.at(span, message),
            None => self.file_error(message),
        }
    }

    pub(super) fn at(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        self.location(span).error(message)
    }

    pub(super) fn file_error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::File {
            file: self.file.to_owned(),
            message: message.into(),
        }
    }
}
