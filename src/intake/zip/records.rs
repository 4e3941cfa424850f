//! The ZIP records, read straight from the bytes as PKWARE's APPNOTE.TXT lays them out. They
//! are the end of central directory record, the Zip64 end of central directory locator and
//! record, central directory headers, local file headers, data descriptors, and two extra
//! fields: Zip64 extended information (0x0001) and Info-ZIP Unicode Path (0x7075).
//!
//! Every integer is little-endian. Every read is bounds-checked, and a record that does not
//! fit where the archive places it is an error, never a short read.

use super::error::{ArchiveError, DirectoryField, Zip64Field, Zip64Problem};

const LOCAL_HEADER_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_HEADER_SIGNATURE: u32 = 0x0201_4b50;
const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;

const EOCD_LENGTH: usize = 22;
const ZIP64_LOCATOR_LENGTH: usize = 20;
/// The Zip64 record's fixed part, signature and size field included.
const ZIP64_EOCD_LENGTH: u64 = 56;
/// The size field of the Zip64 record counts the bytes after itself: 12 fewer than the whole.
const ZIP64_EOCD_UNCOUNTED: u64 = 12;
pub(super) const CENTRAL_HEADER_LENGTH: usize = 46;
const LOCAL_HEADER_LENGTH: usize = 30;
const MAX_COMMENT_LENGTH: usize = u16::MAX as usize;

const ZIP64_EXTRA_ID: u16 = 0x0001;
const UNICODE_PATH_EXTRA_ID: u16 = 0x7075;
const UNICODE_PATH_VERSION: u8 = 1;

/// All bits set in a 16- or 32-bit field: the real value is in a Zip64 structure.
const MARKER_16: u64 = 0xFFFF;
const MARKER_32: u64 = 0xFFFF_FFFF;

// General purpose bit flags.
pub(super) const FLAG_ENCRYPTED: u16 = 1 << 0;
pub(super) const FLAG_DESCRIPTOR: u16 = 1 << 3;
pub(super) const FLAG_PATCH_DATA: u16 = 1 << 5;
pub(super) const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
pub(super) const FLAG_UTF8: u16 = 1 << 11;
pub(super) const FLAG_MASKED_HEADERS: u16 = 1 << 13;

fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    let field = bytes.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes(field.try_into().ok()?))
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let field = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

fn u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    let field = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

/// Reads a 4- or 8-byte field as a u64.
fn sized_at(bytes: &[u8], offset: usize, width: usize) -> Option<u64> {
    match width {
        4 => u32_at(bytes, offset).map(u64::from),
        8 => u64_at(bytes, offset),
        _ => None,
    }
}

/// Converts an offset read from the archive to an index into `data`, which it must not pass.
fn to_index(offset: u64, data: &[u8]) -> Option<usize> {
    usize::try_from(offset)
        .ok()
        .filter(|index| *index <= data.len())
}

