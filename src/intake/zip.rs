//! Validated extraction of a ZIP archive held in memory.
//!
//! The archive is an untrusted upload. [`extract`] accepts it only when every structure is
//! consistent with every other and with the bytes, and rejects it whole on the first defect
//! or exceeded limit, with an [`ArchiveError`] whose text can go to the client.
//!
//! The records are parsed by hand rather than with a ZIP crate. Overlap detection needs the
//! exact byte range of every entry (local header, data and data descriptor), and the strict
//! comparison of each local header with its central directory header needs both headers as
//! written. No crate exposes either. Deflate data is inflated with `flate2`.
//!
//! The checks run in four passes, cheapest first, so a hostile archive is usually rejected
//! before any data is inflated:
//! 1. The end records: one end of central directory record ending the data, a consistent
//!    Zip64 record where one is needed, and a central directory lying in the data and ending
//!    where the end records begin. The declared entry count is checked against the limit here.
//! 2. The central directory headers: count, encryption, compression method, name (decoded,
//!    normalized and checked for traversal, length and depth), Unix file type, file count,
//!    duplicates.
//! 3. Placement: each entry's local header, data and data descriptor must cover the bytes
//!    before the central directory exactly once, and each local header must agree with its
//!    central directory header.
//! 4. Inflation under the byte and ratio limits, then the size and CRC-32 of the result.
//!
//! Only compression methods 0 (stored) and 8 (deflate) are supported. Archives split over
//! several disks, encrypted entries, symbolic links and special files are rejected.

mod error;
mod inflate;
pub(crate) mod names;
mod records;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use error::{ArchiveError, DirectoryField, Size, Zip64Field, Zip64Problem};
use inflate::{InflateError, Inflated};
use names::{NameProblem, NormalizedName};
use records::{
    CentralHeader, DescriptorValues, Directory, FLAG_DESCRIPTOR, FLAG_ENCRYPTED,
    FLAG_MASKED_HEADERS, FLAG_PATCH_DATA, FLAG_STRONG_ENCRYPTION, FLAG_UTF8, LocalHeader,
};

const MIB: u64 = 1024 * 1024;

/// Inflated bytes below which an entry's compression ratio is not checked. Short runs of
/// padding or repeated lines compress far past any ratio limit yet cost nothing to inflate.
pub const ENTRY_RATIO_FLOOR: u64 = MIB;

/// Inflated bytes, across the archive, below which the archive's compression ratio is not
/// checked.
pub const ARCHIVE_RATIO_FLOOR: u64 = 10 * MIB;

const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;
/// WinZip AES encryption, which records the real method in an extra field.
const METHOD_AES: u16 = 99;

/// "Version made by" hosts whose extractors read the upper 16 bits of the external attributes
/// as a Unix mode: 3 (Unix) and 19 (OS X).
const UNIX_HOSTS: [u8; 2] = [3, 19];

// Unix file types, from the S_IFMT bits of a mode.
const S_IFMT: u32 = 0o170_000;
const S_IFSOCK: u32 = 0o140_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFREG: u32 = 0o100_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFIFO: u32 = 0o010_000;

/// Flags that change how an entry is read, so the local header must repeat them.
const COMPARED_FLAGS: u16 = FLAG_ENCRYPTED
    | FLAG_DESCRIPTOR
    | FLAG_PATCH_DATA
    | FLAG_STRONG_ENCRYPTION
    | FLAG_UTF8
    | FLAG_MASKED_HEADERS;

