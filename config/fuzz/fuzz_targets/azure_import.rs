//! `vwand import-azure` on arbitrary bytes: the first byte picks the
//! selection (none, a site name or a connection), the rest is the file.
//! It never panics, and whatever it writes is valid TOML whose only
//! refusal by the configuration parser (if any) is not a TOML syntax error.

#![no_main]

use config::azure::{import, Selection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let sel = Selection {
        site: (pick & 1 != 0).then(|| "contoso-dc1".to_string()),
        connection: (pick & 2 != 0).then(|| "0".to_string()),
    };
    if let Ok(out) = import("fuzz.json", &text, &sel) {
        if let Err(e) = toml::from_str::<toml::Value>(&out) {
            panic!("import wrote invalid TOML: {e}\n{}", out.as_str());
        }
        let _ = config::parse(std::path::Path::new("imported.toml"), &out);
    }
});
