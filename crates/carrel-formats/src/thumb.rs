//! Covers: measuring them from their headers, and making JPEG thumbnails
//! under the image crate's limits.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, ImageReader, RgbImage};

use crate::bounds::Ctx;
use crate::{Cover, FormatError, Limits, RawCover};

/// The two sizes of a cover, as JPEG.
pub struct Thumbnails {
    /// Fits 160 × 240.
    pub small: Vec<u8>,
    /// Fits 480 × 720.
    pub large: Vec<u8>,
}

impl std::fmt::Debug for Thumbnails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnails")
            .field("small", &self.small.len())
            .field("large", &self.large.len())
            .finish()
    }
}

const SMALL: (u32, u32) = (160, 240);
const LARGE: (u32, u32) = (480, 720);
const QUALITY: u8 = 85;

/// Whether bytes are an SVG document (or were declared one).
pub(crate) fn is_svg(bytes: &[u8], declared: Option<&str>) -> bool {
    if declared.is_some_and(|d| d.contains("svg")) {
        return true;
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]);
    let head = head.trim_start_matches('\u{feff}').trim_start();
    head.starts_with('<') && head.contains("<svg")
}

/// The media type and size of an image, read from its header only.
pub(crate) fn probe(bytes: &[u8], declared: Option<&str>) -> Result<(String, u32, u32), String> {
    if is_svg(bytes, declared) {
        return Ok(("image/svg+xml".into(), 0, 0));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let format = reader
        .format()
        .ok_or_else(|| "not an image format that carrel reads".to_string())?;
    let (w, h) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if w == 0 || h == 0 {
        return Err("the image has no pixels".into());
    }
    Ok((format.to_mime_type().to_owned(), w, h))
}

/// A cover from its bytes, or `None` (and a `bad_cover` problem) when they
/// are not an image. SVG covers are kept with a `cover_not_raster` problem.
pub(crate) fn measure(raw: RawCover, ctx: &mut Ctx) -> Option<Cover> {
    match probe(&raw.bytes, raw.declared.as_deref()) {
        Ok((media_type, width, height)) => {
            if width == 0 {
                ctx.problem(
                    "cover_not_raster",
                    "the cover is an SVG image: no thumbnails are made from it",
                );
            }
            Some(Cover {
                bytes: raw.bytes,
                media_type,
                width,
                height,
            })
        }
        Err(e) => {
            ctx.problem(
                "bad_cover",
                format!("the cover is not a readable image: {e}"),
            );
            None
        }
    }
}

/// JPEG thumbnails of a cover: the small one fits 160 × 240, the large one
/// 480 × 720; the aspect ratio is kept and images are never enlarged.
/// Images over `max_image_pixels` are refused before they are decoded.
pub fn thumbnails(cover: &[u8], limits: &Limits) -> Result<Thumbnails, FormatError> {
    match std::panic::catch_unwind(|| make_thumbnails(cover, limits)) {
        Ok(r) => r,
        Err(panic) => Err(FormatError::BadImage(crate::panic_message(&panic))),
    }
}

fn make_thumbnails(cover: &[u8], limits: &Limits) -> Result<Thumbnails, FormatError> {
    if is_svg(cover, None) {
        return Err(FormatError::NotRaster);
    }
    let (_, width, height) = probe(cover, None).map_err(FormatError::BadImage)?;
    if width as u64 * height as u64 > limits.max_image_pixels {
        return Err(FormatError::ImageTooLarge { width, height });
    }
    let mut reader = ImageReader::new(Cursor::new(cover))
        .with_guessed_format()
        .map_err(|e| FormatError::BadImage(e.to_string()))?;
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(width);
    image_limits.max_image_height = Some(height);
    // Up to 16-bit RGBA per pixel, plus the decoder's own buffers.
    image_limits.max_alloc = Some(limits.max_image_pixels.saturating_mul(8) + (64 << 20));
    reader.limits(image_limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => FormatError::ImageTooLarge { width, height },
        e => FormatError::BadImage(e.to_string()),
    })?;
    let large = fit(&image, LARGE);
    let small = fit(large.as_ref().unwrap_or(&image), SMALL);
    Ok(Thumbnails {
        small: jpeg(small.as_ref().or(large.as_ref()).unwrap_or(&image))?,
        large: jpeg(large.as_ref().unwrap_or(&image))?,
    })
}

/// The image scaled down to fit the box, or `None` when it already fits.
fn fit(image: &DynamicImage, (bw, bh): (u32, u32)) -> Option<DynamicImage> {
    let (w, h) = image.dimensions();
    if w <= bw && h <= bh {
        return None;
    }
    let scale = (bw as f64 / w as f64).min(bh as f64 / h as f64);
    let nw = ((w as f64 * scale).round() as u32).clamp(1, bw);
    let nh = ((h as f64 * scale).round() as u32).clamp(1, bh);
    // A cheap box filter first for very large images, then Lanczos.
    if w > nw * 4 && h > nh * 4 {
        let pre = image.thumbnail(nw * 2, nh * 2);
        Some(pre.resize_exact(nw, nh, FilterType::Lanczos3))
    } else {
        Some(image.resize_exact(nw, nh, FilterType::Lanczos3))
    }
}

/// JPEG bytes, with any transparency flattened onto white.
fn jpeg(image: &DynamicImage) -> Result<Vec<u8>, FormatError> {
    let rgb: RgbImage = if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            let p = rgba.get_pixel(x, y).0;
            let a = p[3] as u32;
            let blend = |c: u8| ((c as u32 * a + 255 * (255 - a)) / 255) as u8;
            image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
        })
    } else {
        image.to_rgb8()
    };
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(&rgb)
        .map_err(|e| FormatError::BadImage(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        let img = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
                w,
                h,
                image::Rgba([10, 20, 30, 0]),
            ))
        } else {
            DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
            }))
        };
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn dims(jpeg: &[u8]) -> (u32, u32) {
        image::load_from_memory(jpeg).unwrap().dimensions()
    }

    #[test]
    fn fits_boxes_keeping_the_aspect() {
        let t = thumbnails(&png(1000, 3000, false), &Limits::default()).unwrap();
        assert_eq!(dims(&t.large), (240, 720));
        assert_eq!(dims(&t.small), (80, 240));
        let t = thumbnails(&png(1200, 600, true), &Limits::default()).unwrap();
        assert_eq!(dims(&t.large), (480, 240));
        assert_eq!(dims(&t.small), (160, 80));
        // Transparent pixels become white.
        let px = image::load_from_memory(&t.small).unwrap().to_rgb8();
        assert!(px.get_pixel(5, 5).0.iter().all(|&c| c > 240));
    }

    #[test]
    fn never_upscales() {
        let t = thumbnails(&png(100, 50, false), &Limits::default()).unwrap();
        assert_eq!(dims(&t.large), (100, 50));
        assert_eq!(dims(&t.small), (100, 50));
    }

    #[test]
    fn refuses_what_it_should() {
        let limits = Limits {
            max_image_pixels: 10_000,
            ..Limits::default()
        };
        assert!(matches!(
            thumbnails(&png(200, 200, false), &limits),
            Err(FormatError::ImageTooLarge { .. })
        ));
        assert!(matches!(
            thumbnails(
                b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>",
                &limits
            ),
            Err(FormatError::NotRaster)
        ));
        assert_eq!(
            thumbnails(b"not an image", &limits).unwrap_err().code(),
            "bad_image"
        );
        let mut cut = png(300, 300, false);
        cut.truncate(cut.len() / 2);
        assert_eq!(
            thumbnails(&cut, &Limits::default()).unwrap_err().code(),
            "bad_image"
        );
    }
}
