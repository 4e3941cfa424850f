//! The reasons an archive is rejected. The `Display` text goes to the client as is, so it names the
//! defect, the entry (quoted by [`super::names::quote`]) and, for limits, the limit's value,
//! and never contains raw archive bytes.

use std::fmt;

/// A byte count for messages: whole or decimal MB (1 MB = 1,048,576 bytes, the unit the
/// reference server's messages use) from 1 MB up, plain bytes below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MB: u64 = 1024 * 1024;
        let Size(bytes) = *self;
        if bytes < MB {
            write!(formatter, "{bytes} bytes")
        } else if bytes % MB == 0 {
            write!(formatter, "{} MB", bytes / MB)
        } else {
            // Display only: the rounding of a float is harmless here.
            #[expect(clippy::cast_precision_loss, reason = "approximate size for a message")]
            let megabytes = bytes as f64 / MB as f64;
            write!(formatter, "{megabytes:.1} MB")
        }
    }
}

/// A field of the end of central directory record that a Zip64 record may replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryField {
    EntriesOnDisk,
    Entries,
    Size,
    Offset,
}

impl fmt::Display for DirectoryField {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            DirectoryField::EntriesOnDisk => "entry count on this disk",
            DirectoryField::Entries => "total entry count",
            DirectoryField::Size => "central directory size",
            DirectoryField::Offset => "central directory offset",
        })
    }
}

/// A header field that the Zip64 extended information extra field may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zip64Field {
    UncompressedSize,
    CompressedSize,
    LocalHeaderOffset,
    DiskNumber,
}

impl fmt::Display for Zip64Field {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Zip64Field::UncompressedSize => "uncompressed size",
            Zip64Field::CompressedSize => "compressed size",
            Zip64Field::LocalHeaderOffset => "local header offset",
            Zip64Field::DiskNumber => "disk number",
        })
    }
}

/// A defect in an entry's Zip64 extended information extra field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zip64Problem {
    /// The header field contains the 0xFFFF or 0xFFFFFFFF marker but no extra field supplies
    /// the value.
    Missing(Zip64Field),
    /// The extra field contains a value for a header field that is not a marker, and the two
    /// differ.
    Disagrees(Zip64Field),
    /// The extra field's length fits no combination of the fields it may hold.
    BadLength(usize),
    /// More than one Zip64 extra field in one header.
    Repeated,
}

impl fmt::Display for Zip64Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zip64Problem::Missing(field) => write!(
                formatter,
                "the {field} is marked as Zip64 (all bits set) but no Zip64 extra field supplies it"
            ),
            Zip64Problem::Disagrees(field) => write!(
                formatter,
                "the Zip64 extra field's {field} disagrees with the header"
            ),
            Zip64Problem::BadLength(length) => write!(
                formatter,
                "the Zip64 extra field is {length} bytes, which matches none of its layouts"
            ),
            Zip64Problem::Repeated => formatter.write_str("the header has two Zip64 extra fields"),
        }
    }
}

