//! Compiles the input as a custom signature file and scans with it.
//! The invariants live in `skill_scanner::harness::signature_yaml`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = skill_scanner::harness::signature_yaml(data) {
        panic!("{violation}");
    }
});