/// Bounds on what one archive may expand to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveLimits {
    /// Bytes inflated across all entries, counted on the inflated data. The default, 200 MiB,
    /// is the reference server's limit; a skill's instructions and scripts are far smaller.
    pub max_total_uncompressed_bytes: u64,
    /// Bytes one entry may inflate to. The default, 50 MiB, fits any document or script a
    /// skill plausibly ships and keeps one entry to a quarter of the total.
    pub max_entry_uncompressed_bytes: u64,
    /// Inflated bytes per compressed byte of one entry, checked once the entry inflates past
    /// [`ENTRY_RATIO_FLOOR`]. Text and code typically compress 3 to 10 times and deflate
    /// cannot pass about 1032 to 1, so the default of 200 stops runs of one byte value (the
    /// classic bomb) and leaves ample room for real files.
    pub max_entry_ratio: u64,
    /// Inflated bytes per byte of the whole archive, checked once the total inflates past
    /// [`ARCHIVE_RATIO_FLOOR`]. The default of 100 is below the entry ratio because a real
    /// archive mixes entries that compress well with ones that do not.
    pub max_archive_ratio: u64,
    /// Entries, files and directories both. The default of 2000, four times `max_files`,
    /// leaves room for the directory entries of a deep tree. The count the end record declares
    /// is checked before any header is parsed.
    pub max_entries: usize,
    /// File entries. The default of 500 is the reference server's limit.
    pub max_files: usize,
    /// Bytes of an entry name in UTF-8. The default, 1024, is the PATH_MAX of macOS, so every
    /// accepted name can be extracted there.
    pub max_name_bytes: usize,
    /// Components of an entry path. The default of 32 matches the skill loader's default
    /// directory depth.
    pub max_path_depth: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_total_uncompressed_bytes: 200 * MIB,
            max_entry_uncompressed_bytes: 50 * MIB,
            max_entry_ratio: 200,
            max_archive_ratio: 100,
            max_entries: 2000,
            max_files: 500,
            max_name_bytes: 1024,
            max_path_depth: 32,
        }
    }
}

/// One extracted entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The normalized path: relative, `/`-separated, with no empty or `.` components and no
    /// trailing `/`.
    pub name: String,
    pub kind: EntryKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File(Vec<u8>),
}

/// Validates the ZIP archive in `data` and returns its entries in central directory order.
pub fn extract(data: &[u8], limits: &ArchiveLimits) -> Result<Vec<Entry>, ArchiveError> {
    // The declared count is checked before the walk, so a 100,000-entry archive costs only
    // its end records. The walk then counts the real headers.
    let directory = records::locate_directory(data)?;
    if directory.entries > limits.max_entries as u64 {
        return Err(ArchiveError::TooManyEntries {
            count: directory.entries,
            limit: limits.max_entries,
        });
    }

    let listed = list_entries(data, &directory, limits)?;

    // Placement needs only the central values, so overlapping entries are reported as such
    // before their local headers are compared field by field.
    let placed = place_entries(data, &directory, &listed)?;
    for (entry, place) in listed.iter().zip(&placed) {
        compare_local_header(entry, &place.local)?;
    }

    let mut inflation = Inflation {
        limits,
        archive_bytes: data.len() as u64,
        total: 0,
    };
    let mut entries = Vec::new();
    for (entry, place) in listed.iter().zip(&placed) {
        let content = inflation.inflate(data, entry, place)?;
        let kind = if entry.directory {
            EntryKind::Directory
        } else {
            EntryKind::File(content)
        };
        entries.push(Entry {
            name: entry.path.clone(),
            kind,
        });
    }
    Ok(entries)
}

/// A central directory entry whose header, name and type passed their checks.
struct Listed<'a> {
    header: CentralHeader<'a>,
    path: String,
    directory: bool,
    /// The quoted name, for messages.
    label: String,
}