/// The central directory as the end records describe it, checked against the data.
#[derive(Clone, Copy, Debug)]
pub(super) struct Directory {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

/// Finds the end records, reconciles the classic and Zip64 values and checks that the central
/// directory lies in the data and ends exactly where the end records begin.
pub(super) fn locate_directory(data: &[u8]) -> Result<Directory, ArchiveError> {
    if data.is_empty() {
        return Err(ArchiveError::Empty);
    }
    let eocd_at = find_eocd(data)?;
    let field16 = |offset| u16_at(data, eocd_at + offset).map(u64::from);
    let field32 = |offset| u32_at(data, eocd_at + offset).map(u64::from);
    let (Some(disk), Some(directory_disk), Some(entries_on_disk), Some(entries)) =
        (field16(4), field16(6), field16(8), field16(10))
    else {
        return Err(ArchiveError::NotZip);
    };
    let (Some(size), Some(offset)) = (field32(12), field32(16)) else {
        return Err(ArchiveError::NotZip);
    };

    let zip64 = read_zip64(data, eocd_at)?;
    // A disk number of all ones defers to the Zip64 record, which read_zip64 requires to be 0.
    for number in [disk, directory_disk] {
        if number != 0 && !(number == MARKER_16 && zip64.is_some()) {
            return Err(ArchiveError::MultiDisk);
        }
    }
    let pick = |field, classic, marker, wide: Option<u64>| match wide {
        None if classic == marker => Err(ArchiveError::Zip64DirectoryMissing { field }),
        None => Ok(classic),
        Some(value) if classic == marker || classic == value => Ok(value),
        Some(value) => Err(ArchiveError::Zip64DirectoryMismatch {
            field,
            classic,
            zip64: value,
        }),
    };
    let entries_on_disk = pick(
        DirectoryField::EntriesOnDisk,
        entries_on_disk,
        MARKER_16,
        zip64.map(|record| record.entries_on_disk),
    )?;
    let entries = pick(
        DirectoryField::Entries,
        entries,
        MARKER_16,
        zip64.map(|record| record.entries),
    )?;
    let size = pick(
        DirectoryField::Size,
        size,
        MARKER_32,
        zip64.map(|record| record.size),
    )?;
    let offset = pick(
        DirectoryField::Offset,
        offset,
        MARKER_32,
        zip64.map(|record| record.offset),
    )?;
    if entries_on_disk != entries {
        return Err(ArchiveError::MultiDisk);
    }

    let length = data.len() as u64;
    let records = zip64.map_or(eocd_at as u64, |record| record.at);
    match offset.checked_add(size) {
        Some(end) if end <= length => {
            if end != records {
                return Err(ArchiveError::DirectoryMisplaced {
                    offset,
                    size,
                    records,
                });
            }
        }
        _ => {
            return Err(ArchiveError::DirectoryOutOfBounds {
                offset,
                size,
                length,
            });
        }
    }
    if entries.saturating_mul(CENTRAL_HEADER_LENGTH as u64) > size {
        return Err(ArchiveError::DirectoryTooSmall {
            declared: entries,
            size,
        });
    }
    Ok(Directory {
        offset,
        size,
        entries,
    })
}

/// Finds the end of central directory record whose comment ends exactly at the end of the
/// data, searching back from the end. Two such records (one inside the other's comment) are
/// rejected: readers that pick different ones would see different central directories.
fn find_eocd(data: &[u8]) -> Result<usize, ArchiveError> {
    let Some(last) = data.len().checked_sub(EOCD_LENGTH) else {
        return Err(ArchiveError::NotZip);
    };
    let mut found = None;
    let mut first_problem = None;
    for at in (last.saturating_sub(MAX_COMMENT_LENGTH)..=last).rev() {
        if u32_at(data, at) != Some(EOCD_SIGNATURE) {
            continue;
        }
        let Some(comment_length) = u16_at(data, at + 20) else {
            continue;
        };
        let end = at + EOCD_LENGTH + usize::from(comment_length);
        if end == data.len() {
            if found.is_some() {
                return Err(ArchiveError::AmbiguousEnd);
            }
            found = Some(at);
        } else if found.is_none() {
            first_problem.get_or_insert(if end > data.len() {
                ArchiveError::CommentPastEnd {
                    length: comment_length,
                }
            } else {
                ArchiveError::TrailingData {
                    bytes: data.len() - end,
                }
            });
        }
    }
    found.ok_or(first_problem.unwrap_or(ArchiveError::NotZip))
}

/// The values of a Zip64 end of central directory record, and where the record starts.
#[derive(Clone, Copy, Debug)]
struct Zip64Directory {
    at: u64,
    entries_on_disk: u64,
    entries: u64,
    size: u64,
    offset: u64,
}

/// Reads the Zip64 record through the locator right before the classic record, if there is a
/// locator. The record must end exactly where the locator begins.
fn read_zip64(data: &[u8], eocd_at: usize) -> Result<Option<Zip64Directory>, ArchiveError> {
    let problem = |problem| Err(ArchiveError::Zip64Directory { problem });
    let Some(locator_at) = eocd_at.checked_sub(ZIP64_LOCATOR_LENGTH) else {
        return Ok(None);
    };
    if u32_at(data, locator_at) != Some(ZIP64_LOCATOR_SIGNATURE) {
        return Ok(None);
    }
    let (Some(record_disk), Some(record_offset), Some(disks)) = (
        u32_at(data, locator_at + 4),
        u64_at(data, locator_at + 8),
        u32_at(data, locator_at + 16),
    ) else {
        return problem("locator is truncated");
    };
    // Writers put 1 (the common case) or 0 in the total number of disks of a one-disk archive.
    if record_disk != 0 || disks > 1 {
        return Err(ArchiveError::MultiDisk);
    }

    let Some(record_at) = to_index(record_offset, data)
        .filter(|at| (*at as u64).saturating_add(ZIP64_EOCD_LENGTH) <= locator_at as u64)
    else {
        return problem("record offset in the locator points outside the data");
    };
    if u32_at(data, record_at) != Some(ZIP64_EOCD_SIGNATURE) {
        return problem("record has no valid signature at the offset the locator gives");
    }
    let Some(record_size) = u64_at(data, record_at + 4) else {
        return problem("record is truncated");
    };
    let record_end = record_offset
        .checked_add(ZIP64_EOCD_UNCOUNTED)
        .and_then(|end| end.checked_add(record_size));
    if record_size < ZIP64_EOCD_LENGTH - ZIP64_EOCD_UNCOUNTED
        || record_end != Some(locator_at as u64)
    {
        return problem("record's size does not reach exactly to the locator");
    }
    let field = |offset| u64_at(data, record_at + offset);
    let (Some(disk), Some(directory_disk)) =
        (u32_at(data, record_at + 16), u32_at(data, record_at + 20))
    else {
        return problem("record is truncated");
    };
    if disk != 0 || directory_disk != 0 {
        return Err(ArchiveError::MultiDisk);
    }
    let (Some(entries_on_disk), Some(entries), Some(size), Some(offset)) =
        (field(24), field(32), field(40), field(48))
    else {
        return problem("record is truncated");
    };
    Ok(Some(Zip64Directory {
        at: record_offset,
        entries_on_disk,
        entries,
        size,
        offset,
    }))
}

/// The extra fields this reader acts on.
#[derive(Clone, Copy, Debug, Default)]
struct Extras<'a> {
    zip64: Option<&'a [u8]>,
    unicode_path: Option<&'a [u8]>,
}

