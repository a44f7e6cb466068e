//! `cargo +nightly fuzz run note`: see `../props.rs` for the properties.
#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::note(data));