/// Walks the central directory, checking each header and then the file count and the tree.
fn list_entries<'a>(
    data: &'a [u8],
    directory: &Directory,
    limits: &ArchiveLimits,
) -> Result<Vec<Listed<'a>>, ArchiveError> {
    // locate_directory checked that offset + size lies within the data.
    let out_of_bounds = || ArchiveError::DirectoryOutOfBounds {
        offset: directory.offset,
        size: directory.size,
        length: data.len() as u64,
    };
    let start = usize::try_from(directory.offset).map_err(|_| out_of_bounds())?;
    let size = usize::try_from(directory.size).map_err(|_| out_of_bounds())?;
    let end = start.checked_add(size).ok_or_else(out_of_bounds)?;

    let mut listed = Vec::new();
    let mut position = start;
    let mut index = 0u64;
    while position < end {
        let (header, next) = records::read_central_header(data, position, end, index)?;
        if index == directory.entries {
            return Err(ArchiveError::MoreEntriesThanDeclared {
                declared: directory.entries,
            });
        }
        listed.push(check_entry(header, limits)?);
        position = next;
        index += 1;
    }
    if index != directory.entries {
        return Err(ArchiveError::FewerEntriesThanDeclared {
            declared: directory.entries,
            found: index,
        });
    }

    let files = listed.iter().filter(|entry| !entry.directory).count();
    if files > limits.max_files {
        return Err(ArchiveError::TooManyFiles {
            count: files,
            limit: limits.max_files,
        });
    }
    check_tree(&listed)?;
    Ok(listed)
}

/// Checks one central directory header on its own: encryption, method, name and file type.
fn check_entry<'a>(
    header: CentralHeader<'a>,
    limits: &ArchiveLimits,
) -> Result<Listed<'a>, ArchiveError> {
    let raw_label = names::quote(&names::decode_lossy(header.name, header.has(FLAG_UTF8)));

    // Nothing in an encrypted entry can be checked, so encryption is reported first.
    if let Some(scheme) = encryption_scheme(&header) {
        return Err(ArchiveError::Encrypted {
            entry: raw_label,
            scheme,
        });
    }
    if header.has(FLAG_PATCH_DATA) {
        return Err(ArchiveError::PatchData { entry: raw_label });
    }
    if header.method != METHOD_STORED && header.method != METHOD_DEFLATE {
        return Err(ArchiveError::UnsupportedMethod {
            entry: raw_label,
            method: header.method,
        });
    }

    let (name, label) = entry_name(&header, limits, raw_label)?;
    check_file_type(&header, &label)?;
    Ok(Listed {
        header,
        path: name.path,
        directory: name.directory,
        label,
    })
}

