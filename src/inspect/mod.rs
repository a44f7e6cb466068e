//! Inspection: every JSON-RPC message, in both directions, goes through these layers before it
//! may be forwarded.
//!
//! - L0 [`normalize`] and [`limits`]: views of each string for matching, and structural limits.
//! - L1 [`rules`] (pack files) compiled into a [`matcher::Matcher`].
//! - [`verdict`] composes the layers into one decision that names what decided it.
//!
//! Everything here is synchronous and pure: `Inspector::inspect(&message) -> Verdict`.

pub mod examples;
pub mod limits;
pub mod matcher;
pub mod message;
pub mod normalize;
pub mod rules;
pub mod verdict;
pub mod word_boundary;

mod inspector;

pub use inspector::{Inspector, InspectorConfig};
pub use message::{Direction, Message, MessageKind};
pub use verdict::{Action, Layer, Severity, Verdict};
