//! Parses the input as the text of SKILL.md.
//! The invariants live in `skill_scanner::harness::frontmatter`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = skill_scanner::harness::frontmatter(data) {
        panic!("{violation}");
    }
});