fn read_extras<'a>(
    block: &'a [u8],
    entry: &dyn Fn() -> String,
) -> Result<Extras<'a>, ArchiveError> {
    let mut extras = Extras::default();
    let mut position = 0;
    while position < block.len() {
        let (Some(id), Some(size)) = (u16_at(block, position), u16_at(block, position + 2)) else {
            return Err(ArchiveError::ExtraFieldOverrun { entry: entry() });
        };
        let start = position + 4;
        let end = start + usize::from(size);
        let Some(body) = block.get(start..end) else {
            return Err(ArchiveError::ExtraFieldOverrun { entry: entry() });
        };
        match id {
            ZIP64_EXTRA_ID if extras.zip64.is_some() => {
                return Err(ArchiveError::Zip64Extra {
                    entry: entry(),
                    problem: Zip64Problem::Repeated,
                });
            }
            ZIP64_EXTRA_ID => extras.zip64 = Some(body),
            UNICODE_PATH_EXTRA_ID if extras.unicode_path.is_some() => {
                return Err(ArchiveError::InvalidName {
                    entry: entry(),
                    reason: "two Unicode path extra fields",
                });
            }
            UNICODE_PATH_EXTRA_ID => extras.unicode_path = Some(body),
            _ => {}
        }
        position = end;
    }
    Ok(extras)
}

/// A header field that the Zip64 extra field may widen to 64 bits.
#[derive(Clone, Copy, Debug)]
struct Widenable {
    field: Zip64Field,
    header: u64,
    marker: u64,
    /// Bytes the field takes in the Zip64 extra field.
    width: usize,
}

impl Widenable {
    fn marked(&self) -> bool {
        self.header == self.marker
    }
}

