//! Helpers of the holder-page and least-privilege tests: make a pass's
//! holder link through the admin API, read a QR code back from a PNG
//! (a browser screenshot) with `rqrr`, and spot token-shaped text.

use super::Gateway;
use scangate_api::HolderLinkView;
use serde_json::json;

/// The shortest run of base32 capitals (`A-Z`, `2-7`) taken for a token: a
/// token is 56 to 63 of them; nothing else the API answers (lowercase hex
/// ids, names, RFC 3339 times) has such a run.
pub const TOKEN_RUN_MIN: usize = 50;

/// Whether `text` holds something token-shaped.
pub fn has_token(text: &str) -> bool {
    let mut run = 0;
    for b in text.bytes() {
        run = if b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b) {
            run + 1
        } else {
            0
        };
        if run >= TOKEN_RUN_MIN {
            return true;
        }
    }
    false
}

/// A new holder link of pass `id`, made with the bootstrap admin token.
pub async fn link(gw: &Gateway, id: &str) -> HolderLinkView {
    let made = gw.post(&format!("/v1/passes/{id}/link"), json!({})).await;
    serde_json::from_value(made).expect("a holder link")
}

/// The text of every QR code in a PNG, in the order `rqrr` finds them.
pub fn decode_qr(png: &[u8]) -> Vec<String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a frame size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit screenshots");
    let channels = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Grayscale => 1,
        other => panic!("an unexpected PNG colour type {other:?}"),
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let luma = |x: usize, y: usize| -> u8 {
        let at = (y * w + x) * channels;
        if channels < 3 {
            return buf[at];
        }
        let (r, g, b) = (
            u32::from(buf[at]),
            u32::from(buf[at + 1]),
            u32::from(buf[at + 2]),
        );
        ((r * 299 + g * 587 + b * 114) / 1000) as u8
    };
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, luma);
    img.detect_grids()
        .iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}
