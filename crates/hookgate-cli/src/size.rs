//! Sizes in the configuration: `max_bytes = "10GiB"`, `min_free_disk = "5%"`.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// A number of bytes: an integer, or a string with a unit (`"512MiB"`,
/// `"10GB"`, `"4096"`; KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteSize(pub(crate) u64);

/// Why a size could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid size {0:?}: expected a whole number of bytes, optionally followed by KB, MB, GB, TB \
     (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. \"512MiB\""
)]
pub(crate) struct InvalidSize(String);

impl FromStr for ByteSize {
    type Err = InvalidSize;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidSize(text.to_owned());
        let trimmed = text.trim();
        let digits_end = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(digits_end);
        let number: u64 = number.parse().map_err(|_| invalid())?;
        let unit_size: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            _ => return Err(invalid()),
        };
        number.checked_mul(unit_size).map(Self).ok_or_else(invalid)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"512MiB\", \"10GB\" or a number of bytes")
            }

            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<ByteSize, E> {
                non_negative(bytes)
            }

            fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(bytes))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ByteSize, E> {
                text.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// A TOML integer as a size.
fn non_negative<E: de::Error>(bytes: i64) -> Result<ByteSize, E> {
    u64::try_from(bytes)
        .map(ByteSize)
        .map_err(|_| E::custom(format!("invalid size {bytes}: a size is not negative")))
}

/// `min_free_disk`: a size, or a percentage of the file system (`"5%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FreeDisk {
    /// At least this many bytes stay free.
    Bytes(u64),
    /// At least this percentage of the file system stays free.
    Percent(f64),
}

impl<'de> Deserialize<'de> for FreeDisk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = FreeDisk;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"10GiB\", or a percentage of the disk such as \"5%\"")
            }

            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<FreeDisk, E> {
                non_negative(bytes).map(|b| FreeDisk::Bytes(b.0))
            }

            fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<FreeDisk, E> {
                Ok(FreeDisk::Bytes(bytes))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<FreeDisk, E> {
                let Some(percent) = text.trim().strip_suffix('%') else {
                    return text
                        .parse::<ByteSize>()
                        .map(|b| FreeDisk::Bytes(b.0))
                        .map_err(E::custom);
                };
                match percent.trim().parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => Ok(FreeDisk::Percent(p)),
                    _ => Err(E::custom(format!(
                        "invalid percentage {text:?}: expected a number from 0 to 100 followed \
                         by %, e.g. \"5%\""
                    ))),
                }
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_decimal_and_binary_units() {
        assert_eq!("4096".parse(), Ok(ByteSize(4096)));
        assert_eq!("512MiB".parse(), Ok(ByteSize(512 << 20)));
        assert_eq!(" 10 GB ".parse(), Ok(ByteSize(10_000_000_000)));
        assert_eq!("1KB".parse(), Ok(ByteSize(1000)));
        assert!("ten MB".parse::<ByteSize>().is_err());
        assert!("5 MiBs".parse::<ByteSize>().is_err());
        assert!("99999999TiB".parse::<ByteSize>().is_err(), "overflow");
    }

    #[derive(Deserialize)]
    struct Floor {
        min_free_disk: FreeDisk,
    }

    #[test]
    fn a_free_space_floor_is_a_size_or_a_percentage() {
        let floor = |text: &str| toml::from_str::<Floor>(text).map(|f| f.min_free_disk);
        assert_eq!(
            floor("min_free_disk = \"5%\"").unwrap(),
            FreeDisk::Percent(5.0)
        );
        assert_eq!(
            floor("min_free_disk = \"2.5 %\"").unwrap(),
            FreeDisk::Percent(2.5)
        );
        assert_eq!(
            floor("min_free_disk = \"1GiB\"").unwrap(),
            FreeDisk::Bytes(1 << 30)
        );
        assert_eq!(
            floor("min_free_disk = 1000").unwrap(),
            FreeDisk::Bytes(1000)
        );
        assert!(floor("min_free_disk = \"150%\"").is_err());
        assert!(floor("min_free_disk = -1").is_err());
    }
}
