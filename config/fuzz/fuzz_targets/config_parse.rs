//! The configuration parser on arbitrary text: it refuses or accepts, and
//! never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::parse(std::path::Path::new("fuzz.toml"), text);
    }
});
