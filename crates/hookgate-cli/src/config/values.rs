//! Values read with messages in people's words: the value as written and
//! the form expected, never a Rust type name (`expected usize`).

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;

use serde::de::{self, Deserialize, Deserializer, Unexpected};

/// The unsigned integer types a [`Whole`] can hold, with their largest value.
pub(crate) trait Bounded: TryFrom<u64> + Copy {
    /// The largest value, as people read it.
    const MAX: u64;
}

impl Bounded for u16 {
    const MAX: u64 = u16::MAX as u64;
}

impl Bounded for u32 {
    const MAX: u64 = u32::MAX as u64;
}

impl Bounded for u64 {
    const MAX: u64 = u64::MAX;
}

impl Bounded for usize {
    const MAX: u64 = usize::MAX as u64;
}

/// A whole number, zero or more, that fits a `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Whole<T>(pub(crate) T);

impl<'de, T: Bounded> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(PhantomData<T>);

        impl<T: Bounded> de::Visitor<'_> for Visitor<T> {
            type Value = Whole<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from 0 to {}, such as 64", T::MAX)
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Whole<T>, E> {
                T::try_from(value)
                    .map(Whole)
                    .map_err(|_| E::custom(format!("{value} is too large; the most is {}", T::MAX)))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Whole<T>, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(format!(
                        "{value} is below zero; expected a whole number from 0 to {}",
                        T::MAX
                    ))),
                }
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Whole<T>, E> {
                Err(E::custom(format!(
                    "{value} is not a whole number; write it without a fraction, such as 64"
                )))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Whole<T>, E> {
                Err(match text.trim().parse::<u64>() {
                    Ok(number) => E::custom(format!(
                        "{text:?} is text; write the number without quotes: {number}"
                    )),
                    Err(_) => E::invalid_value(Unexpected::Str(text), &self),
                })
            }
        }

        deserializer.deserialize_any(Visitor(PhantomData))
    }
}

/// A listening address: an IP address and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenAddr(pub(crate) SocketAddr);

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = ListenAddr;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an IP address and a port, such as \"127.0.0.1:8080\" or \"[::1]:8080\"",
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ListenAddr, E> {
                text.parse().map(ListenAddr).map_err(|_| {
                    E::custom(format!(
                        "{text:?} is not an IP address and a port, such as \"127.0.0.1:8080\", \
                         \"0.0.0.0:8080\" (every interface) or \"[::1]:8080\"; host names are not looked up"
                    ))
                })
            }
        }

        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Table {
        count: Option<Whole<u32>>,
        listen: Option<ListenAddr>,
    }

    fn error(text: &str) -> String {
        toml::from_str::<Table>(text)
            .unwrap_err()
            .message()
            .to_owned()
    }

    #[test]
    fn numbers_and_addresses_are_explained_with_the_value() {
        assert_eq!(
            toml::from_str::<Table>("count = 7").unwrap().count,
            Some(Whole(7))
        );
        let listen = toml::from_str::<Table>("listen = \"[::1]:8080\"")
            .unwrap()
            .listen;
        assert_eq!(listen, Some(ListenAddr("[::1]:8080".parse().unwrap())));
        for (text, expected) in [
            (
                "count = -1",
                "-1 is below zero; expected a whole number from 0 to 4294967295",
            ),
            (
                "count = 5000000000",
                "5000000000 is too large; the most is 4294967295",
            ),
            (
                "count = \"64\"",
                "\"64\" is text; write the number without quotes: 64",
            ),
            ("count = 1.5", "1.5 is not a whole number"),
            (
                "count = \"many\"",
                "invalid value: string \"many\", expected a whole number from 0 to 4294967295, such as 64",
            ),
            (
                "listen = \"localhost:8080\"",
                "\"localhost:8080\" is not an IP address and a port, such as \"127.0.0.1:8080\"",
            ),
            (
                "listen = 8080",
                "expected an IP address and a port, such as \"127.0.0.1:8080\"",
            ),
        ] {
            let message = error(text);
            assert!(message.contains(expected), "{text}: {message}");
            for rust in ["usize", "u32", "u64", "socket address syntax"] {
                assert!(!message.contains(rust), "{text}: {message}");
            }
        }
    }
}