/// An archive defect or an exceeded limit. Entry names in the fields are already quoted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    // The end of central directory records.
    #[error("Invalid ZIP archive: the upload is empty")]
    Empty,
    #[error(
        "Invalid ZIP archive: no end of central directory record found (not a ZIP archive, or truncated)"
    )]
    NotZip,
    #[error(
        "Invalid ZIP archive: the end of central directory comment length ({length}) runs past the end of the data"
    )]
    CommentPastEnd { length: u16 },
    #[error(
        "Invalid ZIP archive: {bytes} bytes of unknown data follow the end of central directory record"
    )]
    TrailingData { bytes: usize },
    #[error(
        "Invalid ZIP archive: two end of central directory records end the data, one inside the other's comment"
    )]
    AmbiguousEnd,
    #[error("Invalid ZIP archive: multi-disk (split or spanned) archives are not supported")]
    MultiDisk,
    #[error("Invalid ZIP archive: the Zip64 end of central directory {problem}")]
    Zip64Directory { problem: &'static str },
    #[error(
        "Invalid ZIP archive: the end of central directory record marks the {field} as Zip64 (all bits set) but there is no Zip64 end of central directory record"
    )]
    Zip64DirectoryMissing { field: DirectoryField },
    #[error(
        "Invalid ZIP archive: the {field} is {classic} in the end of central directory record but {zip64} in the Zip64 record"
    )]
    Zip64DirectoryMismatch {
        field: DirectoryField,
        classic: u64,
        zip64: u64,
    },

    // The central directory as a whole.
    #[error(
        "Invalid ZIP archive: the central directory (offset {offset}, {size} bytes) lies outside the {length} bytes of data"
    )]
    DirectoryOutOfBounds { offset: u64, size: u64, length: u64 },
    #[error(
        "Invalid ZIP archive: the central directory (offset {offset}, {size} bytes) does not end where the end of central directory records begin (offset {records})"
    )]
    DirectoryMisplaced {
        offset: u64,
        size: u64,
        records: u64,
    },
    #[error(
        "Invalid ZIP archive: the end of central directory record declares {declared} entries, more than its {size}-byte central directory can hold"
    )]
    DirectoryTooSmall { declared: u64, size: u64 },
    #[error(
        "Invalid ZIP archive: the end of central directory record declares {declared} entries but the central directory holds more"
    )]
    MoreEntriesThanDeclared { declared: u64 },
    #[error(
        "Invalid ZIP archive: the end of central directory record declares {declared} entries but the central directory holds {found}"
    )]
    FewerEntriesThanDeclared { declared: u64, found: u64 },
    #[error(
        "Invalid ZIP archive: central directory entry {index} at offset {offset} has no valid header"
    )]
    BadCentralHeader { index: u64, offset: u64 },

    // One entry's headers.
    #[error("Invalid ZIP archive: entry {entry}: {problem}")]
    Zip64Extra {
        entry: String,
        problem: Zip64Problem,
    },
    #[error("Invalid ZIP archive: entry {entry}: an extra field runs past the end of its block")]
    ExtraFieldOverrun { entry: String },
    #[error(
        "Invalid ZIP archive: entry {entry} starts on disk {disk}; multi-disk archives are not supported"
    )]
    EntryOnOtherDisk { entry: String, disk: u64 },
    #[error("ZIP contains encrypted entries: {entry} uses {scheme}")]
    Encrypted { entry: String, scheme: &'static str },
    #[error(
        "ZIP entry {entry} uses compression method {method}; only 0 (stored) and 8 (deflate) are supported"
    )]
    UnsupportedMethod { entry: String, method: u16 },
    #[error("ZIP entry {entry} is compressed patch data (flag bit 5), which is not supported")]
    PatchData { entry: String },
    #[error("Invalid ZIP archive: entry {entry}: no local file header at offset {offset}")]
    MissingLocalHeader { entry: String, offset: u64 },
    #[error(
        "Invalid ZIP archive: entry {entry}: the local file header's {field} differs from the central directory's"
    )]
    LocalHeaderMismatch { entry: String, field: &'static str },
    #[error(
        "Invalid ZIP archive: entry {entry}: no data descriptor matching the central directory follows the data"
    )]
    DescriptorMismatch { entry: String },

    // Where the entries sit.
    #[error("Invalid ZIP archive: entries {first} and {second} overlap")]
    Overlap { first: String, second: String },
    #[error("Invalid ZIP archive: entry {entry} overlaps the central directory")]
    OverlapsDirectory { entry: String },
    #[error("Invalid ZIP archive: {bytes} bytes at offset {offset} belong to no entry")]
    UnlistedData { offset: u64, bytes: u64 },

    // One entry's data.
    #[error(
        "Invalid ZIP archive: entry {entry} is stored uncompressed but its compressed size ({compressed}) differs from its uncompressed size ({uncompressed})"
    )]
    StoredSizeMismatch {
        entry: String,
        compressed: u64,
        uncompressed: u64,
    },
    #[error("Invalid ZIP archive: entry {entry}: the deflate data is corrupt")]
    CorruptDeflate { entry: String },
    #[error("Invalid ZIP archive: entry {entry}: the deflate data ends before the stream does")]
    TruncatedDeflate { entry: String },
    #[error(
        "Invalid ZIP archive: entry {entry}: {bytes} bytes of compressed data follow the end of the deflate stream"
    )]
    DataAfterDeflate { entry: String, bytes: u64 },
    #[error(
        "Invalid ZIP archive: entry {entry} declares {declared} uncompressed bytes but inflates to more"
    )]
    InflatesPastDeclared { entry: String, declared: u64 },
    #[error(
        "Invalid ZIP archive: entry {entry} declares {declared} uncompressed bytes but inflates to {actual}"
    )]
    InflatesShort {
        entry: String,
        declared: u64,
        actual: u64,
    },
    #[error(
        "Invalid ZIP archive: entry {entry}: CRC-32 mismatch (declared {declared:#010x}, data {actual:#010x})"
    )]
    CrcMismatch {
        entry: String,
        declared: u32,
        actual: u32,
    },
    #[error("ZIP contains a directory entry with data: {entry}")]
    DirectoryWithData { entry: String },

    // Names and entry types.
    #[error("ZIP contains a path traversal entry: {entry} ({reason})")]
    PathTraversal { entry: String, reason: &'static str },
    #[error("ZIP contains an invalid entry name: {entry} ({reason})")]
    InvalidName { entry: String, reason: &'static str },
    #[error("ZIP contains duplicate entries: {entry}")]
    DuplicateName { entry: String },
    #[error("ZIP contains entry {entry} below {file}, which is a file")]
    FileAsDirectory { entry: String, file: String },
    #[error("ZIP entry name is {bytes} bytes, exceeding limit of {limit}: {entry}")]
    NameTooLong {
        entry: String,
        bytes: usize,
        limit: usize,
    },
    #[error("ZIP entry is {depth} levels deep, exceeding limit of {limit}: {entry}")]
    PathTooDeep {
        entry: String,
        depth: usize,
        limit: usize,
    },
    #[error("ZIP contains {kind} entries: {entry}")]
    SpecialEntry { entry: String, kind: String },

    // Limits.
    #[error("ZIP declares {count} entries, exceeding limit of {limit}")]
    TooManyEntries { count: u64, limit: usize },
    #[error("ZIP contains {count} files, exceeding limit of {limit}")]
    TooManyFiles { count: usize, limit: usize },
    #[error("ZIP entry {entry} inflates past the per-entry limit of {limit}")]
    EntryTooLarge { entry: String, limit: Size },
    #[error(
        "ZIP uncompressed size exceeds limit of {limit}: the total passes it while inflating entry {entry}"
    )]
    TotalTooLarge { entry: String, limit: Size },
    #[error(
        "ZIP entry {entry} inflates to more than {limit} times its compressed size of {compressed} (ratio limit {limit}, applied past {floor})"
    )]
    EntryRatio {
        entry: String,
        limit: u64,
        compressed: Size,
        floor: Size,
    },
    #[error(
        "ZIP inflates to more than {limit} times its own size of {archive} (ratio limit {limit}, applied past {floor}), passed while inflating entry {entry}"
    )]
    ArchiveRatio {
        entry: String,
        limit: u64,
        archive: Size,
        floor: Size,
    },
}

impl ArchiveError {
    /// True when a configured limit rejected the archive rather than a defect in it.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            ArchiveError::NameTooLong { .. }
                | ArchiveError::PathTooDeep { .. }
                | ArchiveError::TooManyEntries { .. }
                | ArchiveError::TooManyFiles { .. }
                | ArchiveError::EntryTooLarge { .. }
                | ArchiveError::TotalTooLarge { .. }
                | ArchiveError::EntryRatio { .. }
                | ArchiveError::ArchiveRatio { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_formats_megabytes_and_bytes() {
        assert_eq!(Size(200 * 1024 * 1024).to_string(), "200 MB");
        assert_eq!(Size(1024 * 1024 + 512 * 1024).to_string(), "1.5 MB");
        assert_eq!(Size(1000).to_string(), "1000 bytes");
    }
}
