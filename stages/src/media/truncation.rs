//! Files cut short, told from their own structure: a container that declares more bytes than
//! the file has (RIFF/AVI, ISO-BMFF/MP4/MOV), an image without its end (JPEG's end marker,
//! PNG's `IEND`). Decoders hand on what they have of such a file without a word (a cut AVI is
//! rescanned to a shorter one; a cut JPEG decodes with a grey hole), so the sources check.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Why `path` is cut short, if its structure says it is; `None` for whole files and for
/// formats this does not know (MPEG-TS has no length to check).
pub fn cut_short(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut head = [0u8; 12];
    let got = f.read(&mut head).ok()?;
    if got >= 8 && &head[..4] == b"RIFF" {
        let declared = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]])) + 8;
        return (declared > len)
            .then(|| format!("the RIFF container declares {declared} bytes, the file has {len}"));
    }
    if got >= 8 && &head[4..8] == b"ftyp" {
        return iso_boxes(&mut f, len);
    }
    if got >= 3 && head[..3] == [0xff, 0xd8, 0xff] {
        // The end marker cannot occur in entropy-coded data (0xff is stuffed there); some
        // cameras append a trailer after it, so look a little way back.
        let tail = tail(&mut f, len, 4096)?;
        let whole = tail.windows(2).any(|w| w == [0xff, 0xd9]);
        return (!whole).then(|| "the JPEG ends without its end marker".to_string());
    }
    if got >= 8 && head[..8] == [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'] {
        let tail = tail(&mut f, len, 12)?;
        return (!tail.windows(4).any(|w| w == b"IEND"))
            .then(|| "the PNG ends without its IEND chunk".to_string());
    }
    None
}

/// The last `n` bytes (fewer for a shorter file).
fn tail(f: &mut std::fs::File, len: u64, n: u64) -> Option<Vec<u8>> {
    f.seek(SeekFrom::Start(len.saturating_sub(n))).ok()?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).ok()?;
    Some(out)
}

/// Top-level ISO-BMFF boxes: one that reaches past the end of the file means a cut.
fn iso_boxes(f: &mut std::fs::File, len: u64) -> Option<String> {
    let mut at = 0u64;
    while at + 8 <= len {
        f.seek(SeekFrom::Start(at)).ok()?;
        let mut h = [0u8; 16];
        let got = f.read(&mut h).ok()?;
        let size32 = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        let size = match size32 {
            0 => return None, // to the end of the file
            1 if got >= 16 => {
                u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]])
            }
            s if s >= 8 => s,
            _ => return None, // not a box structure this reads
        };
        let kind = String::from_utf8_lossy(&h[4..8]).into_owned();
        if at + size > len {
            return Some(format!(
                "its `{kind}` box declares {size} bytes from offset {at}, the file ends at {len}"
            ));
        }
        at += size;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn cut_containers_and_images_are_told_from_whole_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // RIFF: declares 100 bytes of content.
        let mut riff = b"RIFF".to_vec();
        riff.extend(100u32.to_le_bytes());
        riff.extend(b"AVI LIST");
        riff.resize(108, 0);
        assert_eq!(cut_short(&file(d, "whole.avi", &riff)), None);
        let cut = cut_short(&file(d, "cut.avi", &riff[..60])).unwrap();
        assert!(cut.contains("declares 108 bytes, the file has 60"), "{cut}");
        // ISO-BMFF: ftyp (16 bytes), mdat declared 40 bytes.
        let mut mp4 = 16u32.to_be_bytes().to_vec();
        mp4.extend(b"ftypisom\0\0\0\0");
        mp4.extend(40u32.to_be_bytes());
        mp4.extend(b"mdat");
        mp4.resize(56, 7);
        assert_eq!(cut_short(&file(d, "whole.mp4", &mp4)), None);
        let cut = cut_short(&file(d, "cut.mp4", &mp4[..30])).unwrap();
        assert!(cut.contains("`mdat` box declares 40 bytes"), "{cut}");
        // JPEG and PNG ends.
        let jpeg = [0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9];
        assert_eq!(cut_short(&file(d, "a.jpg", &jpeg)), None);
        assert!(cut_short(&file(d, "b.jpg", &jpeg[..6])).is_some());
        let mut png = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
        png.extend([0, 0, 0, 0]);
        png.extend(b"IEND");
        png.extend([0xae, 0x42, 0x60, 0x82]);
        assert_eq!(cut_short(&file(d, "a.png", &png)), None);
        assert!(cut_short(&file(d, "b.png", &png[..12])).is_some());
        // Formats without a length to check.
        assert_eq!(cut_short(&file(d, "x.ts", &[0x47; 400])), None);
    }
}