/// Resolves header fields against the Zip64 extra field, which holds, in the order given,
/// a value for each field whose header value is the all-ones marker.
fn widen<const N: usize>(
    fields: [Widenable; N],
    extra: Option<&[u8]>,
) -> Result<[u64; N], Zip64Problem> {
    let mut values = fields.map(|field| field.header);
    let Some(extra) = extra else {
        return match fields.iter().find(|field| field.marked()) {
            Some(field) => Err(Zip64Problem::Missing(field.field)),
            None => Ok(values),
        };
    };

    let needed: usize = fields
        .iter()
        .filter(|field| field.marked())
        .map(|field| field.width)
        .sum();
    if extra.len() == needed {
        let mut position = 0;
        for (value, field) in values.iter_mut().zip(&fields) {
            if field.marked() {
                *value = sized_at(extra, position, field.width)
                    .ok_or(Zip64Problem::BadLength(extra.len()))?;
                position += field.width;
            }
        }
        return Ok(values);
    }

    // Some writers fill the fields in order from the first whether the header marks them or
    // not (a local header with zero sizes and a 16-byte Zip64 field, for one). That layout is
    // accepted when every value it gives for an unmarked field equals the header's.
    let mut position = 0;
    for (value, field) in values.iter_mut().zip(&fields) {
        if position == extra.len() {
            if field.marked() {
                return Err(Zip64Problem::Missing(field.field));
            }
            continue;
        }
        let read =
            sized_at(extra, position, field.width).ok_or(Zip64Problem::BadLength(extra.len()))?;
        position += field.width;
        if field.marked() {
            *value = read;
        } else if read != field.header {
            return Err(Zip64Problem::Disagrees(field.field));
        }
    }
    if position != extra.len() {
        return Err(Zip64Problem::BadLength(extra.len()));
    }
    Ok(values)
}

/// One central directory header, with Zip64 values resolved.
#[derive(Clone, Copy, Debug)]
pub(super) struct CentralHeader<'a> {
    pub made_by: u16,
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub external_attributes: u32,
    pub local_header_offset: u64,
    pub name: &'a [u8],
    /// The UTF-8 name from an Info-ZIP Unicode Path extra field whose checksum matches
    /// `name`. Info-ZIP's notes on extra fields (UnZip 6.0, `proginfo/extrafld.txt`) define it
    /// as the UTF-8 form of the header name, so extractors that support it use it instead.
    pub unicode_name: Option<&'a [u8]>,
}

impl CentralHeader<'_> {
    pub(super) fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
}

/// Reads the central directory header at `at`, which must end by `end`. Returns the header
/// and the offset of the next one.
pub(super) fn read_central_header(
    data: &[u8],
    at: usize,
    end: usize,
    entry_index: u64,
) -> Result<(CentralHeader<'_>, usize), ArchiveError> {
    let bad = || ArchiveError::BadCentralHeader {
        index: entry_index,
        offset: at as u64,
    };
    let directory = data.get(..end).ok_or_else(bad)?;
    if u32_at(directory, at) != Some(CENTRAL_HEADER_SIGNATURE) {
        return Err(bad());
    }
    let field16 = |offset| u16_at(directory, at + offset).ok_or_else(bad);
    let field32 = |offset| u32_at(directory, at + offset).ok_or_else(bad);
    let made_by = field16(4)?;
    let flags = field16(8)?;
    let method = field16(10)?;
    let crc32 = field32(16)?;
    let compressed_size = field32(20)?;
    let uncompressed_size = field32(24)?;
    let name_length = usize::from(field16(28)?);
    let extra_length = usize::from(field16(30)?);
    let comment_length = usize::from(field16(32)?);
    let disk = field16(34)?;
    let external_attributes = field32(38)?;
    let local_header_offset = field32(42)?;

    let name_start = at + CENTRAL_HEADER_LENGTH;
    let extra_start = name_start + name_length;
    let next = extra_start + extra_length + comment_length;
    let name = directory.get(name_start..extra_start).ok_or_else(bad)?;
    let extra_block = directory
        .get(extra_start..extra_start + extra_length)
        .ok_or_else(bad)?;
    if next > end {
        return Err(bad());
    }

    let entry = || super::names::quote(&super::names::decode_lossy(name, flags & FLAG_UTF8 != 0));
    let extras = read_extras(extra_block, &entry)?;
    let [
        uncompressed_size,
        compressed_size,
        local_header_offset,
        disk,
    ] = widen(
        [
            Widenable {
                field: Zip64Field::UncompressedSize,
                header: u64::from(uncompressed_size),
                marker: MARKER_32,
                width: 8,
            },
            Widenable {
                field: Zip64Field::CompressedSize,
                header: u64::from(compressed_size),
                marker: MARKER_32,
                width: 8,
            },
            Widenable {
                field: Zip64Field::LocalHeaderOffset,
                header: u64::from(local_header_offset),
                marker: MARKER_32,
                width: 8,
            },
            Widenable {
                field: Zip64Field::DiskNumber,
                header: u64::from(disk),
                marker: MARKER_16,
                width: 4,
            },
        ],
        extras.zip64,
    )
    .map_err(|problem| ArchiveError::Zip64Extra {
        entry: entry(),
        problem,
    })?;
    if disk != 0 {
        return Err(ArchiveError::EntryOnOtherDisk {
            entry: entry(),
            disk,
        });
    }

    let header = CentralHeader {
        made_by,
        flags,
        method,
        crc32,
        compressed_size,
        uncompressed_size,
        external_attributes,
        local_header_offset,
        name,
        unicode_name: extras
            .unicode_path
            .and_then(|body| unicode_path(body, name)),
    };
    Ok((header, next))
}

