//! Durations as people write them in `hookgate.toml` and on the command
//! line: `400ms`, `5s`, `10m`, `8h`, `1d`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer};

/// A duration read from text such as `400ms` or `8h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub(crate) Duration);

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: expected a whole number followed by ms, s, m, h or d (e.g. \"400ms\", \"8h\")"
)]
pub(crate) struct InvalidDuration(String);

impl FromStr for HumanDuration {
    type Err = InvalidDuration;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidDuration(text.to_owned());
        let trimmed = text.trim();
        let digits_end = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let (number, unit) = trimmed.split_at(digits_end);
        let number: u64 = number.parse().map_err(|_| invalid())?;
        let millis_per_unit: u64 = match unit.trim() {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(invalid()),
        };
        let millis = number.checked_mul(millis_per_unit).ok_or_else(invalid)?;
        Ok(Self(Duration::from_millis(millis)))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"400ms\", \"5s\", \"10m\", \"8h\" or \"1d\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "{number} has no unit; write it as text with one, such as \"{}s\" (ms, s, m, h or d)",
                    number.unsigned_abs()
                )))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "{number} has no unit; write it as text with one, such as \"{number}s\" (ms, s, m, h or d)"
                )))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// Writes `d` the way [`HumanDuration`] reads it, in the largest exact unit.
pub(crate) fn format(d: Duration) -> String {
    let millis = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit() {
        let cases = [
            ("400ms", Duration::from_millis(400)),
            ("5s", Duration::from_secs(5)),
            ("10m", Duration::from_secs(600)),
            ("8h", Duration::from_secs(8 * 3600)),
            ("1d", Duration::from_secs(86_400)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<HumanDuration>().unwrap().0, expected, "{text}");
            assert_eq!(
                format(expected).parse::<HumanDuration>().unwrap().0,
                expected
            );
        }
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for text in [
            "",
            "5",
            "s",
            "1.5s",
            "-1s",
            "5 weeks",
            "99999999999999999999d",
        ] {
            let err = text.parse::<HumanDuration>().unwrap_err();
            assert!(err.to_string().contains("invalid duration"), "{text}");
        }
    }
}
