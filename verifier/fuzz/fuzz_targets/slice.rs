//! `cargo +nightly fuzz run slice`: see `../props.rs` for the properties.
#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::slice(data));
