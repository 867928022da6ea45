//! The library's public addresses and the media types of its formats, in one
//! place so the pages, the JSON API and the OPDS feeds agree.

use carrel_core::ids::FileId;

/// The bytes of a library file (a format of an edition), as a download.
pub fn file(file_id: &FileId) -> String {
    format!("/library/files/{file_id}")
}

/// The in-browser reader of a library file.
pub fn read(file_id: &FileId) -> String {
    format!("/library/read/{file_id}")
}

/// An edition's cover: `large` (480×720) or small (160×240), JPEG.
pub fn cover(edition_id: i64, large: bool) -> String {
    let size = if large { "large" } else { "small" };
    format!("/library/covers/{edition_id}/{size}.jpg")
}

pub fn work(work_id: i64) -> String {
    format!("/library/works/{work_id}")
}

/// The media type of a library format (as `carrel_formats::Format::as_str`
/// names it), for downloads and OPDS acquisition links.
pub fn format_media_type(format: &str) -> &'static str {
    carrel_formats::Format::from_extension(format)
        .map(carrel_formats::Format::media_type)
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_their_registered_types() {
        assert_eq!(format_media_type("epub"), "application/epub+zip");
        assert_eq!(format_media_type("cbz"), "application/vnd.comicbook+zip");
        assert_eq!(format_media_type("exe"), "application/octet-stream");
        assert_eq!(cover(7, false), "/library/covers/7/small.jpg");
    }
}