fn encryption_scheme(header: &CentralHeader<'_>) -> Option<&'static str> {
    if header.method == METHOD_AES {
        Some("AES encryption (method 99)")
    } else if header.has(FLAG_STRONG_ENCRYPTION) {
        Some("strong encryption (flag bit 6)")
    } else if header.has(FLAG_MASKED_HEADERS) {
        Some("central directory encryption (flag bit 13)")
    } else if header.has(FLAG_ENCRYPTED) {
        Some("traditional PKWARE encryption (flag bit 0)")
    } else {
        None
    }
}

/// Decodes and normalizes an entry's name and returns it with its quoted form.
fn entry_name(
    header: &CentralHeader<'_>,
    limits: &ArchiveLimits,
    raw_label: String,
) -> Result<(NormalizedName, String), ArchiveError> {
    let Some(decoded) = names::decode(header.name, header.has(FLAG_UTF8)) else {
        return Err(ArchiveError::InvalidName {
            entry: raw_label,
            reason: "flagged as UTF-8 but not valid UTF-8",
        });
    };
    let name = match header.unicode_name {
        None => decoded,
        Some(unicode) => {
            // Extractors that ignore the Unicode Path extra field use the header name, so
            // that name must be safe too.
            names::normalize(&decoded).map_err(|problem| name_error(problem, raw_label.clone()))?;
            match std::str::from_utf8(unicode) {
                Ok(unicode) => unicode.to_owned(),
                Err(_) => {
                    return Err(ArchiveError::InvalidName {
                        entry: raw_label,
                        reason: "its Unicode Path extra field is not valid UTF-8",
                    });
                }
            }
        }
    };

    let label = names::quote(&name);
    if name.len() > limits.max_name_bytes {
        return Err(ArchiveError::NameTooLong {
            entry: label,
            bytes: name.len(),
            limit: limits.max_name_bytes,
        });
    }
    let normalized =
        names::normalize(&name).map_err(|problem| name_error(problem, label.clone()))?;
    if normalized.depth > limits.max_path_depth {
        return Err(ArchiveError::PathTooDeep {
            entry: label,
            depth: normalized.depth,
            limit: limits.max_path_depth,
        });
    }
    Ok((normalized, label))
}

fn name_error(problem: NameProblem, entry: String) -> ArchiveError {
    if problem.is_traversal() {
        ArchiveError::PathTraversal {
            entry,
            reason: problem.describe(),
        }
    } else {
        ArchiveError::InvalidName {
            entry,
            reason: problem.describe(),
        }
    }
}

/// Rejects symbolic links, devices, FIFOs and sockets, which extractors on Unix recreate from
/// the mode in the external attributes.
fn check_file_type(header: &CentralHeader<'_>, label: &str) -> Result<(), ArchiveError> {
    let [host, _] = header.made_by.to_be_bytes();
    if !UNIX_HOSTS.contains(&host) {
        return Ok(());
    }
    let kind = match (header.external_attributes >> 16) & S_IFMT {
        // Zero: the writer recorded permissions only, or nothing.
        0 | S_IFREG | S_IFDIR => return Ok(()),
        S_IFLNK => String::from("symbolic link"),
        S_IFCHR => String::from("character device"),
        S_IFBLK => String::from("block device"),
        S_IFIFO => String::from("FIFO"),
        S_IFSOCK => String::from("socket"),
        other => format!("unknown file type (mode {other:#o})"),
    };
    Err(ArchiveError::SpecialEntry {
        entry: label.to_owned(),
        kind,
    })
}

/// Rejects duplicate paths (a file and a directory of one name included) and entries that
/// lie below a file.
fn check_tree(listed: &[Listed<'_>]) -> Result<(), ArchiveError> {
    let mut is_directory: HashMap<&str, bool> = HashMap::new();
    for entry in listed {
        if is_directory
            .insert(entry.path.as_str(), entry.directory)
            .is_some()
        {
            return Err(ArchiveError::DuplicateName {
                entry: entry.label.clone(),
            });
        }
    }
    for entry in listed {
        for (separator, _) in entry.path.match_indices('/') {
            let Some(ancestor) = entry.path.get(..separator) else {
                continue;
            };
            if is_directory.get(ancestor) == Some(&false) {
                return Err(ArchiveError::FileAsDirectory {
                    entry: entry.label.clone(),
                    file: names::quote(ancestor),
                });
            }
        }
    }
    Ok(())
}

/// The byte range of one entry: `start..end` covers its local header, data and data
/// descriptor.
struct Placed<'a> {
    local: LocalHeader<'a>,
    start: u64,
    data_end: u64,
    end: u64,
}

/// Reads every local header and data descriptor, then checks that the entries tile the bytes
/// before the central directory.
fn place_entries<'a>(
    data: &'a [u8],
    directory: &Directory,
    listed: &[Listed<'a>],
) -> Result<Vec<Placed<'a>>, ArchiveError> {
    let mut placed = Vec::new();
    for entry in listed {
        let header = &entry.header;
        let overlaps = || ArchiveError::OverlapsDirectory {
            entry: entry.label.clone(),
        };
        let local = records::read_local_header(
            data,
            header.local_header_offset,
            directory.offset,
            &entry.label,
        )?;
        // The data's length is the central directory's compressed size: the local header
        // must agree with it or defer to a data descriptor, which compare_local_header checks.
        let data_end = local
            .data_start
            .checked_add(header.compressed_size)
            .filter(|end| *end <= directory.offset)
            .ok_or_else(overlaps)?;
        let end = if header.has(FLAG_DESCRIPTOR) {
            let expected = DescriptorValues {
                crc32: header.crc32,
                compressed_size: header.compressed_size,
                uncompressed_size: header.uncompressed_size,
            };
            let zip64 = local.has_zip64_extra
                || header.compressed_size > u64::from(u32::MAX)
                || header.uncompressed_size > u64::from(u32::MAX);
            let length =
                records::descriptor_length(data, data_end, directory.offset, expected, zip64)
                    .ok_or_else(|| ArchiveError::DescriptorMismatch {
                        entry: entry.label.clone(),
                    })?;
            data_end + length as u64
        } else {
            data_end
        };
        placed.push(Placed {
            local,
            start: header.local_header_offset,
            data_end,
            end,
        });
    }
    check_tiling(directory, listed, &placed)?;
    Ok(placed)
}

