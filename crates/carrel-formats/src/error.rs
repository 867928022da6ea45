//! The one error type of carrel-formats. Each variant has a stable code;
//! codes never change meaning once published.

/// Why nothing usable could be read from a file (or an image or a book
/// resource could not be served).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file")]
    NotAFile,
    #[error("the file is empty")]
    Empty,
    #[error("the file is too large ({size} bytes, at most {max})")]
    TooLarge { size: u64, max: u64 },
    #[error("not a book format that carrel reads")]
    UnknownFormat,
    #[error("{0} files are not read (only EPUB, PDF, MOBI/AZW3, FB2 and CBZ)")]
    Unsupported(&'static str),
    #[error("malformed file: {0}")]
    Malformed(String),
    #[error("not a book: {0}")]
    NotABook(String),
    #[error("zip bomb: {0}")]
    ZipBomb(String),
    #[error("the archive has too many entries ({count}, at most {max})")]
    TooManyEntries { count: u64, max: usize },
    #[error("archive entry {name:?} is too large ({size} bytes, at most {max})")]
    EntryTooLarge { name: String, size: u64, max: u64 },
    #[error("encrypted: {0}")]
    Encrypted(String),
    #[error("the deadline passed before anything usable was read")]
    Deadline,
    #[error("the image is too large ({width}×{height} pixels)")]
    ImageTooLarge { width: u32, height: u32 },
    #[error("bad image: {0}")]
    BadImage(String),
    #[error("the image is not a raster image (SVG)")]
    NotRaster,
    #[error("not found in the book: {0}")]
    NotFound(String),
    #[error("refused path: {0}")]
    BadPath(String),
    #[error("not served: {0}")]
    Forbidden(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl FormatError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            FormatError::Io(_) => "io",
            FormatError::NotAFile => "not_a_file",
            FormatError::Empty => "empty_file",
            FormatError::TooLarge { .. } => "too_large",
            FormatError::UnknownFormat => "unknown_format",
            FormatError::Unsupported(_) => "unsupported_format",
            FormatError::Malformed(_) => "malformed",
            FormatError::NotABook(_) => "not_a_book",
            FormatError::ZipBomb(_) => "zip_bomb",
            FormatError::TooManyEntries { .. } => "too_many_entries",
            FormatError::EntryTooLarge { .. } => "entry_too_large",
            FormatError::Encrypted(_) => "encrypted",
            FormatError::Deadline => "deadline",
            FormatError::ImageTooLarge { .. } => "image_too_large",
            FormatError::BadImage(_) => "bad_image",
            FormatError::NotRaster => "not_raster",
            FormatError::NotFound(_) => "not_found",
            FormatError::BadPath(_) => "bad_path",
            FormatError::Forbidden(_) => "forbidden",
            FormatError::Internal(_) => "internal",
        }
    }
}
