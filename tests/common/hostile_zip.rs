//! A ZIP writer for tests that produces valid archives and, on request, each defect the intake
//! must reject.
//!
//! Every field the reader checks can be set on its own in the local header and in the central
//! directory, entries can share or quote each other's bytes, and the end records can lie. It is
//! written by hand because a ZIP library refuses to produce most of these archives. The layout
//! follows PKWARE's APPNOTE.TXT; all integers are little-endian.
//!
//! Typical use: build entries with [`ZipEntry::file`] and friends, change the public fields
//! that a test is about, put them in a [`ZipArchive`] and call [`ZipArchive::to_bytes`].

use std::io::Write;

pub const METHOD_STORED: u16 = 0;
pub const METHOD_DEFLATE: u16 = 8;

pub const FLAG_ENCRYPTED: u16 = 1 << 0;
pub const FLAG_DESCRIPTOR: u16 = 1 << 3;
pub const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
pub const FLAG_UTF8: u16 = 1 << 11;

/// "Version made by" values: host in the high byte, APPNOTE version 2.0 in the low byte.
pub const MADE_BY_DOS: u16 = 20;
pub const MADE_BY_UNIX: u16 = (3 << 8) | 20;

// Unix file types for `ZipEntry::unix_mode`.
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFBLK: u32 = 0o060_000;
pub const S_IFIFO: u32 = 0o010_000;
pub const S_IFSOCK: u32 = 0o140_000;

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;
const ZIP64_EXTRA_ID: u16 = 0x0001;
const UNICODE_PATH_EXTRA_ID: u16 = 0x7075;
const MARKER_16: u16 = 0xFFFF;
const MARKER_32: u32 = 0xFFFF_FFFF;
/// 1980-01-01, the earliest DOS date.
const DOS_DATE: u16 = (1 << 5) | 1;

/// How a header records its sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Zip64 {
    /// Plain 32-bit fields (values past 4 GiB are cut), no Zip64 extra field.
    #[default]
    Plain,
    /// 0xFFFFFFFF markers in both size fields and the values in a Zip64 extra field.
    Extra,
    /// 0xFFFFFFFF markers in both size fields and no Zip64 extra field: a defect.
    BareMarkers,
}

/// Header fields that a test may set to something other than the true value. `None` writes
/// the true value (zero for the local CRC-32 and sizes of an entry with a data descriptor).
#[derive(Clone, Debug, Default)]
pub struct HeaderFields {
    pub name: Option<Vec<u8>>,
    pub method: Option<u16>,
    pub flags: Option<u16>,
    pub crc32: Option<u32>,
    pub compressed_size: Option<u64>,
    pub uncompressed_size: Option<u64>,
    pub zip64: Zip64,
    /// Raw extra fields written after the Zip64 extra field, if any.
    pub extra: Vec<u8>,
}

/// The layout of a data descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub signature: bool,
    /// 8-byte sizes instead of 4-byte ones.
    pub zip64: bool,
}

/// The local header offset the central directory gives for an entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Offset {
    /// The entry's own local header.
    #[default]
    Own,
    /// Another entry's local header, by index: two entries share one header.
    SameAs(usize),
    /// The first data byte of another entry, by index: for a local header quoted inside
    /// that entry's data.
    DataOf(usize),
    Absolute(u64),
}

/// One entry and how to write it.
#[derive(Clone, Debug)]
pub struct ZipEntry {
    pub name: Vec<u8>,
    pub method: u16,
    /// The bytes written as the entry's data (compressed, for deflate).
    pub data: Vec<u8>,
    /// True CRC-32 and size of the uncompressed content.
    pub crc32: u32,
    pub uncompressed_size: u64,
    pub flags: u16,
    pub made_by: u16,
    pub external_attributes: u32,
    pub descriptor: Option<Descriptor>,
    pub local: HeaderFields,
    pub central: HeaderFields,
    /// False leaves the local record out of the sequence of entries, for an entry whose
    /// header another entry's data quotes or whose header another entry's record provides.
    pub write_local: bool,
    pub offset: Offset,
    /// Bytes written right after this entry's local record, which no entry covers.
    pub trailing: Vec<u8>,
}

impl ZipEntry {
    /// Builds a deflated file entry.
    pub fn file(name: &str, content: &[u8]) -> ZipEntry {
        ZipEntry::precompressed(
            name.as_bytes(),
            METHOD_DEFLATE,
            deflate(content),
            crc32fast::hash(content),
            content.len() as u64,
        )
    }