/// Requires the entries, ordered by offset, to cover the bytes before the central directory
/// exactly once. Overlapping entries let one range of bytes inflate several times (the
/// overlapping-file bomb), and bytes outside every entry can contain a local header that a
/// streaming extractor would extract although the central directory does not list it.
fn check_tiling(
    directory: &Directory,
    listed: &[Listed<'_>],
    placed: &[Placed<'_>],
) -> Result<(), ArchiveError> {
    let mut spans: Vec<(u64, u64, &str)> = placed
        .iter()
        .zip(listed)
        .map(|(place, entry)| (place.start, place.end, entry.label.as_str()))
        .collect();
    spans.sort_unstable();

    let mut covered = 0u64;
    let mut previous = "";
    for (start, end, label) in spans {
        if start < covered {
            return Err(ArchiveError::Overlap {
                first: previous.to_owned(),
                second: label.to_owned(),
            });
        }
        if start > covered {
            return Err(ArchiveError::UnlistedData {
                offset: covered,
                bytes: start - covered,
            });
        }
        covered = end;
        previous = label;
    }
    if covered < directory.offset {
        return Err(ArchiveError::UnlistedData {
            offset: covered,
            bytes: directory.offset - covered,
        });
    }
    Ok(())
}

/// Requires the local header to repeat the central directory header, so that extractors that
/// read either one see the same entry.
fn compare_local_header(entry: &Listed<'_>, local: &LocalHeader<'_>) -> Result<(), ArchiveError> {
    let central = &entry.header;
    let mismatch = |field| ArchiveError::LocalHeaderMismatch {
        entry: entry.label.clone(),
        field,
    };

    if local.name != central.name {
        return Err(mismatch("name"));
    }
    if local.method != central.method {
        return Err(mismatch("compression method"));
    }
    if (local.flags ^ central.flags) & COMPARED_FLAGS != 0 {
        return Err(mismatch("flags"));
    }

    // With a data descriptor, the local header may leave the CRC-32 and sizes as zero.
    let deferred = central.has(FLAG_DESCRIPTOR);
    let agrees = |local: u64, central: u64| local == central || (deferred && local == 0);
    if !agrees(local.crc32.into(), central.crc32.into()) {
        return Err(mismatch("CRC-32"));
    }
    if !agrees(local.compressed_size, central.compressed_size) {
        return Err(mismatch("compressed size"));
    }
    if !agrees(local.uncompressed_size, central.uncompressed_size) {
        return Err(mismatch("uncompressed size"));
    }

    if central.method == METHOD_STORED && central.compressed_size != central.uncompressed_size {
        return Err(ArchiveError::StoredSizeMismatch {
            entry: entry.label.clone(),
            compressed: central.compressed_size,
            uncompressed: central.uncompressed_size,
        });
    }
    Ok(())
}

/// The bound that caps one entry's inflation.
#[derive(Clone, Copy, Debug)]
enum Bound {
    Declared,
    Entry,
    Total,
    EntryRatio,
    ArchiveRatio,
}

/// Inflation state across the archive: the running total of inflated bytes.
struct Inflation<'a> {
    limits: &'a ArchiveLimits,
    archive_bytes: u64,
    total: u64,
}

impl Inflation<'_> {
    /// Inflates one entry to at most the tightest bound plus one byte, then checks its size
    /// and CRC-32.
    fn inflate(
        &mut self,
        data: &[u8],
        entry: &Listed<'_>,
        place: &Placed<'_>,
    ) -> Result<Vec<u8>, ArchiveError> {
        let header = &entry.header;
        let label = || entry.label.clone();
        if entry.directory && header.uncompressed_size != 0 {
            return Err(ArchiveError::DirectoryWithData { entry: label() });
        }

        // place_entries checked that this range lies before the central directory.
        let compressed = usize::try_from(place.local.data_start)
            .ok()
            .zip(usize::try_from(place.data_end).ok())
            .and_then(|(start, end)| data.get(start..end))
            .ok_or_else(|| ArchiveError::OverlapsDirectory { entry: label() })?;

        let (bound, cap) = self.cap(header);
        let inflated = if header.method == METHOD_STORED {
            inflate::stored(compressed, cap)
        } else {
            inflate::deflate(compressed, cap).map_err(|error| match error {
                InflateError::Corrupt => ArchiveError::CorruptDeflate { entry: label() },
                InflateError::Truncated => ArchiveError::TruncatedDeflate { entry: label() },
                InflateError::TrailingData(bytes) => ArchiveError::DataAfterDeflate {
                    entry: label(),
                    bytes,
                },
            })?
        };
        let content = match inflated {
            Inflated::Complete(content) => content,
            Inflated::PastCap { .. } => {
                return Err(self.bound_error(bound, entry, compressed.len() as u64));
            }
        };

        let length = content.len() as u64;
        if length != header.uncompressed_size {
            return Err(ArchiveError::InflatesShort {
                entry: label(),
                declared: header.uncompressed_size,
                actual: length,
            });
        }
        let crc32 = crc32fast::hash(&content);
        if crc32 != header.crc32 {
            return Err(ArchiveError::CrcMismatch {
                entry: label(),
                declared: header.crc32,
                actual: crc32,
            });
        }
        self.total += length;
        Ok(content)
    }

    /// Returns the tightest bound on this entry's inflated size. The declared size comes
    /// first, and `min_by_key` keeps the first of equal values, so an entry that inflates past
    /// its declared size is reported as lying even when a limit has the same value.
    fn cap(&self, header: &CentralHeader<'_>) -> (Bound, u64) {
        let limits = self.limits;
        let entry_ratio_cap = limits
            .max_entry_ratio
            .saturating_mul(header.compressed_size)
            .max(ENTRY_RATIO_FLOOR);
        let archive_ratio_cap = limits
            .max_archive_ratio
            .saturating_mul(self.archive_bytes)
            .max(ARCHIVE_RATIO_FLOOR)
            .saturating_sub(self.total);
        let bounds = [
            (Bound::Declared, header.uncompressed_size),
            (Bound::Entry, limits.max_entry_uncompressed_bytes),
            (
                Bound::Total,
                limits
                    .max_total_uncompressed_bytes
                    .saturating_sub(self.total),
            ),
            (Bound::EntryRatio, entry_ratio_cap),
            (Bound::ArchiveRatio, archive_ratio_cap),
        ];
        bounds
            .into_iter()
            .min_by_key(|(_, cap)| *cap)
            .unwrap_or((Bound::Declared, header.uncompressed_size))
    }

    fn bound_error(&self, bound: Bound, entry: &Listed<'_>, compressed: u64) -> ArchiveError {
        let limits = self.limits;
        let label = entry.label.clone();
        match bound {
            Bound::Declared => ArchiveError::InflatesPastDeclared {
                entry: label,
                declared: entry.header.uncompressed_size,
            },
            Bound::Entry => ArchiveError::EntryTooLarge {
                entry: label,
                limit: Size(limits.max_entry_uncompressed_bytes),
            },
            Bound::Total => ArchiveError::TotalTooLarge {
                entry: label,
                limit: Size(limits.max_total_uncompressed_bytes),
            },
            Bound::EntryRatio => ArchiveError::EntryRatio {
                entry: label,
                limit: limits.max_entry_ratio,
                compressed: Size(compressed),
                floor: Size(ENTRY_RATIO_FLOOR),
            },
            Bound::ArchiveRatio => ArchiveError::ArchiveRatio {
                entry: label,
                limit: limits.max_archive_ratio,
                archive: Size(self.archive_bytes),
                floor: Size(ARCHIVE_RATIO_FLOOR),
            },
        }
    }
}
