//! `GET /v1/passes/{id}/qr`: the pass's QR code, rendered on demand and never
//! stored. For a dynamic pass it holds a freshly minted short-lived token.

use super::params::{Params, PathParam};
use super::schema::{PassIdParam, QrFormat};
use crate::operator::api::{ApiError, ErrorBody, signed_token};
use crate::operator::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module in a PNG: 8 keeps a 61-character token (a version 4
/// code, 33 modules plus a 4-module quiet zone each side) at ~330 px, sharp
/// on a phone screen and on paper.
pub const PNG_MODULE_PX: u32 = 8;
/// Modules of white border the QR standard asks for.
pub const QUIET_ZONE_MODULES: u32 = 4;
/// Smallest SVG side, in user units.
pub const SVG_MIN_PX: u32 = 256;

/// `GET /v1/passes/{id}/qr`: the QR code of a pass (error correction M,
/// quiet zone), rendered on demand, never stored, `Cache-Control: no-store`.
/// It carries the pass's token, so it needs the role `operator` (as the
/// route table says), like every answer holding a token.
#[utoipa::path(
    get,
    path = "/v1/passes/{id}/qr",
    operation_id = "pass_qr",
    tag = "passes",
    params(PassIdParam, QrFormat),
    responses(
        (status = 200, description = "The QR code of the pass's token (a dynamic pass: a freshly minted one)",
            content(("image/svg+xml"), ("image/png"))),
        (status = 400, description = "Not a pass id, or a format other than svg or png, or another parameter", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn qr(
    State(state): State<AppState>,
    PathParam(id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(raw.as_deref(), &["format"])?;
    let format = p.get("format").unwrap_or("svg");
    if !matches!(format, "svg" | "png") {
        return Err(ApiError::invalid("format", "must be svg or png"));
    }
    let pass = super::passes::load(&state, &id).await?;
    let token = signed_token(&pass, &state.keyring);
    let code = encode(&token)?;
    let no_store = (header::CACHE_CONTROL, "no-store");
    if format == "svg" {
        return Ok((
            [(header::CONTENT_TYPE, "image/svg+xml"), no_store],
            svg(&code),
        )
            .into_response());
    }
    let png = png_bytes(&code)
        .map_err(|e| ApiError::unavailable(format!("cannot write the PNG: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "image/png"), no_store], png).into_response())
}

/// The QR code of a token. Tokens are upper-case base32: QR alphanumeric
/// mode, the densest for them. Medium error correction survives a scuffed
/// phone screen or a fold.
pub fn encode(token: &str) -> Result<QrCode, ApiError> {
    QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::unavailable(format!("cannot encode the token as a QR code: {e}")))
}

/// An SVG document of `code` with its quiet zone, at least [`SVG_MIN_PX`] a side.
pub fn svg(code: &QrCode) -> String {
    code.render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(SVG_MIN_PX, SVG_MIN_PX)
        .quiet_zone(true)
        .build()
}

/// A grey-scale PNG of the code with its quiet zone.
fn png_bytes(code: &QrCode) -> Result<Vec<u8>, png::EncodingError> {
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side = side_modules * PNG_MODULE_PX;
    let mut pixels = vec![0xffu8; (side * side) as usize];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (
            i as u32 % modules + QUIET_ZONE_MODULES,
            i as u32 / modules + QUIET_ZONE_MODULES,
        );
        for y in my * PNG_MODULE_PX..(my + 1) * PNG_MODULE_PX {
            let row = (y * side) as usize;
            let from = row + (mx * PNG_MODULE_PX) as usize;
            pixels[from..from + PNG_MODULE_PX as usize].fill(0);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_the_quiet_zone_and_dark_modules() {
        let code = QrCode::with_error_correction_level(
            b"AEBQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            EcLevel::M,
        )
        .expect("encodes");
        let png = png_bytes(&code).expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().expect("header");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        let side = (code.width() as u32 + 2 * QUIET_ZONE_MODULES) * PNG_MODULE_PX;
        assert_eq!((info.width, info.height), (side, side));
        assert!(
            buf[..(side * QUIET_ZONE_MODULES * PNG_MODULE_PX) as usize]
                .iter()
                .all(|p| *p == 0xff)
        );
        assert!(buf.contains(&0), "dark modules are drawn");
    }
}
