//! Extracts the input as an uploaded ZIP archive and loads the skill in it.
//! The invariants live in `skill_scanner::harness::zip_extract`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = skill_scanner::harness::zip_extract(data) {
        panic!("{violation}");
    }
});
