//! `POST /frame`, `GET /frame_data`, `GET /streams`, `GET /streams/{id}/latest.jpg`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use edgeflow_stages::capture::http::PostError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{ApiError, App, error};
use crate::draw::{BOX, Canvas, LINE, ZONE};
use crate::view::{StreamView, detection_json, round2};

/// `?stream_id=` (and `?raw=1` for frames).
#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    stream_id: Option<String>,
    raw: Option<String>,
}

/// The JSON body of `POST /frame`.
#[derive(Debug, Deserialize)]
struct FramePost {
    image: String,
    #[serde(default)]
    stream_id: Option<String>,
}

/// The stream a request names, or the only one there is.
fn pick_stream(named: Option<String>, known: Vec<String>) -> Result<String, ApiError> {
    match named {
        Some(s) if !s.is_empty() => Ok(s),
        _ if known.len() == 1 => Ok(known[0].clone()),
        _ => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "name the stream with `stream_id` (streams here: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )),
    }
}

/// The JPEG of a JSON post: base64, with or without a `data:` URL prefix.
fn jpeg_of_json(body: &[u8]) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let post: FramePost = serde_json::from_slice(body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON of the form {{\"image\": \"<base64>\", \"stream_id\": \"...\"}}: {e}"),
        )
    })?;
    let data = match post.image.strip_prefix("data:") {
        Some(url) => match url.split_once(";base64,") {
            Some((_, data)) => data,
            None => {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    "`image` is a data: URL without `;base64,` (send `data:image/jpeg;base64,...`)"
                        .into(),
                ));
            }
        },
        None => post.image.as_str(),
    };
    let data: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(&data)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&data))
        .map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("`image` is not base64: {e}"),
            )
        })?;
    Ok((jpeg, post.stream_id))
}

/// `POST /frame`: a JPEG as JSON (`{"image": "<base64>", "stream_id": "..."}`) or as a raw
/// `image/jpeg` body with `?stream_id=`. 202 with the `seq` the frame will carry.
pub async fn post_frame(
    State(app): State<App>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than {} bytes ([server] max_body_bytes)",
                    app.config.max_body_bytes
                ),
            );
        }
        Err(e) => return error(e.status(), e.body_text()),
    };
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (jpeg, named) = match kind.as_str() {
        "application/json" => match jpeg_of_json(&body) {
            Ok((jpeg, named)) => (Bytes::from(jpeg), named.or(q.stream_id)),
            Err(e) => return e.into_response(),
        },
        "image/jpeg" | "application/octet-stream" => (body, q.stream_id),
        other => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type `{}`: send `application/json` ({{\"image\": \"<base64>\", \"stream_id\": \"...\"}}) or `image/jpeg` with ?stream_id=",
                    if other.is_empty() { "none" } else { other }
                ),
            );
        }
    };
    let stream = match pick_stream(named, app.inbox.streams()) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    match app.inbox.post(&stream, jpeg) {
        Ok(a) => {
            app.own.posted(&a.stream_id, a.replaced);
            (
                StatusCode::ACCEPTED,
                Json(json!({
                    "stream_id": a.stream_id,
                    "seq": a.seq,
                    "width": a.width,
                    "height": a.height,
                    "replaced": a.replaced,
                })),
            )
                .into_response()
        }
        Err(e) => {
            let status = match e {
                PostError::UnknownStream { .. } => StatusCode::NOT_FOUND,
                PostError::NotJpeg(_) | PostError::Truncated(_) => StatusCode::BAD_REQUEST,
                PostError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                PostError::Ended(_) => StatusCode::GONE,
            };
            error(status, e.to_string())
        }
    }
}

/// The outline (zones and lines) every zone stage reports, merged.
fn outline(app: &App) -> (Vec<Value>, Vec<Value>) {
    let (mut zones, mut lines) = (Vec::new(), Vec::new());
    for s in &app.stages {
        if let Some(o) = s.state().report.get("outline") {
            zones.extend(o["zones"].as_array().cloned().unwrap_or_default());
            lines.extend(o["lines"].as_array().cloned().unwrap_or_default());
        }
    }
    (zones, lines)
}

fn view_of(app: &App, q: StreamQuery) -> Result<(String, StreamView), ApiError> {
    let stream = pick_stream(q.stream_id, app.views.ids())?;
    app.views
        .get(&stream)
        .map(|v| (stream.clone(), v))
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!(
                    "no stream `{stream}` (streams here: {})",
                    app.views.ids().join(", ")
                ),
            )
        })
}

