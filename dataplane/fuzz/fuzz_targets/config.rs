//! The config parser and validator on arbitrary text: errors, never panics, and every error
//! has a position inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(diagnostics) = sluice_config::parse(text, "fuzz.toml") {
        let lines = text.lines().count().max(1);
        for d in diagnostics.iter() {
            assert!(d.line >= 1 && d.line <= lines + 1, "line {} of {lines}", d.line);
            assert!(d.column >= 1);
        }
        let _ = diagnostics.to_string();
    }
});
