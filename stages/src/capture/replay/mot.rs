//! MOTChallenge detections (`det.txt`: `frame,-1,x,y,w,h,score,...`, frames from 1, boxes in
//! pixels) as one `Detections` per frame, and the `seqinfo.ini` that gives their frame size
//! and rate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use edgeflow_core::{BBox, Detection, Detections, Meta};

use crate::eval::mot::{self, ParseError};

/// What a MOTChallenge `seqinfo.ini` says of a sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeqInfo {
    /// `imWidth`, `imHeight`.
    pub frame_size: (u32, u32),
    /// `frameRate`.
    pub fps: f64,
    /// `seqLength`: frames in the sequence, when given.
    pub frames: Option<u64>,
}

impl SeqInfo {
    /// Read `seqinfo.ini` text (`key=value` lines under `[Sequence]`).
    pub fn parse(text: &str, path: &str) -> Result<SeqInfo, ParseError> {
        let get = |key: &str| -> Result<Option<(usize, String)>, ParseError> {
            for (i, line) in text.lines().enumerate() {
                if let Some((k, v)) = line.split_once('=')
                    && k.trim().eq_ignore_ascii_case(key)
                {
                    return Ok(Some((i + 1, v.trim().to_string())));
                }
            }
            Ok(None)
        };
        let err = |line: usize, message: String| ParseError {
            path: path.to_string(),
            line,
            message,
        };
        let need = |key: &str| -> Result<(usize, f64), ParseError> {
            let (line, v) = get(key)?.ok_or_else(|| err(0, format!("has no `{key}=`")))?;
            let n: f64 = v
                .parse()
                .map_err(|_| err(line, format!("`{key}` is `{v}`, not a number")))?;
            if !(n.is_finite() && n > 0.0) {
                return Err(err(line, format!("`{key}` must be above 0, got {v}")));
            }
            Ok((line, n))
        };
        let (wl, w) = need("imWidth")?;
        let (hl, h) = need("imHeight")?;
        for (line, key, v) in [(wl, "imWidth", w), (hl, "imHeight", h)] {
            if v.fract() != 0.0 || v > 65535.0 {
                return Err(err(
                    line,
                    format!("`{key}` must be a whole number of pixels, got {v}"),
                ));
            }
        }
        let (_, fps) = need("frameRate")?;
        let frames = match get("seqLength")? {
            Some((line, v)) => Some(
                v.parse::<u64>()
                    .map_err(|_| err(line, format!("`seqLength` is `{v}`, not a frame count")))?,
            ),
            None => None,
        };
        Ok(SeqInfo {
            frame_size: (w as u32, h as u32),
            fps,
            frames,
        })
    }

    /// The `seqinfo.ini` of the sequence `det` belongs to: beside it, or one folder up (the
    /// MOTChallenge layout `SEQ/det/det.txt`, `SEQ/gt/gt.txt`, `SEQ/seqinfo.ini`).
    pub fn beside(det: &Path) -> Result<Option<(PathBuf, SeqInfo)>, ParseError> {
        let dir = det.parent().unwrap_or(Path::new("."));
        for p in [dir.join("seqinfo.ini"), dir.join("../seqinfo.ini")] {
            if p.is_file() {
                let text = std::fs::read_to_string(&p).map_err(|e| ParseError {
                    path: p.display().to_string(),
                    line: 0,
                    message: e.to_string(),
                })?;
                let info = SeqInfo::parse(&text, &p.display().to_string())?;
                return Ok(Some((p, info)));
            }
        }
        Ok(None)
    }
}

/// The most frames a det.txt may span (11 hours at 25 fps): frames without rows are held
/// as empty messages, so a stray frame number must not allocate the machine away.
pub const MAX_FRAMES: u64 = 1_000_000;

/// How to turn MOTChallenge rows into messages.
#[derive(Clone, Debug)]
pub struct MotReplay {
    /// Stream id of every message.
    pub stream_id: Arc<str>,
    /// Frame size in pixels (boxes are normalised by it).
    pub frame_size: (u32, u32),
    /// Frame rate (`pts_ns` of frame n is (n - 1) / fps).
    pub fps: f64,
    /// Label of every box (MOTChallenge detections are pedestrians), class id 0.
    pub label: Arc<str>,
    /// Emit frames up to this one even when the last ones have no detections.
    pub frames: Option<u64>,
}

