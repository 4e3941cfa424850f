//! Upload intake: turns an uploaded archive into the files of one skill.
//!
//! The bytes come from the client and are processed inside the confined worker, so nothing
//! here touches the file system, starts a thread, or sizes an allocation from a count or size
//! the archive declares. [`zip::extract`] validates a ZIP archive and extracts it in memory;
//! [`upload::skill_from_archive`] finds the one skill among its entries.

pub mod upload;
pub mod zip;