/// Returns the name in an Info-ZIP Unicode Path extra field when the field is version 1 and
/// its CRC-32 matches the header name. Extractors ignore a field that fails either check,
/// and so does this reader.
fn unicode_path<'a>(body: &'a [u8], header_name: &[u8]) -> Option<&'a [u8]> {
    let (&version, rest) = body.split_first()?;
    let checksum = u32_at(rest, 0)?;
    let name = rest.get(4..)?;
    (version == UNICODE_PATH_VERSION && checksum == crc32fast::hash(header_name)).then_some(name)
}

/// One local file header, with Zip64 sizes resolved.
#[derive(Clone, Copy, Debug)]
pub(super) struct LocalHeader<'a> {
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub name: &'a [u8],
    pub has_zip64_extra: bool,
    /// Offset of the first byte after the header: the start of the entry's data.
    pub data_start: u64,
}

/// Reads the local file header at `at`, which must end before `limit` (the central directory).
pub(super) fn read_local_header<'a>(
    data: &'a [u8],
    at: u64,
    limit: u64,
    entry: &str,
) -> Result<LocalHeader<'a>, ArchiveError> {
    let missing = || ArchiveError::MissingLocalHeader {
        entry: entry.to_owned(),
        offset: at,
    };
    let overlaps = || ArchiveError::OverlapsDirectory {
        entry: entry.to_owned(),
    };
    let before_directory = to_index(limit, data)
        .and_then(|limit| data.get(..limit))
        .ok_or_else(overlaps)?;
    let at = to_index(at, before_directory).ok_or_else(overlaps)?;
    if u32_at(before_directory, at) != Some(LOCAL_HEADER_SIGNATURE) {
        return Err(missing());
    }
    let field16 = |offset| u16_at(before_directory, at + offset).ok_or_else(overlaps);
    let field32 = |offset| u32_at(before_directory, at + offset).ok_or_else(overlaps);
    let flags = field16(6)?;
    let method = field16(8)?;
    let crc32 = field32(14)?;
    let compressed_size = field32(18)?;
    let uncompressed_size = field32(22)?;
    let name_length = usize::from(field16(26)?);
    let extra_length = usize::from(field16(28)?);

    let name_start = at + LOCAL_HEADER_LENGTH;
    let extra_start = name_start + name_length;
    let data_start = extra_start + extra_length;
    let name = before_directory
        .get(name_start..extra_start)
        .ok_or_else(overlaps)?;
    let extra_block = before_directory
        .get(extra_start..data_start)
        .ok_or_else(overlaps)?;

    let label = || entry.to_owned();
    let extras = read_extras(extra_block, &label)?;
    let [uncompressed_size, compressed_size] = widen(
        [
            Widenable {
                field: Zip64Field::UncompressedSize,
                header: u64::from(uncompressed_size),
                marker: MARKER_32,
                width: 8,
            },
            Widenable {
                field: Zip64Field::CompressedSize,
                header: u64::from(compressed_size),
                marker: MARKER_32,
                width: 8,
            },
        ],
        extras.zip64,
    )
    .map_err(|problem| ArchiveError::Zip64Extra {
        entry: label(),
        problem,
    })?;
    Ok(LocalHeader {
        flags,
        method,
        crc32,
        compressed_size,
        uncompressed_size,
        name,
        has_zip64_extra: extras.zip64.is_some(),
        data_start: data_start as u64,
    })
}