    /// Builds a stored (uncompressed) file entry.
    pub fn stored(name: &str, content: &[u8]) -> ZipEntry {
        ZipEntry::precompressed(
            name.as_bytes(),
            METHOD_STORED,
            content.to_vec(),
            crc32fast::hash(content),
            content.len() as u64,
        )
    }

    /// Builds a directory entry. The name should end with `/`.
    pub fn directory(name: &str) -> ZipEntry {
        ZipEntry::stored(name, b"")
    }

    /// Builds an entry from the caller's data and true values, for bombs built by streaming
    /// and for methods this writer cannot compress.
    pub fn precompressed(
        name: &[u8],
        method: u16,
        data: Vec<u8>,
        crc32: u32,
        uncompressed_size: u64,
    ) -> ZipEntry {
        ZipEntry {
            name: name.to_vec(),
            method,
            data,
            crc32,
            uncompressed_size,
            flags: 0,
            made_by: MADE_BY_DOS,
            external_attributes: 0,
            descriptor: None,
            local: HeaderFields::default(),
            central: HeaderFields::default(),
            write_local: true,
            offset: Offset::Own,
            trailing: Vec::new(),
        }
    }

    /// Marks the entry as written on Unix with the given mode (type and permission bits).
    pub fn unix_mode(mut self, mode: u32) -> ZipEntry {
        self.made_by = MADE_BY_UNIX;
        self.external_attributes = mode << 16;
        self
    }

    /// Sets flag bits in both headers.
    pub fn flags(mut self, flags: u16) -> ZipEntry {
        self.flags |= flags;
        self
    }

    /// Moves the CRC-32 and sizes to a data descriptor after the data (flag bit 3).
    pub fn with_descriptor(mut self, descriptor: Descriptor) -> ZipEntry {
        self.flags |= FLAG_DESCRIPTOR;
        self.descriptor = Some(descriptor);
        self
    }

    /// Adds an Info-ZIP Unicode Path extra field to the central header, with the CRC-32 of the
    /// header name so that extractors honour it.
    pub fn unicode_path(mut self, name: &str) -> ZipEntry {
        let mut body = vec![1u8];
        body.extend_from_slice(&crc32fast::hash(&self.name).to_le_bytes());
        body.extend_from_slice(name.as_bytes());
        self.central
            .extra
            .extend_from_slice(&extra_field(UNICODE_PATH_EXTRA_ID, &body));
        self
    }

    /// Returns the local header, data and data descriptor as written, to quote inside another
    /// entry.
    pub fn local_record(&self) -> Vec<u8> {
        let (mut record, _) = self.local_record_parts();
        record.extend_from_slice(&self.data);
        record.extend_from_slice(&self.descriptor_bytes());
        record
    }

    /// Returns the local header and its length, which is where the data starts.
    fn local_record_parts(&self) -> (Vec<u8>, usize) {
        let fields = &self.local;
        let deferred = self.descriptor.is_some();
        let pick =
            |value: Option<u64>, actual: u64| value.unwrap_or(if deferred { 0 } else { actual });
        let crc32 = fields
            .crc32
            .unwrap_or(if deferred { 0 } else { self.crc32 });
        let compressed = pick(fields.compressed_size, self.data.len() as u64);
        let uncompressed = pick(fields.uncompressed_size, self.uncompressed_size);
        let name = fields.name.clone().unwrap_or_else(|| self.name.clone());
        let (size_fields, mut extra) = sizes(fields.zip64, uncompressed, compressed);
        extra.extend_from_slice(&fields.extra);

        let mut header = Vec::new();
        put32(&mut header, LOCAL_SIGNATURE);
        put16(&mut header, version_needed(fields.zip64));
        put16(&mut header, fields.flags.unwrap_or(self.flags));
        put16(&mut header, fields.method.unwrap_or(self.method));
        put16(&mut header, 0);
        put16(&mut header, DOS_DATE);
        put32(&mut header, crc32);
        put32(&mut header, size_fields.1);
        put32(&mut header, size_fields.0);
        put16(&mut header, name.len() as u16);
        put16(&mut header, extra.len() as u16);
        header.extend_from_slice(&name);
        header.extend_from_slice(&extra);
        let length = header.len();
        (header, length)
    }

    fn descriptor_bytes(&self) -> Vec<u8> {
        let Some(descriptor) = self.descriptor else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        if descriptor.signature {
            put32(&mut bytes, DESCRIPTOR_SIGNATURE);
        }
        put32(&mut bytes, self.crc32);
        if descriptor.zip64 {
            put64(&mut bytes, self.data.len() as u64);
            put64(&mut bytes, self.uncompressed_size);
        } else {
            put32(&mut bytes, self.data.len() as u32);
            put32(&mut bytes, self.uncompressed_size as u32);
        }
        bytes
    }

