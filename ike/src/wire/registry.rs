//! IANA codepoints that keep the values they do not know.
//!
//! IKEv2's critical bit, unknown transforms and unknown notify types all
//! depend on passing unknown codepoints along faithfully, so every registry
//! is an enum with an `Unknown(..)` variant rather than a closed set. The
//! conversion from the integer is total and canonical: a known value always
//! becomes its named variant, never `Unknown`.

/// Declares an enum over one IANA registry.
///
/// The generated enum has one variant per listed codepoint plus
/// `Unknown($repr)`, and converts to and from `$repr` with `From`. Only
/// `Unknown` values the registry does not list round-trip through `Unknown`:
/// `Unknown(12)` for a registry that names 12 encodes as 12 but decodes as
/// the named variant, so build values with `From` rather than by hand.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($repr:ty) {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A codepoint this implementation does not name; kept verbatim.
            Unknown($repr),
        }

        impl $name {
            /// The codepoint as sent on the wire.
            pub const fn value(self) -> $repr {
                match self {
                    $( Self::$variant => $value, )+
                    Self::Unknown(other) => other,
                }
            }

            /// Whether this codepoint is one this implementation names.
            pub const fn is_known(self) -> bool {
                !matches!(Self::from_value(self.value()), Self::Unknown(_))
            }

            /// The variant for a codepoint received on the wire.
            pub const fn from_value(value: $repr) -> Self {
                match value {
                    $( $value => Self::$variant, )+
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                Self::from_value(value)
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> $repr {
                value.value()
            }
        }
    };
}

wire_enum! {
    /// Security Protocol Identifier (RFC 7296 §3.3.1, §3.10, §3.11).
    ///
    /// IANA "IKEv2 Security Protocol Identifiers":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-18>
    pub enum ProtocolId(u8) {
        /// Reserved. A Notify that concerns no SA (empty SPI) sends zero
        /// here (RFC 7296 §3.10).
        None = 0,
        /// IKE.
        Ike = 1,
        /// AH.
        Ah = 2,
        /// ESP.
        Esp = 3,
    }
}
