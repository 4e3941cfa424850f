//! Loads the input as a custom policy file.
//! The invariants live in `skill_scanner::harness::policy_yaml`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = skill_scanner::harness::policy_yaml(data) {
        panic!("{violation}");
    }
});