/// Read `det.txt` at `path` into one `Detections` per frame, 1 to the last (frames without
/// rows are empty: the tracker must see them). Scores outside 0..1, boxes that are not
/// finite or have no area, and frame 0 are errors naming the line.
pub fn read(path: &Path, how: &MotReplay) -> Result<Vec<Detections>, ParseError> {
    let text = std::fs::read_to_string(path).map_err(|e| ParseError {
        path: path.display().to_string(),
        line: 0,
        message: e.to_string(),
    })?;
    let name = path.display().to_string();
    let rows = mot::parse_numbered(&text, &name)?;
    let (fw, fh) = (
        how.frame_size.0.max(1) as f32,
        how.frame_size.1.max(1) as f32,
    );
    let last = rows.iter().map(|(_, r)| r.frame).max().unwrap_or(0);
    let last = how.frames.map_or(last, |n| n.max(last));
    if last > MAX_FRAMES {
        return Err(ParseError {
            path: name,
            line: 0,
            message: format!(
                "reaches frame {last}; replay holds at most {MAX_FRAMES} frames of a det.txt \
                 (split the sequence)"
            ),
        });
    }
    let mut frames: Vec<Vec<Detection>> = vec![Vec::new(); last as usize];
    for &(line, ref r) in &rows {
        let err = |message: String| ParseError {
            path: name.clone(),
            line,
            message,
        };
        if r.frame == 0 {
            return Err(err("frame 0: MOTChallenge frames count from 1".to_string()));
        }
        if !(0.0..=1.0).contains(&r.conf) {
            return Err(err(format!(
                "score {} is outside 0..1 (scores must be confidences; rescale detections \
                 such as MOTChallenge's DPM ones first)",
                r.conf
            )));
        }
        let [x, y, w, h] = r.bbox;
        if !(x.is_finite() && y.is_finite() && w.is_finite() && h.is_finite())
            || w <= 0.0
            || h <= 0.0
        {
            return Err(err(format!(
                "box {x},{y},{w},{h} has no area (width and height must be above 0)"
            )));
        }
        frames[r.frame as usize - 1].push(Detection {
            class_id: 0,
            label: how.label.clone(),
            score: r.conf as f32,
            bbox: BBox {
                x: x as f32 / fw,
                y: y as f32 / fh,
                width: w as f32 / fw,
                height: h as f32 / fh,
            },
            keypoints: vec![],
        });
    }
    Ok(frames
        .into_iter()
        .enumerate()
        .map(|(i, detections)| {
            let seq = i as u64;
            Detections {
                meta: Meta::now(
                    how.stream_id.clone(),
                    seq,
                    (seq as f64 * 1e9 / how.fps) as u64,
                ),
                frame_width: how.frame_size.0,
                frame_height: how.frame_size.1,
                detections,
                skipped: false,
                face_model: false,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn how() -> MotReplay {
        MotReplay {
            stream_id: "s".into(),
            frame_size: (640, 480),
            fps: 25.0,
            label: "person".into(),
            frames: None,
        }
    }

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("det.txt");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn frames_without_rows_are_empty_and_boxes_are_normalised() {
        let (_d, p) = write("1,-1,64,48,64,96,0.9,-1,-1,-1\n\n3,-1,0,0,320,240,0.4\n");
        let f = read(&p, &how()).unwrap();
        assert_eq!(f.len(), 3);
        assert!(f[1].detections.is_empty());
        assert_eq!(f[2].meta.seq, 2);
        assert_eq!(f[2].meta.pts_ns, 80_000_000);
        let b = f[0].detections[0].bbox;
        assert_eq!((b.x, b.y, b.width, b.height), (0.1, 0.1, 0.1, 0.2));
        assert_eq!(f[2].detections[0].score, 0.4);
        let longer = read(
            &p,
            &MotReplay {
                frames: Some(5),
                ..how()
            },
        )
        .unwrap();
        assert_eq!(longer.len(), 5);
    }

    #[test]
    fn bad_rows_name_the_line() {
        for (text, want) in [
            (
                "1,-1,1,1,5,5,0.5\n\n1,-1,1,1,5,5,1.7\n",
                "det.txt:3: score 1.7 is outside 0..1",
            ),
            ("0,-1,1,1,5,5,0.5\n", "det.txt:1: frame 0"),
            ("1,-1,1,1,0,5,0.5\n", "det.txt:1: box 1,1,0,5 has no area"),
            ("1,-1,1,1,5\n", "det.txt:1: expected at least 6"),
        ] {
            let (_d, p) = write(text);
            let e = read(&p, &how()).unwrap_err().to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        }
    }

    #[test]
    fn seqinfo_is_read_and_its_errors_name_the_key() {
        let ini = "[Sequence]\nname=X\nimDir=img1\nframeRate=30\nseqLength=600\nimWidth=1920\nimHeight=1080\n";
        let s = SeqInfo::parse(ini, "seqinfo.ini").unwrap();
        assert_eq!(
            (s.frame_size, s.fps, s.frames),
            ((1920, 1080), 30.0, Some(600))
        );
        let e = SeqInfo::parse("[Sequence]\nimWidth=1\nimHeight=1\n", "seqinfo.ini").unwrap_err();
        assert_eq!(e.to_string(), "seqinfo.ini: has no `frameRate=`");
        let e = SeqInfo::parse("imWidth=wide\n", "seqinfo.ini").unwrap_err();
        assert_eq!(
            e.to_string(),
            "seqinfo.ini:1: `imWidth` is `wide`, not a number"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("det")).unwrap();
        std::fs::write(dir.path().join("seqinfo.ini"), ini).unwrap();
        let (p, found) = SeqInfo::beside(&dir.path().join("det/det.txt"))
            .unwrap()
            .unwrap();
        assert_eq!(found, s);
        assert!(p.ends_with("det/../seqinfo.ini"));
        assert!(
            SeqInfo::beside(Path::new("/nonexistent/det.txt"))
                .unwrap()
                .is_none()
        );
    }
}
