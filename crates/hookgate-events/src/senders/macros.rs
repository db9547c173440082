//! Boilerplate for the catalogues of dotted event names.

/// An enum of a sender's documented event names plus `Unknown(String)`,
/// (de)serialized as the dotted string, so a new event never fails to parse:
/// whatever non-empty string arrives is kept exactly, and routes under its
/// [`EventName::new_lossy`](crate::EventName::new_lossy).
macro_rules! event_catalogue {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $s:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// An event this crate does not know yet, kept exactly as sent
            /// (any non-empty string, even one that is not a valid
            /// [`EventName`]($crate::EventName)); it routes under
            /// [`EventName::new_lossy`]($crate::EventName::new_lossy) of it.
            Unknown(String),
        }

        impl $name {
            /// The documented event names, in the order of the sender's docs.
            pub const KNOWN: &'static [&'static str] = &[$($s),*];

            /// The variant for `name`: a known one, else `Unknown`.
            pub fn from_name(name: $crate::EventName) -> Self {
                match name.as_str() {
                    $( $s => Self::$variant, )*
                    _ => Self::Unknown(name.as_str().to_owned()),
                }
            }

            /// The dotted name as sent, e.g. `claim.created` (for `Unknown`,
            /// the raw string, which may not be a valid event name).
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $s, )*
                    Self::Unknown(raw) => raw,
                }
            }

            /// The name the event routes under: the dotted name, or for
            /// `Unknown` the [`EventName::new_lossy`]($crate::EventName::new_lossy)
            /// of the raw string.
            pub fn name(&self) -> $crate::EventName {
                match self {
                    $( Self::$variant => $crate::EventName::from_static($s), )*
                    Self::Unknown(raw) => $crate::EventName::new_lossy(raw),
                }
            }

            /// Whether this is a documented event (not `Unknown`).
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Never fails on an unfamiliar name; only the empty string is refused.
        impl ::std::str::FromStr for $name {
            type Err = $crate::InvalidEventName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $s => Ok(Self::$variant), )*
                    _ => $crate::name::raw_name(s).map(Self::Unknown),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = ::std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use event_catalogue;