    fn central_header(&self, offset: u64) -> Vec<u8> {
        let fields = &self.central;
        let crc32 = fields.crc32.unwrap_or(self.crc32);
        let compressed = fields.compressed_size.unwrap_or(self.data.len() as u64);
        let uncompressed = fields.uncompressed_size.unwrap_or(self.uncompressed_size);
        let name = fields.name.clone().unwrap_or_else(|| self.name.clone());
        let (size_fields, mut extra) = sizes(fields.zip64, uncompressed, compressed);
        extra.extend_from_slice(&fields.extra);

        let mut header = Vec::new();
        put32(&mut header, CENTRAL_SIGNATURE);
        put16(&mut header, self.made_by);
        put16(&mut header, version_needed(fields.zip64));
        put16(&mut header, fields.flags.unwrap_or(self.flags));
        put16(&mut header, fields.method.unwrap_or(self.method));
        put16(&mut header, 0);
        put16(&mut header, DOS_DATE);
        put32(&mut header, crc32);
        put32(&mut header, size_fields.1);
        put32(&mut header, size_fields.0);
        put16(&mut header, name.len() as u16);
        put16(&mut header, extra.len() as u16);
        put16(&mut header, 0);
        put16(&mut header, 0);
        put16(&mut header, 0);
        put32(&mut header, self.external_attributes);
        put32(&mut header, offset as u32);
        header.extend_from_slice(&name);
        header.extend_from_slice(&extra);
        header
    }
}

/// Values the end of central directory record gives instead of the true ones.
#[derive(Clone, Debug, Default)]
pub struct EndOverrides {
    pub disk: Option<u16>,
    pub directory_disk: Option<u16>,
    pub entries_on_disk: Option<u16>,
    pub entries: Option<u16>,
    pub directory_size: Option<u32>,
    pub directory_offset: Option<u32>,
    pub comment_length: Option<u16>,
}

/// A whole archive.
#[derive(Clone, Debug, Default)]
pub struct ZipArchive {
    pub entries: Vec<ZipEntry>,
    /// Write a Zip64 end of central directory record and locator, with all-ones markers in
    /// the classic record's counts, size and offset.
    pub zip64_end: bool,
    /// Entry count the Zip64 record gives instead of the true one.
    pub zip64_entries: Option<u64>,
    pub end: EndOverrides,
    pub comment: Vec<u8>,
    /// Bytes before the first entry.
    pub prefix: Vec<u8>,
    /// Bytes after the end of central directory record.
    pub suffix: Vec<u8>,
    /// Cut the finished archive to this many bytes.
    pub truncate_to: Option<usize>,
}

