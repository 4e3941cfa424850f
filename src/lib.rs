//! skill-scanner: a sandboxed scanner for AI agent skills.
//!
//! The library contains every stage an upload passes through: the [`intake`] of uploaded
//! archives, [`skill`] loading, the [`rules`] engine, the [`analyzers`], [`policy`]
//! application in [`scan`], the result [`model`] and the [`report`] formats. Loading and
//! analysis are synchronous functions over in-memory data with no global state, so the
//! confined worker runs them unchanged.

pub mod analyzers;
pub mod api;
pub mod cli;
/// Invariant checks over the parsers of untrusted input. They exist for the fuzz targets in
/// `fuzz/` and for the seed tests that replay the fuzz seeds as ordinary tests.
pub mod harness;
pub mod intake;
pub mod model;
pub mod policy;
pub mod report;
pub mod rules;
pub mod scan;
pub mod skill;
pub mod worker;