/// `GET /frame_data?stream_id=`: the latest detections (normalised boxes, scores, classes,
/// track ids, landmarks), zone occupancy and line counts, with the `seq` and time of the
/// frame they belong to.
pub async fn frame_data(State(app): State<App>, Query(q): Query<StreamQuery>) -> Response {
    let (stream, v) = match view_of(&app, q) {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let boxes = v.boxes();
    let (zones, lines) = outline(&app);
    let count = |id: &str| v.totals.get(id).copied();
    let zones: Vec<Value> = zones
        .into_iter()
        .map(|mut z| {
            let id = z["id"].as_str().unwrap_or_default().to_string();
            z["occupancy"] = json!(v.occupancy.get(&id).copied().unwrap_or(0));
            if let Some(edgeflow_core::Counts::Zone { entries, exits, .. }) = count(&id) {
                z["entries"] = json!(entries);
                z["exits"] = json!(exits);
            }
            z
        })
        .collect();
    let lines: Vec<Value> = lines
        .into_iter()
        .map(|mut l| {
            let id = l["id"].as_str().unwrap_or_default().to_string();
            let (inward, outward) = match count(&id) {
                Some(edgeflow_core::Counts::Line { inward, outward }) => (inward, outward),
                _ => (0, 0),
            };
            l["in"] = json!(inward);
            l["out"] = json!(outward);
            l
        })
        .collect();
    Json(json!({
        "stream_id": stream,
        "state": v.state_name(),
        "fps": round2(v.fps()),
        "seq": boxes.map(|b| b.meta.seq),
        "timestamp": boxes.map(|b| b.meta.timestamp_rfc3339()),
        "frame_width": boxes.map(|b| b.size.0),
        "frame_height": boxes.map(|b| b.size.1),
        "skipped": boxes.is_some_and(|b| b.skipped),
        "detections": boxes.map_or_else(Vec::new, |b| b.items.iter().map(detection_json).collect()),
        "latest_frame_seq": v.frame.as_ref().map(|f| f.meta.seq),
        "zones": zones,
        "lines": lines,
    }))
    .into_response()
}

/// `GET /streams`: every stream with its state, fps, last frame time, and for push streams
/// the posts taken and replaced.
pub async fn streams(State(app): State<App>) -> Response {
    let mut list = app.views.list();
    let counters = app.inbox.counters();
    if let Some(items) = list.as_array_mut() {
        for item in items {
            let id = item["stream_id"].as_str().unwrap_or_default().to_string();
            if let Some(c) = counters.iter().find(|c| c.stream_id == id) {
                item["posted"] = json!(c.posted);
                item["replaced"] = json!(c.replaced);
            }
        }
    }
    Json(json!({ "streams": list })).into_response()
}

/// `GET /streams/{id}/latest.jpg`: the latest frame with boxes, zones and lines drawn
/// (`?raw=1`: without).
pub async fn latest_jpg(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<StreamQuery>,
) -> Response {
    let Some(view) = app.views.get(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no stream `{id}` (streams here: {})",
                app.views.ids().join(", ")
            ),
        );
    };
    let Some(frame) = view.frame.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "stream `{id}` has no frame yet (state: {})",
                view.state_name()
            ),
        );
    };
    let raw = q.raw.as_deref().is_some_and(|r| r == "1" || r == "true");
    let (zones, lines) = if raw { (vec![], vec![]) } else { outline(&app) };
    let encoded = tokio::task::spawn_blocking(move || {
        let mut canvas = Canvas::from_frame(&frame).ok_or("the frame's planes do not read")?;
        if !raw {
            for z in &zones {
                let points: Vec<[f64; 2]> =
                    serde_json::from_value(z["polygon"].clone()).unwrap_or_default();
                if points.len() > 2 {
                    canvas.polygon(&points, ZONE);
                }
            }
            for l in &lines {
                let from: Option<[f64; 2]> = serde_json::from_value(l["from"].clone()).ok();
                let to: Option<[f64; 2]> = serde_json::from_value(l["to"].clone()).ok();
                if let (Some(a), Some(b)) = (from, to) {
                    canvas.line(a, b, LINE, 3);
                }
            }
            for (d, _) in view.boxes().map_or(&[][..], |b| &b.items[..]) {
                let b = d.bbox;
                canvas.rect(
                    f64::from(b.x),
                    f64::from(b.y),
                    f64::from(b.width),
                    f64::from(b.height),
                    BOX,
                );
            }
        }
        canvas.jpeg(85).map_err(|_| "the frame does not encode")
    })
    .await;
    match encoded {
        Ok(Ok(jpeg)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            jpeg,
        )
            .into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the encoder stopped"),
    }
}