impl ZipArchive {
    pub fn new(entries: Vec<ZipEntry>) -> ZipArchive {
        ZipArchive {
            entries,
            ..ZipArchive::default()
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.prefix.clone();

        // Local records, in order; remember where each header and its data start.
        let mut header_offsets = Vec::new();
        let mut data_offsets = Vec::new();
        for entry in &self.entries {
            if entry.write_local {
                let (header, length) = entry.local_record_parts();
                header_offsets.push(out.len() as u64);
                data_offsets.push((out.len() + length) as u64);
                out.extend_from_slice(&header);
                out.extend_from_slice(&entry.data);
                out.extend_from_slice(&entry.descriptor_bytes());
            } else {
                header_offsets.push(0);
                data_offsets.push(0);
            }
            out.extend_from_slice(&entry.trailing);
        }

        let directory_offset = out.len() as u64;
        for (index, entry) in self.entries.iter().enumerate() {
            let entry_offset = |offsets: &[u64], other: usize| {
                *offsets
                    .get(other)
                    .expect("an Offset names an entry of this archive")
            };
            let offset = match entry.offset {
                Offset::Own => entry_offset(&header_offsets, index),
                Offset::SameAs(other) => entry_offset(&header_offsets, other),
                Offset::DataOf(other) => entry_offset(&data_offsets, other),
                Offset::Absolute(offset) => offset,
            };
            out.extend_from_slice(&entry.central_header(offset));
        }
        let directory_size = out.len() as u64 - directory_offset;
        let count = self.entries.len() as u64;

        if self.zip64_end {
            let record_offset = out.len() as u64;
            put32(&mut out, ZIP64_EOCD_SIGNATURE);
            put64(&mut out, 44);
            put16(&mut out, 45);
            put16(&mut out, 45);
            put32(&mut out, 0);
            put32(&mut out, 0);
            let entries = self.zip64_entries.unwrap_or(count);
            put64(&mut out, entries);
            put64(&mut out, entries);
            put64(&mut out, directory_size);
            put64(&mut out, directory_offset);

            put32(&mut out, ZIP64_LOCATOR_SIGNATURE);
            put32(&mut out, 0);
            put64(&mut out, record_offset);
            put32(&mut out, 1);
        }

        let end = &self.end;
        let (count16, size32, offset32) = if self.zip64_end {
            (MARKER_16, MARKER_32, MARKER_32)
        } else {
            (count as u16, directory_size as u32, directory_offset as u32)
        };
        put32(&mut out, EOCD_SIGNATURE);
        put16(&mut out, end.disk.unwrap_or(0));
        put16(&mut out, end.directory_disk.unwrap_or(0));
        put16(
            &mut out,
            end.entries_on_disk.or(end.entries).unwrap_or(count16),
        );
        put16(&mut out, end.entries.unwrap_or(count16));
        put32(&mut out, end.directory_size.unwrap_or(size32));
        put32(&mut out, end.directory_offset.unwrap_or(offset32));
        put16(
            &mut out,
            end.comment_length.unwrap_or(self.comment.len() as u16),
        );
        out.extend_from_slice(&self.comment);
        out.extend_from_slice(&self.suffix);

        if let Some(length) = self.truncate_to {
            out.truncate(length);
        }
        out
    }
}

/// Deflates bytes at the default level, raw (no zlib or gzip wrapper), as ZIP stores them.
pub fn deflate(content: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(content).expect("deflate into memory");
    encoder.finish().expect("finish deflate")
}

/// Streams `total` zero bytes through the deflate encoder one MiB at a time, and returns the
/// compressed data with the CRC-32 of the zeros. 1 GiB compresses to about 1 MB, so a bomb
/// costs this much memory and not the gigabyte.
pub fn deflate_zeros(total: u64) -> (Vec<u8>, u32) {
    const CHUNK: u64 = 1024 * 1024;
    let zeros = vec![0u8; CHUNK as usize];
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let mut crc = crc32fast::Hasher::new();
    let mut left = total;
    while left > 0 {
        let take = left.min(CHUNK) as usize;
        let chunk = zeros.get(..take).expect("take is at most CHUNK");
        encoder.write_all(chunk).expect("deflate into memory");
        crc.update(chunk);
        left -= take as u64;
    }
    (encoder.finish().expect("finish deflate"), crc.finalize())
}

/// Encodes an extra field: header ID, data length, data.
pub fn extra_field(id: u16, body: &[u8]) -> Vec<u8> {
    let mut field = Vec::new();
    put16(&mut field, id);
    put16(&mut field, body.len() as u16);
    field.extend_from_slice(body);
    field
}

/// Returns the 32-bit size fields (uncompressed, compressed) and the Zip64 extra field, per
/// `zip64`.
fn sizes(zip64: Zip64, uncompressed: u64, compressed: u64) -> ((u32, u32), Vec<u8>) {
    match zip64 {
        Zip64::Plain => ((uncompressed as u32, compressed as u32), Vec::new()),
        Zip64::Extra => {
            let mut body = Vec::new();
            put64(&mut body, uncompressed);
            put64(&mut body, compressed);
            ((MARKER_32, MARKER_32), extra_field(ZIP64_EXTRA_ID, &body))
        }
        Zip64::BareMarkers => ((MARKER_32, MARKER_32), Vec::new()),
    }
}

fn version_needed(zip64: Zip64) -> u16 {
    if zip64 == Zip64::Plain { 20 } else { 45 }
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Zips every regular file below `dir`, in a stable order, as entries named `prefix` plus the
/// path relative to `dir`. Symlinks and other special files are left out.
pub fn zip_folder(dir: &std::path::Path, prefix: &str) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&folder)
            .expect("read a folder to zip")
            .flatten()
            .collect();
        children.sort_by_key(std::fs::DirEntry::file_name);
        for child in children {
            let kind = child.file_type().expect("file type of a folder entry");
            if kind.is_dir() {
                stack.push(child.path());
            } else if kind.is_file() {
                let path = child.path();
                let relative = path.strip_prefix(dir).expect("entry below the folder");
                let content = std::fs::read(&path).expect("read a file to zip");
                let name = format!("{prefix}{}", relative.display());
                entries.push(ZipEntry::file(&name, &content));
            }
        }
    }
    ZipArchive::new(entries).to_bytes()
}