/// The values a data descriptor must repeat.
#[derive(Clone, Copy, Debug)]
pub(super) struct DescriptorValues {
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
}

/// Finds the data descriptor at `at` that repeats `expected` and returns its length. The
/// signature is optional and the sizes are 4 or 8 bytes each. The descriptor must end by
/// `limit`, the start of the central directory.
///
/// Layouts can match the same bytes: for an empty entry, an 8-byte compressed size reads as
/// a 4-byte compressed size followed by a zero uncompressed size. The layout that ends where
/// the next record starts (a local header signature or `limit`) wins. Otherwise the 8-byte
/// layout is preferred when `zip64` is true, and the 4-byte one when it is false.
pub(super) fn descriptor_length(
    data: &[u8],
    at: u64,
    limit: u64,
    expected: DescriptorValues,
    zip64: bool,
) -> Option<usize> {
    let before_limit = data.get(..to_index(limit, data)?)?;
    let at = to_index(at, before_limit)?;
    let widths = if zip64 { [8, 4] } else { [4, 8] };
    let expected = (
        Some(expected.crc32),
        Some(expected.compressed_size),
        Some(expected.uncompressed_size),
    );

    let mut first_match = None;
    for signed in [true, false] {
        if signed && u32_at(before_limit, at) != Some(DESCRIPTOR_SIGNATURE) {
            continue;
        }
        let base = if signed { at + 4 } else { at };
        for width in widths {
            let values = (
                u32_at(before_limit, base),
                sized_at(before_limit, base + 4, width),
                sized_at(before_limit, base + 4 + width, width),
            );
            if values != expected {
                continue;
            }
            let length = base - at + 4 + 2 * width;
            let end = at + length;
            if end == before_limit.len()
                || u32_at(before_limit, end) == Some(LOCAL_HEADER_SIGNATURE)
            {
                return Some(length);
            }
            first_match.get_or_insert(length);
        }
    }
    first_match
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(field: Zip64Field, header: u64) -> Widenable {
        Widenable {
            field,
            header,
            marker: MARKER_32,
            width: 8,
        }
    }

    #[test]
    fn widen_reads_marked_fields_in_order() {
        let mut extra = Vec::new();
        extra.extend_from_slice(&7u64.to_le_bytes());
        let fields = [
            field(Zip64Field::UncompressedSize, 5),
            field(Zip64Field::CompressedSize, MARKER_32),
        ];
        assert_eq!(widen(fields, Some(&extra)), Ok([5, 7]));
    }

    #[test]
    fn widen_accepts_full_layout_that_agrees() {
        let mut extra = Vec::new();
        extra.extend_from_slice(&0u64.to_le_bytes());
        extra.extend_from_slice(&0u64.to_le_bytes());
        let fields = [
            field(Zip64Field::UncompressedSize, 0),
            field(Zip64Field::CompressedSize, 0),
        ];
        assert_eq!(widen(fields, Some(&extra)), Ok([0, 0]));

        let mut disagreeing = Vec::new();
        disagreeing.extend_from_slice(&9u64.to_le_bytes());
        disagreeing.extend_from_slice(&3u64.to_le_bytes());
        let fields = [
            field(Zip64Field::UncompressedSize, 4),
            field(Zip64Field::CompressedSize, MARKER_32),
        ];
        assert_eq!(
            widen(fields, Some(&disagreeing)),
            Err(Zip64Problem::Disagrees(Zip64Field::UncompressedSize))
        );
    }

    #[test]
    fn widen_rejects_marker_without_value() {
        let fields = [field(Zip64Field::CompressedSize, MARKER_32)];
        assert_eq!(
            widen(fields, None),
            Err(Zip64Problem::Missing(Zip64Field::CompressedSize))
        );
        assert_eq!(
            widen(fields, Some(&[1, 2, 3])),
            Err(Zip64Problem::BadLength(3))
        );
    }
}
