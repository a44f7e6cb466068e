//! L0 normalisation: alternative views of a string for the rules to match against.
//!
//! Views exist only for inspection; the forwarded message is never rewritten.

/// Appends to `out` every inspection view of `raw` that differs from `raw` and from each other.
pub fn views(raw: &str, out: &mut Vec<String>) {
    let _ = (raw, out);
}
